//! Runs `workload-vectors/1` files through [`TokenEndpoint::exchange`] — the code path of
//! the issuer's token service — one endpoint per vector, its requests in order.

use std::fmt;
use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::dpop::ProofValidator;
use crate::issuer::{
    IssuerFacts, KeyRing, Platform, Policy, PolicyLimits, TokenCall, TokenEndpoint, WorkloadIssuer,
    WorkloadIssuers, default_audiences,
};
use crate::jose::{Algorithm, AlgorithmSet, JwkSet, Object, UnverifiedJws};
use crate::jwt::TrustedIssuer;

use super::format::{RESOURCE_VECTORS_FORMAT, VectorFile};
use super::runner::{Detail, Report, VectorFileError, algorithm_set, fixed_nonce, parse_file};
use super::workload_format::{
    TrustedIssuerConfig, WORKLOAD_VECTORS_FORMAT, WorkloadConfig, WorkloadExpectation,
    WorkloadRequest, WorkloadVector, WorkloadVectorFile,
};

/// A parsed vector file of either format.
#[derive(Debug, Clone)]
pub enum AnyVectorFile {
    /// `resource-vectors/1`.
    Resource(VectorFile),
    /// `workload-vectors/1`.
    Workload(WorkloadVectorFile),
}

/// Reads and parses a vector file of either format, chosen by its `format` field.
pub fn load_any_file(path: &Path) -> Result<AnyVectorFile, VectorFileError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| VectorFileError {
        file: name.clone(),
        path: ".".into(),
        message: format!("cannot read: {e}"),
    })?;
    parse_any_file(&name, &text)
}

/// Parses vector-file text of either format; `name` labels errors.
pub fn parse_any_file(name: &str, text: &[u8]) -> Result<AnyVectorFile, VectorFileError> {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        format: Option<Value>,
    }
    // A file that is not a JSON object, or has no `format`, is parsed as the resource
    // format, whose parser names the problem.
    let format = serde_json::from_slice::<Peek>(text)
        .ok()
        .and_then(|peek| peek.format);
    match format.as_ref().and_then(Value::as_str) {
        Some(WORKLOAD_VECTORS_FORMAT) => {
            parse_workload_file(name, text).map(AnyVectorFile::Workload)
        }
        Some(RESOURCE_VECTORS_FORMAT) | None => parse_file(name, text).map(AnyVectorFile::Resource),
        Some(_) => Err(VectorFileError {
            file: name.into(),
            path: "format".into(),
            message: format!("expected {RESOURCE_VECTORS_FORMAT:?} or {WORKLOAD_VECTORS_FORMAT:?}"),
        }),
    }
}

