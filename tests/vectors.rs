//! Every vector file in `test-vectors/` passes through the runner — the same code path as
//! `mcp-warden vectors test-vectors/` — and the runner itself notices a wrong expectation
//! or a broken file, so a green run means something.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::path::PathBuf;

use mcp_warden::vectors::{Detail, Report, VectorOutcome, parse_file, run_file, run_paths};

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors")
}

#[tokio::test(flavor = "current_thread")]
async fn every_vector_file_passes() {
    let files = mcp_warden::vectors::expand_paths(&[vector_dir()]).unwrap();
    assert!(
        files.len() >= 2,
        "expected the RFC 9449 and the generated vector files, found {files:?}"
    );
    let report = run_paths(&[vector_dir()]).await;
    println!("{report}");
    assert!(report.success(), "{report}");
    assert!(report.passed >= 100, "only {} vectors ran", report.passed);
}

fn one_vector(expect: &str) -> String {
    format!(
        r#"{{"format": "resource-vectors/1", "vectors": [{{
            "id": "no-credentials", "now": 1764288000,
            "config": {{"resource": "https://mcp.example.com/mcp"}},
            "requests": [{{"method": "POST", "url": "https://mcp.example.com/mcp", "headers": [],
                          "expect": {expect}}}]
        }}]}}"#
    )
}

async fn run_text(text: &str) -> Report {
    let file = parse_file("inline.json", text.as_bytes()).unwrap();
    let mut report = Report::default();
    run_file(&file, Detail::Outcome, &mut report).await;
    report
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_expectation_fails() {
    // A request without credentials is refused with 401 and no error code (RFC 6750 §3.1).
    let right = run_text(&one_vector(r#"{"accept": false, "status": [401]}"#)).await;
    assert_eq!((right.passed, right.failed), (1, 0), "{right}");

    for wrong in [
        r#"{"accept": true}"#,
        r#"{"accept": false, "status": [400]}"#,
        r#"{"accept": false, "error": ["invalid_token"]}"#,
    ] {
        let report = run_text(&one_vector(wrong)).await;
        assert_eq!((report.passed, report.failed), (0, 1), "{wrong}: {report}");
        assert!(report.lines[0].starts_with("FAIL no-credentials: requests[0]: expected"));
    }
}

#[test]
fn parse_errors_name_the_file_and_the_json_path() {
    let misspelt = one_vector(r#"{"accept": false, "stauts": [401]}"#);
    let error = parse_file("inline.json", misspelt.as_bytes()).unwrap_err();
    assert_eq!(error.file, "inline.json");
    assert_eq!(error.path, "vectors[0].requests[0].expect.stauts");
    assert!(error.message.contains("stauts"), "{error}");

    let wrong_format = r#"{"format": "resource-vectors/2", "vectors": []}"#;
    assert_eq!(
        parse_file("x.json", wrong_format.as_bytes())
            .unwrap_err()
            .path,
        "format"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_algorithm_in_a_config_fails_the_vector() {
    let text = r#"{"format": "resource-vectors/1", "vectors": [{
        "id": "typo", "now": 1, "config": {"resource": "https://a.example/", "dpop_algs": ["ES265"]},
        "requests": [{"method": "GET", "url": "https://a.example/", "headers": [],
                      "expect": {"accept": false}}]}]}"#;
    let file = parse_file("typo.json", text.as_bytes()).unwrap();
    match mcp_warden::vectors::run_vector(&file.vectors[0]).await {
        VectorOutcome::Fail(why) => assert!(why.contains("dpop_algs"), "{why}"),
        VectorOutcome::Pass(_) => panic!("a typo in dpop_algs must not pass"),
    }
}

/// Runs `mcp-warden vectors ARGS...`: (exit code, stdout, stderr).
fn cli_vectors(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .arg("vectors")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("mcp-warden-vectors-{label}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[test]
fn the_cli_runs_the_readme_command() {
    let (code, stdout, stderr) = cli_vectors(&[vector_dir().as_os_str()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    assert!(!last.starts_with("0 passed"), "{last}");
}

#[test]
fn the_cli_fails_when_nothing_ran() {
    // A directory without `*.json` files: a mistyped path must not read as a pass.
    let empty = TempDir::new("empty");
    let (code, stdout, stderr) = cli_vectors(&[empty.0.as_os_str()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("0 passed, 0 failed"), "{last}");
    assert!(last.contains("no vectors ran"), "{last}");
    assert!(stderr.contains("no vectors ran"), "{stderr}");

    // A well-formed file whose `vectors` list is empty.
    let dir = TempDir::new("no-vectors");
    let file = dir.0.join("none.json");
    std::fs::write(&file, br#"{"format": "resource-vectors/1", "vectors": []}"#).unwrap();
    let (code, stdout, stderr) = cli_vectors(&[file.as_os_str()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("0 passed, 0 failed")
    );
    assert!(stderr.contains("no vectors ran"), "{stderr}");
}

#[test]
fn the_cli_counts_unreadable_files() {
    let dir = TempDir::new("broken");
    let broken = dir.0.join("broken.json");
    std::fs::write(
        &broken,
        b"{\"format\": \"resource-vectors/1\", \"vectors\": [}",
    )
    .unwrap();

    // Alone: an ERROR line, the file counted, exit 1.
    let (code, stdout, stderr) = cli_vectors(&[broken.as_os_str()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("ERROR"), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert_eq!(last, "0 passed, 0 failed, 1 file unreadable");
    assert!(stderr.contains("could not be read or parsed"), "{stderr}");

    // Next to the real vectors, and with a path that does not exist: every vector still
    // runs and passes, both bad paths are counted, and the run fails.
    let missing = dir.0.join("missing.json");
    let (code, stdout, stderr) = cli_vectors(&[
        vector_dir().as_os_str(),
        broken.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(
        last.ends_with(" passed, 0 failed, 2 files unreadable"),
        "{last}"
    );
    assert!(!last.starts_with("0 passed"), "{last}");
    assert!(stdout.contains("cannot read"), "{stdout}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_empty_run_is_not_a_success() {
    let report = Report::default();
    assert!(!report.success());
    assert_eq!(report.ran(), 0);
    let text = r#"{"format": "resource-vectors/1", "vectors": []}"#;
    let report = run_text(text).await;
    assert!(!report.success(), "{report}");
}
