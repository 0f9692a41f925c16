//! `[issuer]`, the issuer role's section: the issuer's identifier and endpoints, its
//! signing keys, the trusted workload issuers (`[[issuer.trusted]]`), and the policy —
//! resources and rules inline (`[[issuer.resources]]`, `[[issuer.rules]]`) or in a
//! `policy_file` reloaded on SIGHUP — and its own listener (`[issuer.listen]`).
//!
//! Everything here is checked at load time; [`IssuerSection::compile_policy`] names every bad
//! rule, and the same function builds the policy the role serves, so `check-config` and the
//! running issuer can never disagree.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::issuer::{
    IssuerFacts, KeyRing, Platform, Policy, PolicyDocument, PolicyLimits, ResourceDocument,
    RetiredKey, RuleDocument, SIGNING_ALGORITHMS,
};
use crate::jose::{Algorithm, AlgorithmSet};

use super::ConfigError;
use super::check::{self, Problems, path};
use super::guard::IssuerKeys;
use super::listen::ListenConfig;
use super::secrets::KeyFile;

/// The section's dotted name.
pub(super) const SECTION: &str = "issuer";
/// Its listener's dotted name.
pub(super) const LISTEN: &str = "issuer.listen";
/// The issuer's address when `issuer.listen.address` is not given: next to the guard's
/// 8080, so that `serve` can run both with no address configured.
pub(super) const DEFAULT_ADDRESS: &str = "0.0.0.0:8081";

/// `[issuer]`. See `docs/issuer.md` and `docs/configuration.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerSection {
    /// The issuer identifier: `iss` of every token, and the base of the RFC 8414 metadata
    /// URL. Required: https (http only on loopback), no query or fragment.
    pub issuer: String,
    /// The token endpoint URL as clients call it (the `htu` of their proofs). Default
    /// `{issuer}/token`.
    pub token_endpoint: Option<String>,
    /// The JWKS URL. Default `{issuer}/jwks.json`.
    pub jwks_uri: Option<String>,
    /// The issuer's own listener. Default `0.0.0.0:8081`.
    pub listen: ListenConfig,
    /// A rule without `token_lifetime_s` gives this. Default 300.
    pub token_lifetime_s: u64,
    /// No rule may give more; retired keys stay published this long. Default 3600.
    pub max_token_lifetime_s: u64,
    /// Largest token request body, in bytes. Default 65536.
    pub max_body_bytes: usize,
    /// Largest workload token, in bytes. Default 16384.
    pub max_assertion_bytes: usize,
    /// The signing keys: the first signs, the others are retired and stay published.
    pub signing_keys: Vec<SigningKeyConfig>,
    /// Sign with a key generated in memory at start. Only for the demo and tests: tokens
    /// die with the process and replicas each have their own key. Logged as a warning.
    pub ephemeral_key: bool,
    /// The workload issuers whose tokens are accepted.
    pub trusted: Vec<TrustedConfig>,
    /// The MCP resources tokens can be issued for.
    pub resources: Vec<ResourceDocument>,
    /// The rules, tried in order.
    pub rules: Vec<RuleDocument>,
    /// A TOML file with `[[resources]]` and `[[rules]]`, instead of the inline ones;
    /// reloaded on SIGHUP and when the file changes.
    pub policy_file: Option<PathBuf>,
    /// How often `policy_file` is checked for a change (modification time and size), in
    /// seconds; 0 reloads on SIGHUP only. A Kubernetes ConfigMap update swaps the file
    /// behind a symlink, which this sees.
    pub policy_poll_s: u64,
}

impl Default for IssuerSection {
    fn default() -> Self {
        IssuerSection {
            issuer: String::new(),
            token_endpoint: None,
            jwks_uri: None,
            listen: ListenConfig {
                address: DEFAULT_ADDRESS.into(),
                ..ListenConfig::in_table(LISTEN)
            },
            token_lifetime_s: 300,
            max_token_lifetime_s: 3600,
            max_body_bytes: 64 * 1024,
            max_assertion_bytes: 16 * 1024,
            signing_keys: Vec::new(),
            ephemeral_key: false,
            trusted: Vec::new(),
            resources: Vec::new(),
            rules: Vec::new(),
            policy_file: None,
            policy_poll_s: 5,
        }
    }
}

