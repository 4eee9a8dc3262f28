//! Decisions through the public library, one case per refusal reason.

mod common;

use authorizer::engine::Settings;
use authorizer::policy::Policy;
use authorizer::response::Answer;
use authorizer::Engine;
use common::*;
use serde_json::json;

struct World {
    a: Issuer,
    b: Issuer,
    trust: authorizer::Trust,
    engine: Engine,
}

fn world() -> World {
    let a = Issuer::new("a.example", 1);
    // The same key id as A: without field 5 both are candidates.
    let b = Issuer::new("b.example", 1);
    let expired = Issuer::new("a.example", 3);
    let keysets = json!({
        "a.example": [a.bwks(Some("2031-01-01T00:00:00Z")), expired.bwks(Some("2029-12-31T23:00:00Z"))],
        "b.example": [b.bwks(None)],
    });
    World {
        trust: trust(keysets, &[]),
        a,
        b,
        engine: engine(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn allow_on_every_event_kind_with_context_and_principal() {
    let w = world();
    let token = encode(
        &w.a.mint(r#"user("alice"); right("GET");"#),
        Some("a.example"),
    );
    for event in [
        token_event(&token, "GET", "/pets"),
        request_event(Some(&bearer(&token)), "GET", "/pets"),
        http_event(Some(&bearer(&token)), "GET", "/pets"),
    ] {
        let (outcome, kind, evaluated) = decide(&w.engine, &w.trust, event);
        assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
        let Answer::Respond(response) = evaluated.answer else {
            panic!("allow must respond")
        };
        let context = response.get("context").expect("context");
        assert_eq!(context["domain"], "a.example");
        assert_eq!(context["root_key_id"], 1);
        assert_eq!(context["user"], "alice");
        assert!(
            context.get("shape").is_none(),
            "non-flat context values are left out"
        );
        if let Some(policy) = response.get("policyDocument") {
            assert_eq!(policy["Version"], "2012-10-17");
            assert_eq!(policy["Statement"][0]["Effect"], "Allow");
            assert_eq!(response["principalId"], "alice");
            assert!(response.get("usageIdentifierKey").is_none());
        } else {
            assert_eq!(response["isAuthorized"], true);
        }
    }
}

#[test]
fn deny_when_the_policy_does_not_allow() {
    let w = world();
    let token = encode(
        &w.a.mint(r#"user("alice"); right("GET");"#),
        Some("a.example"),
    );
    let (outcome, kind, evaluated) =
        decide(&w.engine, &w.trust, token_event(&token, "DELETE", "/pets"));
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
    let Answer::Respond(response) = evaluated.answer else {
        panic!("deny must respond")
    };
    assert_eq!(response["policyDocument"]["Statement"][0]["Effect"], "Deny");
    // A failing check in an attenuation block is a Deny too.
    let attenuated = attenuate(
        &w.a.mint(r#"right("GET");"#),
        r#"check if path("/only-this");"#,
    );
    let token = encode(&attenuated, Some("a.example"));
    let (outcome, kind, _) = decide(&w.engine, &w.trust, token_event(&token, "GET", "/pets"));
    assert_eq!((outcome.as_str(), kind), ("deny", "failed_checks"));
    // HTTP API simple answers say false.
    let (_, _, evaluated) = decide(
        &w.engine,
        &w.trust,
        http_event(Some(&bearer(&token)), "GET", "/pets"),
    );
    assert_eq!(
        evaluated.answer,
        Answer::Respond(json!({"isAuthorized": false, "context": {}}))
    );
}

#[test]
fn unauthorized_reasons() {
    let w = world();
    let good = w.a.mint(r#"right("GET");"#);
    let no_root_key_id = biscuit_auth::Biscuit::builder()
        .fact("right(\"GET\")")
        .expect("fact")
        .build(&w.a.key)
        .expect("build");
    let cases = [
        ("missing_token", request_event(None, "GET", "/")),
        (
            "not_bearer",
            request_event(Some("Basic dXNlcjpwYXNz"), "GET", "/"),
        ),
        (
            "token_not_base64",
            token_event("Bearer %%%not-base64%%%", "GET", "/"),
        ),
        (
            "token_too_large",
            token_event(&"A".repeat(16 * 1024 + 1), "GET", "/"),
        ),
        ("malformed_token", token_event("AAAA", "GET", "/")),
        (
            "untrusted_domain",
            token_event(&encode(&good, Some("z.example")), "GET", "/"),
        ),
        (
            "no_key_hint",
            token_event(&encode(&no_root_key_id, None), "GET", "/"),
        ),
        (
            "no_key",
            token_event(
                &encode(
                    &Issuer::new("a.example", 77).mint(r#"right("GET");"#),
                    Some("a.example"),
                ),
                "GET",
                "/",
            ),
        ),
        ("unknown_event", json!({"hello": "world"})),
        (
            "malformed_event",
            json!({"version": "2.0", "requestContext": {"http": {"method": 7}}}),
        ),
    ];
    for (expected, event) in cases {
        let (outcome, kind, evaluated) = decide(&w.engine, &w.trust, event);
        assert_eq!((outcome.as_str(), kind), ("unauthorized", expected));
        assert_eq!(evaluated.answer, Answer::Unauthorized, "{expected}");
    }
}

#[test]
fn expired_keys_are_not_candidates_after_the_grace() {
    let w = world();
    let expired = Issuer::new("a.example", 3);
    // The key map's key 3 is another key pair than this one; use the map's own by rebuilding.
    let keysets = json!({"a.example": [expired.bwks(Some("2029-12-31T23:00:00Z"))]});
    let trust = trust(keysets, &[]);
    let token = encode(&expired.mint(r#"right("GET");"#), Some("a.example"));
    let (outcome, kind, _) = decide(&w.engine, &trust, token_event(&token, "GET", "/"));
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "no_key"));
    // Within the grace period (expired 4 minutes before "now") it still verifies.
    let keysets = json!({"a.example": [expired.bwks(Some("2029-12-31T23:56:00Z"))]});
    let (outcome, _, _) = decide(
        &w.engine,
        &common::trust(keysets, &[]),
        token_event(&token, "GET", "/"),
    );
    assert_eq!(outcome, "allow");
}

#[test]
fn cross_domain_forgery_is_refused() {
    let w = world();
    // Signed by B, claiming A in field 5: A's key does not verify it.
    let by_b = encode(&w.b.mint(r#"right("GET");"#), Some("a.example"));
    let (outcome, kind, _) = decide(&w.engine, &w.trust, token_event(&by_b, "GET", "/"));
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "bad_signature"));
    // The same with a root key id A does not have.
    let with_id_2 = biscuit_auth::Biscuit::builder()
        .fact("right(\"GET\")")
        .expect("fact")
        .root_key_id(2)
        .build(&w.b.key)
        .expect("build");
    let other_id = encode(&with_id_2, Some("a.example"));
    let (outcome, kind, _) = decide(&w.engine, &w.trust, token_event(&other_id, "GET", "/"));
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "no_key"));
    // Signed by B with B's hint, but the authority block claims domain("a.example"):
    // the two hints disagree before any key is tried.
    let claims_a = w.b.mint(r#"domain("a.example"); right("GET");"#);
    let (outcome, kind, _) = decide(
        &w.engine,
        &w.trust,
        token_event(&encode(&claims_a, Some("b.example")), "GET", "/"),
    );
    assert_eq!(
        (outcome.as_str(), kind),
        ("unauthorized", "domain_hint_mismatch")
    );
    // Without field 5 the claim routes it to A's keys, which do not verify it.
    let (outcome, kind, _) = decide(
        &w.engine,
        &w.trust,
        token_event(&encode(&claims_a, None), "GET", "/"),
    );
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "bad_signature"));
    // An issuer stating its own domain is fine.
    let claims_b = encode(
        &w.b.mint(r#"domain("b.example"); right("GET");"#),
        Some("b.example"),
    );
    let (outcome, _, evaluated) = decide(&w.engine, &w.trust, token_event(&claims_b, "GET", "/"));
    assert_eq!(outcome, "allow");
    assert_eq!(
        evaluated.decision.identity.expect("identity").domain,
        "b.example"
    );
}

#[test]
fn reserved_facts_in_any_block_are_denied() {
    let w = world();
    for (authority, block) in [
        (r#"right("GET"); path("/admin");"#, None),
        (r#"right("GET"); method("GET");"#, None),
        (r#"right("GET");"#, Some(r#"domain("b.example");"#)),
        (r#"right("GET");"#, Some(r#"source_ip($ip) <- right($ip);"#)),
    ] {
        let mut biscuit = w.a.mint(authority);
        if let Some(code) = block {
            biscuit = attenuate(&biscuit, code);
        }
        let (outcome, kind, evaluated) = decide(
            &w.engine,
            &w.trust,
            token_event(&encode(&biscuit, Some("a.example")), "GET", "/"),
        );
        assert_eq!(
            (outcome.as_str(), kind),
            ("deny", "reserved_fact"),
            "{authority} {block:?}"
        );
        assert!(evaluated
            .decision
            .reason()
            .starts_with("token asserts a reserved fact"));
    }
}

#[test]
fn stripped_field_5_finds_the_key_by_id() {
    let w = world();
    // biscuit-auth drops field 5 when it attenuates; the key is found by rootKeyId.
    let attenuated = attenuate(&w.b.mint(r#"right("GET");"#), r#"check if method("GET");"#);
    let (outcome, _, evaluated) = decide(
        &w.engine,
        &w.trust,
        token_event(&encode(&attenuated, None), "GET", "/"),
    );
    assert_eq!(outcome, "allow");
    assert_eq!(
        evaluated.decision.identity.expect("identity").domain,
        "b.example"
    );
}

#[test]
fn too_many_candidates_without_a_domain() {
    let issuers: Vec<_> = ["d1", "d2", "d3"]
        .into_iter()
        .map(|d| Issuer::new(d, 5))
        .collect();
    let keysets: serde_json::Map<_, _> = issuers
        .iter()
        .map(|i| (i.domain.to_owned(), json!([i.bwks(None)])))
        .collect();
    let trust = trust(serde_json::Value::Object(keysets), &[]);
    let settings = Settings {
        key_choice: authorizer::key_choice::KeyChoiceRules {
            max_candidates: 2,
            ..Default::default()
        },
        ..Settings::default()
    };
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), settings);
    let token = encode(&issuers[2].mint(r#"right("GET");"#), None);
    let (outcome, kind, _) = decide(&engine, &trust, token_event(&token, "GET", "/"));
    assert_eq!(
        (outcome.as_str(), kind),
        ("unauthorized", "too_many_candidates")
    );
    // With the default cap of 4, the third domain's key verifies.
    let (outcome, _, evaluated) =
        decide(&common::engine(), &trust, token_event(&token, "GET", "/"));
    assert_eq!(outcome, "allow");
    assert_eq!(evaluated.decision.identity.expect("identity").domain, "d3");
}

#[test]
fn revoked_blocks_are_unauthorized() {
    let w = world();
    let biscuit = attenuate(&w.a.mint(r#"right("GET");"#), r#"check if method("GET");"#);
    let ids: Vec<String> = biscuit
        .revocation_identifiers()
        .iter()
        .map(hex::encode)
        .collect();
    for (block, id) in ids.iter().enumerate() {
        let keysets = json!({"a.example": [w.a.bwks(None)]});
        let trust = trust(keysets, std::slice::from_ref(id));
        let (outcome, kind, evaluated) = decide(
            &w.engine,
            &trust,
            token_event(&encode(&biscuit, Some("a.example")), "GET", "/"),
        );
        assert_eq!((outcome.as_str(), kind), ("unauthorized", "revoked"));
        assert_eq!(
            evaluated.decision.reason(),
            format!("block {block} is revoked")
        );
    }
}

#[test]
fn datalog_that_blows_the_limits_is_denied() {
    let w = world();
    let explosion = w.a.mint(
        &(0..20)
            .map(|i| format!("a({i}); "))
            .chain(["right(\"GET\"); p($x, $y, $z) <- a($x), a($y), a($z);".into()])
            .collect::<String>(),
    );
    let event = token_event(&encode(&explosion, Some("a.example")), "GET", "/");
    // Admission's structural caps let it through; the engine stops it at the
    // fact limit, inside the iteration that would pass it.
    let (outcome, kind, _) = decide(&w.engine, &w.trust, event.clone());
    assert_eq!((outcome.as_str(), kind), ("deny", "limits_reached"));
    // Also at a lower fact limit, and at a time limit of zero.
    for limited in [
        |s: &mut Settings| s.limits.max_facts = 100,
        |s: &mut Settings| s.limits.max_time = std::time::Duration::ZERO,
    ] {
        let mut settings = Settings::default();
        limited(&mut settings);
        let lenient = Engine::new(Policy::parse(POLICY).expect("policy"), settings);
        let (outcome, kind, _) = decide(&lenient, &w.trust, event.clone());
        assert_eq!((outcome.as_str(), kind), ("deny", "limits_reached"));
    }
}

#[test]
fn request_facts_reach_the_policy() {
    let a = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [a.bwks(None)]}), &[]);
    let policy = r#"
        allow if domain("a.example"), root_key_id(1), method("POST"), path("/pets/7"), route("/{proxy+}"),
                 path_param("proxy", "pets/7"), query("q", "1"), source_ip("192.0.2.1"), stage("prod"),
                 api_id("api1"), account_id("123456789012"), region("eu-west-1"), header("x-tenant", "t1"),
                 time($t), $t == 2030-01-01T00:00:00Z;
    "#;
    let settings = Settings {
        header_allow_list: vec!["x-tenant".into()],
        ..Settings::default()
    };
    let engine = Engine::new(Policy::parse(policy).expect("policy"), settings);
    let token = encode(&a.mint("user(\"x\");"), Some("a.example"));
    let (outcome, kind, _) = decide(
        &engine,
        &trust,
        request_event(Some(&format!("Bearer {token}")), "POST", "/pets/7"),
    );
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    // Without the allow-list entry, headers stay out of the policy's sight.
    let engine = Engine::new(Policy::parse(policy).expect("policy"), Settings::default());
    let (outcome, _, _) = decide(
        &engine,
        &trust,
        request_event(Some(&format!("Bearer {token}")), "POST", "/pets/7"),
    );
    assert_eq!(outcome, "deny");
}

#[test]
fn facts_only_a_token_reads_still_reach_its_checks() {
    // The policy reads no request fact at all; the token's blocks read
    // `source_ip`, `query` and `stage`, which must therefore be added.
    let a = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [a.bwks(None)]}), &[]);
    let engine = Engine::new(
        Policy::parse("allow if user($u);").expect("policy"),
        Settings::default(),
    );
    let decide_with = |authority: &str, attenuation: &str| {
        let token = attenuate(&a.mint(authority), attenuation);
        let event = request_event(
            Some(&format!("Bearer {}", encode(&token, Some("a.example")))),
            "GET",
            "/pets",
        );
        decide(&engine, &trust, event).0
    };
    let authority = r#"user("x"); check if source_ip("192.0.2.1");"#;
    assert_eq!(
        decide_with(authority, r#"check if query("q", "1");"#),
        "allow"
    );
    assert_eq!(
        decide_with(authority, r#"check if query("q", "2");"#),
        "deny"
    );
    assert_eq!(
        decide_with(
            r#"user("x"); check if source_ip("192.0.2.9");"#,
            "check if true;"
        ),
        "deny"
    );
    // A rule in the token that reads a request fact, and a check on what it derives.
    assert_eq!(
        decide_with(
            r#"user("x");"#,
            r#"staged($s) <- stage($s); check if staged("prod");"#
        ),
        "allow"
    );
}

#[test]
fn keys_unavailable_fails_closed() {
    let w = world();
    let token = encode(&w.a.mint(r#"right("GET");"#), Some("a.example"));
    let evaluated = w.engine.evaluate(
        token_event(&token, "GET", "/"),
        Err("secret unreadable"),
        now(),
    );
    assert_eq!(evaluated.decision.reason_kind(), "keys_unavailable");
    assert_eq!(evaluated.answer, Answer::Unauthorized);
}

#[test]
fn a_decision_line_is_bounded_and_escaped_whatever_the_token_and_path() {
    use authorizer::metrics::{DecisionEvent, Metrics, MetricsArgs, Observed};
    let w = world();
    // A failing check whose text holds a newline, a forged EMF document and 7 KB
    // (strings within the 1 KiB cap, predicates within the body cap).
    let forged = r#"{\"_aws\":{\"CloudWatchMetrics\":[]},\"Decisions\":1000}"#;
    let long: Vec<String> = (0..7)
        .map(|i| format!("path(\"{}{i}\")", "x".repeat(1000)))
        .collect();
    let attenuated = attenuate(
        &w.a.mint(r#"right("GET");"#),
        &format!("check if path(\"a\n{forged}\n\"), {};", long.join(", ")),
    );
    let token = encode(&attenuated, Some("a.example"));
    let path = format!("/pets/{}", "p".repeat(6_000));
    let (outcome, kind, evaluated) = decide(&w.engine, &w.trust, token_event(&token, "GET", &path));
    assert_eq!((outcome.as_str(), kind), ("deny", "failed_checks"));
    let reason = evaluated.decision.reason();
    assert!(reason.contains("block n°1"), "names the block: {reason}");
    assert!(!reason.chars().any(char::is_control), "{reason}");
    let mut metrics = Metrics::new(&MetricsArgs {
        metrics_namespace: Some("Test".into()),
        metrics_per_domain: true,
        lambda_log_level: Default::default(),
    })
    .expect("metrics on");
    let event = DecisionEvent::new(&evaluated, Observed::default());
    let mut line = Vec::new();
    assert!(metrics.write(event.shape(), &event, &mut line));
    let text = String::from_utf8(line).expect("utf-8");
    assert_eq!(text.matches('\n').count(), 1, "one line");
    assert!(text.len() < 4096, "{} bytes", text.len());
}
