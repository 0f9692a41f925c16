//! Workload assertions: the platform-signed identity tokens a workload presents
//! (Kubernetes service-account tokens, SPIFFE JWT-SVIDs, GitHub Actions, GCP, AWS and Azure
//! OIDC tokens), checked as RFC 7523 §3 asks of a JWT authorization grant or client
//! assertion.
//!
//! - §3 items 1–2: `iss` names a trusted issuer and `sub` the workload. A SPIFFE JWT-SVID
//!   may carry no `iss`; then the trust domain of its SPIFFE ID selects the key bundle
//!   (SPIFFE JWT-SVID §3, §6).
//! - §3 item 3: `aud` names this authorization server — its issuer identifier (with or
//!   without a trailing slash, as RFC 7523bis has it) or its token endpoint (what the
//!   SEP-1933 text says) — unless the trusted issuer is configured otherwise.
//! - §3 items 4–6: `exp` is required, `nbf` and `iat` are honoured with a leeway, and a
//!   token that lives longer than the issuer's maximum is refused: a long-lived token is
//!   a stolen token's best friend.
//! - §3 item 7: `jti` is required where the issuer's profile says so; single use is a
//!   per-issuer option, checked by the service against the replay store.
//! - RFC 8725 §3.11: explicit typing keeps a DPoP proof or an access token from passing
//!   as a workload identity.
//!
//! Real platforms differ from the draft's required set (GCP ID tokens carry no `jti`,
//! SPIRE adds one only on request, a JWT-SVID's `kid` is optional), so what is required is
//! a per-issuer [`Platform`] preset, adjustable in configuration.

use std::sync::Arc;

use serde_json::Value;

use crate::jose::{Object, typ_is};
use crate::jwt::{ClaimsProfile, SignatureError, TrustedIssuer};

/// A platform's defaults: what its tokens carry, and whether one issuer serves many
/// tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Platform {
    /// Kubernetes projected service-account tokens (`iat`, `nbf`, `exp`; `jti` from 1.29).
    Kubernetes,
    /// SPIFFE JWT-SVIDs (`iss` and `jti` optional).
    Spiffe,
    /// GitHub Actions OIDC tokens: one issuer for every repository in the world.
    GithubActions,
    /// Google-signed ID tokens (no `jti`): one issuer for every Google account.
    Gcp,
    /// AWS STS web identity tokens (one issuer per account).
    Aws,
    /// Microsoft Entra workload identity tokens (one issuer per tenant).
    Azure,
    /// Any other OIDC issuer.
    Generic,
}

impl Platform {
    /// The claims its tokens always carry, required by default.
    pub fn required_claims(self) -> &'static [&'static str] {
        match self {
            Platform::Kubernetes => &["sub", "aud", "exp", "iat"],
            Platform::Spiffe => &["sub", "aud", "exp"],
            Platform::GithubActions => &[
                "sub",
                "aud",
                "exp",
                "iat",
                "jti",
                "repository",
                "repository_owner",
            ],
            Platform::Gcp | Platform::Aws | Platform::Azure => &["sub", "aud", "exp", "iat"],
            Platform::Generic => &["sub", "aud", "exp"],
        }
    }

    /// For an issuer that serves many tenants, the claims that name the tenant: a rule
    /// must constrain one of them (or name an exact subject).
    pub fn tenant_claims(self) -> &'static [&'static str] {
        match self {
            Platform::GithubActions => &[
                "repository_owner",
                "repository_owner_id",
                "repository",
                "repository_id",
            ],
            Platform::Gcp => &["email", "azp"],
            _ => &[],
        }
    }

    /// The `typ` values its tokens carry (besides none at all).
    fn accepted_typ(self) -> &'static [&'static str] {
        match self {
            // SPIFFE JWT-SVID §3: `JWT` or `JOSE`.
            Platform::Spiffe => &["jwt", "jose"],
            _ => &["jwt"],
        }
    }

    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Kubernetes => "kubernetes",
            Platform::Spiffe => "spiffe",
            Platform::GithubActions => "github-actions",
            Platform::Gcp => "gcp",
            Platform::Aws => "aws",
            Platform::Azure => "azure",
            Platform::Generic => "generic",
        }
    }
}