/// `[[issuer.signing_keys]]`: one PKCS#8 private key (PEM or DER).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// The key file (a Kubernetes secret mount).
    pub file: PathBuf,
    /// `ES256` (default), `EdDSA`, `RS256` or `PS256`.
    pub alg: Option<String>,
    /// The `kid`; the key's RFC 7638 thumbprint when absent.
    pub kid: Option<String>,
    /// For a retired key: when it stopped signing (Unix seconds); it is published until
    /// `max_token_lifetime_s` later. Absent: published until removed.
    pub retired_at: Option<u64>,
    #[serde(skip)]
    key: KeyFile,
}

/// `[[issuer.trusted]]`: one workload issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustedConfig {
    /// The name rules refer to.
    pub name: String,
    /// The platform preset (`kubernetes`, `spiffe`, `github-actions`, `gcp`, `aws`,
    /// `azure`, `generic`). Required.
    pub platform: Option<Platform>,
    /// `iss` as tokens carry it. Required except for a SPIFFE trust domain with
    /// `iss_optional`.
    pub issuer: String,
    /// A SPIFFE trust domain (`prod.example`): SVIDs whose SPIFFE ID is in it.
    pub trust_domain: Option<String>,
    /// Accept SVIDs without `iss` (SPIRE sets it only with `jwt_issuer`).
    pub iss_optional: bool,
    /// Learn the keys from the issuer's metadata (RFC 8414, then OpenID discovery).
    pub discovery: bool,
    /// Fetch the keys from this URL.
    pub jwks_uri: Option<String>,
    /// Read a fixed JWK Set (or, for `spiffe`, a trust bundle) from this file.
    pub jwks_file: Option<PathBuf>,
    /// A fixed JWK Set (or trust bundle) inline, as a table or a JSON string.
    pub jwks: Option<Value>,
    /// A CA bundle (PEM) trusted for the key and metadata fetches besides the platform's
    /// roots: a Kubernetes API server's cluster CA.
    pub jwks_ca_file: Option<PathBuf>,
    /// A file holding a bearer token sent with the key and metadata fetches, read on each
    /// fetch: the pod's service-account token, for an API server's JWKS.
    pub jwks_bearer_token_file: Option<PathBuf>,
    /// Algorithms its tokens may use. Empty: every supported asymmetric one.
    pub algorithms: Vec<String>,
    /// Accepted `aud` values. Empty: the issuer identifier (with and without a trailing
    /// slash) and the token endpoint.
    pub audiences: Vec<String>,
    /// The claims required besides the signature. Absent: the platform's set.
    pub required_claims: Option<Vec<String>>,
    /// The longest `exp - iat` accepted, in seconds. Default 3600.
    pub max_lifetime_s: u64,
    /// Clock tolerance, in seconds. Default 30.
    pub leeway_s: u64,
    /// Refuse a `jti` seen before (requires `jti`). Default false.
    pub single_use_jti: bool,
    /// Allow `http://` for `jwks_uri` and discovery. Only for loopback tests.
    pub dangerous_allow_plain_http: bool,
    /// Seconds the last good keys keep being served while the issuer is unreachable.
    /// Default 3600.
    pub max_stale_s: u64,
    /// Least seconds between fetches requests can cause. Default 30.
    pub min_refetch_interval_s: u64,
    /// Seconds one fetch may take. Default 5.
    pub timeout_s: u64,
    #[serde(skip)]
    pub(super) jwks_file_contents: Option<Vec<u8>>,
    #[serde(skip)]
    pub(super) ca_contents: Option<Vec<u8>>,
}

impl TrustedConfig {
    /// The bytes of `jwks_ca_file`, read at load time.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_contents.as_deref()
    }
}

