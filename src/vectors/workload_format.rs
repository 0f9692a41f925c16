//! The `workload-vectors/1` file format, described in `test-vectors/README.md`: trusted
//! workload issuers with inline keys, a trust policy, token requests and the expected
//! answers of the token endpoint.
//!
//! Unknown fields are refused everywhere, so a misspelt expectation cannot silently pass.

use serde::Deserialize;
use serde_json::Value;

use crate::issuer::{Platform, PolicyDocument};

/// The format identifier this runner reads.
pub const WORKLOAD_VECTORS_FORMAT: &str = "workload-vectors/1";

/// One vector file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadVectorFile {
    /// Must be [`WORKLOAD_VECTORS_FORMAT`].
    pub format: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The vectors.
    pub vectors: Vec<WorkloadVector>,
}

/// One vector: a fresh token endpoint, configured, fed token requests in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadVector {
    /// Unique kebab-case id.
    pub id: String,
    /// What the vector shows, with the RFC or specification section.
    #[serde(default)]
    pub description: Option<String>,
    /// The endpoint's clock, Unix seconds.
    pub now: u64,
    /// The endpoint's configuration.
    pub config: WorkloadConfig,
    /// Token requests, run in order against one endpoint.
    pub requests: Vec<WorkloadRequest>,
}

/// A vector's token-endpoint configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Our issuer identifier (`iss` of the issued tokens; the default assertion audience).
    pub issuer: String,
    /// The token endpoint URL (the proofs' `htu`); `{issuer}/token` when omitted.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The trusted workload issuers.
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
    /// The trust policy: resources and rules.
    pub policy: PolicyDocument,
    /// The nonce the endpoint requires now; `null` (or omitted) for none.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// One trusted workload issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// The name policy rules refer to.
    pub name: String,
    /// The platform preset.
    pub platform: Platform,
    /// `iss` as its tokens carry it. Required except for `spiffe`, where it defaults to
    /// `spiffe://<trust_domain>`.
    #[serde(default)]
    pub iss: Option<String>,
    /// `spiffe` only: the trust domain whose SPIFFE IDs these keys vouch for.
    #[serde(default)]
    pub trust_domain: Option<String>,
    /// `spiffe` only: SVIDs without `iss` select this issuer by their trust domain.
    #[serde(default)]
    pub iss_optional: bool,
    /// The issuer's keys, inline: a JWK Set, or for `spiffe` a SPIFFE trust bundle (JWT
    /// authorities with `use: jwt-svid`).
    pub jwks: Value,
    /// Allowed token algorithms; every supported asymmetric one when omitted.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Accepted `aud` values; the issuer identifier (with and without a trailing slash) and
    /// the token endpoint when omitted.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// The claims required besides the signature; the platform's set when omitted.
    #[serde(default)]
    pub required_claims: Option<Vec<String>>,
    /// The longest `exp - iat` accepted, in seconds.
    #[serde(default)]
    pub max_lifetime_s: Option<u64>,
    /// Clock tolerance for `exp`, `nbf` and `iat`, in seconds.
    #[serde(default)]
    pub leeway_s: Option<u64>,
    /// Refuse a `jti` seen before (and a token without one).
    #[serde(default)]
    pub single_use_jti: Option<bool>,
}

/// One token request and its expected answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRequest {
    /// The form body's fields as (name, value) pairs, in order; a name may repeat.
    pub form: Vec<(String, String)>,
    /// Header fields as (name, value) pairs; names are case-insensitive.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The expected answer.
    pub expect: WorkloadExpectation,
}

/// The expected answer to a token request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadExpectation {
    /// Whether a token is issued.
    pub accept: bool,
    /// Acceptable refusal statuses; any when omitted.
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// Acceptable `error` codes (RFC 6749 §5.2, RFC 8707 §2, RFC 9449 §5, §8); any when
    /// omitted.
    #[serde(default)]
    pub error: Option<Vec<String>>,
    /// Accepted only: the answer's `token_type` (compared case-insensitively).
    #[serde(default)]
    pub token_type: Option<String>,
    /// Accepted only: the answer's `scope`, as a set of space-separated scope tokens.
    #[serde(default)]
    pub scope: Option<String>,
    /// Accepted only: the issued token's `aud`.
    #[serde(default)]
    pub aud: Option<String>,
    /// Accepted only: `true` — the token's `cnf.jkt` is the thumbprint of the proof's key;
    /// `false` — the token has no `cnf`.
    #[serde(default)]
    pub cnf_jkt: Option<bool>,
    /// Accepted only: the issued token's `sub`.
    #[serde(default)]
    pub sub: Option<String>,
    /// Accepted only: the issued token's `act` (RFC 8693 §4.1), compared as JSON; `null`
    /// means no `act`.
    #[serde(default, deserialize_with = "present")]
    pub act: Option<Value>,
    /// Accepted only: the answer's `issued_token_type` (RFC 8693 §2.2.1); `null` means
    /// none.
    #[serde(default, deserialize_with = "present")]
    pub issued_token_type: Option<Value>,
    /// Accepted only: the answer's `expires_in`.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl WorkloadExpectation {
    /// The names of the accepted-only fields that are set.
    pub(super) fn answer_fields(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let fields: [(&'static str, bool); 8] = [
            ("token_type", self.token_type.is_some()),
            ("scope", self.scope.is_some()),
            ("aud", self.aud.is_some()),
            ("cnf_jkt", self.cnf_jkt.is_some()),
            ("sub", self.sub.is_some()),
            ("act", self.act.is_some()),
            ("issued_token_type", self.issued_token_type.is_some()),
            ("expires_in", self.expires_in.is_some()),
        ];
        for (name, present) in fields {
            if present {
                set.push(name);
            }
        }
        set
    }
}

/// A field that is present, even as `null`, becomes `Some(value)`; absent stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}