/// One trusted workload issuer and the rules its tokens must meet.
#[derive(Debug, Clone)]
pub struct WorkloadIssuer {
    name: Arc<str>,
    platform: Platform,
    keys: TrustedIssuer,
    /// `iss` as it appears in tokens; `None` for a SPIFFE trust domain whose SVIDs carry
    /// none.
    iss: Option<String>,
    trust_domain: Option<String>,
    audiences: Vec<String>,
    required: Vec<String>,
    max_lifetime_s: u64,
    leeway_s: u64,
    single_use_jti: bool,
}

impl WorkloadIssuer {
    /// An issuer named `name` in the policy, whose tokens carry `iss` = `keys.issuer()`.
    /// `audiences` are the accepted `aud` values (see [`default_audiences`]).
    pub fn new(
        name: impl Into<Arc<str>>,
        platform: Platform,
        keys: TrustedIssuer,
        audiences: Vec<String>,
    ) -> Self {
        WorkloadIssuer {
            name: name.into(),
            platform,
            iss: Some(keys.issuer().to_owned()),
            keys,
            trust_domain: None,
            audiences,
            required: platform
                .required_claims()
                .iter()
                .map(|claim| (*claim).to_owned())
                .collect(),
            max_lifetime_s: 3600,
            leeway_s: 30,
            single_use_jti: false,
        }
    }

    /// A SPIFFE trust domain (`prod.example`): SVIDs whose SPIFFE ID is in it are checked
    /// with `keys` (the bundle's JWT authorities). If `iss_optional`, SVIDs without `iss`
    /// are accepted too (SPIRE sets `iss` only when configured to).
    pub fn spiffe(
        name: impl Into<Arc<str>>,
        trust_domain: impl Into<String>,
        keys: TrustedIssuer,
        audiences: Vec<String>,
        iss_optional: bool,
    ) -> Self {
        let mut issuer = Self::new(name, Platform::Spiffe, keys, audiences);
        issuer.trust_domain = Some(trust_domain.into());
        if iss_optional {
            issuer.iss = None;
        }
        issuer
    }

    /// The claims required besides the signature (replacing the platform's set; `sub`,
    /// `aud` and `exp` are always required).
    pub fn required_claims(mut self, claims: Vec<String>) -> Self {
        self.required = claims;
        self
    }

    /// The longest `exp` − `iat` accepted, in seconds (default 3600).
    pub fn max_lifetime_s(mut self, seconds: u64) -> Self {
        self.max_lifetime_s = seconds;
        self
    }

    /// Clock tolerance for `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway_s(mut self, seconds: u64) -> Self {
        self.leeway_s = seconds;
        self
    }

    /// Refuse a `jti` seen before (requires `jti`). Off by default: Kubernetes, AWS and
    /// Azure token files are reused until the platform rotates them.
    pub fn single_use_jti(mut self, on: bool) -> Self {
        self.single_use_jti = on;
        self
    }

    /// The name rules refer to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The platform preset.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The keys and issuer identifier.
    pub fn keys(&self) -> &TrustedIssuer {
        &self.keys
    }

    /// Whether a `jti` must be single use.
    pub fn is_single_use(&self) -> bool {
        self.single_use_jti
    }
}

/// The `aud` values an assertion to this issuer may carry by default: the issuer
/// identifier, with and without a trailing slash, and the token endpoint.
pub fn default_audiences(issuer: &str, token_endpoint: &str) -> Vec<String> {
    let bare = issuer.trim_end_matches('/');
    let mut audiences = vec![bare.to_owned(), format!("{bare}/")];
    if !audiences.iter().any(|aud| aud == token_endpoint) {
        audiences.push(token_endpoint.to_owned());
    }
    audiences
}

