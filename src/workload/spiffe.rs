//! JWT-SVIDs from the SPIFFE Workload API (SPIFFE, "The SPIFFE Workload API", JWT-SVID
//! profile): the unary RPC `SpiffeWorkloadAPI/FetchJWTSVID(JWTSVIDRequest{audience,
//! spiffe_id})` over gRPC on the agent's unix socket, named by `SPIFFE_ENDPOINT_SOCKET`
//! (`unix:/path` or `unix:///path`). Feature `spiffe`.
//!
//! The gRPC client is the `spiffe` crate's `WorkloadApiClient` (its `workload-api-jwt`
//! feature only: tonic and prost, no TLS — a unix socket needs none — and none of its
//! verification features). It adds the `workload.spiffe.io: true` metadata to every call, as
//! the specification requires and SPIRE enforces (a call without it is refused with
//! `InvalidArgument`). Each fetch connects, calls once and disconnects, all within the
//! timeout: fetches are rare (cached to 80 % of the SVID's lifetime), and a fresh connection
//! follows an agent that restarted on a new socket inode.
//!
//! The answer's first JWT-SVID is the token (the workload's default identity). With a SPIFFE
//! ID configured, the request names it and the token's `sub` must be it. The token goes
//! through [`WorkloadToken::parse`] like every source's, not through the crate's stricter
//! JWT-SVID parser (which requires the optional `kid`): the authorization server verifies it.
//!
//! Only unix sockets are accepted: the Workload API authenticates the caller by the socket's
//! peer credentials, which a `tcp:` endpoint cannot carry, and a JWT-SVID sent over plain TCP
//! could be read by anyone on the path.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use spiffe::transport::{Endpoint, GrpcStatusCode, TransportError};
use spiffe::{SpiffeId, WorkloadApiClient, WorkloadApiError};

use crate::clock::{Clock, SystemClock};
use crate::jose::{base64url_decode, parse_object};

use super::cache::TokenCache;
use super::cached::{self, cached_source, setters};
use super::detect::Environment;
use super::error::SourceError;
use super::token::WorkloadToken;

/// The environment variable naming the Workload API's socket (`unix:/path` or
/// `unix:///path`), as every SPIFFE library reads it.
pub const SPIFFE_ENDPOINT_SOCKET: &str = "SPIFFE_ENDPOINT_SOCKET";

const NAME: &str = "SPIFFE Workload API";

/// Timeout of one fetch (connection and call) unless a builder sets another.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest part of an agent's status message kept in an error.
const MAX_STATUS_MESSAGE: usize = 200;

/// JWT-SVIDs from the SPIFFE Workload API, cached until 80 % of their lifetime.
///
/// ```
/// use mcp_warden::workload::{SpiffeSource, StaticEnvironment, TokenSource};
///
/// let env = StaticEnvironment::new()
///     .var("SPIFFE_ENDPOINT_SOCKET", "unix:///run/spire/sockets/agent.sock");
/// let source = SpiffeSource::builder()
///     .environment(&env)
///     .audience("https://as.example.com")
///     .build()?;
/// assert_eq!(source.name(), "SPIFFE Workload API /run/spire/sockets/agent.sock");
/// # Ok::<(), mcp_warden::workload::SourceError>(())
/// ```
pub struct SpiffeSource {
    name: Arc<str>,
    socket: PathBuf,
    audience: String,
    spiffe_id: Option<SpiffeId>,
    timeout: Duration,
    cache: TokenCache,
}

