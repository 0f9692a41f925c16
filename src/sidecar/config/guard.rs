//! `[guard]`, the guard role's section: the protected resource, the schemes and proofs it
//! accepts, where its trust comes from — JWT issuers (`[[guard.issuers]]`) and
//! introspection (`[guard.introspection]`) — and its own listener (`[guard.listen]`),
//! upstream (`[guard.upstream]`) and identity headers (`[guard.identity]`).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::guard::{DpopMode, ProtectedResourceMetadata, TrustedProxy};
use crate::jose::{AlgorithmSet, JwkSet};

use super::ConfigError;
use super::check::{self, Problems, path};
use super::identity::IdentityConfig;
use super::introspection::IntrospectionConfig;
use super::listen::ListenConfig;
use super::nonce::NonceConfig;
use super::replay::ReplayConfig;
use super::scopes::ScopesConfig;
use super::upstream::UpstreamConfig;

/// Which authorization schemes the guard accepts (RFC 9449 §7.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardMode {
    /// Only DPoP-bound tokens with a valid proof. The default.
    #[default]
    Required,
    /// DPoP, and also unbound tokens as Bearer (a migration step); a bound token is never
    /// accepted as Bearer.
    Mixed,
    /// Only Bearer, for resources not yet migrated; bound tokens are still refused as
    /// Bearer.
    BearerOnly,
}

impl From<GuardMode> for DpopMode {
    fn from(mode: GuardMode) -> Self {
        match mode {
            GuardMode::Required => DpopMode::Required,
            GuardMode::Mixed => DpopMode::Mixed,
            GuardMode::BearerOnly => DpopMode::BearerOnly,
        }
    }
}

/// `[guard]`: everything the guard checks. See `docs/configuration.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// The URL clients call, which tokens must name in `aud` (RFC 8707) and proofs in
    /// `htu`. Required: https (http only on loopback), no fragment.
    pub resource: Option<String>,
    /// `required`, `mixed` or `bearer_only`. Default `required`.
    pub mode: GuardMode,
    /// Issuer identifiers published as `authorization_servers` (RFC 9728), so clients
    /// know where to get tokens: https URLs (http only on loopback) without query or
    /// fragment. Empty: see [`GuardConfig::effective_authorization_servers`].
    pub authorization_servers: Vec<String>,
    /// The `realm` of challenges. Default none.
    pub realm: Option<String>,
    /// Algorithms DPoP proofs may use. Default every supported one (ES256, ES384, ES512,
    /// EdDSA, PS256, PS384, PS512, RS256, RS384, RS512); never `none` or HS*.
    pub dpop_algs: Vec<String>,
    /// How old a proof's `iat` may be, in seconds. Default 300.
    pub max_age_s: u64,
    /// How far in the future a proof's `iat` may be, in seconds. Default 300.
    pub max_future_s: u64,
    /// Peers (IP or CIDR) whose `X-Forwarded-Proto/Host/Prefix` are believed. Default
    /// none.
    pub trusted_proxies: Vec<String>,
    /// Pass `Authorization` and `DPoP` on to the upstream. Default false: MCP forbids
    /// token passthrough.
    pub dangerous_forward_credentials: bool,
    /// Refusals get an empty body instead of a JSON-RPC error. Default false.
    pub plain_error_bodies: bool,
    /// Require `typ: at+jwt` on JWT access tokens (RFC 9068 §4). Default false.
    pub require_at_jwt: bool,
    /// Clock tolerance for tokens' `exp`/`nbf`, in seconds. Default 0.
    pub token_leeway_s: u64,
    /// Verified JWT access tokens remembered (by SHA-256, never past `exp`), so a reused
    /// token costs no second signature check; 0 turns the cache off. Default 10000.
    pub token_cache_entries: usize,
    /// The longest a verification is reused, in seconds. Default 300.
    pub token_cache_ttl_s: u64,
    /// RFC 9728 `resource_name`. Default none.
    pub resource_name: Option<String>,
    /// RFC 9728 `scopes_supported`. Empty: every scope `[guard.scopes]` mentions.
    pub scopes_supported: Vec<String>,
    /// Extra members of the protected resource metadata. Default none.
    pub metadata: serde_json::Map<String, Value>,
    /// Trusted JWT issuers.
    pub issuers: Vec<IssuerConfig>,
    /// RFC 7662 introspection for opaque tokens. Default off.
    pub introspection: Option<IntrospectionConfig>,
    /// The old place of `[nonce]`, moved there at load time ([`super::layout`]).
    #[serde(rename = "nonce")]
    pub(super) legacy_nonce: Option<NonceConfig>,
    /// The old place of `[replay]`, moved there at load time.
    #[serde(rename = "replay")]
    pub(super) legacy_replay: Option<ReplayConfig>,
    /// Required scopes per MCP operation. Default none.
    pub scopes: ScopesConfig,
    /// The listener clients connect to.
    pub listen: ListenConfig,
    /// The MCP server behind the guard.
    pub upstream: UpstreamConfig,
    /// What the upstream learns about the caller.
    pub identity: IdentityConfig,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            resource: None,
            mode: GuardMode::Required,
            authorization_servers: Vec::new(),
            realm: None,
            dpop_algs: crate::jose::Algorithm::ALL
                .iter()
                .map(|alg| alg.name().to_owned())
                .collect(),
            max_age_s: 300,
            max_future_s: 300,
            trusted_proxies: Vec::new(),
            dangerous_forward_credentials: false,
            plain_error_bodies: false,
            require_at_jwt: false,
            token_leeway_s: 0,
            token_cache_entries: 10_000,
            token_cache_ttl_s: 300,
            resource_name: None,
            scopes_supported: Vec::new(),
            metadata: serde_json::Map::new(),
            issuers: Vec::new(),
            introspection: None,
            legacy_nonce: None,
            legacy_replay: None,
            scopes: ScopesConfig::default(),
            listen: ListenConfig::in_table(LISTEN),
            upstream: UpstreamConfig::in_table(UPSTREAM),
            identity: IdentityConfig::in_table(IDENTITY),
        }
    }
}