/// Parses `workload-vectors/1` text; `name` labels errors.
pub fn parse_workload_file(name: &str, text: &[u8]) -> Result<WorkloadVectorFile, VectorFileError> {
    let error = |path: String, message: String| VectorFileError {
        file: name.into(),
        path,
        message,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let file: WorkloadVectorFile = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| error(e.path().to_string(), e.inner().to_string()))?;
    if file.format != WORKLOAD_VECTORS_FORMAT {
        return Err(error(
            "format".into(),
            format!("expected {WORKLOAD_VECTORS_FORMAT:?}"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (index, vector) in file.vectors.iter().enumerate() {
        if !seen.insert(vector.id.as_str()) {
            return Err(error(
                format!("vectors[{index}].id"),
                format!("duplicate id {:?}", vector.id),
            ));
        }
        for (at, request) in vector.requests.iter().enumerate() {
            let expect = &request.expect;
            if let (false, Some(field)) = (expect.accept, expect.answer_fields().first()) {
                return Err(error(
                    format!("vectors[{index}].requests[{at}].expect.{field}"),
                    "describes an issued token: only with \"accept\": true".into(),
                ));
            }
            if expect.accept && (expect.status.is_some() || expect.error.is_some()) {
                let field = if expect.status.is_some() {
                    "status"
                } else {
                    "error"
                };
                return Err(error(
                    format!("vectors[{index}].requests[{at}].expect.{field}"),
                    "describes a refusal: only with \"accept\": false".into(),
                ));
            }
            if let Some(value) = &expect.issued_token_type
                && !(value.is_null() || value.is_string())
            {
                return Err(error(
                    format!("vectors[{index}].requests[{at}].expect.issued_token_type"),
                    "a string or null".into(),
                ));
            }
        }
    }
    Ok(file)
}

/// A vector whose configuration cannot be built (reported as a failure of that vector).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config.{field}: {message}")]
pub struct WorkloadConfigError {
    /// The offending field, e.g. `trusted_issuers[1].jwks`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn config_error(field: impl Into<String>, message: impl Into<String>) -> WorkloadConfigError {
    WorkloadConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// The outcome of one workload vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadOutcome {
    /// Every request was answered as expected; what each got, in order.
    Pass(Vec<WorkloadObserved>),
    /// A request was not, or the configuration could not be built.
    Fail(String),
}

/// Runs the vectors of one parsed `workload-vectors/1` file into `report`.
pub async fn run_workload_file(file: &WorkloadVectorFile, detail: Detail, report: &mut Report) {
    for vector in &file.vectors {
        match run_workload_vector(vector).await {
            WorkloadOutcome::Pass(observed) => {
                report.passed += 1;
                report.lines.push(format!("PASS {}", vector.id));
                if detail == Detail::Explain {
                    for (index, got) in observed.iter().enumerate() {
                        report.lines.push(format!("  requests[{index}]: {got}"));
                    }
                }
            }
            WorkloadOutcome::Fail(why) => {
                report.failed += 1;
                report.lines.push(format!("FAIL {}: {why}", vector.id));
            }
        }
    }
}

/// Runs one vector against a fresh token endpoint (empty proof and `jti` replay stores),
/// with the clock pinned at the vector's `now`.
pub async fn run_workload_vector(vector: &WorkloadVector) -> WorkloadOutcome {
    let endpoint = match build_endpoint(&vector.config) {
        Ok(endpoint) => endpoint,
        Err(e) => return WorkloadOutcome::Fail(e.to_string()),
    };
    let mut observed = Vec::with_capacity(vector.requests.len());
    for (index, request) in vector.requests.iter().enumerate() {
        let got = match exchange(&endpoint, request, vector.now).await {
            Ok(got) => got,
            Err(why) => return WorkloadOutcome::Fail(format!("requests[{index}]: {why}")),
        };
        if let Err(why) = got.check(&request.expect) {
            return WorkloadOutcome::Fail(format!("requests[{index}]: {why}"));
        }
        observed.push(got);
    }
    WorkloadOutcome::Pass(observed)
}

/// Builds the token endpoint a vector's configuration describes, with the library's
/// defaults for every omitted field (documented in `test-vectors/README.md`). Issued
/// tokens are signed with a fresh ES256 key.
pub fn build_endpoint(config: &WorkloadConfig) -> Result<TokenEndpoint, WorkloadConfigError> {
    let token_endpoint = config
        .token_endpoint
        .clone()
        .unwrap_or_else(|| format!("{}/token", config.issuer.trim_end_matches('/')));
    let mut issuers = Vec::with_capacity(config.trusted_issuers.len());
    let mut facts = Vec::with_capacity(config.trusted_issuers.len());
    for (index, trusted) in config.trusted_issuers.iter().enumerate() {
        let field = |name: &str| format!("trusted_issuers[{index}].{name}");
        if config.trusted_issuers[..index]
            .iter()
            .any(|seen| seen.name == trusted.name)
        {
            return Err(config_error(
                field("name"),
                "another trusted issuer has this name",
            ));
        }
        issuers.push(workload_issuer(
            trusted,
            &field,
            &config.issuer,
            &token_endpoint,
        )?);
        facts.push(IssuerFacts {
            name: trusted.name.clone(),
            tenant_claims: trusted
                .platform
                .tenant_claims()
                .iter()
                .map(|claim| (*claim).to_owned())
                .collect(),
        });
    }
    let policy =
        Policy::compile(&config.policy, &facts, PolicyLimits::default()).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            config_error("policy", text.join("; "))
        })?;
    let mut proofs = ProofValidator::builder();
    if let Some(nonce) = &config.nonce {
        proofs = proofs.nonces(fixed_nonce(nonce));
    }
    let keys = KeyRing::ephemeral(Algorithm::ES256)
        .map_err(|e| config_error("issuer", format!("no signing key: {e}")))?;
    TokenEndpoint::builder(
        config.issuer.clone(),
        WorkloadIssuers::new(issuers),
        policy,
        keys,
    )
    .token_endpoint(token_endpoint)
    .proofs(proofs.build())
    .build()
    .map_err(|e| {
        let field = match e {
            crate::issuer::EndpointConfigError::TokenEndpoint(_) => "token_endpoint",
            _ => "issuer",
        };
        config_error(field, e.to_string())
    })
}

fn workload_issuer(
    trusted: &TrustedIssuerConfig,
    field: &dyn Fn(&str) -> String,
    issuer: &str,
    token_endpoint: &str,
) -> Result<WorkloadIssuer, WorkloadConfigError> {
    let spiffe = trusted.platform == Platform::Spiffe;
    if trusted.name.is_empty() {
        return Err(config_error(field("name"), "empty"));
    }
    let iss = match (&trusted.iss, &trusted.trust_domain, spiffe) {
        (_, None, true) => return Err(config_error(field("trust_domain"), "required for spiffe")),
        (_, Some(_), false) => {
            return Err(config_error(field("trust_domain"), "only for spiffe"));
        }
        (Some(iss), _, _) => iss.clone(),
        (None, Some(domain), true) => format!("spiffe://{domain}"),
        (None, None, false) => return Err(config_error(field("iss"), "required")),
    };
    if trusted.iss_optional && !spiffe {
        return Err(config_error(field("iss_optional"), "only for spiffe"));
    }
    let bytes = serde_json::to_vec(&trusted.jwks)
        .map_err(|e| config_error(field("jwks"), e.to_string()))?;
    // A SPIFFE trust bundle marks its JWT authorities `use: jwt-svid` (as the sidecar
    // reads `jwks` for platform = "spiffe").
    let keys = if spiffe {
        JwkSet::from_spiffe_bundle(&bytes)
    } else {
        JwkSet::from_json(&bytes)
    }
    .map_err(|e| config_error(field("jwks"), e.to_string()))?;
    if keys.is_empty() {
        let what = if spiffe {
            "no usable JWT-SVID authority (a SPIFFE bundle marks them \"use\": \"jwt-svid\")"
        } else {
            "no usable public signature key"
        };
        return Err(config_error(field("jwks"), what));
    }
    let mut keys = TrustedIssuer::new(iss, keys);
    if let Some(names) = &trusted.algorithms {
        let set: AlgorithmSet = algorithm_set("trusted_issuers[].algorithms", names)
            .map_err(|e| config_error(field("algorithms"), e.message))?;
        keys = keys.algorithms(set);
    }
    let audiences = trusted
        .audiences
        .clone()
        .unwrap_or_else(|| default_audiences(issuer, token_endpoint));
    let mut workload = match &trusted.trust_domain {
        Some(domain) => WorkloadIssuer::spiffe(
            trusted.name.clone(),
            domain.clone(),
            keys,
            audiences,
            trusted.iss_optional,
        ),
        None => WorkloadIssuer::new(trusted.name.clone(), trusted.platform, keys, audiences),
    };
    if let Some(claims) = &trusted.required_claims {
        workload = workload.required_claims(claims.clone());
    }
    if let Some(seconds) = trusted.max_lifetime_s {
        workload = workload.max_lifetime_s(seconds);
    }
    if let Some(seconds) = trusted.leeway_s {
        workload = workload.leeway_s(seconds);
    }
    if let Some(on) = trusted.single_use_jti {
        workload = workload.single_use_jti(on);
    }
    Ok(workload)
}

/// Sends one request: the form encoded as `application/x-www-form-urlencoded` (with that
/// `Content-Type` unless the vector sets one), the vector's headers as given.
async fn exchange(
    endpoint: &TokenEndpoint,
    request: &WorkloadRequest,
    now: u64,
) -> Result<WorkloadObserved, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(value).map_err(|_| "invalid header value".to_owned())?;
        headers.append(name, value);
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(request.form.iter())
        .finish();
    // The thumbprint of the key in the (first) proof, computed apart from the validator.
    let proof_jkt = headers
        .get("dpop")
        .and_then(|value| value.to_str().ok())
        .and_then(crate::dpop::claimed_thumbprint);
    let call = TokenCall {
        headers: &headers,
        body: body.as_bytes(),
    };
    match endpoint.exchange(&call, now).await {
        Err(refused) => {
            let answer = refused.refusal.answer();
            Ok(WorkloadObserved {
                accept: false,
                status: Some(answer.status),
                error: Some(answer.error.as_str().to_owned()),
                reason: Some(refused.refusal.reason().to_owned()),
                detail: Some(refused.refusal.to_string()),
                issued: None,
            })
        }
        Ok(issuance) => {
            let response = issuance.response;
            let token = response.access_token.expose();
            let keys = endpoint.keys();
            let jws = UnverifiedJws::parse(token, 16 * 1024, AlgorithmSet::ALL)
                .map_err(|e| format!("the issued token is not a JWS: {e}"))?;
            let claims = jws.payload().clone();
            let typ = jws.header().get("typ").cloned();
            jws.verify(keys.active().public_jwk())
                .map_err(|e| format!("the issued token does not verify: {e}"))?;
            if typ != Some(Value::from("at+jwt")) {
                return Err(format!("the issued token's typ is {typ:?}, not at+jwt"));
            }
            Ok(WorkloadObserved {
                accept: true,
                status: None,
                error: None,
                reason: None,
                detail: None,
                issued: Some(Issued {
                    token_type: response.token_type,
                    scope: response.scope,
                    expires_in: response.expires_in,
                    issued_token_type: response.issued_token_type,
                    claims,
                    proof_jkt,
                    rule: issuance.record.rule,
                }),
            })
        }
    }
}

/// What the token endpoint answered, in the vocabulary of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadObserved {
    /// Whether a token was issued.
    pub accept: bool,
    /// The refusal's status.
    pub status: Option<u16>,
    /// The refusal's `error` code.
    pub error: Option<String>,
    /// The refusal's stable label ([`IssuerRefusal::reason`](crate::issuer::IssuerRefusal::reason)).
    pub reason: Option<String>,
    /// The refusal's full internal text, for reviewers; never sent to clients.
    pub detail: Option<String>,
    /// What was issued.
    pub issued: Option<Issued>,
}

