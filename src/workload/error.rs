//! The one error of every workload token source, for configuration and for fetches alike.
//!
//! Each variant names the source (its [`TokenSource::name`](super::TokenSource::name)) and
//! the one thing that is wrong. No variant holds token bytes, a bearer token, a response
//! body or a command's output: an error is safe to log whole.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a workload token source could not be built or could not produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The token file (or a file the source needs: the service-account token, the cluster
    /// CA) does not exist.
    #[error("{name}: file {path} not found")]
    FileNotFound {
        /// The source.
        name: String,
        /// The missing file.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("{name}: file {path} unreadable ({kind})")]
    FileUnreadable {
        /// The source.
        name: String,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        kind: io::ErrorKind,
    },
    /// An environment variable the source is configured from is not set (or empty).
    #[error("{name}: environment variable {var} is not set")]
    EnvMissing {
        /// The source.
        name: String,
        /// The variable.
        var: &'static str,
    },
    /// A required setting is missing or invalid.
    #[error("{name}: {field} {reason}")]
    Config {
        /// The source.
        name: String,
        /// The setting (builder method or JSON field).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token (a file, a response, a command's output) is larger than allowed.
    #[error("{name}: token larger than {max} bytes")]
    TooLarge {
        /// The source.
        name: String,
        /// The cap.
        max: usize,
    },
    /// What the source produced is not a compact JWS with a JSON payload.
    #[error("{name}: malformed token: {reason}")]
    Malformed {
        /// The source.
        name: String,
        /// Which check failed.
        reason: MalformedToken,
    },
    /// The server answered with a status other than success.
    #[error("{name}: HTTP status {status}")]
    Status {
        /// The source.
        name: String,
        /// The status code.
        status: u16,
    },
    /// The server's answer is not what its protocol defines (not JSON, a member missing).
    #[error("{name}: invalid response: {reason}")]
    InvalidResponse {
        /// The source.
        name: String,
        /// What is missing or wrong.
        reason: &'static str,
    },
    /// No connection could be made.
    #[error("{name}: connection failed")]
    Connect {
        /// The source.
        name: String,
    },
    /// Any other transport failure.
    #[error("{name}: request failed")]
    Transport {
        /// The source.
        name: String,
    },
    /// The request or command took longer than its timeout (a command is killed).
    #[error("{name}: timed out after {after:?}")]
    Timeout {
        /// The source.
        name: String,
        /// The timeout.
        after: Duration,
    },
    /// The command could not be started.
    #[error("{name}: could not start ({kind})")]
    CommandSpawn {
        /// The source.
        name: String,
        /// What the operating system said.
        kind: io::ErrorKind,
    },
    /// The command ended unsuccessfully. Its output is not kept: it may hold secrets.
    #[error("{name}: exited unsuccessfully ({})", exit_description(*.code))]
    CommandFailed {
        /// The source.
        name: String,
        /// The exit code; `None` when a signal ended it.
        code: Option<i32>,
    },
    /// No connection could be made to a unix socket (the SPIFFE Workload API's): it does not
    /// exist, no one listens on it, or the process may not use it.
    #[error("{name}: cannot connect to socket {path}: {}", socket_description(*.kind))]
    SocketUnavailable {
        /// The source.
        name: String,
        /// The socket.
        path: PathBuf,
        /// What the operating system said.
        kind: io::ErrorKind,
    },
    /// The SPIFFE Workload API refused the call with a gRPC status (SPIRE answers
    /// `invalid_argument` to a call without the `workload.spiffe.io: true` metadata, and
    /// `permission_denied` to a workload it has no registration entry for).
    #[error("{name}: the Workload API answered gRPC status {code}: {message}")]
    WorkloadApiStatus {
        /// The source.
        name: String,
        /// The gRPC status code, in lower case (`permission_denied`).
        code: &'static str,
        /// The agent's message, control characters replaced, at most 200 characters.
        message: String,
    },
    /// Automatic detection found no platform.
    #[cfg_attr(
        not(feature = "spiffe"),
        error(
            "no workload identity platform detected: none of ACTIONS_ID_TOKEN_REQUEST_URL and \
             ACTIONS_ID_TOKEN_REQUEST_TOKEN, AWS_WEB_IDENTITY_TOKEN_FILE, \
             AZURE_FEDERATED_TOKEN_FILE, GCE_METADATA_HOST is set, {kubernetes_token_file} does \
             not exist, and the GCP metadata server is not enabled"
        )
    )]
    #[cfg_attr(
        feature = "spiffe",
        error(
            "no workload identity platform detected: none of ACTIONS_ID_TOKEN_REQUEST_URL and \
             ACTIONS_ID_TOKEN_REQUEST_TOKEN, SPIFFE_ENDPOINT_SOCKET, AWS_WEB_IDENTITY_TOKEN_FILE, \
             AZURE_FEDERATED_TOKEN_FILE, GCE_METADATA_HOST is set, {kubernetes_token_file} does \
             not exist, and the GCP metadata server is not enabled"
        )
    )]
    NothingDetected {
        /// The Kubernetes projected token path looked at.
        kubernetes_token_file: PathBuf,
    },
}

