//! `authz replay` on the demo events, as a user runs it from the repository root.

use std::process::Command;

use serde_json::Value;

fn authz(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_authz"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run authz")
}

#[test]
fn demo_events_give_the_documented_outcomes() {
    let output = authz(&["replay", "events/"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let outcomes: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or_default().to_owned(),
                format!(
                    "{}/{}",
                    l["outcome"].as_str().unwrap_or_default(),
                    l["reason_kind"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect();
    let expected = [
        ("events/http-v2-allow.json", "allow/allowed"),
        ("events/http-v2-deny-other-tenant.json", "deny/deny_policy"),
        ("events/http-v2-deny.json", "deny/failed_checks"),
        (
            "events/http-v2-unauthorized-forged-domain.json",
            "unauthorized/bad_signature",
        ),
        (
            "events/http-v2-unauthorized-missing.json",
            "unauthorized/missing_token",
        ),
        (
            "events/rest-request-allow-holder-bound.json",
            "allow/allowed",
        ),
        ("events/rest-request-allow.json", "allow/allowed"),
        (
            "events/rest-request-deny-holder-missing.json",
            "deny/failed_checks",
        ),
        ("events/rest-request-deny.json", "deny/deny_policy"),
        (
            "events/rest-request-unauthorized-revoked.json",
            "unauthorized/revoked",
        ),
        ("events/rest-token-allow.json", "allow/allowed"),
        (
            "events/rest-token-unauthorized-expired-key.json",
            "unauthorized/no_key",
        ),
        (
            "events/rest-token-unauthorized-garbage.json",
            "unauthorized/token_not_base64",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, o)| (e.to_string(), o.to_string()))
        .collect();
    assert_eq!(outcomes, expected);
    for line in &lines {
        match line["outcome"].as_str() {
            Some("unauthorized") if line["event"].as_str().is_some_and(|e| e.contains("rest-")) => {
                assert!(line["response"].is_null())
            }
            _ => assert!(line["response"].is_object(), "{line}"),
        }
    }
}

#[test]
fn least_privilege_events_with_probes_on() {
    let output = authz(&[
        "replay",
        "--least-privilege-probes",
        "write-method,sibling-path",
        "events/least-privilege/",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    let outcomes: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or_default(),
                l["reason_kind"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "events/least-privilege/http-v2-allow-narrow-token.json",
                "allowed"
            ),
            (
                "events/least-privilege/http-v2-deny-broad-token.json",
                "token_broader_than_request"
            ),
        ]
    );
}

#[test]
fn an_unreadable_event_is_reported_and_the_rest_go_on() {
    let dir = std::env::temp_dir().join(format!("authz-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("broken.json"), b"{ not json").expect("write");
    let broken = dir.join("broken.json");
    let output = authz(&[
        "replay",
        broken.to_str().expect("utf-8 path"),
        "events/rest-token-allow.json",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["outcome"], "error");
    assert_eq!(lines[1]["outcome"], "allow");
}

#[test]
fn unusable_arguments_fail_with_one_clear_line() {
    for args in [
        vec!["replay", "--policy", "no/such/policy.datalog", "events/"],
        vec!["replay", "--keysets", "README.md", "events/"],
        vec!["replay", "no/such/dir"],
        vec!["replay"],
    ] {
        let output = authz(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let dir = std::env::temp_dir().join(format!("authz-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policy = dir.join("bad.datalog");
    std::fs::write(&policy, "allow if").expect("write");
    let output = authz(&[
        "replay",
        "--policy",
        policy.to_str().expect("utf-8"),
        "events/",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("policy does not parse"));
}