/// An issued token's answer and claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `token_type`.
    pub token_type: String,
    /// `scope`.
    pub scope: Option<String>,
    /// `expires_in`.
    pub expires_in: Option<u64>,
    /// `issued_token_type`.
    pub issued_token_type: Option<String>,
    /// The access token's claims (its signature verified with the endpoint's key).
    pub claims: Object,
    /// The RFC 7638 thumbprint of the request's proof key, if it had a proof.
    pub proof_jkt: Option<String>,
    /// The rule that granted it.
    pub rule: String,
}

impl WorkloadObserved {
    /// Compares with an expectation; `Err` says how it differs.
    pub fn check(&self, expect: &WorkloadExpectation) -> Result<(), String> {
        if expect.accept != self.accept {
            let wanted = if expect.accept { "accept" } else { "refuse" };
            return Err(format!("expected {wanted}, got {self}"));
        }
        let Some(issued) = &self.issued else {
            return self.check_refusal(expect);
        };
        let claims = &issued.claims;
        let differs = |what: &str, wanted: &dyn fmt::Debug| {
            Err(format!("expected {what} {wanted:?}, got {self}"))
        };
        if let Some(wanted) = &expect.token_type
            && !wanted.eq_ignore_ascii_case(&issued.token_type)
        {
            return differs("token_type", wanted);
        }
        if let Some(wanted) = &expect.scope {
            let set = |text: &str| {
                let mut tokens: Vec<String> = text.split(' ').map(str::to_owned).collect();
                tokens.retain(|token| !token.is_empty());
                tokens.sort();
                tokens
            };
            if issued.scope.as_deref().map(set) != Some(set(wanted)) {
                return differs("scope", wanted);
            }
        }
        if let Some(wanted) = &expect.aud {
            let matches = match claims.get("aud") {
                Some(Value::String(aud)) => aud == wanted,
                Some(Value::Array(items)) => items.len() == 1 && items[0] == *wanted.as_str(),
                _ => false,
            };
            if !matches {
                return differs("aud", wanted);
            }
        }
        if let Some(wanted) = &expect.sub
            && claims.get("sub").and_then(Value::as_str) != Some(wanted.as_str())
        {
            return differs("sub", wanted);
        }
        match expect.cnf_jkt {
            None => {}
            Some(true) => {
                let jkt = claims
                    .get("cnf")
                    .and_then(|cnf| cnf.get("jkt"))
                    .and_then(Value::as_str);
                if jkt.is_none() || jkt != issued.proof_jkt.as_deref() {
                    return Err(format!(
                        "expected cnf.jkt = the proof key's thumbprint {:?}, got {self}",
                        issued.proof_jkt
                    ));
                }
            }
            Some(false) if claims.contains_key("cnf") => {
                return differs("no cnf", &"");
            }
            Some(false) => {}
        }
        if let Some(wanted) = &expect.act
            && claims.get("act").unwrap_or(&Value::Null) != wanted
        {
            return differs("act", wanted);
        }
        if let Some(wanted) = &expect.issued_token_type {
            let got = issued
                .issued_token_type
                .as_deref()
                .map_or(Value::Null, Value::from);
            if got != *wanted {
                return differs("issued_token_type", wanted);
            }
        }
        if let Some(wanted) = expect.expires_in
            && issued.expires_in != Some(wanted)
        {
            return differs("expires_in", &wanted);
        }
        Ok(())
    }

