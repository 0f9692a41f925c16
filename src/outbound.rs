//! Outbound HTTP (JWKS and discovery fetches, introspection; the agent's token requests
//! later): one way to build the client and one way to read a bounded body, so every caller
//! gets the same refusals.

use std::time::Duration;

/// `User-Agent` of every outbound request.
pub(crate) const USER_AGENT: &str = concat!("mcp-warden/", env!("CARGO_PKG_VERSION"));

/// A client that follows no redirect (a redirect could lead anywhere, including to plain
/// http: a server that moved must be reconfigured), speaks https only unless plain http is
/// explicitly allowed, and gives up after the timeouts.
pub(crate) fn client(
    timeout: Duration,
    connect_timeout: Duration,
    allow_plain_http: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    client_with_roots(timeout, connect_timeout, allow_plain_http, Vec::new())
}

/// [`client`], also trusting `roots` besides the platform's (a cluster's own CA).
pub(crate) fn client_with_roots(
    timeout: Duration,
    connect_timeout: Duration,
    allow_plain_http: bool,
    roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!allow_plain_http)
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .user_agent(USER_AGENT);
    for root in roots {
        builder = builder.add_root_certificate(root);
    }
    builder.build()
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Declared or streamed past the cap.
    TooLarge,
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// Reads the whole body, refusing it as soon as it passes `max` bytes: at once when the
/// length is announced, while streaming otherwise (the announcement may be absent or a lie).
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > max as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
