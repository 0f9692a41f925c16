//! The `resource-vectors/1` file format, described in `test-vectors/README.md`.
//!
//! Unknown fields are refused everywhere, so a misspelt expectation cannot silently pass.

use serde::Deserialize;
use serde_json::{Map, Value};

/// The format identifier this runner reads.
pub const RESOURCE_VECTORS_FORMAT: &str = "resource-vectors/1";

/// One vector file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// Must be [`RESOURCE_VECTORS_FORMAT`].
    pub format: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The vectors.
    pub vectors: Vec<Vector>,
}

/// One vector: a fresh validator, configured, fed requests in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// Unique kebab-case id.
    pub id: String,
    /// What the vector shows, with the RFC section.
    #[serde(default)]
    pub description: Option<String>,
    /// The validator's clock, Unix seconds.
    pub now: u64,
    /// The validator's configuration; omitted fields take the library defaults.
    #[serde(default)]
    pub config: VectorConfig,
    /// Requests, run in order against one validator.
    pub requests: Vec<VectorRequest>,
}

/// A vector's validator configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorConfig {
    /// The resource's canonical URI; the default token audience.
    #[serde(default)]
    pub resource: Option<String>,
    /// Allowed proof algorithms, by JWS name.
    #[serde(default)]
    pub dpop_algs: Option<Vec<String>>,
    /// How old a proof's `iat` may be.
    #[serde(default)]
    pub max_age_s: Option<u64>,
    /// How far in the future a proof's `iat` may be.
    #[serde(default)]
    pub max_future_s: Option<u64>,
    /// `true`: DPoP only; `false`: unbound Bearer tokens accepted too.
    #[serde(default)]
    pub require_dpop: Option<bool>,
    /// The nonce the server currently requires; `null` for none.
    #[serde(default)]
    pub nonce: Option<String>,
    /// How access tokens are verified.
    #[serde(default)]
    pub access_tokens: Option<AccessTokensConfig>,
}

/// Access-token verification for a vector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokensConfig {
    /// The trusted issuer (`iss`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The required audience; defaults to `config.resource`.
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed token algorithms.
    #[serde(default)]
    pub algs: Option<Vec<String>>,
    /// The issuer's JWK Set, inline.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// mcp-warden extension: RFC 7662 responses the authorization server would give, by
    /// opaque token; a token not listed is inactive.
    #[serde(default)]
    pub introspection: Option<Map<String, Value>>,
    /// mcp-warden extension: clock tolerance for `exp`/`nbf` (default 0).
    #[serde(default)]
    pub leeway_s: Option<u64>,
}

/// One request and its expected outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorRequest {
    /// HTTP method.
    pub method: String,
    /// The absolute request URL.
    pub url: String,
    /// Header fields as (name, value) pairs, in order; names are case-insensitive.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The expected outcome.
    pub expect: Expectation,
}

/// The expected outcome of a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Whether the request is let through.
    pub accept: bool,
    /// Acceptable refusal statuses; any of 400, 401, 403 when omitted.
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// Acceptable `error=` values of the challenge; any when omitted.
    #[serde(default)]
    pub error: Option<Vec<String>>,
}