    fn check_refusal(&self, expect: &WorkloadExpectation) -> Result<(), String> {
        let status = self.status.unwrap_or(0);
        // RFC 6749 §5.2: every error response carries `error`.
        let Some(error) = &self.error else {
            return Err(format!("a refusal without an error code: {self}"));
        };
        if let Some(allowed) = &expect.status
            && !allowed.contains(&status)
        {
            return Err(format!("expected status {allowed:?}, got {self}"));
        }
        if let Some(allowed) = &expect.error
            && !allowed.contains(error)
        {
            return Err(format!("expected error {allowed:?}, got {self}"));
        }
        Ok(())
    }
}

/// `accept TYPE scope "…" aud … (rule …)`, or `refuse STATUS CODE (reason: detail)`.
impl fmt::Display for WorkloadObserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.issued {
            Some(issued) => {
                let claim = |name: &str| issued.claims.get(name).cloned().unwrap_or(Value::Null);
                write!(
                    f,
                    "accept {} scope {:?} aud {} sub {} expires_in {}",
                    issued.token_type,
                    issued.scope.as_deref().unwrap_or(""),
                    claim("aud"),
                    claim("sub"),
                    issued
                        .expires_in
                        .map_or_else(|| "none".to_owned(), |s| s.to_string()),
                )?;
                match issued
                    .claims
                    .get("cnf")
                    .and_then(|cnf| cnf.get("jkt"))
                    .and_then(Value::as_str)
                {
                    Some(jkt) => write!(f, " cnf.jkt {jkt}")?,
                    None => write!(f, " no cnf")?,
                }
                if let Some(act) = issued.claims.get("act") {
                    write!(f, " act {act}")?;
                }
                if let Some(kind) = &issued.issued_token_type {
                    write!(f, " issued_token_type {kind}")?;
                }
                write!(f, " (rule {})", issued.rule)
            }
            None => write!(
                f,
                "refuse {} {} ({}: {})",
                self.status.unwrap_or(0),
                self.error.as_deref().unwrap_or("without error code"),
                self.reason.as_deref().unwrap_or(""),
                self.detail.as_deref().unwrap_or(""),
            ),
        }
    }
}
