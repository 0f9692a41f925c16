//! `examples/kubernetes/check.sh` in the test suite: the manifests for the guard, the issuer
//! and the agent parse, embed their configuration files exactly, mount every file those
//! name, agree with each other (the agent's token audience is the issuer, its route is the
//! guard's resource, the policy grants what the guard asks), and each configuration passes
//! `mcp-warden check-config` — with this build of the binary.
//!
//! Needs python3 with PyYAML and openssl (`.ci/run` installs them where missing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::path::Path;
use std::process::Command;

#[test]
fn the_kubernetes_examples_are_consistent_and_their_configurations_valid() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes/check.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("MCP_WARDEN", env!("CARGO_BIN_EXE_mcp-warden"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "examples/kubernetes/check.sh failed (needs python3 with PyYAML, and openssl):\n{stdout}\n{stderr}"
    );
    for file in ["warden.toml", "issuer.toml", "agent.toml"] {
        assert!(
            stdout.contains(&format!("{file}: ok")),
            "check-config did not pass {file}:\n{stdout}"
        );
    }
}
