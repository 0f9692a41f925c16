//! The sidecar's configuration: the example file, precedence (defaults < file <
//! environment), secrets read from files, one test per validation rule naming its dotted
//! field, typos caught by `deny_unknown_fields`, documentation of every option, and a guard
//! built from a configuration that accepts a real DPoP request.

#![cfg(all(feature = "sidecar", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use mcp_warden::guard::Principal;
use mcp_warden::sidecar::build::guard_layer;
use mcp_warden::sidecar::config::layout::MOVED;
use mcp_warden::sidecar::config::{
    Config, ConfigError, GuardMode, IssuerKeys, LogFormat, OnRedisError, ReplayStoreKind, RoleKind,
};
use support::{AuthorizationServer, Client, ISSUER, now};
use tower::ServiceExt;

const RESOURCE: &str = "https://mcp.example.com/mcp";

/// The smallest valid configuration: a resource and one issuer.
const MINIMAL: &str = r#"
[guard]
resource = "https://mcp.example.com/mcp"
[[guard.issuers]]
issuer = "https://as.example.com"
discovery = true
"#;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("mcp-warden-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `contents` to `name` and returns the path as TOML-quotable text.
    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The validation errors of `toml`, which must parse.
fn errors(toml: &str) -> Vec<ConfigError> {
    let config = Config::parse(toml).unwrap_or_else(|e| panic!("does not parse: {e}\n{toml}"));
    config.validate().err().unwrap_or_default()
}

fn fields(errors: &[ConfigError]) -> Vec<&str> {
    errors.iter().map(|error| error.field.as_str()).collect()
}

fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/warden.toml"))
        .unwrap()
}