/// A workload whose token verified.
#[derive(Debug, Clone)]
pub struct VerifiedWorkload {
    /// The trusted issuer's configured name.
    pub source: Arc<str>,
    /// `iss`, or `spiffe://<trust domain>` for an SVID without one.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `exp`.
    pub expires_at: u64,
    /// `jti`, if any.
    pub jti: Option<String>,
    /// Whether `jti` must be single use.
    pub single_use: bool,
    /// Every claim.
    pub claims: Object,
}

/// Why an assertion was refused. Audit detail: the client only sees `invalid_grant` (or
/// `invalid_client`, or `503`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Size, JWS structure, algorithm, key or signature.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// `iss` (or the SPIFFE trust domain) is not trusted.
    #[error("the assertion's issuer is not trusted")]
    UntrustedIssuer,
    /// `typ` says it is some other kind of JWT (RFC 8725 §3.11).
    #[error("the assertion's typ is not a workload identity token")]
    Typ,
    /// A required claim is absent.
    #[error("the assertion has no {name} claim")]
    ClaimMissing {
        /// The claim.
        name: String,
    },
    /// A claim has the wrong JSON type.
    #[error("the assertion's {name} claim has the wrong type")]
    WrongType {
        /// The claim.
        name: &'static str,
    },
    /// `aud` does not name this authorization server (RFC 7523 §3 item 3).
    #[error("the assertion's audience is not this issuer")]
    Audience,
    /// Expired (RFC 7519 §4.1.4).
    #[error("the assertion expired at {exp} (now {now})")]
    Expired {
        /// `exp`.
        exp: u64,
        /// The clock.
        now: u64,
    },
    /// `nbf` or `iat` lies in the future.
    #[error("the assertion is not valid yet")]
    NotYetValid,
    /// `exp` − `iat` is over the issuer's maximum.
    #[error("the assertion lives {lifetime} s, over the {max} s maximum")]
    LifetimeTooLong {
        /// `exp` − `iat` (or − now, without `iat`).
        lifetime: u64,
        /// The maximum.
        max: u64,
    },
    /// `sub` is not a SPIFFE ID in the issuer's trust domain.
    #[error("the assertion's SPIFFE ID is not in the trust domain")]
    SpiffeId,
    /// The `jti` was already used (RFC 7523 §3 item 7).
    #[error("the assertion's jti was already used")]
    Replayed,
    /// The replay store could not say whether the `jti` was used: refused (fail closed).
    #[error("the replay store for single-use jti is unavailable")]
    ReplayStoreUnavailable,
}

impl AssertionError {
    /// A short, stable name for metrics labels and audit records.
    pub fn reason(&self) -> &'static str {
        match self {
            AssertionError::Signature(SignatureError::TooLarge { .. }) => "assertion_too_large",
            AssertionError::Signature(SignatureError::Jws(_)) => "assertion_jws",
            AssertionError::Signature(SignatureError::KidNotString) => "assertion_kid_type",
            AssertionError::Signature(SignatureError::UnknownKey) => "assertion_unknown_key",
            AssertionError::Signature(SignatureError::Unavailable(_)) => {
                "assertion_keys_unavailable"
            }
            AssertionError::UntrustedIssuer => "assertion_untrusted_issuer",
            AssertionError::Typ => "assertion_typ",
            AssertionError::ClaimMissing { .. } => "assertion_claim_missing",
            AssertionError::WrongType { .. } => "assertion_claim_type",
            AssertionError::Audience => "assertion_audience",
            AssertionError::Expired { .. } => "assertion_expired",
            AssertionError::NotYetValid => "assertion_not_yet_valid",
            AssertionError::LifetimeTooLong { .. } => "assertion_lifetime",
            AssertionError::SpiffeId => "assertion_spiffe_id",
            AssertionError::Replayed => "assertion_replayed",
            AssertionError::ReplayStoreUnavailable => "assertion_replay_store",
        }
    }

    /// Whether the failure is ours, not the assertion's: the issuer's keys could not be
    /// loaded (`503 temporarily_unavailable`).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            AssertionError::Signature(SignatureError::Unavailable(_))
                | AssertionError::ReplayStoreUnavailable
        )
    }
}

