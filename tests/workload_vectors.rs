//! `test-vectors/workload.json` (format `workload-vectors/1`) passes through the runner —
//! the code path of `mcp-warden vectors` — and the runner notices a wrong expectation, a
//! broken file or a broken configuration, so a green run means something.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::path::PathBuf;

use mcp_warden::vectors::{
    AnyVectorFile, Detail, Report, WorkloadOutcome, WorkloadVectorFile, load_any_file,
    parse_any_file, parse_workload_file, run_workload_file, run_workload_vector,
};
use serde_json::json;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors")
}

fn suite() -> WorkloadVectorFile {
    match load_any_file(&vector_dir().join("workload.json")).unwrap() {
        AnyVectorFile::Workload(file) => file,
        AnyVectorFile::Resource(_) => panic!("workload.json read as resource vectors"),
    }
}

/// The suite with only the vector `id`, after `edit`.
fn only(
    id: &str,
    edit: impl FnOnce(&mut mcp_warden::vectors::WorkloadVector),
) -> WorkloadVectorFile {
    let mut file = suite();
    file.vectors.retain(|vector| vector.id == id);
    assert_eq!(file.vectors.len(), 1, "no vector {id}");
    edit(&mut file.vectors[0]);
    file
}

async fn run(file: &WorkloadVectorFile) -> Report {
    let mut report = Report::default();
    run_workload_file(file, Detail::Outcome, &mut report).await;
    report
}

