//! [`DpopClientLayer`]: the client side of the guard. A tower layer for HTTP clients (hyper,
//! reqwest through [`ReqwestService`](super::ReqwestService), anything with
//! `Service<http::Request<B>>`) that gives every request to one MCP server its credentials:
//! `Authorization: DPoP <token>` and a fresh proof (RFC 9449 §4.2: `htm`, `htu` without
//! query and fragment, `ath`, the server's current nonce), and answers the server's
//! challenges once each:
//!
//! - `401` with `error="use_dpop_nonce"` and a `DPoP-Nonce` (§9): sent again with the nonce;
//! - `401` with `error="invalid_token"`: the cached token is dropped and the request sent
//!   again with a new one (the server may have restarted with new keys, or revoked it);
//! - `403` with `error="insufficient_scope"` and a `scope` (RFC 6750 §3.1): one new token
//!   for the union of the scopes held and asked for, kept for later requests (step-up).
//!
//! A Bearer token (a server that did not bind it, and no `require_dpop`) is sent as
//! `Authorization: Bearer` without a proof. The request body must be cloneable: a retry
//! sends the same bytes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::dpop::ProofSigner;

use super::challenge::{challenges, find_param};
use super::client::{AccessToken, ExchangeError};
use super::grant::Audience;
use super::nonce::NonceBook;
use super::provider::TokenProvider;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpopClientError {
    /// No token could be obtained.
    #[error(transparent)]
    Token(#[from] ExchangeError),
    /// The proof could not be signed, or a header could not be built.
    #[error("the DPoP proof could not be attached: {0}")]
    Proof(String),
    /// The request's URI is not an absolute http(s) URL.
    #[error("the request URI is not an absolute http(s) URL")]
    Uri,
    /// The inner service failed.
    #[error("the request failed: {0}")]
    Inner(BoxError),
}

/// Credentials for every request to one MCP server.
#[derive(Clone)]
pub struct DpopClientLayer {
    shared: Arc<Shared>,
}

struct Shared {
    provider: TokenProvider,
    signer: Arc<ProofSigner>,
    nonces: Arc<NonceBook>,
    /// The audience requests use; widened by a step-up.
    audience: Mutex<Audience>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DpopClientLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopClientLayer")
            .field("provider", &self.shared.provider)
            .field("audience", &self.shared.audience())
            .finish_non_exhaustive()
    }
}