/// Where the guard's listener, upstream and identity tables are in the current layout.
pub(super) const LISTEN: &str = "guard.listen";
/// See [`LISTEN`].
pub(super) const UPSTREAM: &str = "guard.upstream";
/// See [`LISTEN`].
pub(super) const IDENTITY: &str = "guard.identity";

impl GuardConfig {
    /// The resource URL (RFC 8707 §2, RFC 9728 §1.2): absolute, no fragment, no userinfo,
    /// https — plain http only on loopback, for development.
    pub fn resource_url(&self) -> Result<Url, ConfigError> {
        let field = "guard.resource";
        let Some(text) = &self.resource else {
            return Err(ConfigError::new(
                field,
                "required: the public URL clients call, e.g. \"https://mcp.example.com/mcp\"",
            ));
        };
        let url = check::url(field, text)?;
        if url.fragment().is_some() {
            return Err(ConfigError::new(
                field,
                "must not have a fragment (RFC 8707 §2)",
            ));
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if check::is_loopback(&url) => Ok(url),
            _ => Err(ConfigError::new(
                field,
                format!("{text:?} must be https (plain http only on localhost, for development)"),
            )),
        }
    }

    /// The `dpop_algs` as a set.
    pub fn proof_algorithms(&self) -> Result<AlgorithmSet, Vec<ConfigError>> {
        if self.dpop_algs.is_empty() {
            return Err(vec![ConfigError::new(
                "guard.dpop_algs",
                "must list at least one algorithm, e.g. [\"ES256\", \"EdDSA\"]",
            )]);
        }
        check::algorithms("guard.dpop_algs", &self.dpop_algs)
    }

