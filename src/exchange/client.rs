//! The token-endpoint client: one token request with a DPoP proof (RFC 9449 §5), the one
//! retry RFC 9449 §8 asks for when the server wants a nonce, and the answer checked.
//!
//! What it refuses to do, on purpose:
//! - retry after `invalid_grant`, `invalid_scope`, `unauthorized_client` or any other
//!   refusal, or fall back to another grant (MCP SEP-1933): a refused workload must not
//!   turn into a stream of requests;
//! - use a Bearer token when `require_dpop` is set: the server did not bind the token to
//!   the key (RFC 9449 §5 lets it answer `token_type=Bearer`), so a stolen copy would work.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use url::Url;

use crate::dpop::ProofSigner;
use crate::oauth::{ErrorCode, ErrorResponse, PreparedClientAuth, TokenResponse};
use crate::outbound::{self, ReadError};
use crate::secret::Secret;

use super::grant::{Audience, FormError, FormInputs, Grant, form};
use super::nonce::NonceBook;

/// The most a token response may weigh.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An access token as obtained.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// Its `ath` (RFC 9449 §4.2), computed once for every proof sent with it.
    pub ath: String,
    /// Whether it is bound to the client's key (`token_type=DPoP`); if not, it is sent as
    /// `Bearer`.
    pub dpop: bool,
    /// `expires_in` (RFC 6749 §5.1), if sent.
    pub expires_in: Option<Duration>,
    /// The granted `scope`, if sent.
    pub scope: Option<String>,
}

/// Why no token was obtained.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The token endpoint could not be reached, or the exchange failed on the way.
    #[error("token endpoint {endpoint}: {reason}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// What failed (connect, timeout, reading the body) — never response bytes.
        reason: String,
    },
    /// The server refused the request (RFC 6749 §5.2). Not retried.
    #[error("token endpoint refused the request: {status} {code}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// `error`.
        code: ErrorCode,
        /// `error_description`, cut short.
        description: Option<String>,
    },
    /// A non-success answer that is not an RFC 6749 §5.2 error body.
    #[error("token endpoint answered {status} without an OAuth error body")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// A success answer that is not a valid token response.
    #[error("token endpoint sent an invalid token response: {0}")]
    Response(String),
    /// The answer was over the size cap.
    #[error("token endpoint answer is over {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// `require_dpop` is set and the server issued a Bearer token.
    #[error("the server issued a {token_type} token, and require_dpop refuses anything but DPoP")]
    NotDpop {
        /// The `token_type` received.
        token_type: String,
    },
    /// The server asked for a nonce again after the retry with its nonce.
    #[error("the token endpoint asked for a DPoP nonce twice")]
    NonceLoop,
    /// The request could not be built.
    #[error(transparent)]
    Form(#[from] FormError),
    /// The proof could not be signed.
    #[error("the DPoP proof could not be signed: {0}")]
    Proof(String),
    /// The workload token could not be read (the message names the source).
    #[error("workload token: {0}")]
    Workload(String),
    /// A fetch task ended without an outcome (the runtime is shutting down).
    #[error("the token request was abandoned")]
    Aborted,
}

impl From<crate::refresh::Aborted> for ExchangeError {
    fn from(_: crate::refresh::Aborted) -> Self {
        ExchangeError::Aborted
    }
}

impl ExchangeError {
    /// Whether asking again later could help: transport failures and 5xx answers. A
    /// refusal of the request itself (4xx) cannot, and is never retried.
    pub fn is_transient(&self) -> bool {
        match self {
            ExchangeError::Transport { .. } | ExchangeError::Aborted => true,
            ExchangeError::Refused { status, .. } | ExchangeError::Status { status } => {
                *status >= 500
            }
            _ => false,
        }
    }
}

