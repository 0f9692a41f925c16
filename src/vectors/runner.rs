//! Runs vectors through [`ResourceVerifier`] — the code path of the middleware.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::dpop::ProofValidator;
use crate::guard::{DpopMode, RequestParts, ResourceVerifier};
use crate::jose::{Algorithm, AlgorithmSet, JwkSet};
// The vectors' fixed nonce and fixed introspection table stand in for a server's.
use crate::testing::{FixedNonce, StaticIntrospection};
use crate::token::{AccessTokenVerifier, IntrospectionRules, JwtVerifier, TrustedIssuer};

use super::format::{RESOURCE_VECTORS_FORMAT, Vector, VectorConfig, VectorFile, VectorRequest};
use super::workload::AnyVectorFile;

/// A vector file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: at {path}: {message}")]
pub struct VectorFileError {
    /// The file.
    pub file: String,
    /// The JSON path of the problem (`.` for the whole document).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// A vector whose configuration cannot be built (reported as a failure of that vector).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config.{field}: {message}")]
pub struct VectorConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The outcome of one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorOutcome {
    /// Every request behaved as expected; what each request got, in order.
    Pass(Vec<Observed>),
    /// A request did not, or the configuration could not be built.
    Fail(String),
}

/// Totals and lines of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One line per vector (`PASS id` / `FAIL id: …`) and per unreadable file.
    pub lines: Vec<String>,
    /// Vectors that passed.
    pub passed: usize,
    /// Vectors that failed.
    pub failed: usize,
    /// Files that could not be parsed.
    pub file_errors: usize,
}

impl Report {
    /// Whether at least one vector ran, every vector passed and every file parsed.
    ///
    /// A run of nothing (an empty directory, a mistyped path that is a directory without
    /// `*.json` files, a file with an empty `vectors` list) is not a success: it would
    /// otherwise read as a pass.
    pub fn success(&self) -> bool {
        self.ran() > 0 && self.failed == 0 && self.file_errors == 0
    }

    /// How many vectors ran (passed or failed).
    pub fn ran(&self) -> usize {
        self.passed + self.failed
    }
}

/// The summary line starts with `N passed, N failed` (scripts and the README rely on it),
/// then names unreadable files and a run of nothing.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        match self.file_errors {
            0 => {}
            1 => write!(f, ", 1 file unreadable")?,
            n => write!(f, ", {n} files unreadable")?,
        }
        if self.ran() == 0 && self.file_errors == 0 {
            write!(f, " (no vectors ran: check the paths)")?;
        }
        Ok(())
    }
}

/// Expands arguments: a directory stands for the `*.json` files directly in it (sorted;
/// subdirectories such as `wycheproof/` hold other formats and are not entered).
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Reads and parses one vector file.
pub fn load_file(path: &Path) -> Result<VectorFile, VectorFileError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| VectorFileError {
        file: name.clone(),
        path: ".".into(),
        message: format!("cannot read: {e}"),
    })?;
    parse_file(&name, &text)
}