#[test]
fn the_example_file_is_valid_and_shows_the_defaults() {
    let config = Config::parse(&example()).unwrap();
    assert_eq!(config.validate(), Ok(()));
    // Every section but the resource and the issuer is exactly the built-in default.
    let defaults = Config::default();
    assert_eq!(config.roles(), [RoleKind::Guard]);
    assert_eq!(config.guard.listen, defaults.guard.listen);
    assert_eq!(config.admin, defaults.admin);
    assert_eq!(config.guard.upstream, defaults.guard.upstream);
    assert_eq!(config.guard.identity, defaults.guard.identity);
    assert_eq!(
        format!("{:?}", config.nonce),
        format!("{:?}", defaults.nonce)
    );
    assert_eq!(
        format!("{:?}", config.replay),
        format!("{:?}", defaults.replay)
    );
    assert_eq!(config.log, defaults.log);
    assert_eq!(config.shutdown, defaults.shutdown);
    assert_eq!(config.guard.scopes, defaults.guard.scopes);
    let mut guard = config.guard.clone();
    guard.resource = None;
    guard.issuers.clear();
    assert_eq!(format!("{guard:?}"), format!("{:?}", defaults.guard));
    assert_eq!(config.guard.resource.as_deref(), Some(RESOURCE));
    assert_eq!(config.guard.issuers[0].issuer, ISSUER);
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn the_defaults_are_the_safe_ones() {
    let config = Config::parse(MINIMAL).unwrap();
    assert_eq!(config.validate(), Ok(()));
    let guard = &config.guard;
    assert_eq!(guard.mode, GuardMode::Required);
    assert!(!guard.dangerous_forward_credentials);
    assert_eq!((guard.max_age_s, guard.max_future_s), (300, 300));
    assert_eq!(config.replay.store, ReplayStoreKind::Memory);
    assert_eq!(config.replay.on_redis_error, OnRedisError::FailClosed);
    assert!(guard.trusted_proxies.is_empty());
    assert!(!guard.issuers[0].dangerous_allow_plain_http);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(
        config.guard.listen.socket_addr().unwrap().to_string(),
        "0.0.0.0:8080"
    );
    assert_eq!(
        config.admin.socket_addr().unwrap().to_string(),
        "0.0.0.0:9090"
    );
    // Published authorization servers default to the https issuers.
    assert_eq!(guard.effective_authorization_servers(), [ISSUER]);
}

/// `docs/configuration.md`, `guard.authorization_servers`: empty means every issuer that is
/// an issuer identifier — https, or http on localhost/loopback — without query or fragment.
#[test]
fn published_authorization_servers_default_to_the_issuer_identifiers() {
    let mut toml = String::from("[guard]\nresource = \"https://mcp.example.com/mcp\"\n");
    for issuer in [
        "https://as.example.com",
        "http://127.0.0.1:8081",
        "http://localhost:8081/realms/dev",
        "http://[::1]:8081",
        "http://as.example.com",
        "https://as.example.com/?tenant=1",
        "https://as.example.com/#x",
        "spiffe://example.org",
        "not a url",
    ] {
        toml.push_str(&format!(
            "[[guard.issuers]]\nissuer = \"{issuer}\"\njwks = {{ keys = [] }}\n"
        ));
    }
    let config = Config::parse(&toml).unwrap();
    assert_eq!(
        config.guard.effective_authorization_servers(),
        [
            "https://as.example.com",
            "http://127.0.0.1:8081",
            "http://localhost:8081/realms/dev",
            "http://[::1]:8081",
        ]
    );
    // Listed explicitly, they are published as given.
    let explicit = MINIMAL.replace(
        "[[guard.issuers]]",
        "authorization_servers = [\"https://login.example.com\"]\n[[guard.issuers]]",
    );
    let config = Config::parse(&explicit).unwrap();
    assert_eq!(
        config.guard.effective_authorization_servers(),
        ["https://login.example.com"]
    );
}

/// One case per validation rule: `FIELD [+] | TOML`, with `; ` for a line break in the
/// TOML and `+` to put the case after [`MINIMAL`]. The errors must name FIELD.
const CASES: &str = r#"
guard.resource                           | [[guard.issuers]]; issuer = "https://as.example.com"; discovery = true
guard.resource                           | [guard]; resource = "/mcp"
guard.resource                           | [guard]; resource = "http://mcp.example.com/mcp"
guard.resource                           | [guard]; resource = "https://mcp.example.com/mcp#x"
guard.issuers                            | [guard]; resource = "https://mcp.example.com/mcp"
guard.issuers[0]                         | [[guard.issuers]]; issuer = "https://as.example.com"
guard.issuers[0]                         | [[guard.issuers]]; issuer = "https://as.example.com"; discovery = true; jwks_uri = "https://as.example.com/jwks"
guard.issuers[0].issuer                  | [[guard.issuers]]; jwks_uri = "https://as.example.com/jwks"
guard.issuers[0].jwks_uri                | [[guard.issuers]]; issuer = "x"; jwks_uri = "http://as.example.com/jwks"
guard.issuers[0].issuer                  | [[guard.issuers]]; issuer = "spiffe://example.org"; discovery = true
guard.issuers[0].jwks                    | [[guard.issuers]]; issuer = "x"; jwks = { nokeys = 1 }
guard.issuers[1].issuer                + | [[guard.issuers]]; issuer = "https://as.example.com"; discovery = true
guard.issuers[0].algorithms[0]           | [[guard.issuers]]; issuer = "https://as.example.com"; discovery = true; algorithms = ["HS256"]
guard.dpop_algs[1]                       | [guard]; dpop_algs = ["ES256", "none"]
guard.dpop_algs                          | [guard]; dpop_algs = []
guard.max_age_s                          | [guard]; max_age_s = 0
guard.trusted_proxies[1]                 | [guard]; trusted_proxies = ["10.0.0.0/8", "10.0.0.0/33"]
guard.authorization_servers[0]           | [guard]; resource = "https://mcp.example.com/mcp"; authorization_servers = ["not a url"]
guard.metadata.resource                  | [guard]; resource = "https://mcp.example.com/mcp"; metadata = { resource = "x" }
guard.realm                              | [guard]; realm = "a\"b"
listen.tls_key_file                    + | [listen]; tls_cert_file = "/c.pem"
listen.tls_cert_file                   + | [listen]; tls_key_file = "/k.pem"
listen.address                         + | [listen]; address = "localhost"
admin.address                          + | [admin]; address = "9090"
admin.address                          + | [admin]; address = "127.0.0.1:8080"
listen.header_read_timeout_s           + | [listen]; header_read_timeout_s = 0
listen.max_body_bytes                  + | [listen]; max_body_bytes = 0
upstream.connect_timeout_s             + | [upstream]; connect_timeout_s = 0
shutdown.drain_timeout_s               + | [shutdown]; drain_timeout_s = 0
runtime.worker_threads                 + | [runtime]; worker_threads = 5000
upstream.url                           + | [upstream]; url = "ftp://127.0.0.1:3000"
upstream.url                           + | [upstream]; url = "127.0.0.1:3000"
upstream.url                           + | [upstream]; url = "http://127.0.0.1:3000/?a=b"
guard.replay.redis_url_file            + | [guard.replay]; store = "redis"
guard.replay.redis_url                 + | [guard.replay]; store = "redis"; redis_url = "http://redis:6379"
guard.replay.key_prefix                + | [guard.replay]; store = "redis"; redis_url = "redis://r"; key_prefix = ""
guard.replay.redis_ca_file             + | [guard.replay]; store = "redis"; redis_url = "redis://r"; redis_ca_file = "/ca.pem"
guard.nonce.key_file                   + | [guard.nonce]; enabled = true
guard.nonce.key                        + | [guard.nonce]; enabled = true; key = "AAAAAAAAAAAAAAAAAAAAAA=="
guard.nonce.key                        + | [guard.nonce]; enabled = true; key = "not base64!"
guard.nonce.previous_key               + | [guard.nonce]; enabled = true; key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="; previous_key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
identity.subject_header                + | [identity]; subject_header = "x mcp"
identity.scopes_header                 + | [identity]; scopes_header = "Authorization"
identity.scopes_header                 + | [identity]; scopes_header = "dpop"
identity.subject_header                + | [identity]; subject_header = "connection"
identity.client_id_header              + | [identity]; client_id_header = "x-mcp-subject"
log.level                              + | [log]; level = "info,x=loud"
guard.scopes.tools."deploy"            + | [guard.scopes]; tools = { deploy = ["tools deploy"] }
guard.scopes.hierarchy                 + | [guard.scopes]; hierarchy = "::"
guard.introspection.endpoint           + | [guard.introspection]; client_id = "w"; client_secret = "s"
guard.introspection.endpoint           + | [guard.introspection]; endpoint = "http://as.example.com/i"; client_id = "w"; client_secret = "s"
guard.introspection.client_id          + | [guard.introspection]; endpoint = "https://as.example.com/i"; client_secret = "s"
guard.introspection.client_secret_file + | [guard.introspection]; endpoint = "https://as.example.com/i"; client_id = "w"
guard.introspection.bearer_token_file  + | [guard.introspection]; endpoint = "https://as.example.com/i"; auth = "bearer"
guard.introspection.private_key_file   + | [guard.introspection]; endpoint = "https://as.example.com/i"; client_id = "w"; auth = "private_key_jwt"
guard.listen.tls_key_file              + | [guard.listen]; tls_cert_file = "/c.pem"
guard.listen.address                   + | [guard.listen]; address = "localhost"
guard.listen.max_header_bytes          + | [guard.listen]; max_header_bytes = 2048
admin.address                          + | [guard.listen]; address = "127.0.0.1:9090"
guard.upstream.connect_timeout_s       + | [guard.upstream]; connect_timeout_s = 0
guard.upstream.url                     + | [guard.upstream]; url = "127.0.0.1:3000"
guard.identity.client_id_header        + | [guard.identity]; client_id_header = "x-mcp-subject"
guard.identity.assertion_key_file      + | [guard.identity]; assertion = true
replay.redis_url_file                  + | [replay]; store = "redis"
replay.key_prefix                      + | [replay]; store = "redis"; redis_url = "redis://r"; key_prefix = ""
nonce.key_file                         + | [nonce]; enabled = true
nonce.previous_key                     + | [nonce]; enabled = true; key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="; previous_key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
"#;

#[test]
fn every_validation_rule_names_its_field() {
    let cases: Vec<&str> = CASES.lines().filter(|line| !line.is_empty()).collect();
    for case in &cases {
        let (head, toml) = case.split_once(" | ").unwrap();
        let field = head.trim_end_matches([' ', '+']);
        let toml = toml.replace("; ", "\n");
        let toml = if head.ends_with('+') {
            format!("{MINIMAL}\n{toml}\n")
        } else {
            toml + "\n"
        };
        let found = errors(&toml);
        assert!(
            fields(&found).contains(&field),
            "expected an error on {field}, got {found:#?}\n{toml}"
        );
        assert!(found.iter().all(|error| !error.problem.is_empty()));
    }
    assert!(cases.len() > 50);
}

#[test]
fn loopback_http_is_allowed_for_the_resource_in_development() {
    let toml = MINIMAL.replace(RESOURCE, "http://localhost:8080/mcp");
    assert_eq!(errors(&toml), []);
    let toml = MINIMAL.replace(RESOURCE, "http://127.0.0.1:8080/mcp");
    assert_eq!(errors(&toml), []);
}

#[test]
fn validation_reports_every_problem_at_once() {
    let toml = r#"
[listen]
address = "nowhere"
tls_cert_file = "/c.pem"
[upstream]
url = "ftp://x"
[guard]
resource = "http://mcp.example.com/mcp"
dpop_algs = ["HS256"]
[identity]
subject_header = "dpop"
"#;
    let found = errors(toml);
    for field in [
        "listen.address",
        "listen.tls_key_file",
        "upstream.url",
        "guard.resource",
        "guard.dpop_algs[0]",
        "guard.issuers",
        "identity.subject_header",
    ] {
        assert!(
            fields(&found).contains(&field),
            "{field} missing from {found:#?}"
        );
    }
    // Each renders as `field: problem`, one per line in `check-config`.
    assert!(
        found[0]
            .to_string()
            .starts_with(&format!("{}: ", found[0].field))
    );
}

#[test]
fn a_misspelled_key_is_an_error_naming_it() {
    let error = Config::parse("[guard]\nresourse = \"https://mcp.example.com/mcp\"\n").unwrap_err();
    assert_eq!(error.field, "guard.resourse");
    assert!(error.problem.contains("unknown field"), "{error}");
    let error = Config::parse("[gaurd]\nresource = \"x\"\n").unwrap_err();
    assert_eq!(error.field, "gaurd");
    let error = Config::parse(&format!("{MINIMAL}jwks_url = \"https://x\"\n")).unwrap_err();
    assert!(error.field.starts_with("guard.issuers"), "{error}");
}

#[test]
fn an_unknown_key_or_keyword_reads_cleanly() {
    // One pair of backticks per name, none nested: `expected one of `a`, `b`, …`.
    let error = Config::parse("[guard]\nresourse = \"https://mcp.example.com/mcp\"\n").unwrap_err();
    assert!(
        error
            .problem
            .starts_with("unknown field `resourse`, expected one of `resource`, `mode`, "),
        "{error}"
    );
    assert!(!error.problem.contains("``"), "{error}");
    assert!(!error.problem.contains("`one of"), "{error}");
    let error = Config::parse("[guard]\nmode = \"optional\"\n").unwrap_err();
    assert!(
        error.problem.starts_with(
            "unknown value `optional`, expected one of `required`, `mixed`, `bearer_only`"
        ),
        "{error}"
    );
    let error = Config::parse("[guard.replay]\nstore = \"disk\"\n").unwrap_err();
    assert!(
        error
            .problem
            .starts_with("unknown value `disk`, expected `memory` or `redis`"),
        "{error}"
    );
}

/// `check-config FILE` takes the file as an argument: a missing file is named as such,
/// not as `--config`.
#[test]
fn check_config_names_a_missing_file_and_its_problems() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .arg("check-config")
        .arg(&missing)
        .env_remove("MCP_WARDEN_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: {}: cannot read the configuration file: ",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("--config"), "{stderr}");

    let typo = dir.file("typo.toml", "[guard]\nresourse = \"https://x\"\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .args(["check-config", &typo])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: guard.resourse: unknown field `resourse`, expected one of "),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with(&format!("(in {typo})")),
        "{stderr}"
    );

    let good = dir.file("warden.toml", MINIMAL);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .args(["check-config", &good])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{good}: ok\n")
    );
}

