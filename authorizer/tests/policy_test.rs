//! `authz test` end to end: the demo suite passes, and a suite with a wrong
//! expectation fails with a non-zero exit and the mismatch in its table.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn authz_test(policy: &str, suite: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authz"))
        .current_dir(root())
        // Verdicts, not timing: a loaded test machine must not hit the
        // wall-clock Datalog limit (10 ms by default).
        .args(["test", "--max-time-ms", "1000", "--policy", policy, suite])
        .output()
        .expect("run authz")
}

#[test]
fn the_demo_suite_passes() {
    let output = authz_test(
        "events/demo/policy.datalog",
        "events/policy-tests/demo.yaml",
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(table.contains("a token of a revoked grant is refused"));
    assert!(table.contains(" 0 failed"), "{table}");
    assert!(!table.contains("FAIL"), "{table}");
}

#[test]
fn a_suite_with_a_wrong_expectation_fails() {
    let dir = std::env::temp_dir().join(format!("authz-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let suite = dir.join("wrong.yaml");
    std::fs::write(
        &suite,
        r#"
now: 2030-01-01T00:00:00Z
cases:
  - name: right expectation
    request: {kind: http, method: GET, path: /tenants/tenant-a.example/pets}
    token: {domain: tenant-a.example, authority: 'user("alice"); right("read");'}
    expect: {outcome: allow}
  - name: wrong expectation
    request: {kind: http, method: GET, path: /tenants/tenant-a.example/pets}
    token: {domain: tenant-a.example, authority: 'user("alice"); right("read");'}
    expect: {outcome: deny, context: {user: bob}}
"#,
    )
    .expect("write suite");
    let output = authz_test("events/demo/policy.datalog", suite.to_str().expect("utf-8"));
    std::fs::remove_dir_all(&dir).ok();
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a mismatch exits 1 (an error would be 2): {table}"
    );
    assert!(table.contains("1 passed, 1 failed"), "{table}");
    let failed = table
        .lines()
        .find(|line| line.contains("wrong expectation"))
        .expect("the failing row");
    assert!(failed.contains("FAIL"), "{failed}");
    assert!(failed.contains("outcome allow, expected deny"), "{failed}");
    assert!(
        failed.contains("context user = \"alice\", expected \"bob\""),
        "{failed}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 of 2 policy test cases failed"));
}

fn authz(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_authz"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run authz");
    assert!(
        output.status.success(),
        "authz {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The token with one character in its middle changed (signed content).
fn altered(token: &str) -> String {
    let middle = token.len() / 2;
    let replacement = if &token[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    format!("{}{replacement}{}", &token[..middle], &token[middle + 1..])
}

#[test]
fn a_given_token_is_verified_with_the_keysets_map() {
    let dir = std::env::temp_dir().join(format!("authz-policy-given-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    authz(&[
        "keygen",
        "--domain",
        "tenant-a.example",
        "--key-id",
        "7",
        "--out-dir",
        &path(""),
    ]);
    let bwks = authz(&["bwks", &path("tenant-a.example-7.bwks.json")]);
    std::fs::write(dir.join("a.json"), bwks).expect("write");
    let keymap = authz(&["keymap", &format!("tenant-a.example={}", path("a.json"))]);
    std::fs::write(dir.join("keysets.json"), keymap).expect("write");
    let token = authz(&[
        "mint",
        "--domain",
        "tenant-a.example",
        "--key-id",
        "7",
        "--private-key",
        &path("tenant-a.example-7.private.key"),
        "--code",
        r#"user("erin"); right("read");"#,
    ]);
    let case = |name: &str, token: &str, outcome: &str| {
        format!(
            "  - name: {name}\n    request: {{kind: rest, method: GET, path: /tenants/tenant-a.example/pets}}\n    token: {{given: '{token}'}}\n    expect: {{outcome: {outcome}}}\n"
        )
    };
    let suite = format!(
        "cases:\n{}{}",
        case(
            "minted by the operator, verified with --keysets",
            token.trim(),
            "allow"
        ),
        case(
            "the same token altered",
            &altered(token.trim()),
            "unauthorized"
        ),
    );
    std::fs::write(dir.join("given.yaml"), suite).expect("write");
    let output = authz(&[
        "test",
        "--max-time-ms",
        "1000",
        "--policy",
        "events/demo/policy.datalog",
        "--keysets",
        &path("keysets.json"),
        &path("given.yaml"),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.contains("2 passed, 0 failed"), "{output}");
}

#[test]
fn with_result_caching_on_a_policy_reading_an_unkeyed_fact_is_warned_about() {
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_authz"))
            .current_dir(root())
            .args(["test", "--max-time-ms", "1000"])
            .args(["--policy", "events/demo/policy.datalog"])
            .args(extra)
            .arg("events/policy-tests/demo.yaml")
            .output()
            .expect("run authz");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let template_key = "--result-cache-key=method.request.header.Authorization,context.httpMethod,context.path,$request.header.Authorization,$context.http.method,$context.http.path";
    // The demo policy reads query("tenant", ...), which the template's key does not hold.
    let cached = run(&["--result-cache-ttl-seconds", "300", template_key]);
    let warnings: Vec<&str> = cached
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "one per API: {cached}");
    assert!(
        warnings.iter().all(|w| w.contains("\"tenant\"")),
        "{warnings:?}"
    );
    // Keyed, or with caching off, there is nothing to say.
    let keyed = format!(
        "{template_key},method.request.multivaluequerystring.tenant,$request.querystring.tenant"
    );
    assert!(!run(&["--result-cache-ttl-seconds", "300", &keyed]).contains("warning:"));
    assert!(!run(&[template_key]).contains("warning:"));
}
