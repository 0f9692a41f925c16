//! `[guard.introspection]`: RFC 7662 introspection of opaque access tokens, and how the
//! sidecar authenticates to the endpoint (RFC 7662 §2.1 requires it to).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::jose::Algorithm;
use crate::oauth::ClientAuth;
use crate::secret::Secret;

use super::ConfigError;
use super::check::{self, Problems, path, seconds};
use super::secrets::{self, KeyFile, de_secret};

const PREFIX: &str = "guard.introspection";

/// How the sidecar authenticates to the introspection endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectionAuth {
    /// `client_id` and `client_secret` in HTTP Basic (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A client assertion signed with `private_key_file` (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// A bearer token for the endpoint itself (`bearer_token`).
    Bearer,
}

impl IntrospectionAuth {
    fn name(self) -> &'static str {
        match self {
            IntrospectionAuth::ClientSecretBasic => "client_secret_basic",
            IntrospectionAuth::ClientSecretPost => "client_secret_post",
            IntrospectionAuth::PrivateKeyJwt => "private_key_jwt",
            IntrospectionAuth::Bearer => "bearer",
        }
    }
}

/// `[guard.introspection]`: opaque tokens are sent to the authorization server's RFC 7662
/// endpoint; JWT-shaped tokens still go to `[[guard.issuers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint, https. Required.
    pub endpoint: String,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `bearer`.
    /// Default `client_secret_basic`.
    pub auth: IntrospectionAuth,
    /// The sidecar's client id at the authorization server (every auth but `bearer`).
    pub client_id: Option<String>,
    /// The client secret inline (discouraged: `check-config` warns). After loading, holds
    /// the secret read from `client_secret_file`.
    #[serde(deserialize_with = "de_secret")]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret, read at load time.
    pub client_secret_file: Option<PathBuf>,
    /// PKCS#8 private key (PEM or DER) for `private_key_jwt`, read at load time.
    pub private_key_file: Option<PathBuf>,
    /// The private key's algorithm, e.g. `ES256` (required with `private_key_jwt`).
    pub private_key_alg: Option<String>,
    /// The `kid` the authorization server knows the key by. Default none.
    pub private_key_kid: Option<String>,
    /// The client assertion's `aud`. Default: the endpoint URL.
    pub assertion_audience: Option<String>,
    /// The bearer token for `auth = "bearer"`, inline (discouraged). After loading, holds
    /// the token read from `bearer_token_file`.
    #[serde(deserialize_with = "de_secret")]
    pub bearer_token: Option<Secret>,
    /// A file holding the bearer token, read at load time.
    pub bearer_token_file: Option<PathBuf>,
    /// Issuers an introspection answer's `iss` may name. Empty: the guard's
    /// authorization servers.
    pub issuers: Vec<String>,
    /// Longest a positive answer is reused, in seconds; bounds how long a revoked token
    /// keeps working. 0 disables the cache. Default 300.
    pub cache_max_ttl_s: u64,
    /// Most cached answers. 0 disables the cache. Default 10000.
    pub cache_max_entries: usize,
    /// Seconds one introspection may take. Default 5.
    pub timeout_s: u64,
    /// Allow an `http://` endpoint. Only for loopback tests.
    pub dangerous_allow_plain_http: bool,
    /// The bytes of `private_key_file`, read at load time.
    #[serde(skip)]
    private_key: KeyFile,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        IntrospectionConfig {
            endpoint: String::new(),
            auth: IntrospectionAuth::ClientSecretBasic,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            private_key_file: None,
            private_key_alg: None,
            private_key_kid: None,
            assertion_audience: None,
            bearer_token: None,
            bearer_token_file: None,
            issuers: Vec::new(),
            cache_max_ttl_s: 300,
            cache_max_entries: 10_000,
            timeout_s: 5,
            dangerous_allow_plain_http: false,
            private_key: KeyFile::default(),
        }
    }
}

impl IntrospectionConfig {
    /// The endpoint URL: https unless the dangerous opt-in is set.
    pub fn endpoint_url(&self) -> Result<Url, ConfigError> {
        let field = path(PREFIX, "endpoint");
        if self.endpoint.is_empty() {
            return Err(ConfigError::new(
                field,
                "required: the RFC 7662 endpoint, e.g. \"https://as.example.com/introspect\"",
            ));
        }
        check::https_url(
            &field,
            &self.endpoint,
            self.dangerous_allow_plain_http,
            &path(PREFIX, "dangerous_allow_plain_http"),
        )
    }

    /// `timeout_s` as a duration.
    pub fn timeout(&self) -> Duration {
        seconds(self.timeout_s)
    }