#[tokio::test(flavor = "current_thread")]
async fn every_workload_vector_passes() {
    let file = suite();
    let report = run(&file).await;
    println!("{report}");
    assert!(report.success(), "{report}");
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.passed >= 40, "only {} vectors ran", report.passed);
    assert_eq!(report.passed, file.vectors.len());
    // Every platform and every grant is there.
    for prefix in [
        "k8s-",
        "spiffe-",
        "gha-",
        "gcp-",
        "aws-",
        "azure-",
        "attack-",
        "scope-",
        "resource-",
        "dpop-",
        "tx-",
        "cc-",
        "req-",
    ] {
        assert!(
            file.vectors
                .iter()
                .any(|vector| vector.id.starts_with(prefix)),
            "no {prefix} vector"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_expectation_fails() {
    type Edit = fn(&mut mcp_warden::vectors::WorkloadVector);
    let cases: [(&str, Edit, &str); 10] = [
        (
            "k8s-accepted",
            |v| v.requests[0].expect.scope = Some("tools:call".into()),
            "scope",
        ),
        (
            "k8s-accepted",
            |v| v.requests[0].expect.aud = Some("https://billing.example.com/mcp".into()),
            "aud",
        ),
        (
            "k8s-accepted",
            |v| v.requests[0].expect.expires_in = Some(3600),
            "expires_in",
        ),
        (
            "k8s-accepted",
            |v| v.requests[0].expect.sub = Some("system:serviceaccount:payments:default".into()),
            "sub",
        ),
        (
            "dpop-bearer-allowed",
            |v| v.requests[0].expect.cnf_jkt = Some(true),
            "cnf.jkt",
        ),
        (
            "dpop-bearer-allowed",
            |v| v.requests[0].expect.token_type = Some("DPoP".into()),
            "token_type",
        ),
        (
            "tx-with-actor",
            |v| {
                v.requests[0].expect.act =
                    Some(json!({"iss": "https://ci.example.com", "sub": "other"}))
            },
            "act",
        ),
        (
            "k8s-wrong-audience",
            |v| v.requests[0].expect.error = Some(vec!["invalid_request".into()]),
            "error",
        ),
        (
            "k8s-wrong-audience",
            |v| v.requests[0].expect.status = Some(vec![401]),
            "status",
        ),
        (
            "k8s-wrong-audience",
            |v| {
                let expect = &mut v.requests[0].expect;
                (expect.accept, expect.status, expect.error) = (true, None, None);
            },
            "expected accept",
        ),
    ];
    for (id, edit, needle) in cases {
        let report = run(&only(id, edit)).await;
        assert_eq!(
            (report.passed, report.failed),
            (0, 1),
            "{id}/{needle}: {report}"
        );
        assert!(
            report.lines[0].starts_with(&format!("FAIL {id}: requests[0]: expected")),
            "{report}"
        );
        assert!(report.lines[0].contains(needle), "{needle}: {report}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn requests_of_a_vector_share_one_endpoint() {
    // The replay is refused only because the first request ran on the same endpoint:
    // alone, the second request is accepted, and its expectation (refusal) fails.
    let report = run(&only("gha-replayed-jti", |v| {
        v.requests.remove(0);
    }))
    .await;
    assert_eq!(report.failed, 1, "{report}");
    assert!(
        report.lines[0].contains("expected refuse, got accept"),
        "{report}"
    );

    let report = run(&only("dpop-replayed-proof", |v| {
        v.requests.remove(0);
    }))
    .await;
    assert_eq!(report.failed, 1, "{report}");

    // Each vector gets its own endpoint: running the replay vector twice passes twice.
    let mut file = only("gha-replayed-jti", |_| {});
    let mut again = file.vectors[0].clone();
    again.id = "gha-replayed-jti-again".into();
    file.vectors.push(again);
    let report = run(&file).await;
    assert_eq!((report.passed, report.failed), (2, 0), "{report}");
}

#[tokio::test(flavor = "current_thread")]
async fn explain_names_status_error_and_reason() {
    let file = only("k8s-wrong-audience", |_| {});
    let mut report = Report::default();
    run_workload_file(&file, Detail::Explain, &mut report).await;
    assert_eq!(report.lines[0], "PASS k8s-wrong-audience");
    assert!(
        report.lines[1]
            .starts_with("  requests[0]: refuse 400 invalid_grant (assertion_audience: "),
        "{report}"
    );
}

fn minimal(config_edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut file = json!({
        "format": "workload-vectors/1",
        "vectors": [{
            "id": "minimal", "now": 1764288000,
            "config": {
                "issuer": "https://warden.example.com",
                "trusted_issuers": [{
                    "name": "ci", "platform": "generic", "iss": "https://ci.example.com",
                    "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "a",
                        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}]}
                }],
                "policy": {
                    "resources": [{"name": "tools", "uri": "https://mcp.example.com/mcp", "scopes": ["tools:list"]}],
                    "rules": [{"name": "r", "issuer": "ci", "subject": "runner",
                               "grants": [{"resource": "tools", "scopes": ["tools:list"]}]}]
                }
            },
            "requests": [{
                "form": [["grant_type", "password"]],
                "expect": {"accept": false, "status": [400], "error": ["unsupported_grant_type"]}
            }]
        }]
    });
    config_edit(&mut file["vectors"][0]);
    file
}

async fn outcome(file: &serde_json::Value) -> WorkloadOutcome {
    let file = parse_workload_file("inline.json", file.to_string().as_bytes()).unwrap();
    run_workload_vector(&file.vectors[0]).await
}

#[tokio::test(flavor = "current_thread")]
async fn a_minimal_vector_runs_with_the_defaults() {
    assert!(matches!(
        outcome(&minimal(|_| {})).await,
        WorkloadOutcome::Pass(_)
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn a_broken_config_fails_the_vector() {
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 5] = [
        ("config.trusted_issuers[0].algorithms", |v| {
            v["config"]["trusted_issuers"][0]["algorithms"] = json!(["ES265"]);
        }),
        ("config.trusted_issuers[0].jwks", |v| {
            v["config"]["trusted_issuers"][0]["jwks"] = json!({"keys": []});
        }),
        ("config.trusted_issuers[0].iss", |v| {
            v["config"]["trusted_issuers"][0]
                .as_object_mut()
                .unwrap()
                .remove("iss");
        }),
        ("config.trusted_issuers[0].trust_domain", |v| {
            v["config"]["trusted_issuers"][0]["platform"] = json!("spiffe");
        }),
        ("config.policy", |v| {
            v["config"]["policy"]["rules"][0]["issuer"] = json!("nobody");
        }),
    ];
    for (field, edit) in cases {
        match outcome(&minimal(edit)).await {
            WorkloadOutcome::Fail(why) => assert!(why.starts_with(field), "{field}: {why}"),
            WorkloadOutcome::Pass(_) => panic!("{field}: a broken config must not pass"),
        }
    }
}

#[test]
fn parse_errors_name_the_file_and_the_json_path() {
    let mut file = minimal(|_| {});
    file["vectors"][0]["config"]["trusted_issuers"][0]["single_use"] = json!(true);
    let error = parse_any_file("inline.json", file.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.file, "inline.json");
    assert_eq!(
        error.path,
        "vectors[0].config.trusted_issuers[0].single_use"
    );

    let mut file = minimal(|_| {});
    file["vectors"][0]["config"]["policy"]["rules"][0]["alow_bearer"] = json!(true);
    let error = parse_any_file("inline.json", file.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.path, "vectors[0].config.policy.rules[0].alow_bearer");

    // An answer field on a refusal can never be checked: a parse error, not a silent pass.
    let mut file = minimal(|_| {});
    file["vectors"][0]["requests"][0]["expect"]["scope"] = json!("tools:list");
    let error = parse_any_file("inline.json", file.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.path, "vectors[0].requests[0].expect.scope");

    let mut file = minimal(|_| {});
    file["vectors"][0]["requests"][0]["expect"]["error"] = json!("unsupported_grant_type");
    let error = parse_any_file("inline.json", file.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.path, "vectors[0].requests[0].expect.error");

    let mut file = minimal(|_| {});
    file["format"] = json!("workload-vectors/2");
    let error = parse_any_file("inline.json", file.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.path, "format");
    assert!(error.message.contains("workload-vectors/1"), "{error}");
    assert!(error.message.contains("resource-vectors/1"), "{error}");

    let mut file = minimal(|_| {});
    let vector = file["vectors"][0].clone();
    file["vectors"].as_array_mut().unwrap().push(vector);
    let error = parse_any_file("inline.json", file.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.path, "vectors[1].id");
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

#[test]
fn the_cli_runs_both_formats() {
    let (code, stdout, stderr) = cli_vectors(&[vector_dir().as_os_str()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("\nPASS k8s-accepted\n"),
        "no workload vector ran"
    );
    assert!(
        stdout.contains("\nPASS edge-es256-accepted\n"),
        "no resource vector ran"
    );
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 140, "{last}");

    let file = vector_dir().join("workload.json");
    let (code, stdout, stderr) = cli_vectors(&["--explain".as_ref(), file.as_os_str()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("  requests[1]: refuse 400 invalid_grant (assertion_replayed: "),
        "{stdout}"
    );
    assert!(stdout.contains("  requests[0]: accept Bearer "), "{stdout}");
}
