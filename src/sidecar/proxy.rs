//! The forwarding half of the sidecar: a tower service that sends a verified request to the
//! upstream MCP server and streams the answer back.
//!
//! Proxy semantics follow RFC 9110 §7.6: hop-by-hop fields (`Connection` and the fields it
//! names, `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`, `Proxy-*`) are not forwarded
//! in either direction; `Forwarded` (RFC 7239) and `X-Forwarded-*` describe this hop; the
//! caller's identity reaches the upstream only in the configured headers, set from the
//! verified [`Principal`] after every inbound copy was removed. Bodies stream both ways —
//! Streamable HTTP answers with Server-Sent Events that must reach the client event by
//! event.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full};
use url::Url;

use super::upstream::{ClientSettings, SendError, UpstreamBody, UpstreamClient};

use crate::guard::{PeerAddr, Principal, TrustedProxy};
use crate::jose::{JwtMinter, Lifetime, SigningKey};

/// Which headers carry the caller's identity to the upstream. Inbound copies are always
/// removed, so a client cannot claim an identity by sending them itself.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    /// `sub` of the token.
    pub subject: Option<HeaderName>,
    /// The OAuth client id.
    pub client_id: Option<HeaderName>,
    /// The granted scopes, space-separated.
    pub scopes: Option<HeaderName>,
    /// The RFC 7638 thumbprint of the proof key.
    pub key_thumbprint: Option<HeaderName>,
    /// A signed assertion instead of (or besides) the plain headers.
    pub assertion: Option<IdentityAssertion>,
    /// Further names whose inbound copies are removed although nothing is sent in them
    /// (identity headers turned off or replaced by the assertion).
    pub strip: Vec<HeaderName>,
}

/// A short-lived JWT telling the upstream who called, signed by the sidecar, so that the
/// upstream can verify the identity instead of trusting whoever can reach its port.
///
/// Header `typ: mcp-identity+jwt` (explicit typing, RFC 8725 §3.11) and the key's `kid`;
/// claims `iss` (the protected resource), `aud` (the upstream), `sub`, `client_id`,
/// `scope`, `cnf.jkt` (the caller's DPoP key), `token_iss` (the access token's issuer),
/// `iat`, `exp`, `jti`.
#[derive(Debug, Clone)]
pub struct IdentityAssertion {
    /// The header that carries it.
    pub header: HeaderName,
    /// The signing key (its public JWK Set is served on the admin listener).
    pub key: Arc<SigningKey>,
    /// `iss`: the protected resource's URL.
    pub issuer: String,
    /// `aud`: the upstream.
    pub audience: String,
    /// Lifetime in seconds.
    pub ttl_s: u64,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            subject: Some(HeaderName::from_static("x-mcp-subject")),
            client_id: Some(HeaderName::from_static("x-mcp-client-id")),
            scopes: Some(HeaderName::from_static("x-mcp-scopes")),
            key_thumbprint: Some(HeaderName::from_static("x-mcp-key-thumbprint")),
            assertion: None,
            strip: Vec::new(),
        }
    }
}

impl IdentityHeaders {
    fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [
            &self.subject,
            &self.client_id,
            &self.scopes,
            &self.key_thumbprint,
        ]
        .into_iter()
        .flatten()
        .chain(self.assertion.as_ref().map(|assertion| &assertion.header))
        .chain(self.strip.iter())
    }
}

/// How the sidecar reaches the upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The upstream's base URL; the request's path and query are appended to its path.
    pub url: Url,
    /// Speak HTTP/2 without negotiation (h2c) to a plain-http upstream.
    pub http2_prior_knowledge: bool,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed until the response head arrives.
    pub first_byte_timeout: Duration,
    /// Time allowed between two reads of the response body; an SSE stream stays open as
    /// long as events (or keep-alive comments) keep coming.
    pub idle_timeout: Duration,
    /// Extra PEM roots for an https upstream.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Largest request body forwarded; larger ones get 413.
    pub max_body_bytes: u64,
    /// The identity headers for the upstream.
    pub identity: IdentityHeaders,
    /// Peers whose `X-Forwarded-For` chain is extended rather than replaced.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Whether the listener is TLS (for `X-Forwarded-Proto`).
    pub listener_tls: bool,
}