#[test]
fn a_value_of_the_wrong_type_or_keyword_names_its_field() {
    let error = Config::parse("[listen]\nmax_connections = \"many\"\n").unwrap_err();
    assert_eq!(error.field, "listen.max_connections");
    let error = Config::parse("[guard]\nmode = \"optional\"\n").unwrap_err();
    assert_eq!(error.field, "guard.mode");
    assert!(error.problem.contains("bearer_only"), "{error}");
    let error = Config::parse("[guard.replay]\non_redis_error = \"ignore\"\n").unwrap_err();
    assert_eq!(error.field, "guard.replay.on_redis_error");
}

#[test]
fn secrets_are_read_from_files_without_their_trailing_newline() {
    let dir = TempDir::new();
    let secret = dir.file("secret", "s3cr3t\n");
    let key = dir.file("key", format!("{}\r\n", "A".repeat(43) + "="));
    let previous = dir.file("previous", "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n");
    let redis = dir.file("redis", "redis://:pw@redis:6379/0\n\n");
    let toml = format!(
        r#"{MINIMAL}
[guard.introspection]
endpoint = "https://as.example.com/introspect"
client_id = "warden"
client_secret_file = "{secret}"
[guard.nonce]
enabled = true
key_file = "{key}"
previous_key_file = "{previous}"
[guard.replay]
store = "redis"
redis_url_file = "{redis}"
"#
    );
    let config = Config::parse(&toml).unwrap();
    let introspection = config.guard.introspection.as_ref().unwrap();
    assert_eq!(
        introspection.client_secret.as_ref().unwrap().expose(),
        "s3cr3t"
    );
    assert_eq!(
        config.nonce.key.as_ref().unwrap().expose(),
        "A".repeat(43) + "="
    );
    // Only one newline is removed: the rest is part of the value.
    let url = config.replay.redis_url.as_ref().unwrap().expose();
    assert_eq!(url, "redis://:pw@redis:6379/0\n");
    assert!(config.nonce.nonces().unwrap().is_some());
    // Secrets never print.
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("s3cr3t") && !debug.contains(":pw@"),
        "{debug}"
    );
    // Secrets from files raise no warning.
    let warned: Vec<String> = config.warnings().into_iter().map(|w| w.field).collect();
    assert!(
        !warned
            .iter()
            .any(|field| field.contains("secret") || field.contains("key")),
        "{warned:?}"
    );
}

