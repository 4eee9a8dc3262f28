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
        .args(["test", "--policy", policy, suite])
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
    assert!(!output.status.success(), "a mismatch must fail: {table}");
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