/// Why the upstream could not be used to build the client.
#[derive(Debug, thiserror::Error)]
#[error("upstream client: {0}")]
pub struct UpstreamError(#[from] super::upstream::UpstreamClientError);

/// The response body: the upstream's stream, or the proxy's own error body.
pub type ProxyBody = Either<UpstreamBody, Full<Bytes>>;

/// Forwards requests to the upstream. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<ProxyInner>,
}

struct ProxyInner {
    client: UpstreamClient,
    settings: UpstreamSettings,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.inner.settings.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy to `settings.url`.
    pub fn new(settings: UpstreamSettings) -> Result<Self, UpstreamError> {
        // Redirects are not followed: the proxy forwards what it is told, and following
        // one would send the request (and the caller's identity) somewhere else.
        let client = UpstreamClient::new(&ClientSettings {
            url: &settings.url,
            http2_prior_knowledge: settings.http2_prior_knowledge,
            connect_timeout: settings.connect_timeout,
            idle_timeout: settings.idle_timeout,
            extra_roots_pem: settings.extra_roots_pem.as_deref(),
        })?;
        Ok(Proxy {
            inner: Arc::new(ProxyInner { client, settings }),
        })
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<B> tower_service::Service<Request<B>> for Proxy
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.forward(request).await) })
    }
}

