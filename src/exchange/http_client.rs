//! [`ReqwestService`]: a `reqwest::Client` as a tower `Service` over `http` types, so that
//! [`DpopClientLayer`](super::DpopClientLayer) (and any other tower layer) can wrap it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tower_service::Service;

/// A `reqwest::Client` taking `http::Request<Bytes>` and answering `http::Response` with
/// reqwest's streaming body (an SSE stream is read as it arrives).
#[derive(Debug, Clone)]
pub struct ReqwestService {
    client: reqwest::Client,
}

impl ReqwestService {
    /// Sends through `client` (its timeouts, TLS roots and redirect policy apply).
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestService { client }
    }
}

impl Service<http::Request<Bytes>> for ReqwestService {
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, reqwest::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), reqwest::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            Ok(http::Response::from(response))
        })
    }
}