impl SpiffeSource {
    /// A builder: the socket ([`SpiffeSourceBuilder::endpoint`] or
    /// [`SpiffeSourceBuilder::environment`]) and the audience are required.
    pub fn builder() -> SpiffeSourceBuilder {
        SpiffeSourceBuilder {
            endpoint: None,
            audience: None,
            spiffe_id: None,
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    /// The Workload API's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn fetch_uncached(&self) -> Result<WorkloadToken, SourceError> {
        let call = async {
            let client = WorkloadApiClient::connect(Endpoint::Unix(self.socket.clone())).await?;
            client
                .fetch_jwt_token([self.audience.as_str()], self.spiffe_id.as_ref())
                .await
        };
        let svid = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| SourceError::Timeout {
                name: self.name.to_string(),
                after: self.timeout,
            })?
            .map_err(|error| self.error(&error))?;
        let token = WorkloadToken::parse(svid.as_bytes(), &self.name)?;
        // The agent answers only the SPIFFE ID asked for; one that answered another (its
        // default identity) is not believed.
        if let Some(id) = &self.spiffe_id
            && subject(&token).as_deref() != Some(id.to_string().as_str())
        {
            return Err(SourceError::InvalidResponse {
                name: self.name.to_string(),
                reason: "the JWT-SVID's sub is not the SPIFFE ID asked for",
            });
        }
        Ok(token)
    }

    /// The `SourceError` for a failed connection or call: the socket and the OS's reason,
    /// the agent's gRPC status, or which part of the answer is wrong — never a token.
    fn error(&self, error: &WorkloadApiError) -> SourceError {
        let name = self.name.to_string();
        let invalid = |reason| SourceError::InvalidResponse {
            name: name.clone(),
            reason,
        };
        let grpc = |code: &'static str, message: &str| SourceError::WorkloadApiStatus {
            name: name.clone(),
            code,
            message: printable(message),
        };
        match error {
            WorkloadApiError::Transport(TransportError::Status(status)) => {
                grpc(status.code().as_str(), status.message())
            }
            WorkloadApiError::PermissionDenied(message) => {
                grpc(GrpcStatusCode::PermissionDenied.as_str(), message)
            }
            WorkloadApiError::NoIdentityIssued => grpc(
                GrpcStatusCode::PermissionDenied.as_str(),
                "no identity issued",
            ),
            WorkloadApiError::Transport(TransportError::Connect(connect)) => {
                match io_error_kind(connect) {
                    Some(kind) => SourceError::SocketUnavailable {
                        name,
                        path: self.socket.clone(),
                        kind,
                    },
                    None => SourceError::Connect { name },
                }
            }
            WorkloadApiError::EmptyResponse
            | WorkloadApiError::MissingRequiredField {
                field: "JWTSVIDResponse.svids",
            } => invalid("no JWT-SVID in the answer"),
            WorkloadApiError::MissingRequiredField { .. } => {
                invalid("a JWT-SVID without its spiffe_id or svid")
            }
            WorkloadApiError::InvalidResponseField { .. } => invalid("a malformed field"),
            WorkloadApiError::SpiffeId(_) => invalid("a SPIFFE ID is invalid"),
            _ => SourceError::Transport { name },
        }
    }
}

cached_source!(SpiffeSource);