/// Parses vector-file text; `name` labels errors.
pub fn parse_file(name: &str, text: &[u8]) -> Result<VectorFile, VectorFileError> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let file: VectorFile =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| VectorFileError {
            file: name.into(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    if file.format != RESOURCE_VECTORS_FORMAT {
        return Err(VectorFileError {
            file: name.into(),
            path: "format".into(),
            message: format!("expected {RESOURCE_VECTORS_FORMAT:?}"),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for (index, vector) in file.vectors.iter().enumerate() {
        if !seen.insert(vector.id.as_str()) {
            return Err(VectorFileError {
                file: name.into(),
                path: format!("vectors[{index}].id"),
                message: format!("duplicate id {:?}", vector.id),
            });
        }
    }
    Ok(file)
}

/// How much a run prints per vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// `PASS id` / `FAIL id: …`.
    #[default]
    Outcome,
    /// Also what each request of a passing vector got, with the internal refusal reason.
    Explain,
}

/// Runs every vector of every file (directories expanded, see [`expand_paths`]). A path
/// that cannot be listed or a file that cannot be read or parsed is an `ERROR` line and
/// counts in [`Report::file_errors`]; the other files still run.
pub async fn run_paths(paths: &[PathBuf]) -> Report {
    run_paths_with(paths, Detail::Outcome).await
}

/// [`run_paths`] with a chosen level of detail.
pub async fn run_paths_with(paths: &[PathBuf], detail: Detail) -> Report {
    let mut report = Report::default();
    let mut files = Vec::new();
    for path in paths {
        match expand_paths(std::slice::from_ref(path)) {
            Ok(found) => files.extend(found),
            Err(e) => {
                report.file_errors += 1;
                report
                    .lines
                    .push(format!("ERROR {}: cannot list: {e}", path.display()));
            }
        }
    }
    for path in files {
        // The file's `format` picks the runner.
        match super::workload::load_any_file(&path) {
            Ok(AnyVectorFile::Resource(file)) => run_file(&file, detail, &mut report).await,
            Ok(AnyVectorFile::Workload(file)) => {
                super::workload::run_workload_file(&file, detail, &mut report).await
            }
            Err(e) => {
                report.file_errors += 1;
                report.lines.push(format!("ERROR {e}"));
            }
        }
    }
    report
}

/// Runs the vectors of one parsed file into `report`.
pub async fn run_file(file: &VectorFile, detail: Detail, report: &mut Report) {
    for vector in &file.vectors {
        match run_vector(vector).await {
            VectorOutcome::Pass(observed) => {
                report.passed += 1;
                report.lines.push(format!("PASS {}", vector.id));
                if detail == Detail::Explain {
                    for (index, got) in observed.iter().enumerate() {
                        report
                            .lines
                            .push(format!("  requests[{index}]: {}", got.describe()));
                    }
                }
            }
            VectorOutcome::Fail(why) => {
                report.failed += 1;
                report.lines.push(format!("FAIL {}: {why}", vector.id));
            }
        }
    }
}

/// Runs one vector against a fresh verifier.
pub async fn run_vector(vector: &Vector) -> VectorOutcome {
    let verifier = match build_verifier(&vector.config) {
        Ok(verifier) => verifier,
        Err(e) => return VectorOutcome::Fail(e.to_string()),
    };
    let mut observed = Vec::with_capacity(vector.requests.len());
    for (index, request) in vector.requests.iter().enumerate() {
        let headers = match header_map(request) {
            Ok(headers) => headers,
            Err(why) => return VectorOutcome::Fail(format!("requests[{index}]: {why}")),
        };
        let parts = RequestParts {
            method: &request.method,
            uri: &request.url,
            headers: &headers,
        };
        let got = Observed::from(verifier.verify(&parts, vector.now).await.map(|_| ()));
        if let Err(why) = got.check(request) {
            return VectorOutcome::Fail(format!("requests[{index}]: {why}"));
        }
        observed.push(got);
    }
    VectorOutcome::Pass(observed)
}

/// What the verifier did with a request, in the vocabulary of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Whether it was let through.
    pub accept: bool,
    /// The refusal status.
    pub status: Option<u16>,
    /// The refusal's `error=` code.
    pub error: Option<String>,
    /// The internal reason (the refusal's `Display`), for reviewers; never sent to clients.
    pub reason: Option<String>,
}

impl From<Result<(), crate::guard::Refusal>> for Observed {
    fn from(result: Result<(), crate::guard::Refusal>) -> Self {
        match result {
            Ok(()) => Observed {
                accept: true,
                status: None,
                error: None,
                reason: None,
            },
            Err(refusal) => {
                let challenge = refusal.challenge();
                Observed {
                    accept: false,
                    status: Some(challenge.status),
                    error: challenge.error.map(|code| code.as_str().to_owned()),
                    reason: Some(refusal.to_string()),
                }
            }
        }
    }
}

impl Observed {
    /// Compares with a request's expectation; `Err` says how it differs.
    pub fn check(&self, request: &VectorRequest) -> Result<(), String> {
        let expect = &request.expect;
        let got = self.describe();
        if expect.accept != self.accept {
            let wanted = if expect.accept { "accept" } else { "refuse" };
            return Err(format!("expected {wanted}, got {got}"));
        }
        if self.accept {
            return Ok(());
        }
        let status = self.status.unwrap_or(0);
        // test-vectors/README.md: a refusal always carries 400, 401 or 403.
        if ![400, 401, 403].contains(&status) {
            return Err(format!("expected a 400/401/403 refusal, got {got}"));
        }
        if let Some(allowed) = &expect.status
            && !allowed.contains(&status)
        {
            return Err(format!("expected status {allowed:?}, got {got}"));
        }
        if let Some(allowed) = &expect.error
            && !self.error.as_ref().is_some_and(|e| allowed.contains(e))
        {
            return Err(format!("expected error {allowed:?}, got {got}"));
        }
        Ok(())
    }

    /// `accept`, or `refuse STATUS CODE (reason)`.
    pub fn describe(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("");
        match (self.accept, self.status, &self.error) {
            (true, _, _) => "accept".into(),
            (false, status, Some(error)) => {
                format!("refuse {} {error} ({reason})", status.unwrap_or(0))
            }
            (false, status, None) => {
                format!(
                    "refuse {} without error code ({reason})",
                    status.unwrap_or(0)
                )
            }
        }
    }
}

fn header_map(request: &VectorRequest) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(value).map_err(|_| "invalid header value".to_owned())?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Algorithms named in a vector: the supported ones; `none` and HMAC names are dropped
/// because they can never be allowed (a vector listing them expects them refused); any
/// other unknown name is a configuration error, so that a typo cannot pass unnoticed.
pub(super) fn algorithm_set(
    field: &'static str,
    names: &[String],
) -> Result<AlgorithmSet, VectorConfigError> {
    let mut set = AlgorithmSet::EMPTY;
    for name in names {
        match Algorithm::from_name(name) {
            Some(alg) => set = set.with(alg),
            None if matches!(name.as_str(), "none" | "HS256" | "HS384" | "HS512") => {}
            None => {
                return Err(VectorConfigError {
                    field,
                    message: format!("unknown algorithm {name:?}"),
                });
            }
        }
    }
    Ok(set)
}

/// The nonce source of a vector's `nonce`: issues exactly that value and accepts only it.
pub(super) fn fixed_nonce(value: &str) -> std::sync::Arc<dyn crate::dpop::NonceSource> {
    std::sync::Arc::new(FixedNonce::new(value))
}

/// Builds the verifier a vector's configuration describes, with the library's defaults for
/// every omitted field (documented in `test-vectors/README.md`).
pub fn build_verifier(config: &VectorConfig) -> Result<ResourceVerifier, VectorConfigError> {
    let mut proofs = ProofValidator::builder();
    if let Some(names) = &config.dpop_algs {
        proofs = proofs.algorithms(algorithm_set("dpop_algs", names)?);
    }
    if let Some(seconds) = config.max_age_s {
        proofs = proofs.max_age_s(seconds);
    }
    if let Some(seconds) = config.max_future_s {
        proofs = proofs.max_future_s(seconds);
    }
    if let Some(nonce) = &config.nonce {
        proofs = proofs.nonces(fixed_nonce(nonce));
    }
    let mode = match config.require_dpop {
        Some(false) => DpopMode::Mixed,
        Some(true) | None => DpopMode::Required,
    };

    let tokens_config = config.access_tokens.clone().unwrap_or_default();
    let audience = tokens_config
        .audience
        .clone()
        .or_else(|| config.resource.clone())
        .ok_or(VectorConfigError {
            field: "resource",
            message: "a resource (or access_tokens.audience) is required".into(),
        })?;
    let leeway = tokens_config.leeway_s.unwrap_or(0);
    let mut tokens = AccessTokenVerifier::new();
    if let Some(jwks) = &tokens_config.jwks {
        let issuer = tokens_config.issuer.clone().ok_or(VectorConfigError {
            field: "access_tokens.issuer",
            message: "required with access_tokens.jwks".into(),
        })?;
        let bytes = serde_json::to_vec(jwks).map_err(|e| VectorConfigError {
            field: "access_tokens.jwks",
            message: e.to_string(),
        })?;
        let keys = JwkSet::from_json(&bytes).map_err(|e| VectorConfigError {
            field: "access_tokens.jwks",
            message: e.to_string(),
        })?;
        let mut trusted = TrustedIssuer::new(issuer, keys);
        if let Some(names) = &tokens_config.algs {
            trusted = trusted.algorithms(algorithm_set("access_tokens.algs", names)?);
        }
        let jwt = JwtVerifier::builder(audience.clone())
            .issuer(trusted)
            .leeway_s(leeway)
            .build();
        tokens = tokens.jwt(jwt);
    }
    if let Some(table) = &tokens_config.introspection {
        let mut responses = HashMap::new();
        for (token, response) in table {
            let Value::Object(response) = response else {
                return Err(VectorConfigError {
                    field: "access_tokens.introspection",
                    message: "each response must be a JSON object".into(),
                });
            };
            responses.insert(token.clone(), response.clone());
        }
        let issuers = tokens_config.issuer.clone().into_iter().collect();
        let rules = IntrospectionRules::new(audience, issuers).leeway_s(leeway);
        tokens = tokens.opaque(StaticIntrospection::new(rules, responses));
    }
    Ok(ResourceVerifier::builder()
        .mode(mode)
        .proofs(proofs.build())
        .tokens(tokens)
        .build())
}