/// The trusted workload issuers, as a [`ClaimsProfile`].
#[derive(Debug, Clone, Default)]
pub struct WorkloadIssuers {
    issuers: Vec<WorkloadIssuer>,
}

impl WorkloadIssuers {
    /// The longest assertion read (RFC 7523 assertions are small; 16 KiB bounds the work).
    pub const MAX_LEN: usize = 16 * 1024;

    /// Trusts `issuers`.
    pub fn new(issuers: Vec<WorkloadIssuer>) -> Self {
        WorkloadIssuers { issuers }
    }

    /// The issuers.
    pub fn issuers(&self) -> &[WorkloadIssuer] {
        &self.issuers
    }

    /// Verifies `assertion` at `now`, loading keys as needed.
    pub async fn verify(
        &self,
        assertion: &str,
        now: u64,
    ) -> Result<VerifiedWorkload, AssertionError> {
        crate::jwt::verify(self, assertion, Self::MAX_LEN, now).await
    }

    fn find(&self, header: &Object, claims: &Object) -> Result<&WorkloadIssuer, AssertionError> {
        match claims.get("iss") {
            Some(Value::String(iss)) => self
                .issuers
                .iter()
                .find(|issuer| issuer.iss.as_deref() == Some(iss.as_str()))
                .ok_or(AssertionError::UntrustedIssuer),
            Some(_) => Err(AssertionError::WrongType { name: "iss" }),
            // No `iss`: only a SPIFFE SVID, whose trust domain picks the bundle.
            None => {
                let _ = header;
                let domain = match claims.get("sub") {
                    Some(Value::String(sub)) => spiffe_trust_domain(sub)
                        .ok_or(AssertionError::ClaimMissing { name: "iss".into() })?,
                    _ => {
                        return Err(AssertionError::ClaimMissing { name: "iss".into() });
                    }
                };
                self.issuers
                    .iter()
                    .find(|issuer| {
                        issuer.iss.is_none() && issuer.trust_domain.as_deref() == Some(domain)
                    })
                    .ok_or(AssertionError::UntrustedIssuer)
            }
        }
    }
}

impl ClaimsProfile for WorkloadIssuers {
    type Verified = VerifiedWorkload;
    type Error = AssertionError;

