//! `mcp-warden demo`, the real binary: the whole chain with no configuration, each step
//! reported, exit 0 only when every expected outcome happened — and non-zero, naming the
//! step, when a part is broken on purpose. `demo --serve` keeps the stack up for the command
//! it prints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const STEPS: [&str; 14] = [
    "start",
    "workload-token",
    "discover",
    "token",
    "initialize",
    "list-tools",
    "call-sum",
    "rotate",
    "stolen-token",
    "replayed-proof",
    "other-url",
    "bearer-downgrade",
    "forbidden-tool",
    "untrusted-issuer",
];

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .arg("demo")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_demo_runs_every_step_and_exits_zero() {
    let output = demo(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for step in STEPS {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("ok     {step} "))),
            "no ok line for {step}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
    // Each attack says who refused it and with what.
    assert!(stdout.contains("→ 401, WWW-Authenticate: DPoP error=\"invalid_dpop_proof\""));
    assert!(stdout.contains("→ 403, WWW-Authenticate: DPoP error=\"insufficient_scope\""));
    // Output on a pipe has no colour, and no token is ever printed.
    assert!(!stdout.contains('\x1b'), "{stdout}");
    assert!(!stdout.contains("eyJ"), "{stdout}");
}

#[test]
fn json_output_lists_each_step_and_verbose_shows_tokens_decoded_only() {
    let output = demo(&["--json", "--verbose"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let ids: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["step"].as_str().unwrap())
        .collect();
    assert_eq!(ids, STEPS);
    let token = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "token")
        .unwrap();
    assert!(
        token["decoded"]["claims"]["cnf"]["jkt"].is_string(),
        "{token}"
    );
    assert_eq!(token["decoded"]["header"]["typ"], "at+jwt");
    let bearer = &report["steps"][11];
    assert_eq!(bearer["status"], 401);
    assert!(
        bearer["www_authenticate"]
            .as_str()
            .unwrap()
            .starts_with("DPoP ")
    );
    assert!(!text(&output.stdout).contains("eyJ"));
}

#[test]
fn a_broken_part_makes_the_demo_fail_naming_the_step() {
    // The guard lets reset_database through with tools:call.
    let output = demo(&["--break-role", "guard"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("unexpected outcome at: forbidden-tool"),
        "{}",
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("FAILED forbidden-tool"));
    // The issuer is not there: the agent cannot even discover it.
    let output = demo(&["--break-role", "issuer"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("unexpected outcome at: discover"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn serve_keeps_the_stack_up_for_the_call_it_prints() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .args(["demo", "--serve"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut call = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains(" call --workload-token-file ") {
            call = Some(line);
            break;
        }
        assert!(Instant::now() < deadline, "no call command printed");
    }
    let call = call.expect("the printed call command");
    // `… call --workload-token-file FILE --tool sum --args '{…}' URL`
    let words: Vec<&str> = call.split_whitespace().collect();
    let file = words[words
        .iter()
        .position(|w| *w == "--workload-token-file")
        .unwrap()
        + 1];
    let url = words.last().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .args([
            "call",
            "--workload-token-file",
            file,
            "--require-dpop",
            "--tool",
            "sum",
        ])
        .args(["--args", r#"{"a":20,"b":22}"#, url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("called       sum: 42"));

    // SIGTERM stops it.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "demo --serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
