//! Ordinary tokens and requests are allowed with the default settings: the
//! Datalog limits are enforced while the engine runs, so admission needs no
//! estimate that could refuse them. (Upstream samples: `samples.rs`;
//! biscuit-python tokens: `tests/interop.py`.)

mod common;

use authorizer::engine::{Engine, Settings};
use authorizer::policy::Policy;
use common::*;
use serde_json::{json, Value};

const DEMO_POLICY: &str = include_str!("../../events/demo/policy.datalog");

fn demo_engine(policy: &str) -> Engine {
    Engine::new(Policy::parse(policy).expect("policy"), Settings::default())
}

/// A REST request event for `path` with these query values under one name.
fn with_query(token: &str, path: &str, values: &[String]) -> Value {
    let mut event = request_event(Some(&format!("Bearer {token}")), "GET", path);
    event["queryStringParameters"] = json!({"v": values.last()});
    event["multiValueQueryStringParameters"] = json!({ "v": values });
    event
}

#[test]
fn two_hundred_query_values_with_the_demo_policy() {
    let issuer = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [issuer.bwks(None)]}), &[]);
    let token = encode(
        &issuer.mint(r#"user("u"); right("read");"#),
        Some("a.example"),
    );
    let values: Vec<String> = (0..200).map(|i| format!("value-{i}")).collect();
    let event = with_query(&token, "/tenants/a.example/items", &values);
    let (outcome, kind, _) = decide(&demo_engine(DEMO_POLICY), &trust, event);
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    // The policy still reads them: a tenant value naming another domain denies.
    let mut values = values;
    values.push("b.example".into());
    let mut event = with_query(&token, "/tenants/a.example/items", &values);
    event["multiValueQueryStringParameters"] = json!({"v": values, "tenant": ["b.example"]});
    let (outcome, kind, _) = decide(&demo_engine(DEMO_POLICY), &trust, event);
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
}

#[test]
fn a_policy_with_two_thousand_operator_facts() {
    let revoked: String = (0..2000)
        .map(|i| format!("revoked_grant(\"g-{i}\");\n"))
        .collect();
    let policy = format!("{DEMO_POLICY}\n{revoked}");
    let engine = demo_engine(&policy);
    let issuer = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [issuer.bwks(None)]}), &[]);
    let event = |grant: &str| {
        let token = issuer.mint(&format!(r#"user("u"); right("read"); grant("{grant}");"#));
        request_event(
            Some(&format!("Bearer {}", encode(&token, Some("a.example")))),
            "GET",
            "/tenants/a.example/items",
        )
    };
    let (outcome, kind, _) = decide(&engine, &trust, event("g-live"));
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    let (outcome, kind, _) = decide(&engine, &trust, event("g-1999"));
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
}

#[test]
fn a_policy_too_heavy_alone_is_refused_when_it_loads() {
    let facts: String = (0..200).map(|i| format!("a({i}); ")).collect();
    let heavy = format!("{facts} h($x, $y) <- a($x), a($y); allow if true;");
    match Policy::parse(&heavy) {
        Err(authorizer::policy::PolicyError::TooHeavy(limit)) => {
            assert_eq!(limit, biscuit_auth::error::RunLimit::TooManyFacts)
        }
        other => panic!("expected TooHeavy, got {other:?}"),
    }
}

#[test]
fn everyday_unicode_patterns() {
    let issuer = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [issuer.bwks(None)]}), &[]);
    let token = issuer.mint(
        r#"right("GET");
           date("2026-12-07"); word("héllo_wörld"); short("anything"); email("jane.doe+tag@example.co.uk");
           check if date($v), $v.matches("^\\d{4}-\\d{2}-\\d{2}$");
           check if word($v), $v.matches("^\\w+$");
           check if short($v), $v.matches(".{1,64}");
           check if email($v), $v.matches("^[\\w.+-]+@[\\w-]+\\.[\\w.-]+$");"#,
    );
    let event = token_event(
        &format!("Bearer {}", encode(&token, Some("a.example"))),
        "GET",
        "/x",
    );
    let engine = Engine::new(
        Policy::parse("allow if method($m), right($m); deny if true;").expect("policy"),
        Settings::default(),
    );
    let (outcome, kind, _) = decide(&engine, &trust, event);
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
}

#[test]
fn sixteen_blocks() {
    let issuer = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [issuer.bwks(None)]}), &[]);
    let mut token = issuer.mint(r#"right("GET");"#);
    for i in 1..16 {
        token = attenuate(
            &token,
            &format!(r#"note({i}); check if method($m), ["GET", "HEAD"].contains($m);"#),
        );
    }
    let engine = Engine::new(
        Policy::parse("allow if method($m), right($m); deny if true;").expect("policy"),
        Settings::default(),
    );
    let event = |method: &str| {
        token_event(
            &format!("Bearer {}", encode(&token, Some("a.example"))),
            method,
            "/x",
        )
    };
    let (outcome, kind, _) = decide(&engine, &trust, event("GET"));
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    let (outcome, _, _) = decide(&engine, &trust, event("DELETE"));
    assert_eq!(outcome, "deny");
}