    fn route(&self, header: &Object, claims: &Object) -> Result<&TrustedIssuer, AssertionError> {
        let issuer = self.find(header, claims)?;
        // RFC 8725 §3.11: no `typ`, or the platform's own; a `dpop+jwt` proof or an
        // `at+jwt` access token is not a workload identity.
        match header.get("typ") {
            None => {}
            Some(Value::String(typ))
                if !issuer
                    .platform
                    .accepted_typ()
                    .iter()
                    .any(|accepted| typ_is(typ, accepted)) =>
            {
                return Err(AssertionError::Typ);
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(AssertionError::WrongType { name: "typ" }),
        }
        Ok(&issuer.keys)
    }

    fn check(
        &self,
        keys: &TrustedIssuer,
        header: Object,
        claims: Object,
        now: u64,
    ) -> Result<VerifiedWorkload, AssertionError> {
        let issuer = self.find(&header, &claims)?;
        // The route chose these keys from the same claims; a mismatch cannot happen, and
        // refusing is the safe answer if it ever did.
        if !std::ptr::eq(keys, &issuer.keys) {
            return Err(AssertionError::UntrustedIssuer);
        }
        for name in &issuer.required {
            if !claims.contains_key(name.as_str()) {
                return Err(AssertionError::ClaimMissing { name: name.clone() });
            }
        }
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            Some(Value::String(_)) | Some(_) => {
                return Err(AssertionError::WrongType { name: "sub" });
            }
            None => return Err(AssertionError::ClaimMissing { name: "sub".into() }),
        };
        if let Some(domain) = &issuer.trust_domain
            && spiffe_trust_domain(&subject) != Some(domain.as_str())
        {
            return Err(AssertionError::SpiffeId);
        }
        check_audience(&claims, &issuer.audiences)?;
        let times = Times::read(&claims)?;
        let leeway = issuer.leeway_s;
        let exp = times
            .exp
            .ok_or(AssertionError::ClaimMissing { name: "exp".into() })?;
        // RFC 7519 §4.1.4: expired at or after `exp`.
        if now >= exp.saturating_add(leeway) {
            return Err(AssertionError::Expired { exp, now });
        }
        // RFC 7519 §4.1.5, and an `iat` from the future (RFC 7523 §3 item 6 lets us refuse).
        if times
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
            || times
                .iat
                .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(AssertionError::NotYetValid);
        }
        let start = times.iat.or(times.nbf).unwrap_or(now);
        let lifetime = exp.saturating_sub(start);
        if lifetime > issuer.max_lifetime_s {
            return Err(AssertionError::LifetimeTooLong {
                lifetime,
                max: issuer.max_lifetime_s,
            });
        }
        let jti = match claims.get("jti") {
            None => None,
            Some(Value::String(jti)) if !jti.is_empty() => Some(jti.clone()),
            Some(_) => return Err(AssertionError::WrongType { name: "jti" }),
        };
        if issuer.single_use_jti && jti.is_none() {
            return Err(AssertionError::ClaimMissing { name: "jti".into() });
        }
        let iss = match (&issuer.iss, &issuer.trust_domain) {
            (Some(iss), _) => iss.clone(),
            (None, Some(domain)) => format!("spiffe://{domain}"),
            (None, None) => String::new(),
        };
        Ok(VerifiedWorkload {
            source: Arc::clone(&issuer.name),
            issuer: iss,
            subject,
            expires_at: exp,
            jti,
            single_use: issuer.single_use_jti,
            claims,
        })
    }
}

/// RFC 7519 §4.1.3: `aud` is a string or an array of strings; one must be accepted.
fn check_audience(claims: &Object, accepted: &[String]) -> Result<(), AssertionError> {
    let found = match claims.get("aud") {
        None => return Err(AssertionError::ClaimMissing { name: "aud".into() }),
        Some(Value::String(aud)) => accepted.iter().any(|ok| ok == aud),
        Some(Value::Array(items)) => {
            let mut any = false;
            for item in items {
                let Value::String(aud) = item else {
                    return Err(AssertionError::WrongType { name: "aud" });
                };
                any |= accepted.iter().any(|ok| ok == aud);
            }
            any
        }
        Some(_) => return Err(AssertionError::WrongType { name: "aud" }),
    };
    if found {
        Ok(())
    } else {
        Err(AssertionError::Audience)
    }
}

struct Times {
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
}

impl Times {
    fn read(claims: &Object) -> Result<Self, AssertionError> {
        let date = |name: &'static str| match claims.get(name) {
            None => Ok(None),
            Some(value) => crate::jose::numeric_date(value)
                .map(Some)
                .ok_or(AssertionError::WrongType { name }),
        };
        Ok(Times {
            exp: date("exp")?,
            nbf: date("nbf")?,
            iat: date("iat")?,
        })
    }
}

/// The trust domain of a SPIFFE ID (`spiffe://<trust domain>/<path>`, SPIFFE ID §2):
/// lowercase letters, digits, `.`, `-`, `_`; a path is required for a workload.
pub fn spiffe_trust_domain(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("spiffe://")?;
    let (domain, path) = rest.split_once('/')?;
    let domain_ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    // SPIFFE ID §2.2: segments of letters, digits, `.`, `-`, `_`; none empty, `.` or `..`.
    let path_ok = path.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    });
    (domain_ok && path_ok).then_some(domain)
}

#[cfg(test)]
mod tests;