    /// The `trusted_proxies` ranges.
    pub fn proxies(&self) -> Result<Vec<TrustedProxy>, Vec<ConfigError>> {
        let mut problems = Problems::default();
        let ranges = self
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(index, text)| {
                TrustedProxy::parse(text)
                    .map_err(|_| {
                        problems.error(
                            format!("guard.trusted_proxies[{index}]"),
                            format!(
                                "{text:?} is not an IP address or CIDR range, e.g. \"10.0.0.0/8\""
                            ),
                        );
                    })
                    .ok()
            })
            .collect();
        if problems.errors.is_empty() {
            Ok(ranges)
        } else {
            Err(problems.errors)
        }
    }

    /// The authorization servers published in the metadata: the configured ones, or else
    /// every issuer identifier that is an https URL (or http on loopback) without query or
    /// fragment (RFC 8414 §2) — a `spiffe://` issuer is not an authorization server.
    pub fn effective_authorization_servers(&self) -> Vec<String> {
        if !self.authorization_servers.is_empty() {
            return self.authorization_servers.clone();
        }
        self.issuers
            .iter()
            .filter(|issuer| {
                Url::parse(&issuer.issuer).is_ok_and(|url| {
                    (url.scheme() == "https"
                        || (url.scheme() == "http" && check::is_loopback(&url)))
                        && url.query().is_none()
                        && url.fragment().is_none()
                })
            })
            .map(|issuer| issuer.issuer.clone())
            .collect()
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        for (index, issuer) in self.issuers.iter_mut().enumerate() {
            issuer.resolve_files(&format!("guard.issuers[{index}]"))?;
        }
        if let Some(introspection) = &mut self.introspection {
            introspection.resolve_files()?;
        }
        self.identity.resolve_files()
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        let resource = problems.take(self.resource_url());
        problems.take_all(self.proof_algorithms());
        problems.take_all(self.proxies());
        problems.positive("guard.max_age_s", self.max_age_s);
        // RFC 9110 §11.5: the realm is a quoted-string in every challenge; a quote, a
        // backslash or a control character would break the header.
        if let Some(realm) = &self.realm
            && (realm.is_empty()
                || !realm
                    .chars()
                    .all(|c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\')))
        {
            problems.error(
                "guard.realm",
                "must be non-empty printable ASCII without quotes or backslashes, e.g. \"mcp\"",
            );
        }
        if self.issuers.is_empty() && self.introspection.is_none() {
            problems.error(
                "guard.issuers",
                "no way to verify access tokens: add a [[guard.issuers]] entry or a [guard.introspection] section",
            );
        }
        let mut seen: Vec<&str> = Vec::new();
        for (index, issuer) in self.issuers.iter().enumerate() {
            let prefix = format!("guard.issuers[{index}]");
            if !issuer.issuer.is_empty() && seen.contains(&issuer.issuer.as_str()) {
                problems.error(
                    path(&prefix, "issuer"),
                    format!("{:?} is listed twice; merge the entries", issuer.issuer),
                );
            }
            seen.push(&issuer.issuer);
            issuer.check(&prefix, problems);
        }
        if let Some(introspection) = &self.introspection {
            introspection.check(problems);
        }
        problems.take(self.scopes.policy());
        self.listen.check(problems);
        self.upstream.check(problems);
        problems.take_all(self.identity.header_names());
        problems.take_all(self.identity.assertion_signer());
        if let Some(resource) = resource {
            self.check_metadata(resource.as_str(), problems);
        }
        if self.dangerous_forward_credentials {
            problems.warn(
                "guard.dangerous_forward_credentials",
                "the upstream receives the caller's token and proof; only for an upstream that verifies them itself",
            );
        }
        if self.mode != GuardMode::Required {
            problems.warn(
                "guard.mode",
                "Bearer tokens are accepted: a stolen token works for anyone until it expires",
            );
        }
    }

    /// The metadata the guard will publish, built once here so that a reserved extra
    /// member or a bad authorization server is reported with its field.
    fn check_metadata(&self, resource: &str, problems: &mut Problems) {
        let servers = self.effective_authorization_servers();
        if servers.is_empty() {
            problems.warn(
                "guard.authorization_servers",
                "empty: clients cannot discover where to get tokens (RFC 9728 §2); list your authorization server",
            );
        }
        let mut metadata = ProtectedResourceMetadata::builder(resource);
        for server in &servers {
            metadata = metadata.authorization_server(server.clone());
        }
        for (name, value) in &self.metadata {
            metadata = metadata.extra(name.clone(), value.clone());
        }
        if let Err(error) = metadata.build() {
            use crate::guard::MetadataError;
            let (field, problem) = match error {
                MetadataError::InvalidAuthorizationServer { index } => (
                    format!("guard.authorization_servers[{index}]"),
                    "not an issuer identifier: an https URL (http only on loopback) without query or fragment (RFC 8414 §2)"
                        .to_owned(),
                ),
                MetadataError::ReservedExtra { name } => (
                    format!("guard.metadata.{name}"),
                    "is set by the guard itself; use the dedicated option".to_owned(),
                ),
                other => ("guard.resource".to_owned(), other.to_string()),
            };
            problems.error(field, problem);
        }
    }
}

/// One `[[guard.issuers]]` entry: an issuer whose JWT access tokens are trusted, and
/// exactly one source of its keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer identifier, compared exactly with tokens' `iss`. Required.
    pub issuer: String,
    /// Fetch the JWK Set from this https URL.
    pub jwks_uri: Option<String>,
    /// Learn the `jwks_uri` from the issuer's metadata (RFC 8414, then OpenID discovery).
    pub discovery: bool,
    /// Read a fixed JWK Set from this file at load time.
    pub jwks_file: Option<PathBuf>,
    /// A fixed JWK Set inline, as a table (`{ keys = [...] }`) or a JSON string.
    pub jwks: Option<Value>,
    /// Algorithms this issuer's tokens may use. Empty: every supported one.
    pub algorithms: Vec<String>,
    /// Allow `http://` for `jwks_uri` and discovery. Only for loopback tests.
    pub dangerous_allow_plain_http: bool,
    /// Seconds the last good keys keep being served past their lifetime while the issuer
    /// is unreachable; then tokens are refused. Default 3600.
    pub max_stale_s: u64,
    /// Least seconds between fetches requests can cause (unknown `kid`, failures).
    /// Default 30.
    pub min_refetch_interval_s: u64,
    /// Seconds one fetch may take. Default 5.
    pub timeout_s: u64,
    /// The bytes of `jwks_file`, read at load time.
    #[serde(skip)]
    jwks_file_contents: Option<Vec<u8>>,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        IssuerConfig {
            issuer: String::new(),
            jwks_uri: None,
            discovery: false,
            jwks_file: None,
            jwks: None,
            algorithms: Vec::new(),
            dangerous_allow_plain_http: false,
            max_stale_s: 3600,
            min_refetch_interval_s: 30,
            timeout_s: 5,
            jwks_file_contents: None,
        }
    }
}

