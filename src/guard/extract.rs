//! The axum extractor for [`Principal`] (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::principal::Principal;

/// The handler asked for a [`Principal`] but the request did not pass through the guard —
/// a wiring mistake, answered with 500 rather than served unauthenticated.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no verified principal: the route is not behind the mcp-warden guard")]
pub struct MissingPrincipal;

impl MissingPrincipal {
    /// The status of this rejection.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The body text of this rejection.
    pub fn body_text(&self) -> &'static str {
        "internal error: request not authenticated by the guard"
    }
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        (self.status(), self.body_text()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(MissingPrincipal)
    }
}