#[test]
fn inline_secrets_work_but_warn() {
    let toml = format!(
        "{MINIMAL}[guard.introspection]\nendpoint = \"https://as.example.com/i\"\nclient_id = \"w\"\nclient_secret = \"s3cr3t\"\n"
    );
    let config = Config::parse(&toml).unwrap();
    assert_eq!(config.validate(), Ok(()));
    let warnings = config.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.field == "guard.introspection.client_secret"),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|w| !w.problem.contains("s3cr3t")));
}

#[test]
fn dangerous_options_warn() {
    let toml = r#"
[guard]
resource = "https://mcp.example.com/mcp"
dangerous_forward_credentials = true
mode = "mixed"
[[guard.issuers]]
issuer = "http://127.0.0.1:9000"
discovery = true
dangerous_allow_plain_http = true
[guard.replay]
store = "redis"
redis_url = "redis://127.0.0.1:6379"
on_redis_error = "memory"
"#;
    let config = Config::parse(toml).unwrap();
    let warned: Vec<String> = config.warnings().into_iter().map(|w| w.field).collect();
    for field in [
        "guard.dangerous_forward_credentials",
        "guard.mode",
        "guard.issuers[0].dangerous_allow_plain_http",
        "guard.replay.on_redis_error",
        "guard.replay.redis_url",
    ] {
        assert!(
            warned.contains(&field.to_owned()),
            "{field} not in {warned:?}"
        );
    }
}

#[test]
fn secret_files_that_cannot_be_used_are_errors_naming_the_field() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing").display().to_string();
    let error = Config::parse(&format!(
        "{MINIMAL}[guard.nonce]\nenabled = true\nkey_file = \"{missing}\"\n"
    ))
    .unwrap_err();
    assert_eq!(error.field, "guard.nonce.key_file");
    let empty = dir.file("empty", "\n");
    let error = Config::parse(&format!(
        "{MINIMAL}[guard.replay]\nredis_url_file = \"{empty}\"\n"
    ))
    .unwrap_err();
    assert_eq!(error.field, "guard.replay.redis_url_file");
    let secret = dir.file("secret", "s");
    let error = Config::parse(&format!(
        "{MINIMAL}[guard.introspection]\nendpoint = \"https://as.example.com/i\"\nclient_id = \"w\"\nclient_secret = \"s\"\nclient_secret_file = \"{secret}\"\n"
    ))
    .unwrap_err();
    assert_eq!(error.field, "guard.introspection.client_secret_file");
    assert!(error.problem.contains("not both"), "{error}");
}

#[test]
fn a_private_key_jwt_key_is_read_from_a_pem_or_der_file() {
    use base64::Engine as _;
    use mcp_warden::jose::{Algorithm, SigningKey};
    use mcp_warden::token::ClientAuth;

    let dir = TempDir::new();
    let der = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .to_pkcs8()
        .unwrap();
    let base64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let section = |file: &str, alg: &str| {
        format!(
            "{MINIMAL}[guard.introspection]\nendpoint = \"https://as.example.com/i\"\nauth = \"private_key_jwt\"\nclient_id = \"w\"\nprivate_key_file = \"{file}\"\nprivate_key_alg = \"{alg}\"\nprivate_key_kid = \"k1\"\n"
        )
    };
    for file in [dir.file("key.pem", pem), dir.file("key.der", &der)] {
        let config = Config::parse(&section(&file, "ES256")).unwrap();
        assert_eq!(config.validate(), Ok(()));
        let auth = config
            .guard
            .introspection
            .as_ref()
            .unwrap()
            .client_auth()
            .unwrap();
        let ClientAuth::PrivateKeyJwt { client_id, key, .. } = auth else {
            panic!("{auth:?}");
        };
        assert_eq!(client_id, "w");
        assert_eq!(key.alg(), Algorithm::ES256);
        // The key's algorithm must match the file.
        let found = errors(&section(&file, "ES384"));
        assert_eq!(fields(&found), ["guard.introspection.private_key_file"]);
        let found = errors(&section(&file, "HS256"));
        assert_eq!(fields(&found), ["guard.introspection.private_key_alg"]);
    }
    let sec1 = dir.file(
        "sec1.pem",
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
    );
    let found = errors(&section(&sec1, "ES256"));
    assert_eq!(fields(&found), ["guard.introspection.private_key_file"]);
    assert!(found[0].problem.contains("openssl pkcs8"), "{found:?}");
}