fn socket_description(kind: io::ErrorKind) -> String {
    match kind {
        io::ErrorKind::NotFound => "no such socket".to_owned(),
        io::ErrorKind::ConnectionRefused => "connection refused (no one listens on it)".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        kind => kind.to_string(),
    }
}

fn exit_description(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// Which structural check a token failed (RFC 7515 §7.1 compact serialization, RFC 7519
/// §7.2 claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedToken {
    /// Nothing but whitespace.
    #[error("empty")]
    Empty,
    /// Not UTF-8 text.
    #[error("not UTF-8")]
    NotUtf8,
    /// Not three non-empty base64url segments separated by dots.
    #[error("not a compact JWS (three base64url segments)")]
    NotCompactJws,
    /// The protected header is not canonical base64url of a JSON object.
    #[error("header is not a JSON object")]
    Header,
    /// The payload is not canonical base64url of a JSON object.
    #[error("payload is not a JSON object")]
    Payload,
    /// A time claim is present but not a NumericDate (RFC 7519 §2).
    #[error("claim {0} is not a NumericDate")]
    ClaimType(&'static str),
}

impl SourceError {
    /// The name of the source that failed, if the error belongs to one.
    pub fn source_name(&self) -> Option<&str> {
        match self {
            SourceError::FileNotFound { name, .. }
            | SourceError::FileUnreadable { name, .. }
            | SourceError::EnvMissing { name, .. }
            | SourceError::Config { name, .. }
            | SourceError::TooLarge { name, .. }
            | SourceError::Malformed { name, .. }
            | SourceError::Status { name, .. }
            | SourceError::InvalidResponse { name, .. }
            | SourceError::Connect { name }
            | SourceError::Transport { name }
            | SourceError::Timeout { name, .. }
            | SourceError::CommandSpawn { name, .. }
            | SourceError::CommandFailed { name, .. }
            | SourceError::SocketUnavailable { name, .. }
            | SourceError::WorkloadApiStatus { name, .. } => Some(name),
            SourceError::NothingDetected { .. } => None,
        }
    }

    /// A file error for `path`: not found, or unreadable with the OS's reason.
    pub(crate) fn file(name: &str, path: &std::path::Path, error: &io::Error) -> Self {
        if error.kind() == io::ErrorKind::NotFound {
            SourceError::FileNotFound {
                name: name.to_owned(),
                path: path.to_owned(),
            }
        } else {
            SourceError::FileUnreadable {
                name: name.to_owned(),
                path: path.to_owned(),
                kind: error.kind(),
            }
        }
    }

    pub(crate) fn config(name: &str, field: &'static str, reason: &'static str) -> Self {
        SourceError::Config {
            name: name.to_owned(),
            field,
            reason,
        }
    }
}
