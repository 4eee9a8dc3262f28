//! `authz replay` on the demo events, as a user runs it from the repository root.

use std::process::{Command, Output};

use serde_json::Value;

fn authz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authz"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run authz")
}

/// Runs `authz replay ARGS`, which must succeed; returns its JSON lines.
fn replay(args: &[&str]) -> Vec<Value> {
    let output = authz(&[&["replay"], args].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// (event, "outcome/reason kind") of each line.
fn outcomes(lines: &[Value]) -> Vec<(String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    lines
        .iter()
        .map(|l| {
            (
                text(&l["event"]),
                format!("{}/{}", text(&l["outcome"]), text(&l["reason_kind"])),
            )
        })
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn demo_events_give_the_documented_outcomes() {
    let lines = replay(&["events/"]);
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
    assert_eq!(outcomes(&lines), owned(&expected));
    for line in &lines {
        match line["outcome"].as_str() {
            // REST APIs answer 401 with the error `Unauthorized`: no response document.
            Some("unauthorized") if line["event"].as_str().is_some_and(|e| e.contains("rest-")) => {
                assert!(line["response"].is_null())
            }
            _ => assert!(line["response"].is_object(), "{line}"),
        }
    }
}

#[test]
fn least_privilege_events_with_probes_on() {
    let lines = replay(&[
        "--least-privilege-probes",
        "write-method,sibling-path",
        "events/least-privilege/",
    ]);
    let expected = [
        (
            "events/least-privilege/http-v2-allow-narrow-token.json",
            "allow/allowed",
        ),
        (
            "events/least-privilege/http-v2-deny-broad-token.json",
            "deny/token_broader_than_request",
        ),
    ];
    assert_eq!(outcomes(&lines), owned(&expected));
    // Without probes, the broad token is allowed.
    let lines = replay(&["events/least-privilege/http-v2-deny-broad-token.json"]);
    assert_eq!(lines[0]["outcome"], "allow");
}

#[test]
fn delegation_events_with_delegated_minters_on() {
    let lines = replay(&["--delegated-minters", "events/delegation/"]);
    let expected = [
        (
            "events/delegation/http-v2-allow-delegated.json",
            "allow/allowed",
        ),
        (
            "events/delegation/http-v2-deny-unnamed-minter.json",
            "deny/deny_policy",
        ),
    ];
    assert_eq!(outcomes(&lines), owned(&expected));
    // Off, the minter's grant is not trusted.
    let lines = replay(&["events/delegation/http-v2-allow-delegated.json"]);
    assert_eq!(lines[0]["outcome"], "deny");
}

#[test]
fn hostile_path_events_are_refused() {
    let lines = replay(&["events/paths/"]);
    let expected = [
        (
            "events/paths/http-v2-allow-trailing-slash.json",
            "allow/allowed",
        ),
        (
            "events/paths/http-v2-deny-control-characters.json",
            "deny/non_canonical_path",
        ),
        (
            "events/paths/http-v2-deny-dot-segments.json",
            "deny/non_canonical_path",
        ),
        (
            "events/paths/http-v2-deny-encoded-backslash.json",
            "deny/non_canonical_path",
        ),
        (
            "events/paths/http-v2-deny-encoded-dots.json",
            "deny/non_canonical_path",
        ),
        (
            "events/paths/http-v2-deny-tenant-in-the-middle.json",
            "deny/deny_policy",
        ),
        (
            "events/paths/rest-request-deny-empty-segment.json",
            "deny/non_canonical_path",
        ),
        (
            "events/paths/rest-request-deny-encoded-slash.json",
            "deny/non_canonical_path",
        ),
        (
            "events/paths/rest-token-deny-dot-segments.json",
            "deny/non_canonical_path",
        ),
    ];
    assert_eq!(outcomes(&lines), owned(&expected));
    // A refusal on a REST API is an explicit Deny policy, never an Allow.
    for line in &lines[1..] {
        if let Some(statement) = line["response"]["policyDocument"]["Statement"].get(0) {
            assert_eq!(statement["Effect"], "Deny", "{line}");
        } else {
            assert_eq!(line["response"]["isAuthorized"], false, "{line}");
        }
    }
}

#[test]
fn websocket_connect_events() {
    let lines = replay(&["events/websocket/"]);
    let expected = [
        (
            "events/websocket/connect-allow-own-tenant.json",
            "allow/allowed",
        ),
        (
            "events/websocket/connect-deny-repeated-tenant.json",
            "deny/deny_policy",
        ),
        (
            "events/websocket/connect-deny-without-connect-right.json",
            "deny/deny_policy",
        ),
    ];
    assert_eq!(outcomes(&lines), owned(&expected));
    // The Allow names the $connect method ARN.
    assert_eq!(
        lines[0]["response"]["policyDocument"]["Statement"][0]["Resource"][0],
        "arn:aws:execute-api:eu-west-1:123456789012:demows0api/live/$connect"
    );
}

#[test]
fn request_fact_events() {
    let lines = replay(&["events/request-facts/"]);
    let expected = [
        (
            "events/request-facts/http-v2-allow-tenant-query.json",
            "allow/allowed",
        ),
        (
            "events/request-facts/http-v2-deny-repeated-tenant-query.json",
            "deny/deny_policy",
        ),
        (
            "events/request-facts/rest-request-allow-authorization-in-headers-only.json",
            "allow/allowed",
        ),
    ];
    assert_eq!(outcomes(&lines), owned(&expected));
}

#[test]
fn an_unreadable_event_is_reported_and_the_rest_go_on() {
    let dir = std::env::temp_dir().join(format!("authz-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, b"{ not json").expect("write");
    let lines = replay(&[
        broken.to_str().expect("utf-8 path"),
        "events/rest-token-allow.json",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(lines[0]["outcome"], "error");
    assert_eq!(lines[1]["outcome"], "allow");
}

#[test]
fn unusable_arguments_fail_with_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("authz-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policy = dir.join("bad.datalog");
    std::fs::write(&policy, "allow if").expect("write");
    let cases = [
        vec!["replay", "--policy", "no/such/policy.datalog", "events/"],
        vec!["replay", "--keysets", "README.md", "events/"],
        vec![
            "replay",
            "--least-privilege-probes",
            "everything",
            "events/",
        ],
        vec![
            "replay",
            "--policy",
            policy.to_str().expect("utf-8"),
            "events/",
        ],
        vec!["replay", "no/such/dir"],
        vec!["replay"],
    ];
    for args in cases {
        let output = authz(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        if args.contains(&"--policy") && !args.contains(&"no/such/policy.datalog") {
            assert!(stderr.contains("policy does not parse"), "{stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