/// `Config::load` with a file and an environment: run in a child process, because this
/// crate forbids `unsafe` and so cannot call `std::env::set_var` in the test process.
#[test]
fn the_environment_overrides_the_file() {
    const CHILD: &str = "WARDEN_CONFIG_TEST_CHILD";
    if let Ok(scenario) = std::env::var(CHILD) {
        let path = PathBuf::from(std::env::var("WARDEN_CONFIG_TEST_FILE").unwrap());
        let loaded = Config::load(Some(&path));
        match scenario.as_str() {
            "override" => {
                let config = loaded.unwrap();
                assert_eq!(
                    config.guard.resource.as_deref(),
                    Some("https://env.example.com/mcp")
                );
                assert_eq!(config.guard.upstream.url, "http://127.0.0.1:4000");
                assert_eq!(config.guard.listen.max_connections, 7);
                assert_eq!(config.guard.dpop_algs, ["ES256", "EdDSA"]);
                assert_eq!(config.replay.on_redis_error, OnRedisError::Memory);
                // The file's values stay where the environment says nothing.
                assert_eq!(config.guard.listen.address, "127.0.0.1:8181");
                assert_eq!(config.guard.scopes.always, ["mcp"]);
                // A list of tables replaces the file's list; quoted digits stay text.
                assert_eq!(config.guard.issuers.len(), 1);
                assert_eq!(config.guard.issuers[0].issuer, "https://env-as.example.com");
                assert!(config.guard.issuers[0].discovery);
                assert_eq!(config.guard.realm.as_deref(), Some("12345"));
                assert_eq!(config.validate(), Ok(()));
            }
            "typo" => {
                let error = loaded.unwrap_err();
                assert_eq!(error.field, "guard.resourse");
                assert!(
                    error.problem.contains("MCP_WARDEN_GUARD__RESOURSE"),
                    "{error}"
                );
            }
            other => panic!("unknown scenario {other}"),
        }
        return;
    }

    let dir = TempDir::new();
    let file = dir.file(
        "warden.toml",
        format!(
            "{MINIMAL}\n[guard.scopes]\nalways = [\"mcp\"]\n[listen]\naddress = \"127.0.0.1:8181\"\nmax_connections = 3\n"
        ),
    );
    let run = |scenario: &str, vars: &[(&str, &str)]| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args([
            "--exact",
            "the_environment_overrides_the_file",
            "--test-threads=1",
        ]);
        for (name, _) in std::env::vars() {
            if name.starts_with("MCP_WARDEN_") {
                child.env_remove(name);
            }
        }
        child
            .env(CHILD, scenario)
            .env("WARDEN_CONFIG_TEST_FILE", &file);
        for (name, value) in vars {
            child.env(name, value);
        }
        let output = child.output().unwrap();
        assert!(
            output.status.success(),
            "{scenario}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(
        "override",
        &[
            ("MCP_WARDEN_GUARD__RESOURCE", "https://env.example.com/mcp"),
            ("MCP_WARDEN_UPSTREAM__URL", "http://127.0.0.1:4000"),
            ("MCP_WARDEN_LISTEN__MAX_CONNECTIONS", "7"),
            ("MCP_WARDEN_GUARD__DPOP_ALGS", "[\"ES256\", \"EdDSA\"]"),
            ("MCP_WARDEN_GUARD__REPLAY__ON_REDIS_ERROR", "memory"),
            (
                "MCP_WARDEN_GUARD__ISSUERS",
                "[{issuer = \"https://env-as.example.com\", discovery = true}]",
            ),
            ("MCP_WARDEN_GUARD__REALM", "\"12345\""),
            // Not configuration (no `__`): the examples' own variables are ignored.
            ("MCP_WARDEN_ISSUER", "http://127.0.0.1:1"),
            ("MCP_WARDEN_LISTEN", "127.0.0.1:1"),
        ],
    );
    run("typo", &[("MCP_WARDEN_GUARD__RESOURSE", "https://x")]);
}

/// Every option the schema accepts is in `docs/configuration.md` and in
/// `examples/warden.toml`. The schema lists its own fields: an unknown key's error names
/// every field the table expects.
#[test]
fn every_option_is_documented_and_in_the_example() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap();
    let example = example();
    let tables = [
        ("", "zzz = 1"),
        ("admin", "[admin]\nzzz = 1"),
        ("log", "[log]\nzzz = 1"),
        ("runtime", "[runtime]\nzzz = 1"),
        ("shutdown", "[shutdown]\nzzz = 1"),
        ("nonce", "[nonce]\nzzz = 1"),
        ("replay", "[replay]\nzzz = 1"),
        ("guard", "[guard]\nzzz = 1"),
        ("guard.listen", "[guard.listen]\nzzz = 1"),
        ("guard.upstream", "[guard.upstream]\nzzz = 1"),
        ("guard.issuers", "[[guard.issuers]]\nzzz = 1"),
        ("guard.introspection", "[guard.introspection]\nzzz = 1"),
        ("guard.scopes", "[guard.scopes]\nzzz = 1"),
        ("guard.identity", "[guard.identity]\nzzz = 1"),
        ("agent", "[agent]\nzzz = 1"),
        ("agent.workload", "[agent.workload]\nzzz = 1"),
        ("agent.routes", "[[agent.routes]]\nzzz = 1"),
    ];
    let mut count = 0;
    for (table, toml) in tables {
        let problem = Config::parse(toml).unwrap_err().problem;
        let expected = problem
            .split_once("expected")
            .map(|(_, rest)| rest)
            .unwrap_or("");
        let names: Vec<&str> = expected
            .split('`')
            .filter(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            })
            .collect();
        assert!(!names.is_empty(), "{table}: {problem}");
        for name in names {
            count += 1;
            let dotted = if table.is_empty() {
                name.to_owned()
            } else {
                format!("{table}.{name}")
            };
            // A section's old place: documented as such, not in the example.
            if let Some(moved) = MOVED.iter().find(|moved| moved.old == dotted) {
                let header = format!("[{}]", moved.old);
                assert!(
                    docs.contains(&header),
                    "docs/configuration.md lacks the old place {header}"
                );
                continue;
            }
            // A section: its header is in both files (commented out in the example when
            // the section is off by default). A role's listener has the options of
            // `[guard.listen]`, checked there.
            if table.is_empty()
                || tables.iter().any(|(sub, _)| *sub == dotted)
                || (dotted.ends_with(".listen") && dotted != "guard.listen")
            {
                let header = if dotted == "agent.routes" {
                    format!("[[{dotted}]]")
                } else {
                    format!("[{dotted}]")
                };
                assert!(example.contains(&header), "example lacks {header}");
                assert!(
                    docs.contains(&header),
                    "docs/configuration.md lacks {header}"
                );
                continue;
            }
            assert!(
                docs.contains(&format!("`{dotted}`")),
                "docs/configuration.md lacks `{dotted}`"
            );
            let env = format!("MCP_WARDEN_{}", dotted.replace('.', "__").to_uppercase());
            // A list of tables is replaced whole from the environment, not per field.
            if !dotted.starts_with("guard.issuers") && !dotted.starts_with("agent.routes") {
                assert!(docs.contains(&env), "docs/configuration.md lacks {env}");
            }
            let shown = example.lines().any(|line| {
                line.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{name} ="))
            });
            assert!(shown, "examples/warden.toml lacks {dotted}");
        }
    }
    assert!(count > 80, "only {count} options found");
}

/// A JWK Set file for the test authorization server.
fn jwks_file(dir: &TempDir, issuer: &AuthorizationServer) -> String {
    let jwks = serde_json::json!({"keys": [issuer.key.public_jwk().to_json()]});
    dir.file("jwks.json", jwks.to_string())
}