/// Configuration of a [`SpiffeSource`].
#[must_use]
pub struct SpiffeSourceBuilder {
    endpoint: Option<String>,
    audience: Option<String>,
    spiffe_id: Option<String>,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl SpiffeSourceBuilder {
    /// Takes the socket from `SPIFFE_ENDPOINT_SOCKET` in `env`, where set (unless
    /// [`endpoint`](Self::endpoint) is set, which wins).
    pub fn environment(mut self, env: &dyn Environment) -> Self {
        if self.endpoint.is_none() {
            self.endpoint = env.var(SPIFFE_ENDPOINT_SOCKET);
        }
        self
    }

    /// The Workload API's address, as `SPIFFE_ENDPOINT_SOCKET` spells it: `unix:/path` or
    /// `unix:///path`, an absolute path. `tcp:` endpoints are refused.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The JWT-SVID's `aud`: the authorization server that will receive it. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The SPIFFE ID to ask for (`spiffe://trust.domain/path`), for a workload entitled to
    /// several; the agent's first JWT-SVID unless set.
    pub fn spiffe_id(mut self, id: impl Into<String>) -> Self {
        self.spiffe_id = Some(id.into());
        self
    }

    setters! {
        /// Timeout of one fetch: connecting to the socket and the call (10 s unless set).
        timeout;
        /// The clock the cache reads (the system clock unless set).
        clock;
    }

    /// Checks the configuration and builds the source. Nothing is connected yet.
    pub fn build(self) -> Result<SpiffeSource, SourceError> {
        let endpoint = self
            .endpoint
            .filter(|endpoint| !endpoint.is_empty())
            .ok_or_else(|| SourceError::EnvMissing {
                name: NAME.to_owned(),
                var: SPIFFE_ENDPOINT_SOCKET,
            })?;
        let socket = unix_socket_path(&endpoint)
            .map_err(|reason| SourceError::config(NAME, "endpoint", reason))?;
        let name: Arc<str> = Arc::from(format!("{NAME} {}", socket.display()));
        let audience = cached::audience(&name, self.audience)?;
        let spiffe_id = self
            .spiffe_id
            .map(|id| SpiffeId::from_str(&id))
            .transpose()
            .map_err(|_| SourceError::config(&name, "spiffe_id", "is not a SPIFFE ID"))?;
        if self.timeout.is_zero() {
            return Err(SourceError::config(&name, "timeout", "is zero"));
        }
        Ok(SpiffeSource {
            name,
            socket,
            audience,
            spiffe_id,
            timeout: self.timeout,
            cache: TokenCache::new(self.clock),
        })
    }
}

/// The socket path of a `unix:` Workload API address (`unix:/path`, `unix:///path`), per the
/// SPIFFE Workload Endpoint specification: an absolute path, no authority, query or
/// fragment.
fn unix_socket_path(endpoint: &str) -> Result<PathBuf, &'static str> {
    let rest = endpoint
        .strip_prefix("unix:")
        .ok_or("is not a unix: address (unix:/path or unix:///path; tcp: is not supported)")?;
    let path = match rest.strip_prefix("//") {
        Some(after_authority) if !after_authority.starts_with('/') => {
            return Err("has an authority (unix:///path has none)");
        }
        Some(path) => path,
        None => rest,
    };
    if !path.starts_with('/') || path.len() < 2 {
        return Err("is not an absolute socket path");
    }
    if path.contains(['?', '#']) {
        return Err("has a query or fragment");
    }
    Ok(PathBuf::from(path))
}

/// The `sub` of a token [`WorkloadToken::parse`] accepted (so its payload is a JSON object).
fn subject(token: &WorkloadToken) -> Option<String> {
    let payload = token.expose().split('.').nth(1)?;
    let claims = parse_object(&base64url_decode(payload)?).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// The operating system's reason a connection failed, from the transport's error chain.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = error.source();
    }
    None
}

/// The agent's status message for an error: control characters replaced, at most
/// [`MAX_STATUS_MESSAGE`] characters. (The request holds no secret the agent could echo.)
fn printable(message: &str) -> String {
    message
        .chars()
        .take(MAX_STATUS_MESSAGE)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The source's name only: no token.
impl std::fmt::Debug for SpiffeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpiffeSource")
            .field("name", &self.name)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_unix_addresses_are_sockets() {
        for (endpoint, path) in [
            ("unix:/run/spire/agent.sock", "/run/spire/agent.sock"),
            ("unix:///run/spire/agent.sock", "/run/spire/agent.sock"),
        ] {
            assert_eq!(unix_socket_path(endpoint), Ok(PathBuf::from(path)));
        }
        for endpoint in [
            "tcp://127.0.0.1:8081",
            "/run/spire/agent.sock",
            "unix:run/agent.sock",
            "unix://host/agent.sock",
            "unix:",
            "unix:///",
            "unix:///agent.sock?x=1",
        ] {
            assert!(unix_socket_path(endpoint).is_err(), "{endpoint}");
        }
    }

    #[test]
    fn status_messages_are_bounded_and_printable() {
        assert_eq!(printable("a\nb\u{1b}c"), "a b c");
        assert_eq!(printable(&"x".repeat(500)).len(), MAX_STATUS_MESSAGE);
    }
}
