//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, pinned in
//! `tests/interop/package-lock.json`) runs `mcp-warden call` as the client under test in its
//! `auth/wif-jwt-bearer` scenario (MCP SEP-1933): its own MCP server answers 401, serves
//! path-based Protected Resource Metadata naming its own authorization server, whose token
//! endpoint verifies the workload JWT the suite hands the client. Every check must be
//! SUCCESS, none a WARNING (a retry or a grant fallback after a refusal would be one), and
//! the client must exit 0 after initializing, listing the tools and calling one.
//!
//! `tests/conformance/wif-client.sh` maps the suite's `MCP_CONFORMANCE_CONTEXT` to the
//! client's normal inputs (the workload token as a file). Needs `npm ci --prefix
//! tests/interop` first (`.ci/run` does it); without it the test fails, saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

#[path = "support/node.rs"]
mod node;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const PACKAGE: &str = "@modelcontextprotocol/conformance";

/// Runs `scenario` with `client`; the suite's exit status, its report and its checks.
fn run_scenario(scenario: &str, client: &Path) -> (bool, String, Vec<Value>) {
    let node = node::node(PACKAGE);
    let dir = node::interop_dir();
    let out = std::env::temp_dir().join(format!(
        "mcp-warden-conformance-{}-{}",
        std::process::id(),
        scenario.replace('/', "-")
    ));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(&node)
        .arg(dir.join("node_modules").join(PACKAGE).join("dist/index.js"))
        .args([
            "client",
            "--scenario",
            scenario,
            "--timeout",
            "60000",
            "--command",
        ])
        .arg(client)
        .arg("-o")
        .arg(&out)
        .env("MCP_WARDEN_BIN", env!("CARGO_BIN_EXE_mcp-warden"))
        .env("NODE", &node)
        .env("NO_COLOR", "1")
        .output()
        .expect("the conformance suite runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let checks = find_checks(&out)
        .map(|path| serde_json::from_slice::<Vec<Value>>(&std::fs::read(path).unwrap()).unwrap())
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out);
    (output.status.success(), report, checks)
}

/// `checks.json` somewhere under `dir` (the suite names a directory per run).
fn find_checks(dir: &Path) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_checks(&path) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|name| name == "checks.json") {
            return Some(path);
        }
    }
    None
}

#[test]
fn the_wif_jwt_bearer_scenario_passes_every_check_without_a_warning() {
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/wif-client.sh");
    let (passed, report, checks) = run_scenario("auth/wif-jwt-bearer", &client);
    assert!(passed, "the suite failed:\n{report}");
    assert!(report.contains("OVERALL: PASSED"), "{report}");
    let status = |check: &Value| check["status"].as_str().unwrap_or("").to_owned();
    let counted: Vec<(String, String)> = checks
        .iter()
        .filter(|check| status(check) != "INFO")
        .map(|check| (check["id"].as_str().unwrap_or("").to_owned(), status(check)))
        .collect();
    assert!(
        counted.iter().all(|(_, status)| status == "SUCCESS"),
        "not every check is SUCCESS: {counted:?}"
    );
    for required in [
        "prm-pathbased-requested",
        "authorization-server-metadata",
        "token-request",
        "wif-assertion-verified",
        "valid-bearer-token",
    ] {
        assert!(
            counted.iter().any(|(id, _)| id == required),
            "no {required} check: {counted:?}\n{report}"
        );
    }
    // initialize, notifications/initialized, tools/list and tools/call, each authorized.
    let authorized = counted
        .iter()
        .filter(|(id, _)| id == "valid-bearer-token")
        .count();
    assert_eq!(authorized, 4, "{counted:?}");
}