impl DpopClientLayer {
    /// Requests get tokens for `audience` from `provider`, proved with `signer` — the key
    /// the provider's token client binds its tokens to.
    pub fn new(provider: TokenProvider, signer: Arc<ProofSigner>, audience: Audience) -> Self {
        DpopClientLayer {
            shared: Arc::new(Shared {
                provider,
                signer,
                nonces: Arc::new(NonceBook::new()),
                audience: Mutex::new(audience),
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// Shares `nonces` (with the token client, so one book holds every server's nonce).
    pub fn nonces(self, nonces: Arc<NonceBook>) -> Self {
        self.rebuild(|shared| shared.nonces = nonces)
    }

    /// The clock proofs' `iat` is read from.
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        self.rebuild(|shared| shared.clock = clock)
    }

    /// The audience requests use now (widened after a step-up).
    pub fn audience(&self) -> Audience {
        self.shared.audience()
    }

    fn rebuild(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            Err(shared) => Shared {
                provider: shared.provider.clone(),
                signer: Arc::clone(&shared.signer),
                nonces: Arc::clone(&shared.nonces),
                audience: Mutex::new(shared.audience()),
                clock: Arc::clone(&shared.clock),
            },
        };
        change(&mut shared);
        DpopClientLayer {
            shared: Arc::new(shared),
        }
    }
}

impl Shared {
    fn audience(&self) -> Audience {
        self.audience
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S> Layer<S> for DpopClientLayer {
    type Service = DpopClient<S>;

    fn layer(&self, inner: S) -> DpopClient<S> {
        DpopClient {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`DpopClientLayer`] makes.
#[derive(Clone)]
pub struct DpopClient<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for DpopClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopClient").finish_non_exhaustive()
    }
}

/// Which challenges have been answered for one request.
#[derive(Default)]
struct Answered {
    nonce: bool,
    token: bool,
    scope: bool,
}

impl<S, B, ResBody> Service<Request<B>> for DpopClient<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = DpopClientError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, DpopClientError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), DpopClientError>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| DpopClientError::Inner(error.into()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The ready service goes with this call; the clone stays for the next (tower's
        // usual rule for services that are called from a future).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(send(inner, shared, request))
    }
}

async fn send<S, B, ResBody>(
    mut inner: S,
    shared: Arc<Shared>,
    request: Request<B>,
) -> Result<Response<ResBody>, DpopClientError>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
{
    let url = Url::parse(&request.uri().to_string()).map_err(|_| DpopClientError::Uri)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DpopClientError::Uri);
    }
    // RFC 9449 §4.2: `htu` is the target URI without query and fragment.
    let mut htu = url.clone();
    htu.set_query(None);
    htu.set_fragment(None);
    let mut answered = Answered::default();
    let mut first = true;
    loop {
        if !first {
            // A retry: the service handed over with the call was used up.
            std::future::poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(|error| DpopClientError::Inner(error.into()))?;
        }
        first = false;
        let audience = shared.audience();
        let token = shared.provider.token(&audience).await?;
        let mut attempt = request.clone();
        attach(&shared, &mut attempt, &token, &url, htu.as_str())?;
        let response = inner
            .call(attempt)
            .await
            .map_err(|error| DpopClientError::Inner(error.into()))?;
        if let Some(nonce) = response
            .headers()
            .get("dpop-nonce")
            .and_then(|value| value.to_str().ok())
        {
            shared.nonces.put(&url, nonce);
        }
        let status = response.status().as_u16();
        if status != 401 && status != 403 {
            return Ok(response);
        }
        let found = challenges(response.headers());
        let error = find_param(&found, "error");
        match (status, error) {
            (401, Some("use_dpop_nonce"))
                if !answered.nonce && response.headers().contains_key("dpop-nonce") =>
            {
                answered.nonce = true;
            }
            (401, Some("invalid_token")) if !answered.token => {
                answered.token = true;
                shared.provider.forget(&audience);
            }
            (403, Some("insufficient_scope")) if !answered.scope => {
                let Some(asked) = find_param(&found, "scope") else {
                    return Ok(response);
                };
                let wider = Audience {
                    resource: audience.resource.clone(),
                    scopes: union(&audience.scopes, asked),
                };
                if wider == audience {
                    return Ok(response);
                }
                answered.scope = true;
                tracing::debug!(scope = %wider.scopes.join(" "), "the server asked for more scope; asking for a token with it");
                *shared
                    .audience
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = wider;
            }
            _ => return Ok(response),
        }
    }
}

/// `Authorization` and, for a DPoP token, a proof for this request.
fn attach<B>(
    shared: &Shared,
    request: &mut Request<B>,
    token: &AccessToken,
    url: &Url,
    htu: &str,
) -> Result<(), DpopClientError> {
    let scheme = if token.dpop { "DPoP" } else { "Bearer" };
    let mut authorization = HeaderValue::from_str(&format!("{scheme} {}", token.token.expose()))
        .map_err(|_| DpopClientError::Proof("the access token is not a header value".into()))?;
    authorization.set_sensitive(true);
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, authorization);
    headers.remove("dpop");
    if token.dpop {
        let nonce = shared.nonces.get(url);
        let proof = shared
            .signer
            .proof_with_ath(
                request.method().as_str(),
                htu,
                Some(&token.ath),
                nonce.as_deref(),
                shared.clock.now(),
            )
            .map_err(|error| DpopClientError::Proof(error.to_string()))?;
        let value = HeaderValue::from_str(&proof)
            .map_err(|_| DpopClientError::Proof("the proof is not a header value".into()))?;
        request.headers_mut().insert("dpop", value);
    }
    Ok(())
}

/// The scopes held and the ones asked for, sorted, without repeats.
fn union(held: &[String], asked: &str) -> Vec<String> {
    let mut scopes: Vec<String> = held
        .iter()
        .cloned()
        .chain(
            asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        )
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_asks_for_the_union() {
        assert_eq!(
            union(&["tools:call".into()], "tools:list  tools:call"),
            ["tools:call", "tools:list"]
        );
    }
}