/// A client of one token endpoint.
#[derive(Clone)]
pub struct TokenClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    token_endpoint: Url,
    signer: Arc<ProofSigner>,
    nonces: Arc<NonceBook>,
    client_auth: Option<PreparedClientAuth>,
    require_dpop: bool,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("token_endpoint", &self.inner.token_endpoint.as_str())
            .field("key", &self.inner.signer.thumbprint().as_str())
            .field("require_dpop", &self.inner.require_dpop)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenClient`].
pub struct TokenClientBuilder {
    token_endpoint: Url,
    signer: Arc<ProofSigner>,
    nonces: Option<Arc<NonceBook>>,
    client_auth: Option<PreparedClientAuth>,
    require_dpop: bool,
    timeout: Duration,
    allow_plain_http: bool,
}

impl TokenClient {
    /// A client of `token_endpoint` signing proofs with `signer`.
    pub fn builder(token_endpoint: Url, signer: Arc<ProofSigner>) -> TokenClientBuilder {
        TokenClientBuilder {
            token_endpoint,
            signer,
            nonces: None,
            client_auth: None,
            require_dpop: false,
            timeout: Duration::from_secs(10),
            allow_plain_http: false,
        }
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> &Url {
        &self.inner.token_endpoint
    }

    /// Asks for a token: one request with a fresh proof, and, if the server answers
    /// `use_dpop_nonce` with a `DPoP-Nonce` (RFC 9449 §8), one more with that nonce.
    pub async fn request(
        &self,
        grant: &Grant,
        workload_token: Option<&Secret>,
        actor_token: Option<&Secret>,
        audience: &Audience,
        now: u64,
    ) -> Result<AccessToken, ExchangeError> {
        let inner = &self.inner;
        let endpoint = inner.token_endpoint.as_str();
        let inputs = FormInputs {
            grant,
            workload_token,
            actor_token,
            audience,
            client_auth: inner.client_auth.as_ref(),
            token_endpoint: endpoint,
        };
        for attempt in 0..2 {
            // Built per attempt: a `private_key_jwt` client assertion is single-use (its
            // `jti`, RFC 7523 §3), so the nonce retry must carry a fresh one, not replay
            // the assertion the server has already seen.
            let body = form(&inputs, now)?;
            let nonce = inner.nonces.get(&inner.token_endpoint);
            let proof = inner
                .signer
                .proof("POST", endpoint, None, nonce.as_deref(), now)
                .map_err(|error| ExchangeError::Proof(error.to_string()))?;
            let mut request = inner
                .http
                .post(inner.token_endpoint.clone())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(http::header::ACCEPT, "application/json")
                .header("dpop", proof)
                .body(body);
            if let Some(authorization) = inner.client_auth.as_ref().and_then(|a| a.authorization())
            {
                request = request.header(http::header::AUTHORIZATION, authorization.clone());
            }
            let mut response = request
                .send()
                .await
                .map_err(|error| transport(endpoint, &error))?;
            let status = response.status().as_u16();
            // RFC 9449 §8: a server may send a fresh nonce with any answer.
            let fresh_nonce = response
                .headers()
                .get("dpop-nonce")
                .and_then(|value: &HeaderValue| value.to_str().ok())
                .map(str::to_owned);
            if let Some(nonce) = &fresh_nonce {
                inner.nonces.put(&inner.token_endpoint, nonce);
            }
            let bytes = outbound::read_capped(&mut response, MAX_RESPONSE_BYTES)
                .await
                .map_err(|error| match error {
                    ReadError::TooLarge => ExchangeError::TooLarge,
                    ReadError::Transport(error) => transport(endpoint, &error),
                })?;
            if (200..300).contains(&status) {
                return accept(&bytes, inner.require_dpop);
            }
            let Some(error) = ErrorResponse::parse(&bytes) else {
                return Err(ExchangeError::Status { status });
            };
            if error.error == ErrorCode::UseDpopNonce && fresh_nonce.is_some() {
                if attempt == 0 {
                    tracing::debug!(
                        endpoint,
                        "token endpoint asked for a DPoP nonce; retrying once with it"
                    );
                    continue;
                }
                return Err(ExchangeError::NonceLoop);
            }
            return Err(ExchangeError::Refused {
                status,
                code: error.error,
                description: error.description.map(|d| d.into_owned()),
            });
        }
        Err(ExchangeError::NonceLoop)
    }
}

/// Checks a success answer.
fn accept(body: &[u8], require_dpop: bool) -> Result<AccessToken, ExchangeError> {
    let response =
        TokenResponse::parse(body).map_err(|error| ExchangeError::Response(error.to_string()))?;
    let dpop = response.is_dpop();
    if !dpop && (require_dpop || !response.token_type.eq_ignore_ascii_case("Bearer")) {
        return Err(ExchangeError::NotDpop {
            token_type: response.token_type,
        });
    }
    Ok(AccessToken {
        ath: crate::dpop::access_token_hash(response.access_token.expose()),
        token: response.access_token,
        dpop,
        expires_in: response.expires_in.map(Duration::from_secs),
        scope: response.scope,
    })
}

/// A transport failure, described without the URL's query or any body.
fn transport(endpoint: &str, error: &reqwest::Error) -> ExchangeError {
    ExchangeError::Transport {
        endpoint: endpoint.to_owned(),
        reason: super::discover::describe(error),
    }
}

impl TokenClientBuilder {
    /// Shares a nonce book (with the client layer, so one place remembers every server's
    /// nonce).
    pub fn nonces(mut self, nonces: Arc<NonceBook>) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Authenticates the client (`private_key_jwt`, a secret) besides the grant.
    pub fn client_auth(mut self, auth: PreparedClientAuth) -> Self {
        self.client_auth = Some(auth);
        self
    }

    /// Refuses Bearer tokens: only `token_type=DPoP` is accepted.
    pub fn require_dpop(mut self) -> Self {
        self.require_dpop = true;
        self
    }

    /// The time one request may take (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows an `http://` token endpoint that is not on loopback. Only for tests in
    /// isolated networks: the workload's identity would cross the network in clear.
    pub fn dangerous_allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// The client.
    pub fn build(self) -> Result<TokenClient, ExchangeError> {
        let endpoint = self.token_endpoint.as_str().to_owned();
        if !self.allow_plain_http {
            super::metadata::https_url("token_endpoint", &endpoint).map_err(|error| {
                ExchangeError::Transport {
                    endpoint: endpoint.clone(),
                    reason: error.to_string(),
                }
            })?;
        }
        let plain_http = self.token_endpoint.scheme() == "http";
        let http = outbound::client(self.timeout, self.timeout, plain_http).map_err(|error| {
            ExchangeError::Transport {
                endpoint,
                reason: format!("cannot build the HTTP client: {error}"),
            }
        })?;
        Ok(TokenClient {
            inner: Arc::new(Inner {
                http,
                token_endpoint: self.token_endpoint,
                signer: self.signer,
                nonces: self.nonces.unwrap_or_default(),
                client_auth: self.client_auth,
                require_dpop: self.require_dpop,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_accepted_only_without_require_dpop_and_other_types_never() {
        let bearer = br#"{"access_token":"t","token_type":"bearer","expires_in":60}"#;
        let dpop = br#"{"access_token":"t","token_type":"DPoP"}"#;
        let mac = br#"{"access_token":"t","token_type":"mac"}"#;
        assert!(accept(dpop, true).is_ok_and(|token| token.dpop));
        assert!(accept(bearer, false).is_ok_and(|token| !token.dpop
            && token.expires_in == Some(Duration::from_secs(60))));
        assert!(matches!(
            accept(bearer, true),
            Err(ExchangeError::NotDpop { .. })
        ));
        assert!(matches!(
            accept(mac, false),
            Err(ExchangeError::NotDpop { .. })
        ));
        assert!(matches!(
            accept(b"{}", false),
            Err(ExchangeError::Response(_))
        ));
    }
}