async fn subject(principal: Principal) -> String {
    principal.subject().unwrap_or_default().to_owned()
}

async fn send(app: &Router, headers: HeaderMap) -> axum::response::Response {
    let mut request = http::Request::post("/mcp")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    *request.headers_mut() = headers;
    app.clone().oneshot(request).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_built_from_a_static_jwks_file_accepts_a_dpop_request() {
    let dir = TempDir::new();
    let issuer = AuthorizationServer::new();
    let file = jwks_file(&dir, &issuer);
    let config = Config::parse(&format!(
        "[guard]\nresource = \"{RESOURCE}\"\n[[guard.issuers]]\nissuer = \"{ISSUER}\"\njwks_file = \"{file}\"\nalgorithms = [\"ES256\"]\n"
    ))
    .unwrap();
    assert_eq!(config.validate(), Ok(()));
    assert!(matches!(
        config.guard.issuers[0].keys("i"),
        Ok(IssuerKeys::Static(_))
    ));
    let built = guard_layer(&config).await.unwrap();
    assert!(
        built.jwks.is_empty(),
        "a static key set has nothing to fetch"
    );
    assert!(built.replay.memory.is_some());
    let app = Router::new()
        .route("/mcp", post(subject))
        .layer(built.layer);

    let client = Client::new();
    let token = issuer.token(RESOURCE, Some(&client.jkt()), "mcp", now());
    let headers = client.headers("POST", RESOURCE, &token, None, now());
    let response = send(&app, headers.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"agent-7");

    // The same proof again is a replay; no credentials at all is a challenge.
    assert_eq!(send(&app, headers).await.status(), StatusCode::UNAUTHORIZED);
    let response = send(&app, HeaderMap::new()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_from_a_key_file_are_required_by_the_built_guard() {
    let dir = TempDir::new();
    let issuer = AuthorizationServer::new();
    let file = jwks_file(&dir, &issuer);
    let key = dir.file(
        "nonce-key",
        "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n",
    );
    let config = Config::parse(&format!(
        "[guard]\nresource = \"{RESOURCE}\"\n[[guard.issuers]]\nissuer = \"{ISSUER}\"\njwks_file = \"{file}\"\n[guard.nonce]\nenabled = true\nkey_file = \"{key}\"\n"
    ))
    .unwrap();
    assert_eq!(config.validate(), Ok(()));
    let app = Router::new()
        .route("/mcp", post(subject))
        .layer(guard_layer(&config).await.unwrap().layer);
    let client = Client::new();
    let token = issuer.token(RESOURCE, Some(&client.jkt()), "mcp", now());
    let response = send(&app, client.headers("POST", RESOURCE, &token, None, now())).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let response = send(
        &app,
        client.headers("POST", RESOURCE, &token, Some(&nonce), now()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_issuers_and_introspection_build_without_touching_the_network() {
    let dir = TempDir::new();
    let secret = dir.file("secret", "s3cr3t\n");
    let config = Config::parse(&format!(
        r#"
[guard]
resource = "{RESOURCE}"
[[guard.issuers]]
issuer = "https://as.invalid"
discovery = true
[[guard.issuers]]
issuer = "https://other.invalid"
jwks_uri = "https://other.invalid/jwks"
[guard.introspection]
endpoint = "https://as.invalid/introspect"
client_id = "warden"
client_secret_file = "{secret}"
[guard.scopes]
always = ["mcp"]
tools = {{ deploy = ["tools:deploy"] }}
"#
    ))
    .unwrap();
    assert_eq!(config.validate(), Ok(()));
    let built = guard_layer(&config).await.unwrap();
    let issuers: Vec<&str> = built.jwks.iter().map(|j| j.issuer.as_str()).collect();
    assert_eq!(issuers, ["https://as.invalid", "https://other.invalid"]);
    for jwks in &built.jwks {
        assert_eq!(jwks.jwks.stats().fetches, 0);
    }
    assert_eq!(built.introspection.unwrap().stats().requests, 0);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_replay_store_is_built_even_while_redis_is_unreachable() {
    let dir = TempDir::new();
    let issuer = AuthorizationServer::new();
    let file = jwks_file(&dir, &issuer);
    let url = dir.file("redis-url", "redis://127.0.0.1:1/0\n");
    for (policy, degrading) in [("fail_closed", false), ("memory", true)] {
        let config = Config::parse(&format!(
            "[guard]\nresource = \"{RESOURCE}\"\n[[guard.issuers]]\nissuer = \"{ISSUER}\"\njwks_file = \"{file}\"\n[guard.replay]\nstore = \"redis\"\nredis_url_file = \"{url}\"\nconnect_timeout_ms = 200\non_redis_error = \"{policy}\"\n"
        ))
        .unwrap();
        assert_eq!(config.validate(), Ok(()));
        let built = guard_layer(&config).await.unwrap();
        let redis = built.replay.redis.clone().unwrap();
        assert!(redis.ping().await.is_err(), "nothing listens on port 1");
        assert_eq!(built.replay.degrading.is_some(), degrading);
        assert!(built.replay.memory.is_none());
    }
}

/// The layout of earlier releases: the guard's `[listen]`, `[upstream]`, `[identity]` at the
/// top and `[guard.nonce]`, `[guard.replay]` under the guard.
const OLD_LAYOUT: &str = r#"
[listen]
address = "127.0.0.1:8181"
max_connections = 3
[upstream]
url = "http://127.0.0.1:4000"
[identity]
subject_header = "x-caller"
[guard]
resource = "https://mcp.example.com/mcp"
[[guard.issuers]]
issuer = "https://as.example.com"
discovery = true
[guard.nonce]
lifetime_s = 60
[guard.replay]
max_entries = 10
"#;

#[test]
fn the_old_layout_is_read_into_the_new_places_with_a_warning_each() {
    let config = Config::parse(OLD_LAYOUT).unwrap();
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.roles(), [RoleKind::Guard]);
    assert_eq!(config.guard.listen.address, "127.0.0.1:8181");
    assert_eq!(config.guard.listen.max_connections, 3);
    assert_eq!(config.guard.upstream.url, "http://127.0.0.1:4000");
    assert_eq!(config.guard.identity.subject_header, "x-caller");
    assert_eq!(config.nonce.lifetime_s, 60);
    assert_eq!(config.replay.max_entries, 10);
    let warnings = config.warnings();
    for (old, new) in [
        ("listen", "guard.listen"),
        ("upstream", "guard.upstream"),
        ("identity", "guard.identity"),
        ("guard.nonce", "nonce"),
        ("guard.replay", "replay"),
    ] {
        let warning = warnings
            .iter()
            .find(|warning| warning.field == old)
            .unwrap_or_else(|| panic!("no warning on {old}: {warnings:?}"));
        assert!(
            warning.problem.contains(&format!("[{new}]")),
            "{warning} does not name [{new}]"
        );
    }
    // The guard subcommand's check of the guard alone warns the same.
    assert_eq!(config.warnings_for(&[RoleKind::Guard]), warnings);
    // Problems name the fields where they were written.
    let bad = OLD_LAYOUT
        .replace("max_connections = 3", "max_connections = 0")
        .replace("http://127.0.0.1:4000", "ftp://x")
        .replace("\"x-caller\"", "\"dpop\"")
        .replace("max_entries = 10", "max_entries = 0")
        .replace("lifetime_s = 60", "lifetime_s = 0\nenabled = true");
    let found = errors(&bad);
    for field in [
        "listen.max_connections",
        "upstream.url",
        "identity.subject_header",
        "guard.replay.max_entries",
        "guard.nonce.key_file",
        "guard.nonce.lifetime_s",
    ] {
        assert!(
            fields(&found).contains(&field),
            "{field} missing from {found:#?}"
        );
    }
}

#[test]
fn the_new_layout_raises_no_layout_warning_and_names_its_fields() {
    let toml = r#"
[nonce]
lifetime_s = 0
enabled = true
[replay]
max_entries = 0
[guard]
resource = "https://mcp.example.com/mcp"
[[guard.issuers]]
issuer = "https://as.example.com"
discovery = true
[guard.listen]
max_connections = 0
[guard.upstream]
url = "ftp://x"
[guard.identity]
subject_header = "dpop"
"#;
    let found = errors(toml);
    for field in [
        "guard.listen.max_connections",
        "guard.upstream.url",
        "guard.identity.subject_header",
        "replay.max_entries",
        "nonce.key_file",
        "nonce.lifetime_s",
    ] {
        assert!(
            fields(&found).contains(&field),
            "{field} missing from {found:#?}"
        );
    }
    let config = Config::parse(&format!("{MINIMAL}[guard.listen]\nmax_connections = 5\n")).unwrap();
    assert_eq!(config.guard.listen.max_connections, 5);
    assert_eq!(config.warnings(), []);
    // Old and new places of different sections mix: a file moves one section at a time.
    let mixed = format!(
        "{MINIMAL}[guard.listen]\nmax_connections = 5\n[upstream]\nurl = \"http://127.0.0.1:4000\"\n"
    );
    let config = Config::parse(&mixed).unwrap();
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.guard.upstream.url, "http://127.0.0.1:4000");
    let warned: Vec<String> = config.warnings().into_iter().map(|w| w.field).collect();
    assert_eq!(warned, ["upstream"]);
}

#[test]
fn a_section_at_both_its_old_and_new_place_is_an_error_naming_both() {
    for (old, new, key) in [
        ("listen", "guard.listen", "max_connections = 5"),
        (
            "upstream",
            "guard.upstream",
            "url = \"http://127.0.0.1:4000\"",
        ),
        ("identity", "guard.identity", "headers = false"),
        ("guard.nonce", "nonce", "lifetime_s = 60"),
        ("guard.replay", "replay", "max_entries = 10"),
    ] {
        let toml = format!("{MINIMAL}[{old}]\n{key}\n[{new}]\n{key}\n");
        let error = Config::parse(&toml).unwrap_err();
        assert_eq!(error.field, new, "{error}");
        assert!(
            error.problem.contains(&format!("[{old}]"))
                && error.problem.contains(&format!("[{new}]")),
            "{error}"
        );
    }
}

#[test]
fn a_configuration_without_a_role_section_has_nothing_to_run() {
    let config =
        Config::parse("[admin]\naddress = \"127.0.0.1:9999\"\n[log]\nlevel = \"debug\"\n").unwrap();
    assert_eq!(config.roles(), []);
    let found = config.validate().unwrap_err();
    assert_eq!(fields(&found), ["(config)"]);
    assert!(found[0].problem.contains("no role"), "{found:?}");
    assert!(found[0].problem.contains("[guard]"), "{found:?}");
    // The guard alone (`mcp-warden guard`) is checked as its defaults: what it lacks is named.
    let found = config.validate_for(&[RoleKind::Guard]).unwrap_err();
    assert!(fields(&found).contains(&"guard.resource"), "{found:?}");
    // An old-place guard table is a guard section.
    let config = Config::parse("[upstream]\nurl = \"http://127.0.0.1:4000\"\n").unwrap();
    assert_eq!(config.roles(), [RoleKind::Guard]);
}

#[test]
fn listeners_need_ports_of_their_own() {
    let toml = format!(
        "{MINIMAL}[guard.listen]\naddress = \"127.0.0.1:9090\"\n[admin]\naddress = \"0.0.0.0:9090\"\n"
    );
    let found = errors(&toml);
    let overlap = found
        .iter()
        .find(|error| error.field == "admin.address")
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(
        overlap.problem.contains("guard.listen.address"),
        "{overlap}"
    );
}

/// `serve` and `check-config` with files as a user writes them: the old layout starts
/// with a warning, both layouts at once and a file without a role section do not start.
#[test]
fn the_binary_warns_about_the_old_layout_and_refuses_both_or_no_role() {
    let dir = TempDir::new();
    let binary = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-warden"));
        for (name, _) in std::env::vars() {
            if name.starts_with("MCP_WARDEN_") {
                command.env_remove(name);
            }
        }
        command
    };
    let old = dir.file("old.toml", OLD_LAYOUT);
    let output = binary().args(["check-config", &old]).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: listen: [listen] is the old place of [guard.listen]: move its keys there"
        ),
        "{stderr}"
    );

    let both = dir.file(
        "both.toml",
        format!("{MINIMAL}[listen]\nmax_connections = 5\n[guard.listen]\nmax_connections = 5\n"),
    );
    for args in [["check-config", both.as_str()], ["serve", "--config"]] {
        let mut command = binary();
        command.args(args);
        if args[0] == "serve" {
            command.arg(&both);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: guard.listen: [guard.listen] and [listen] are both given"),
            "{args:?}: {stderr}"
        );
    }

    let empty = dir.file("empty.toml", "[log]\nlevel = \"warn\"\n");
    for args in [["check-config", empty.as_str()], ["serve", "--config"]] {
        let mut command = binary();
        command.args(args);
        if args[0] == "serve" {
            command.arg(&empty);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: (config): no role to run"),
            "{args:?}: {stderr}"
        );
    }
}

/// `MCP_WARDEN_*` reaches the nested tables of the new layout, and an old-place variable
/// next to a new-place table is the same conflict as in a file. In a child process, for the
/// reason given at [`the_environment_overrides_the_file`].
#[test]
fn the_environment_overrides_the_new_layout() {
    const CHILD: &str = "WARDEN_CONFIG_TEST_NEW_LAYOUT";
    if let Ok(scenario) = std::env::var(CHILD) {
        let path = PathBuf::from(std::env::var("WARDEN_CONFIG_TEST_FILE").unwrap());
        let loaded = Config::load(Some(&path));
        match scenario.as_str() {
            "override" => {
                let config = loaded.unwrap();
                assert_eq!(config.guard.listen.max_connections, 7);
                assert_eq!(config.guard.listen.address, "127.0.0.1:8181");
                assert_eq!(config.guard.upstream.url, "http://127.0.0.1:4000");
                assert_eq!(config.guard.identity.subject_header, "x-env");
                assert_eq!(config.replay.on_redis_error, OnRedisError::Memory);
                assert_eq!(config.nonce.lifetime_s, 42);
                assert_eq!(config.validate(), Ok(()));
                assert_eq!(config.warnings(), []);
            }
            "both" => {
                let error = loaded.unwrap_err();
                assert_eq!(error.field, "guard.listen");
                assert!(
                    error.problem.contains("MCP_WARDEN_LISTEN__*")
                        && error.problem.contains("[guard.listen]"),
                    "{error}"
                );
            }
            "old" => {
                let config = loaded.unwrap();
                assert_eq!(config.guard.upstream.url, "http://127.0.0.1:4000");
                let warning = config
                    .warnings()
                    .into_iter()
                    .find(|warning| warning.field == "upstream")
                    .unwrap();
                assert!(
                    warning.problem.contains("MCP_WARDEN_GUARD__UPSTREAM__*"),
                    "{warning}"
                );
            }
            other => panic!("unknown scenario {other}"),
        }
        return;
    }

    let dir = TempDir::new();
    let file = dir.file(
        "warden.toml",
        format!("{MINIMAL}\n[guard.listen]\naddress = \"127.0.0.1:8181\"\nmax_connections = 3\n"),
    );
    let run = |scenario: &str, vars: &[(&str, &str)]| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args([
            "--exact",
            "the_environment_overrides_the_new_layout",
            "--test-threads=1",
        ]);
        for (name, _) in std::env::vars() {
            if name.starts_with("MCP_WARDEN_") {
                child.env_remove(name);
            }
        }
        child
            .env(CHILD, scenario)
            .env("WARDEN_CONFIG_TEST_FILE", &file);
        for (name, value) in vars {
            child.env(name, value);
        }
        let output = child.output().unwrap();
        assert!(
            output.status.success(),
            "{scenario}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(
        "override",
        &[
            ("MCP_WARDEN_GUARD__LISTEN__MAX_CONNECTIONS", "7"),
            ("MCP_WARDEN_GUARD__UPSTREAM__URL", "http://127.0.0.1:4000"),
            ("MCP_WARDEN_GUARD__IDENTITY__SUBJECT_HEADER", "x-env"),
            ("MCP_WARDEN_REPLAY__ON_REDIS_ERROR", "memory"),
            ("MCP_WARDEN_NONCE__LIFETIME_S", "42"),
        ],
    );
    run("both", &[("MCP_WARDEN_LISTEN__MAX_CONNECTIONS", "7")]);
    run(
        "old",
        &[("MCP_WARDEN_UPSTREAM__URL", "http://127.0.0.1:4000")],
    );
}

#[test]
fn the_agent_section_names_every_bad_route_and_defaults_to_loopback() {
    let config = Config::parse(
        r#"
[agent]
[[agent.routes]]
name = "payments"
url = "https://payments-mcp.example.com/mcp"
"#,
    )
    .unwrap();
    assert_eq!(config.roles(), [RoleKind::Agent]);
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.agent.listen.address, "127.0.0.1:8090");
    assert!(
        config.agent.require_dpop,
        "DPoP-bound tokens only, by default"
    );

    let errors = errors(
        r#"
[agent]
dpop_alg = "HS256"
timeout_s = 0
[[agent.routes]]
name = "a/b"
url = "https://x.example/mcp"
[[agent.routes]]
name = "dup"
url = "http://remote.example/mcp"
[[agent.routes]]
name = "dup"
url = "https://y.example/mcp"
"#,
    );
    assert_eq!(
        fields(&errors),
        [
            "agent.dpop_alg",
            "agent.timeout_s",
            "agent.routes[0].name",
            "agent.routes[1].url",
            "agent.routes[2].name",
        ],
        "{errors:?}"
    );
    let no_route = self::errors("[agent]\n");
    assert_eq!(fields(&no_route), ["agent.routes"], "{no_route:?}");

    let config = Config::parse(
        r#"
[agent]
require_dpop = false
dangerous_allow_remote_clients = true
[agent.listen]
address = "0.0.0.0:8090"
[[agent.routes]]
name = "p"
url = "https://p.example/mcp"
"#,
    )
    .unwrap();
    let warned: Vec<String> = config.warnings().iter().map(|w| w.field.clone()).collect();
    assert_eq!(
        warned,
        ["agent.require_dpop", "agent.dangerous_allow_remote_clients"],
        "{:?}",
        config.warnings()
    );
}