impl ProxyInner {
    async fn forward<B>(&self, request: Request<B>) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let settings = &self.settings;
        let (parts, body) = request.into_parts();
        // hyper's body hint is exact when `Content-Length` was sent; the header itself is
        // read only when the hint has no bound (a chunked body, or another body type).
        let too_large = match body.size_hint().upper() {
            Some(length) => length > settings.max_body_bytes,
            None => declared_length(&parts.headers)
                .is_some_and(|length| length > settings.max_body_bytes),
        };
        if too_large {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let Some(target) = self.client.target(&parts.uri) else {
            return error_response(StatusCode::BAD_REQUEST, "request target not forwardable");
        };
        let mut headers = parts.headers;
        let original_host = headers.remove(header::HOST);
        remove_hop_by_hop(&mut headers);
        // Removing an absent name still hashes it: look first, in one pass.
        if headers
            .keys()
            .any(|name| settings.identity.names().any(|identity| identity == name))
        {
            for name in settings.identity.names() {
                headers.remove(name);
            }
        }
        set_forwarded(
            &mut headers,
            settings,
            parts.extensions.get::<PeerAddr>(),
            original_host,
        );
        if let Some(principal) = parts.extensions.get::<Principal>() {
            // The request's one clock read: the identity assertion's `iat`/`exp`.
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            set_identity(&mut headers, &settings.identity, principal, now);
        }
        let limited = http_body_util::Limited::new(body, settings.max_body_bytes as usize);
        let mut outbound = Request::new(limited.boxed());
        *outbound.method_mut() = parts.method;
        *outbound.uri_mut() = target;
        *outbound.headers_mut() = headers;
        let sent = self.client.send(outbound);
        let mut response = match tokio::time::timeout(settings.first_byte_timeout, sent).await {
            Err(_) => {
                tracing::warn!(upstream = %settings.url, "upstream did not answer in time");
                return error_response(StatusCode::GATEWAY_TIMEOUT, "upstream timed out");
            }
            Ok(Err(error)) => return upstream_failure(&error, settings),
            Ok(Ok(response)) => response,
        };
        remove_hop_by_hop(response.headers_mut());
        response.map(Either::Left)
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

fn upstream_failure(error: &SendError, settings: &UpstreamSettings) -> Response<ProxyBody> {
    if let SendError::ConnectTimeout = error {
        tracing::warn!(upstream = %settings.url, "upstream connect timed out");
        return error_response(StatusCode::GATEWAY_TIMEOUT, "upstream timed out");
    }
    let mut causes = std::iter::successors(
        std::error::Error::source(error),
        |cause: &&(dyn std::error::Error + 'static)| cause.source(),
    );
    if causes.any(|cause| cause.is::<http_body_util::LengthLimitError>()) {
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    tracing::warn!(upstream = %settings.url, error = %ErrorChain(error), "upstream unreachable");
    error_response(StatusCode::BAD_GATEWAY, "upstream unavailable")
}

/// An error with its causes, `: `-separated, for one log field.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// RFC 9110 §7.6.1: `Connection`, every field it names, and the fixed hop-by-hop set.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names costs less than nine removals.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The fields RFC 9110 §7.6.1 names hop-by-hop, and the obsolete `Keep-Alive` and
/// `Proxy-Connection` that clients still send.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

/// RFC 7239 `Forwarded` and the de-facto `X-Forwarded-*`: describe this hop; extend the
/// chain only when the peer is a trusted proxy, otherwise a client could forge it.
fn set_forwarded(
    headers: &mut HeaderMap,
    settings: &UpstreamSettings,
    peer: Option<&PeerAddr>,
    host: Option<HeaderValue>,
) {
    let trusted = peer.is_some_and(|peer| {
        settings
            .trusted_proxies
            .iter()
            .any(|range| range.contains(peer.0.ip()))
    });
    let proto = if settings.listener_tls {
        "https"
    } else {
        "http"
    };
    let client_ip = peer.map(|peer| peer.0.ip());
    let x_forwarded_for = HeaderName::from_static("x-forwarded-for");
    if trusted {
        // A trusted proxy's chain is extended, and its `Forwarded` and `X-Forwarded-*`
        // (which describe the client's hop) pass on unchanged.
        let earlier = headers.get(&x_forwarded_for).and_then(|v| v.to_str().ok());
        let chain = client_ip.map(ip_text).map(|ip| match earlier {
            Some(earlier) => format!("{earlier}, {ip}"),
            None => ip,
        });
        match chain.map(HeaderValue::try_from) {
            Some(Ok(value)) => headers.insert(x_forwarded_for, value),
            _ => headers.remove(x_forwarded_for),
        };
        return;
    }
    // `insert` replaces every inbound copy of a name; the prefix is the one not rewritten.
    headers.remove(HeaderName::from_static("x-forwarded-prefix"));
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    let hop = match client_ip {
        Some(ip) => ThisHop::for_peer(ip, proto, host),
        None => ThisHop::new(None, proto, host),
    };
    match hop.x_forwarded_for {
        Some(value) => headers.insert(x_forwarded_for, value),
        None => headers.remove(x_forwarded_for),
    };
    match hop.host {
        Some(host) => headers.insert(HeaderName::from_static("x-forwarded-host"), host),
        None => headers.remove(HeaderName::from_static("x-forwarded-host")),
    };
    match hop.forwarded {
        Some(value) => headers.insert(header::FORWARDED, value),
        None => headers.remove(header::FORWARDED),
    };
}

/// The values describing this hop for a client that is not a trusted proxy: they depend
/// only on the client's address, the scheme and the `Host`, which stay the same for every
/// request of a connection, and mostly across connections (a sidecar's clients are few).
/// Each worker thread keeps the last set it built, so a request usually costs two
/// reference-count increments instead of formatting and validating both fields.
#[derive(Clone)]
struct ThisHop {
    ip: Option<IpAddr>,
    proto: &'static str,
    host: Option<HeaderValue>,
    x_forwarded_for: Option<HeaderValue>,
    forwarded: Option<HeaderValue>,
}

impl ThisHop {
    fn new(ip: Option<IpAddr>, proto: &'static str, host: Option<HeaderValue>) -> ThisHop {
        let text = ip.map(ip_text);
        ThisHop {
            ip,
            proto,
            // An address's text is always a valid field value.
            x_forwarded_for: text
                .as_deref()
                .and_then(|text| HeaderValue::try_from(text).ok()),
            forwarded: forwarded_value(ip.zip(text.as_deref()), proto, host.as_ref()),
            host,
        }
    }

    /// [`ThisHop::new`], from this thread's last one when it is for the same client.
    fn for_peer(ip: IpAddr, proto: &'static str, host: Option<HeaderValue>) -> ThisHop {
        thread_local! {
            static LAST: std::cell::RefCell<Option<ThisHop>> = const { std::cell::RefCell::new(None) };
        }
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some(hop) = last.as_ref()
                && hop.ip == Some(ip)
                && hop.proto == proto
                && hop.host == host
            {
                return hop.clone();
            }
            let hop = ThisHop::new(Some(ip), proto, host);
            *last = Some(hop.clone());
            hop
        })
    }
}

/// RFC 7239 §4: `for=…;proto=…;host="…"`; `None` if the host makes it invalid.
fn forwarded_value(
    client: Option<(IpAddr, &str)>,
    proto: &str,
    host: Option<&HeaderValue>,
) -> Option<HeaderValue> {
    let mut forwarded = String::with_capacity(96);
    if let Some((ip, text)) = client {
        // RFC 7239 §6: IPv6 addresses are quoted and bracketed.
        let (open, close) = if ip.is_ipv6() {
            ("for=\"[", "]\";")
        } else {
            ("for=", ";")
        };
        forwarded.push_str(open);
        forwarded.push_str(text);
        forwarded.push_str(close);
    }
    forwarded.push_str("proto=");
    forwarded.push_str(proto);
    if let Some(host) = host.and_then(|h| h.to_str().ok()) {
        forwarded.push_str(";host=\"");
        forwarded.push_str(host);
        forwarded.push('"');
    }
    HeaderValue::try_from(forwarded).ok()
}

/// An address as text. IPv4, by far the common case, is written digit by digit: `Display`
/// goes through the formatting machinery per octet, a tenth of a proxied request's own work.
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(ip) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (index, octet) in ip.octets().into_iter().enumerate() {
        if index > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

fn set_identity(headers: &mut HeaderMap, names: &IdentityHeaders, principal: &Principal, now: u64) {
    let scopes = principal.scopes().join(" ");
    if let Some(assertion) = &names.assertion {
        match sign_assertion(assertion, principal, &scopes, now) {
            Ok(value) => {
                headers.insert(assertion.header.clone(), value);
            }
            Err(error) => tracing::warn!(%error, "identity assertion not signed"),
        }
    }
    let values = [
        (&names.subject, principal.subject()),
        (&names.client_id, principal.client_id()),
        (
            &names.scopes,
            Some(scopes.as_str()).filter(|s| !s.is_empty()),
        ),
        (
            &names.key_thumbprint,
            principal.key_thumbprint().map(|t| t.as_str()),
        ),
    ];
    for (name, value) in values {
        let (Some(name), Some(value)) = (name, value) else {
            continue;
        };
        // A claim that cannot be a header value is left out rather than mangled.
        match HeaderValue::from_str(value) {
            Ok(value) => {
                headers.insert(name.clone(), value);
            }
            Err(_) => tracing::debug!(header = %name, "identity value is not a valid header value"),
        }
    }
}

/// The identity assertion for one request at `now` (read once by the caller at the request's
/// entry point): RFC 7519 claims through the crate's one minter ([`JwtMinter`]), which sets
/// `iat`, `exp` = `iat` + `ttl_s` and a random 128-bit `jti` (RFC 7519 §4.1.7); explicit
/// typing `mcp-identity+jwt` (RFC 8725 §3.11) and the key's `kid` in the header.
fn sign_assertion(
    assertion: &IdentityAssertion,
    principal: &Principal,
    scopes: &str,
    now: u64,
) -> Result<HeaderValue, crate::jose::SignError> {
    let mut claims = crate::jose::Object::new();
    claims.insert("iss".into(), assertion.issuer.as_str().into());
    claims.insert("aud".into(), assertion.audience.as_str().into());
    claims.insert("token_iss".into(), principal.issuer().into());
    if let Some(subject) = principal.subject() {
        claims.insert("sub".into(), subject.into());
    }
    if let Some(client_id) = principal.client_id() {
        claims.insert("client_id".into(), client_id.into());
    }
    if !scopes.is_empty() {
        claims.insert("scope".into(), scopes.into());
    }
    if let Some(jkt) = principal.key_thumbprint() {
        claims.insert("cnf".into(), serde_json::json!({"jkt": jkt.as_str()}));
    }
    let minter = JwtMinter::new(Arc::clone(&assertion.key), "mcp-identity+jwt");
    let jwt = minter.mint(claims, Lifetime::expiring(now, assertion.ttl_s))?;
    HeaderValue::from_str(&jwt).map_err(|_| crate::jose::SignError::Serialize)
}

/// A JSON-RPC-shaped error for MCP clients (JSON-RPC 2.0 §5.1, internal error), with the
/// HTTP status in `data`.
pub(crate) fn error_response(status: StatusCode, message: &'static str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32603, "message": message, "data": {"status": status.as_u16()}},
    });
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_are_removed_with_those_connection_names() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("content-type", "application/json"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("content-type"));
    }

