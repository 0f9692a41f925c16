//! `mcp-warden call` through the real binaries, on loopback: a workload token file (a
//! Kubernetes projected service-account token, minted by the test's stand-in cluster key) →
//! `mcp-warden serve` running the issuer and the guard, both with server nonces (RFC 9449
//! §8, §9) → the rmcp test server behind the guard. The client knows only the MCP server's
//! URL and the token file: it discovers the issuer from the guard's 401, obtains a
//! DPoP-bound token, initializes, lists the tools and calls `sum`. A workload the policy
//! does not cover is refused at the token endpoint: exit 1, saying who refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/sidecar.rs"]
mod sidecar;

use std::process::{Command, Output};

use axum::Router;
use mcp_warden::jose::{Algorithm, SigningKey};
use serde_json::json;
use sidecar::{Process, TempDir, Upstream, free_port, spawn_ready};
use support::now;

const CLUSTER: &str = "https://kubernetes.default.svc";

struct Stack {
    _warden: Process,
    mcp: String,
    issuer: String,
    cluster_key: SigningKey,
    dir: TempDir,
    _upstream: Upstream,
}

async fn start() -> Stack {
    let upstream = Upstream::start(Router::new().nest_service("/mcp", support::mcp::sum_service()));
    let (issuer_port, guard_port, admin_port) = (free_port(), free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let mcp = format!("http://127.0.0.1:{guard_port}/mcp");
    let cluster_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("c1")
        .unwrap();
    let jwks = json!({"keys": [cluster_key.public_jwk().to_json()]}).to_string();
    let dir = TempDir::new("call");
    let nonce_key = dir.write(
        "nonce.key",
        "c2hhcmVkLW5vbmNlLWtleS1mb3ItdGhlLWNhbGwtdGVzdHMtMzItYnl0ZXM=",
    );
    let config = format!(
        r#"
[admin]
address = "127.0.0.1:{admin_port}"
[log]
level = "error"
[shutdown]
drain_timeout_s = 1
[nonce]
enabled = true
key_file = {nonce_key:?}

[issuer]
issuer = "{issuer}"
ephemeral_key = true
[issuer.listen]
address = "127.0.0.1:{issuer_port}"
[[issuer.trusted]]
name = "cluster"
platform = "kubernetes"
issuer = "{CLUSTER}"
jwks = {jwks:?}
[[issuer.resources]]
name = "mcp"
uri = "{mcp}"
scopes = ["tools:call", "tools:list"]
[[issuer.rules]]
name = "researcher"
issuer = "cluster"
subject = "system:serviceaccount:agents:researcher"
grants = [{{ resource = "mcp", scopes = ["tools:call", "tools:list"] }}]

[guard]
resource = "{mcp}"
authorization_servers = ["{issuer}"]
[guard.listen]
address = "127.0.0.1:{guard_port}"
[guard.upstream]
url = "{upstream}"
[[guard.issuers]]
issuer = "{issuer}"
discovery = true
dangerous_allow_plain_http = true
[guard.scopes]
methods = {{ "tools/call" = ["tools:call"] }}
"#,
        upstream = upstream.url(),
        nonce_key = nonce_key.display().to_string(),
    );
    let file = dir.write("warden.toml", &config);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let warden = spawn_ready("serve", &file, &[], &admin, &config).await;
    Stack {
        _warden: warden,
        mcp,
        issuer,
        cluster_key,
        dir,
        _upstream: upstream,
    }
}

impl Stack {
    /// Writes the projected token of `namespace`/`account` and runs `mcp-warden call` with it.
    fn call(&self, namespace: &str, account: &str, extra: &[&str]) -> Output {
        let now = now();
        let token = self
            .cluster_key
            .sign_compact(
                json!({"kid": "c1"}).as_object().unwrap(),
                json!({
                    "iss": CLUSTER, "sub": format!("system:serviceaccount:{namespace}:{account}"),
                    "aud": [self.issuer], "iat": now, "nbf": now, "exp": now + 600,
                    "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}},
                })
                .as_object()
                .unwrap(),
            )
            .unwrap();
        let file = self.dir.write("token", &token);
        Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
            .arg("call")
            .arg("--workload-token-file")
            .arg(&file)
            .args(extra)
            .arg(&self.mcp)
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_discovers_the_issuer_and_calls_a_tool_with_a_dpop_bound_token() {
    let stack = start().await;
    let output = stack.call(
        "agents",
        "researcher",
        &[
            "--require-dpop",
            "--scope",
            "tools:list tools:call",
            "--tool",
            "sum",
            "--args",
            r#"{"a":2,"b":3}"#,
        ],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "discovered   authorization server {}",
            stack.issuer
        )),
        "{stdout}"
    );
    assert!(stdout.contains("token        DPoP"), "{stdout}");
    assert!(stdout.contains("tools        sum"), "{stdout}");
    assert!(stdout.contains("called       sum: 5"), "{stdout}");
    // No token ever reaches the output.
    assert!(!stdout.contains("eyJ"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_the_policy_does_not_cover_is_refused_at_the_token_endpoint() {
    let stack = start().await;
    let output = stack.call("agents", "intruder", &["--tool", "sum"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("token: token endpoint refused the request: 400 invalid_grant"),
        "{stderr}"
    );
    assert!(!stdout.contains("initialized"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scope_of_the_tool_is_stepped_up_once() {
    let stack = start().await;
    // Asked for tools:list only; tools/call needs tools:call: the 403 leads to one new
    // token for both, which the policy grants.
    let output = stack.call(
        "agents",
        "researcher",
        &[
            "--scope",
            "tools:list",
            "--tool",
            "sum",
            "--args",
            r#"{"a":1,"b":1}"#,
        ],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("called       sum: 2"), "{stdout}");
}