    /// The client authentication `auth` names, with its credentials.
    pub fn client_auth(&self) -> Result<ClientAuth, Vec<ConfigError>> {
        let mut problems = Problems::default();
        let auth_name = self.auth.name();
        let needs = |name: &str, what: &str| {
            ConfigError::new(
                path(PREFIX, name),
                format!("required with auth = \"{auth_name}\": {what}"),
            )
        };
        let client_id = match (&self.client_id, self.auth) {
            (_, IntrospectionAuth::Bearer) => None,
            (Some(id), _) if !id.is_empty() => Some(id.clone()),
            _ => {
                problems.errors.push(needs(
                    "client_id",
                    "the sidecar's client id at the authorization server",
                ));
                None
            }
        };
        let secret = || {
            self.client_secret.clone().ok_or_else(|| {
                needs(
                    "client_secret_file",
                    "a file holding the client secret (or client_secret)",
                )
            })
        };
        let auth = match self.auth {
            IntrospectionAuth::ClientSecretBasic => {
                problems
                    .take(secret())
                    .map(|secret| ClientAuth::SecretBasic {
                        client_id: client_id.clone().unwrap_or_default(),
                        secret,
                    })
            }
            IntrospectionAuth::ClientSecretPost => {
                problems
                    .take(secret())
                    .map(|secret| ClientAuth::SecretPost {
                        client_id: client_id.clone().unwrap_or_default(),
                        secret,
                    })
            }
            IntrospectionAuth::PrivateKeyJwt => {
                problems
                    .take(self.private_key())
                    .map(|key| ClientAuth::PrivateKeyJwt {
                        client_id: client_id.clone().unwrap_or_default(),
                        key: Arc::new(key),
                        audience: self.assertion_audience.clone(),
                    })
            }
            IntrospectionAuth::Bearer => match &self.bearer_token {
                Some(token) => Some(ClientAuth::BearerToken(token.clone())),
                None => {
                    problems.errors.push(needs(
                        "bearer_token_file",
                        "a file holding the endpoint's bearer token (or bearer_token)",
                    ));
                    None
                }
            },
        };
        match auth {
            Some(auth) if problems.errors.is_empty() => Ok(auth),
            _ => Err(problems.errors),
        }
    }

    /// The `private_key_jwt` signing key, with its `kid`.
    fn private_key(&self) -> Result<crate::jose::SigningKey, ConfigError> {
        let field = path(PREFIX, "private_key_file");
        if self.private_key_file.is_none() {
            return Err(ConfigError::new(
                field,
                "required with auth = \"private_key_jwt\": a PKCS#8 private key file (PEM or DER)",
            ));
        }
        let alg_field = path(PREFIX, "private_key_alg");
        let alg = match self.private_key_alg.as_deref().map(Algorithm::from_name) {
            Some(Some(alg)) => alg,
            Some(None) => {
                return Err(ConfigError::new(
                    alg_field,
                    "not a supported asymmetric algorithm (ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)",
                ));
            }
            None => {
                return Err(ConfigError::new(
                    alg_field,
                    "required with auth = \"private_key_jwt\": the key's algorithm, e.g. \"ES256\"",
                ));
            }
        };
        let key = self
            .private_key
            .signing_key(&field, self.private_key_file.as_ref(), alg)?;
        match &self.private_key_kid {
            Some(kid) => key.with_kid(kid.clone()).map_err(|error| {
                ConfigError::new(path(PREFIX, "private_key_kid"), error.to_string())
            }),
            None => Ok(key),
        }
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        secrets::resolve(
            PREFIX,
            "client_secret",
            &mut self.client_secret,
            self.client_secret_file.as_deref(),
        )?;
        secrets::resolve(
            PREFIX,
            "bearer_token",
            &mut self.bearer_token,
            self.bearer_token_file.as_deref(),
        )?;
        if let Some(file) = &self.private_key_file {
            self.private_key = KeyFile::load(&path(PREFIX, "private_key_file"), file)?;
        }
        Ok(())
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        problems.take(self.endpoint_url());
        problems.take_all(self.client_auth());
        problems.positive(&path(PREFIX, "timeout_s"), self.timeout_s);
        for (name, inline, file) in [
            (
                "client_secret",
                &self.client_secret,
                &self.client_secret_file,
            ),
            ("bearer_token", &self.bearer_token, &self.bearer_token_file),
        ] {
            if inline.is_some() && file.is_none() {
                problems.warn(
                    path(PREFIX, name),
                    format!("a secret inline is visible to anyone who can read the configuration or the environment; use {name}_file"),
                );
            }
        }
        if self.dangerous_allow_plain_http {
            problems.warn(
                path(PREFIX, "dangerous_allow_plain_http"),
                "tokens and client credentials cross the network in clear text",
            );
        }
    }
}