    fn client(base: &str) -> UpstreamClient {
        UpstreamClient::new(&ClientSettings {
            url: &Url::parse(base).unwrap(),
            http2_prior_knowledge: false,
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            extra_roots_pem: None,
        })
        .unwrap()
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "2001:db8::8:800:200c:417a",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
        for octet in 0..=255u8 {
            let ip = IpAddr::from([octet, 0, 255, octet]);
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn this_hop_is_reused_only_for_the_same_client_scheme_and_host() {
        let host = |h: &'static str| Some(HeaderValue::from_static(h));
        let cases = [
            (
                "10.0.0.1",
                "http",
                host("a.example"),
                "for=10.0.0.1;proto=http;host=\"a.example\"",
            ),
            (
                "10.0.0.1",
                "http",
                host("a.example"),
                "for=10.0.0.1;proto=http;host=\"a.example\"",
            ),
            (
                "10.0.0.2",
                "http",
                host("a.example"),
                "for=10.0.0.2;proto=http;host=\"a.example\"",
            ),
            (
                "10.0.0.2",
                "https",
                host("a.example"),
                "for=10.0.0.2;proto=https;host=\"a.example\"",
            ),
            (
                "10.0.0.2",
                "https",
                host("b.example"),
                "for=10.0.0.2;proto=https;host=\"b.example\"",
            ),
            ("10.0.0.2", "https", None, "for=10.0.0.2;proto=https"),
            ("::1", "https", None, "for=\"[::1]\";proto=https"),
            (
                "10.0.0.1",
                "http",
                host("a.example"),
                "for=10.0.0.1;proto=http;host=\"a.example\"",
            ),
        ];
        for (ip, proto, host, forwarded) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            let hop = ThisHop::for_peer(ip, proto, host.clone());
            assert_eq!(hop.forwarded.unwrap(), forwarded);
            assert_eq!(hop.x_forwarded_for.unwrap(), ip.to_string().as_str());
            assert_eq!(hop.host, host);
        }
    }

    #[test]
    fn targets_keep_the_upstream_base_path() {
        let uri: http::Uri = "/mcp?session=1".parse().unwrap();
        assert_eq!(
            client("http://127.0.0.1:3000").target(&uri).unwrap(),
            "http://127.0.0.1:3000/mcp?session=1"
        );
        assert_eq!(
            client("http://upstream:3000/base/").target(&uri).unwrap(),
            "http://upstream:3000/base/mcp?session=1"
        );
        assert_eq!(
            client("https://upstream/base").target(&uri).unwrap(),
            "https://upstream/base/mcp?session=1"
        );
        let absolute: http::Uri = "http://elsewhere.example/mcp".parse().unwrap();
        assert_eq!(
            client("http://upstream:3000").target(&absolute).unwrap(),
            "http://upstream:3000/mcp",
            "an absolute-form request target keeps only its path"
        );
    }
}
