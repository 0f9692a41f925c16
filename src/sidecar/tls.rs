//! TLS termination for a role's listener: rustls on aws-lc-rs, certificates from PEM files,
//! reloaded when the files change (cert-manager and kubelet rotate them in place).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

/// Why certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate chain file.
    #[error("{field} {path}: {reason}")]
    Certificate {
        /// The field naming it (`guard.listen.tls_cert_file`).
        field: String,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The private key file.
    #[error("{field} {path}: {reason}")]
    Key {
        /// The field naming it (`guard.listen.tls_key_file`).
        field: String,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The current TLS configuration, swapped in place when the files change.
#[derive(Clone)]
pub struct ReloadingTls {
    current: Arc<RwLock<Arc<ServerConfig>>>,
    files: Files,
}

/// The certificate and key files, with the fields that name them.
#[derive(Debug, Clone)]
struct Files {
    cert_field: String,
    cert_path: PathBuf,
    key_field: String,
    key_path: PathBuf,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("cert_path", &self.files.cert_path)
            .field("key_path", &self.files.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Loads the pair once; fails if either file is unusable. `table` is the listener's
    /// table (`guard.listen`), which errors name.
    pub fn load(table: &str, cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let files = Files {
            cert_field: format!("{table}.tls_cert_file"),
            cert_path: cert_path.to_owned(),
            key_field: format!("{table}.tls_key_file"),
            key_path: key_path.to_owned(),
        };
        let config = server_config(&files)?;
        Ok(ReloadingTls {
            current: Arc::new(RwLock::new(Arc::new(config))),
            files,
        })
    }

    /// An acceptor for the next connection, with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(config) => config.clone(),
            // A panic while swapping cannot leave a half-written Arc: use it.
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }

    /// Polls the files every `interval` and swaps in a new configuration when either
    /// changed. A broken new pair is logged and the old one kept: a bad rotation must not
    /// take the listener down.
    pub fn spawn_reloader(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut seen = this.modified();
            loop {
                tokio::time::sleep(interval).await;
                let now = this.modified();
                if now == seen {
                    continue;
                }
                seen = now;
                match server_config(&this.files) {
                    Ok(config) => {
                        let config = Arc::new(config);
                        match this.current.write() {
                            Ok(mut current) => *current = config,
                            Err(poisoned) => *poisoned.into_inner() = config,
                        }
                        tracing::info!(cert = %this.files.cert_path.display(), "TLS certificate reloaded");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "TLS certificate change not applied; keeping the previous one");
                    }
                }
            }
        })
    }

    fn modified(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let time = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        (time(&self.files.cert_path), time(&self.files.key_path))
    }
}

fn server_config(files: &Files) -> Result<ServerConfig, TlsError> {
    let (cert_path, key_path) = (files.cert_path.as_path(), files.key_path.as_path());
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            field: files.cert_field.clone(),
            path: cert_path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Certificate {
            field: files.cert_field.clone(),
            path: cert_path.display().to_string(),
            reason: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
        field: files.key_field.clone(),
        path: key_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