impl Default for TrustedConfig {
    fn default() -> Self {
        TrustedConfig {
            name: String::new(),
            platform: None,
            issuer: String::new(),
            trust_domain: None,
            iss_optional: false,
            discovery: false,
            jwks_uri: None,
            jwks_file: None,
            jwks: None,
            jwks_ca_file: None,
            jwks_bearer_token_file: None,
            algorithms: Vec::new(),
            audiences: Vec::new(),
            required_claims: None,
            max_lifetime_s: 3600,
            leeway_s: 30,
            single_use_jti: false,
            dangerous_allow_plain_http: false,
            max_stale_s: 3600,
            min_refetch_interval_s: 30,
            timeout_s: 5,
            jwks_file_contents: None,
            ca_contents: None,
        }
    }
}

/// The policy file's layout.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    resources: Vec<ResourceDocument>,
    #[serde(default)]
    rules: Vec<RuleDocument>,
}

impl IssuerSection {
    /// The policy, compiled: from `policy_file` if set (read now), else inline.
    pub fn compile_policy(&self) -> Result<Policy, Vec<ConfigError>> {
        let document = match &self.policy_file {
            Some(file) => {
                if !self.resources.is_empty() || !self.rules.is_empty() {
                    return Err(vec![ConfigError::new(
                        "issuer.policy_file",
                        "give the policy either inline ([[issuer.resources]], [[issuer.rules]]) or in policy_file, not both",
                    )]);
                }
                read_policy_file(file).map_err(|error| vec![error])?
            }
            None => PolicyDocument {
                resources: self.resources.clone(),
                rules: self.rules.clone(),
            },
        };
        let facts: Vec<IssuerFacts> = self
            .trusted
            .iter()
            .map(|trusted| IssuerFacts {
                name: trusted.name.clone(),
                tenant_claims: trusted
                    .platform
                    .map(|platform| {
                        platform
                            .tenant_claims()
                            .iter()
                            .map(|claim| (*claim).to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let limits = PolicyLimits {
            default_token_lifetime_s: self.token_lifetime_s,
            max_token_lifetime_s: self.max_token_lifetime_s,
        };
        let place = if self.policy_file.is_some() {
            "issuer.policy_file"
        } else {
            SECTION
        };
        Policy::compile(&document, &facts, limits).map_err(|errors| {
            errors
                .into_iter()
                .map(|error| ConfigError::new(format!("{place}: {}", error.place), error.problem))
                .collect()
        })
    }

    /// The signing keys as a ring; `None` with `ephemeral_key` (the role generates one).
    pub fn key_ring(&self) -> Result<Option<KeyRing>, ConfigError> {
        if self.ephemeral_key {
            return Ok(None);
        }
        let Some((active, retired)) = self.signing_keys.split_first() else {
            return Err(ConfigError::new(
                "issuer.signing_keys",
                "no signing key: add an [[issuer.signing_keys]] entry (or ephemeral_key = true for a demo)",
            ));
        };
        let field = "issuer.signing_keys[0]";
        let key = active.load(field)?;
        let mut previous = Vec::new();
        for (index, entry) in retired.iter().enumerate() {
            let field = format!("issuer.signing_keys[{}]", index + 1);
            let key = entry.load(&field)?;
            let public = crate::issuer::public_copy(key.public_jwk())
                .map_err(|error| ConfigError::new(&field, error.to_string()))?;
            previous.push(RetiredKey {
                key: std::sync::Arc::new(public),
                retired_at: entry.retired_at,
            });
        }
        KeyRing::new(key, previous)
            .map(Some)
            .map_err(|error| ConfigError::new("issuer.signing_keys", error.to_string()))
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        for (index, key) in self.signing_keys.iter_mut().enumerate() {
            let field = format!("issuer.signing_keys[{index}].file");
            key.key = KeyFile::load(&field, &key.file)?;
        }
        for (index, trusted) in self.trusted.iter_mut().enumerate() {
            let prefix = format!("issuer.trusted[{index}]");
            if let Some(file) = &trusted.jwks_file {
                let bytes = super::secrets::read_file(&path(&prefix, "jwks_file"), file)?;
                trusted.jwks_file_contents = Some(bytes.to_vec());
            }
            if let Some(file) = &trusted.jwks_ca_file {
                let bytes = super::secrets::read_file(&path(&prefix, "jwks_ca_file"), file)?;
                trusted.ca_contents = Some(bytes.to_vec());
            }
        }
        Ok(())
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        // http only on loopback (tests, the demo), as for the guard's resource.
        let loopback = |text: &str| url::Url::parse(text).is_ok_and(|url| check::is_loopback(&url));
        match check::https_url(
            "issuer.issuer",
            &self.issuer,
            loopback(&self.issuer),
            "issuer.issuer",
        ) {
            Ok(url) if url.query().is_some() || url.fragment().is_some() => problems.error(
                "issuer.issuer",
                "an issuer identifier has no query or fragment (RFC 8414 §2)",
            ),
            Ok(_) => {}
            Err(error) => problems.errors.push(error),
        }
        for (field, url) in [
            ("issuer.token_endpoint", &self.token_endpoint),
            ("issuer.jwks_uri", &self.jwks_uri),
        ] {
            if let Some(url) = url {
                problems.take(check::https_url(field, url, loopback(url), field));
            }
        }
        problems.positive("issuer.token_lifetime_s", self.token_lifetime_s);
        problems.positive("issuer.max_token_lifetime_s", self.max_token_lifetime_s);
        problems.positive("issuer.max_body_bytes", self.max_body_bytes as u64);
        problems.positive(
            "issuer.max_assertion_bytes",
            self.max_assertion_bytes as u64,
        );
        if self.token_lifetime_s > self.max_token_lifetime_s {
            problems.error(
                "issuer.token_lifetime_s",
                "is over issuer.max_token_lifetime_s",
            );
        }
        if self.ephemeral_key {
            problems.warn(
                "issuer.ephemeral_key",
                "tokens are signed with a key generated at start: they die with the process, and replicas each have their own key (demo only)",
            );
            if !self.signing_keys.is_empty() {
                problems.error(
                    "issuer.ephemeral_key",
                    "give either signing_keys or ephemeral_key = true, not both",
                );
            }
        } else {
            problems.take(self.key_ring());
        }
        if self.trusted.is_empty() {
            problems.error(
                "issuer.trusted",
                "no trusted workload issuer: add an [[issuer.trusted]] entry",
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for (index, trusted) in self.trusted.iter().enumerate() {
            let prefix = format!("issuer.trusted[{index}]");
            if trusted.name.is_empty() {
                problems.error(path(&prefix, "name"), "required: the name rules refer to");
            } else if names.contains(&trusted.name.as_str()) {
                problems.error(
                    path(&prefix, "name"),
                    "another trusted issuer has this name",
                );
            }
            names.push(&trusted.name);
            trusted.check(&prefix, problems);
        }
        problems.take_all(self.compile_policy());
    }
}

impl SigningKeyConfig {
    fn algorithm(&self, field: &str) -> Result<Algorithm, ConfigError> {
        let name = self.alg.as_deref().unwrap_or("ES256");
        Algorithm::from_name(name)
            .filter(|alg| SIGNING_ALGORITHMS.contains(alg))
            .ok_or_else(|| {
                ConfigError::new(
                    path(field, "alg"),
                    format!("{name:?} is not one of ES256, EdDSA, RS256, PS256"),
                )
            })
    }

    fn load(&self, field: &str) -> Result<crate::jose::SigningKey, ConfigError> {
        let alg = self.algorithm(field)?;
        let key = self
            .key
            .signing_key(&path(field, "file"), Some(&self.file), alg)?;
        match &self.kid {
            Some(kid) => key
                .with_kid(kid.clone())
                .map_err(|error| ConfigError::new(path(field, "kid"), error.to_string())),
            None => Ok(key),
        }
    }
}

impl TrustedConfig {
    /// The one key source, checked; `prefix` is the entry's dotted path. For `spiffe`, a
    /// fixed set is a SPIFFE trust bundle.
    pub fn keys(&self, prefix: &str) -> Result<IssuerKeys, ConfigError> {
        super::guard::key_source(
            &super::guard::KeySourceFields {
                issuer: &self.issuer,
                jwks_uri: self.jwks_uri.as_deref(),
                discovery: self.discovery,
                jwks_file: self.jwks_file.as_deref(),
                jwks_file_contents: self.jwks_file_contents.as_deref(),
                jwks: self.jwks.as_ref(),
                dangerous_allow_plain_http: self.dangerous_allow_plain_http,
                spiffe_bundle: self.platform == Some(Platform::Spiffe),
            },
            prefix,
        )
    }

    /// The `algorithms` as a set.
    pub fn algorithm_set(&self, prefix: &str) -> Result<AlgorithmSet, Vec<ConfigError>> {
        check::algorithms(&path(prefix, "algorithms"), &self.algorithms)
    }

    fn check(&self, prefix: &str, problems: &mut Problems) {
        let Some(platform) = self.platform else {
            problems.error(
                path(prefix, "platform"),
                "required: kubernetes, spiffe, github-actions, gcp, aws, azure or generic",
            );
            return;
        };
        match (&self.trust_domain, platform) {
            (Some(_), Platform::Spiffe) => {}
            (None, Platform::Spiffe) => problems.error(
                path(prefix, "trust_domain"),
                "required for a SPIFFE issuer (e.g. \"prod.example\")",
            ),
            (Some(_), _) => problems.error(
                path(prefix, "trust_domain"),
                "only for platform = \"spiffe\"",
            ),
            (None, _) => {}
        }
        if self.iss_optional && platform != Platform::Spiffe {
            problems.error(
                path(prefix, "iss_optional"),
                "only for platform = \"spiffe\"",
            );
        }
        if self.issuer.is_empty() && !self.iss_optional {
            problems.error(
                path(prefix, "issuer"),
                "required: the `iss` its tokens carry",
            );
        }
        problems.take(self.keys(prefix));
        problems.take_all(self.algorithm_set(prefix));
        problems.positive(&path(prefix, "max_lifetime_s"), self.max_lifetime_s);
        problems.positive(&path(prefix, "timeout_s"), self.timeout_s);
        if self.jwks_ca_file.is_some() || self.jwks_bearer_token_file.is_some() {
            let fetched = self.jwks_uri.is_some() || self.discovery;
            if !fetched {
                problems.error(
                    prefix,
                    "jwks_ca_file and jwks_bearer_token_file are for keys fetched by jwks_uri or discovery",
                );
            }
        }
        if self.dangerous_allow_plain_http {
            problems.warn(
                path(prefix, "dangerous_allow_plain_http"),
                "keys fetched over plain http can be swapped by anyone on the path, who can then vouch for any workload",
            );
        }
        if self.single_use_jti
            && self
                .required_claims
                .as_ref()
                .is_some_and(|claims| !claims.iter().any(|claim| claim == "jti"))
            && !platform.required_claims().contains(&"jti")
        {
            problems.warn(
                path(prefix, "single_use_jti"),
                "tokens without jti will be refused (single use needs one)",
            );
        }
    }
}

fn read_policy_file(file: &std::path::Path) -> Result<PolicyDocument, ConfigError> {
    let field = "issuer.policy_file";
    let bytes = super::secrets::read_file(field, file)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ConfigError::new(field, format!("{} is not UTF-8", file.display())))?;
    let policy: PolicyFile = toml_from_str(text)
        .map_err(|error| ConfigError::new(field, format!("{}: {error}", file.display())))?;
    Ok(PolicyDocument {
        resources: policy.resources,
        rules: policy.rules,
    })
}

/// TOML through figment, the loader the rest of the configuration uses.
fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::string(text))
        .extract()
        .map_err(|error| error.to_string())
}

impl super::roles::RoleSection for IssuerSection {
    fn resolve_files(&mut self) -> Result<(), ConfigError> {
        IssuerSection::resolve_files(self)
    }

    fn check(&self, problems: &mut Problems) {
        IssuerSection::check(self, problems);
    }

    fn listeners(&self) -> Vec<&ListenConfig> {
        vec![&self.listen]
    }
}