/// Where an issuer's keys come from, checked.
#[derive(Debug, Clone)]
pub enum IssuerKeys {
    /// Fetched from this `jwks_uri`.
    JwksUri(Url),
    /// Discovered from the issuer's metadata.
    Discovery,
    /// A fixed set (`jwks_file` or `jwks`).
    Static(JwkSet),
}

impl IssuerConfig {
    /// The one key source of this issuer, checked; `prefix` is the entry's dotted path.
    pub fn keys(&self, prefix: &str) -> Result<IssuerKeys, ConfigError> {
        key_source(
            &KeySourceFields {
                issuer: &self.issuer,
                jwks_uri: self.jwks_uri.as_deref(),
                discovery: self.discovery,
                jwks_file: self.jwks_file.as_deref(),
                jwks_file_contents: self.jwks_file_contents.as_deref(),
                jwks: self.jwks.as_ref(),
                dangerous_allow_plain_http: self.dangerous_allow_plain_http,
                spiffe_bundle: false,
            },
            prefix,
        )
    }

    /// The `algorithms` as a set.
    pub fn algorithm_set(&self, prefix: &str) -> Result<AlgorithmSet, Vec<ConfigError>> {
        check::algorithms(&path(prefix, "algorithms"), &self.algorithms)
    }

    fn resolve_files(&mut self, prefix: &str) -> Result<(), ConfigError> {
        if let Some(file) = &self.jwks_file {
            let bytes = super::secrets::read_file(&path(prefix, "jwks_file"), file)?;
            self.jwks_file_contents = Some(bytes.to_vec());
        }
        Ok(())
    }

    fn check(&self, prefix: &str, problems: &mut Problems) {
        if self.issuer.is_empty() {
            problems.error(
                path(prefix, "issuer"),
                "required: the issuer identifier tokens carry in `iss`",
            );
        }
        let keys = problems.take(self.keys(prefix));
        problems.take_all(self.algorithm_set(prefix));
        if matches!(keys, Some(IssuerKeys::JwksUri(_) | IssuerKeys::Discovery)) {
            problems.positive(&path(prefix, "timeout_s"), self.timeout_s);
            if self.dangerous_allow_plain_http {
                problems.warn(
                    path(prefix, "dangerous_allow_plain_http"),
                    "keys fetched over plain http can be swapped by anyone on the path, who can then mint any token",
                );
            }
        }
        if let Some(IssuerKeys::Static(keys)) = &keys
            && keys.skipped() > 0
        {
            problems.warn(
                prefix,
                format!(
                    "{} key(s) in the JWK Set are unusable and ignored",
                    keys.skipped()
                ),
            );
        }
    }
}

