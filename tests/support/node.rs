//! Node.js for the tests that run independent JavaScript implementations against
//! mcp-warden (`tests/interop`): the packages come from `tests/interop/package-lock.json`,
//! installed by `npm ci --prefix tests/interop` (`.ci/run` does it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest Node.js the pinned packages run on.
const NODE_MAJOR: u32 = 22;

const INSTALL: &str = "install with `npm ci --prefix tests/interop` (it brings the pinned \
     packages and Node.js 22 as the npm package `node`; it needs some node and npm to run: on \
     Debian `apt-get install nodejs npm`); .ci/run does both";

/// `tests/interop`.
pub(crate) fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The Node.js to run `package` (a directory under `node_modules`) with: the one `npm ci`
/// installed beside it, else `MCP_WARDEN_NODE`, else `node` on `PATH` — each only if it is
/// version 22 or later. Panics, saying how to install, when `package` or Node.js is missing:
/// these tests never skip.
pub(crate) fn node(package: &str) -> PathBuf {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules")
            .join(package)
            .join("package.json")
            .is_file(),
        "{package} is not installed in {}: {INSTALL}",
        dir.display()
    );
    let mut tried = Vec::new();
    let candidates = [
        Some(dir.join("node_modules/.bin/node")),
        std::env::var_os("MCP_WARDEN_NODE").map(PathBuf::from),
        Some(PathBuf::from("node")),
    ];
    for candidate in candidates.into_iter().flatten() {
        match Command::new(&candidate).arg("--version").output() {
            Ok(output) if output.status.success() => {
                let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                let major = version
                    .trim_start_matches('v')
                    .split('.')
                    .next()
                    .and_then(|major| major.parse::<u32>().ok())
                    .unwrap_or(0);
                if major >= NODE_MAJOR {
                    return candidate;
                }
                tried.push(format!("{} is {version}", candidate.display()));
            }
            Ok(output) => tried.push(format!("{} failed: {}", candidate.display(), output.status)),
            Err(error) => tried.push(format!("{}: {error}", candidate.display())),
        }
    }
    panic!(
        "no Node.js {NODE_MAJOR} or later to run {package} ({}): {INSTALL}",
        tried.join("; ")
    );
}