impl super::roles::RoleSection for GuardConfig {
    fn resolve_files(&mut self) -> Result<(), ConfigError> {
        GuardConfig::resolve_files(self)
    }

    fn check(&self, problems: &mut Problems) {
        GuardConfig::check(self, problems);
    }

    fn listeners(&self) -> Vec<&ListenConfig> {
        vec![&self.listen]
    }
}

/// An issuer entry's key-source options (`[[guard.issuers]]`, `[[issuer.trusted]]`).
pub(super) struct KeySourceFields<'a> {
    pub(super) issuer: &'a str,
    pub(super) jwks_uri: Option<&'a str>,
    pub(super) discovery: bool,
    pub(super) jwks_file: Option<&'a std::path::Path>,
    pub(super) jwks_file_contents: Option<&'a [u8]>,
    pub(super) jwks: Option<&'a Value>,
    pub(super) dangerous_allow_plain_http: bool,
    /// A fixed set is a SPIFFE trust bundle (JWT authorities marked `use: jwt-svid`).
    pub(super) spiffe_bundle: bool,
}

/// The one key source of an issuer entry, checked; `prefix` is the entry's dotted path.
pub(super) fn key_source(
    source: &KeySourceFields<'_>,
    prefix: &str,
) -> Result<IssuerKeys, ConfigError> {
    let given: Vec<&str> = [
        ("jwks_uri", source.jwks_uri.is_some()),
        ("discovery", source.discovery),
        ("jwks_file", source.jwks_file.is_some()),
        ("jwks", source.jwks.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if given.len() != 1 {
        let problem = if given.is_empty() {
            "no key source: set exactly one of jwks_uri, discovery = true, jwks_file or jwks"
                .to_owned()
        } else {
            format!(
                "{} are set; keep exactly one key source",
                given.join(" and ")
            )
        };
        return Err(ConfigError::new(prefix, problem));
    }
    let opt_in = path(prefix, "dangerous_allow_plain_http");
    if let Some(uri) = &source.jwks_uri {
        let field = path(prefix, "jwks_uri");
        return check::https_url(&field, uri, source.dangerous_allow_plain_http, &opt_in)
            .map(IssuerKeys::JwksUri);
    }
    if source.discovery {
        let field = path(prefix, "issuer");
        let url = check::https_url(
            &field,
            source.issuer,
            source.dangerous_allow_plain_http,
            &opt_in,
        )?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                field,
                "an issuer used for discovery must have no query or fragment (RFC 8414 §2)",
            ));
        }
        return Ok(IssuerKeys::Discovery);
    }
    let (field, bytes) = match (&source.jwks_file, &source.jwks) {
        (Some(file), _) => {
            let field = path(prefix, "jwks_file");
            let Some(bytes) = &source.jwks_file_contents else {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{} was not read; load the configuration with Config::load",
                        file.display()
                    ),
                ));
            };
            (field, bytes.to_vec())
        }
        (None, Some(Value::String(json))) => (path(prefix, "jwks"), json.as_bytes().to_vec()),
        (None, Some(table)) => (path(prefix, "jwks"), table.to_string().into_bytes()),
        // Unreachable: exactly one source was given and it is neither of the above.
        (None, None) => return Err(ConfigError::new(prefix, "no key source")),
    };
    let keys = if source.spiffe_bundle {
        JwkSet::from_spiffe_bundle(&bytes)
    } else {
        JwkSet::from_json(&bytes)
    }
    .map_err(|error| ConfigError::new(&field, format!("not a JWK Set ({error})")))?;
    if keys.is_empty() {
        return Err(ConfigError::new(
            field,
            format!(
                "the JWK Set has no usable public signature key ({} skipped: private, symmetric or unsupported keys)",
                keys.skipped()
            ),
        ));
    }
    Ok(IssuerKeys::Static(keys))
}
