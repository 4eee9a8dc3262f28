//! The attack suite: each case must end Unauthorized or Deny, for the right reason.

mod common;

use authorizer::response::Answer;
use biscuit_auth::format::schema;
use biscuit_auth::{Biscuit, KeyPair};
use common::*;
use prost::Message;
use serde_json::{json, Value};

struct Setup {
    a: Issuer,
    b: Issuer,
    trust: authorizer::Trust,
    engine: authorizer::Engine,
}

fn setup() -> Setup {
    let a = Issuer::new("a.example", 1);
    let b = Issuer::new("b.example", 2);
    let trust = trust(
        json!({"a.example": [a.bwks(None)], "b.example": [b.bwks(None)]}),
        &[],
    );
    Setup {
        a,
        b,
        trust,
        engine: engine(),
    }
}

fn outcome_of(s: &Setup, event: Value) -> (String, &'static str) {
    let (outcome, kind, evaluated) = decide(&s.engine, &s.trust, event);
    if outcome != "allow" {
        // A refused request never carries an Allow statement.
        if let Answer::Respond(response) = &evaluated.answer {
            assert_ne!(
                response["policyDocument"]["Statement"][0]["Effect"],
                "Allow"
            );
            assert_ne!(response["isAuthorized"], true);
        }
    }
    (outcome, kind)
}

fn get(token: &str) -> Value {
    token_event(&format!("Bearer {token}"), "GET", "/")
}

/// A three-block token of A, as protobuf, for surgery.
fn three_blocks(s: &Setup) -> schema::Biscuit {
    let token = attenuate(
        &attenuate(&s.a.mint(r#"right("GET");"#), "check if true;"),
        r#"check if method("GET");"#,
    );
    schema::Biscuit::decode(&token.to_vec().expect("serialize")[..]).expect("decode")
}

fn encoded(proto: &schema::Biscuit, domain: Option<&str>) -> String {
    let bytes = authorizer::envelope::with_domain(&proto.encode_to_vec(), domain).expect("field 5");
    authorizer::token::encode(&bytes)
}

#[test]
fn token_signed_by_b_claiming_a_in_field_5() {
    let s = setup();
    let forged = Biscuit::builder()
        .fact(r#"right("GET")"#)
        .expect("fact")
        .root_key_id(1)
        .build(&s.b.key)
        .expect("build");
    assert_eq!(
        outcome_of(&s, get(&encode(&forged, Some("a.example")))),
        ("unauthorized".into(), "bad_signature")
    );
}

#[test]
fn field_5_naming_an_absent_domain() {
    let s = setup();
    assert_eq!(
        outcome_of(
            &s,
            get(&encode(&s.a.mint(r#"right("GET");"#), Some("evil.example")))
        ),
        ("unauthorized".into(), "untrusted_domain")
    );
}

#[test]
fn root_key_id_rewritten_to_another_keys_id() {
    let s = setup();
    let mut proto =
        schema::Biscuit::decode(&s.a.mint(r#"right("GET");"#).to_vec().expect("serialize")[..])
            .expect("decode");
    proto.root_key_id = Some(2);
    assert_eq!(
        outcome_of(&s, get(&encoded(&proto, None))),
        ("unauthorized".into(), "bad_signature")
    );
    assert_eq!(
        outcome_of(&s, get(&encoded(&proto, Some("a.example")))),
        ("unauthorized".into(), "no_key")
    );
}

#[test]
fn authority_block_asserting_request_facts() {
    let s = setup();
    for fact in [
        r#"domain("b.example")"#,
        r#"path("/admin")"#,
        r#"method("DELETE")"#,
        r#"header("x-role", "admin")"#,
        r#"time(2000-01-01T00:00:00Z)"#,
    ] {
        let token = s.a.mint(&format!(r#"right("GET"); {fact};"#));
        // The authority's domain fact is a routing hint too: it disagrees with field 5.
        let expected = if fact.starts_with("domain") {
            ("unauthorized".into(), "domain_hint_mismatch")
        } else {
            ("deny".into(), "reserved_fact")
        };
        assert_eq!(
            outcome_of(&s, get(&encode(&token, Some("a.example")))),
            expected,
            "{fact}"
        );
    }
}

#[test]
fn block_reordering_removal_truncation_and_resigning() {
    let s = setup();
    let proto = three_blocks(&s);
    assert_eq!(
        outcome_of(&s, get(&encoded(&proto, Some("a.example")))).0,
        "allow",
        "the untouched token is fine"
    );

    let mut reordered = proto.clone();
    reordered.blocks.swap(0, 1);
    assert_eq!(
        outcome_of(&s, get(&encoded(&reordered, Some("a.example")))),
        ("unauthorized".into(), "bad_signature")
    );

    let mut removed = proto.clone();
    removed.blocks.pop();
    assert_eq!(
        outcome_of(&s, get(&encoded(&removed, Some("a.example")))),
        ("unauthorized".into(), "bad_signature")
    );

    let mut middle_removed = proto.clone();
    middle_removed.blocks.remove(0);
    assert_eq!(
        outcome_of(&s, get(&encoded(&middle_removed, Some("a.example")))),
        ("unauthorized".into(), "bad_signature")
    );

    let bytes = proto.encode_to_vec();
    for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let truncated = authorizer::token::encode(&bytes[..cut]);
        assert_eq!(
            outcome_of(&s, get(&truncated)).0,
            "unauthorized",
            "cut at {cut}"
        );
    }

    // The last block's content replaced and signed again with a fresh key.
    let mut resigned = proto.clone();
    let other = KeyPair::new();
    let last = resigned.blocks.last_mut().expect("block");
    last.block = schema::Block::decode(&proto.authority.block[..])
        .expect("block")
        .encode_to_vec();
    last.signature = other.sign(&last.block).expect("sign").to_bytes().to_vec();
    assert_eq!(
        outcome_of(&s, get(&encoded(&resigned, Some("a.example")))).0,
        "unauthorized"
    );
}

#[test]
fn sealed_token_with_a_tampered_signature() {
    let s = setup();
    let sealed = s.a.mint(r#"right("GET");"#).seal().expect("seal");
    assert_eq!(
        outcome_of(&s, get(&encode(&sealed, Some("a.example")))).0,
        "allow"
    );
    let mut proto = sealed.container().to_proto();
    let Some(schema::proof::Content::FinalSignature(signature)) = &mut proto.proof.content else {
        panic!("a sealed token has a final signature");
    };
    signature[10] ^= 0x01;
    assert_eq!(
        outcome_of(&s, get(&encoded(&proto, Some("a.example")))),
        ("unauthorized".into(), "bad_signature")
    );
}

#[test]
fn datalog_that_blows_the_limits_is_denied_in_time() {
    let s = setup();
    // A chain whose transitive closure has 1830 facts (over the 1000-fact limit)...
    let closure = (0..60)
        .map(|i| format!("e({i}, {}); ", i + 1))
        .collect::<String>()
        + r#"right("GET"); p($x, $y) <- e($x, $y); p($x, $z) <- e($x, $y), p($y, $z);"#;
    // ...and one that needs 150 rounds to walk (over the 100-iteration limit).
    let walk = (0..150)
        .map(|i| format!("e({i}, {}); ", i + 1))
        .collect::<String>()
        + r#"right("GET"); reach(0); reach($y) <- reach($x), e($x, $y);"#;
    let regex = format!(
        r#"right("GET"); check if {};"#,
        vec![r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!".matches("^(a+)+$")"#; 50].join(" || ")
    );
    for code in [closure.as_str(), walk.as_str(), regex.as_str()] {
        let token = encode(&s.a.mint(code), Some("a.example"));
        let started = std::time::Instant::now();
        let (outcome, kind) = outcome_of(&s, get(&token));
        assert_eq!(outcome, "deny", "{code}: {kind}");
        // Within the Datalog limit plus verification: far from a Lambda timeout.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}

#[test]
fn hostile_events() {
    let s = setup();
    let token = encode(&s.a.mint(r#"right("GET");"#), Some("a.example"));
    let huge = format!("Bearer {}", "A".repeat(1024 * 1024));
    let cases = [
        (
            "a 1 MiB header",
            request_event(Some(&huge), "GET", "/"),
            "token_too_large",
        ),
        (
            "control characters in a header",
            request_event(Some(&format!("Bearer {token}\u{1}")), "GET", "/"),
            "malformed_event",
        ),
        (
            "unknown event shape",
            json!({"routeKey": "GET /", "headers": {"authorization": "Bearer x"}}),
            "unknown_event",
        ),
        ("an array", json!([1, 2, 3]), "unknown_event"),
        ("a string", json!("TOKEN"), "unknown_event"),
        (
            "null everywhere (TOKEN)",
            json!({"type": "TOKEN", "authorizationToken": null, "methodArn": null}),
            "missing_token",
        ),
        (
            "null everywhere (REQUEST)",
            json!({"type": "REQUEST", "headers": null, "multiValueHeaders": null, "requestContext": null,
            "queryStringParameters": null, "pathParameters": null, "stageVariables": null}),
            "malformed_event",
        ),
        (
            "null everywhere (2.0)",
            json!({"version": "2.0", "headers": null, "requestContext": null}),
            "malformed_event",
        ),
        (
            "empty strings",
            json!({"type": "TOKEN", "authorizationToken": "", "methodArn": ""}),
            "missing_token",
        ),
        (
            "a Bearer with nothing",
            json!({"type": "TOKEN", "authorizationToken": "Bearer ", "methodArn": ""}),
            "token_not_base64",
        ),
    ];
    for (name, event, expected) in cases {
        assert_eq!(
            outcome_of(&s, event),
            ("unauthorized".into(), expected),
            "{name}"
        );
    }
    // Control characters in the path: the token is fine, the request is not.
    let odd_path = json!({"version": "2.0", "type": "REQUEST", "rawPath": "/a\u{0}b\u{7f}/\u{202e}",
        "headers": {"authorization": format!("Bearer {token}")},
        "requestContext": {"http": {"method": "GET", "path": "/x"}}});
    assert_eq!(
        outcome_of(&s, odd_path),
        ("deny".into(), "non_canonical_path")
    );
}

#[test]
fn an_event_with_25000_headers_is_refused_not_a_panic() {
    let s = setup();
    let token = encode(&s.a.mint(r#"right("GET");"#), Some("a.example"));
    let headers: serde_json::Map<String, Value> = (0..25_000)
        .map(|i| (format!("x-h{i}"), json!("v")))
        .collect();
    let events = [
        request_event(Some(&format!("Bearer {token}")), "GET", "/"),
        http_event(Some(&format!("Bearer {token}")), "GET", "/"),
    ];
    for mut event in events {
        event["headers"] = Value::Object(headers.clone());
        assert_eq!(
            outcome_of(&s, event),
            ("unauthorized".into(), "oversized_event")
        );
    }
    let mut values = request_event(Some(&format!("Bearer {token}")), "GET", "/");
    values["multiValueHeaders"] = json!({"x-many": vec!["v"; 25_000]});
    assert_eq!(
        outcome_of(&s, values),
        ("unauthorized".into(), "oversized_event")
    );
}

#[test]
fn path_tricks_are_refused_on_every_event_kind() {
    let s = setup();
    let token = encode(&s.a.mint(r#"right("GET");"#), Some("a.example"));
    let bearer = format!("Bearer {token}");
    let tricks = [
        "/tenants/a.example/../b.example/secret",
        "/tenants/a.example/./x",
        "/tenants/a.example/%2e%2e/b.example/secret",
        "/tenants/a.example/%2E%2e/b.example/secret",
        "/tenants/a.example%2F..%2Fb.example/x",
        "/tenants/a.example/..%5cb.example",
        "/tenants/a.example/%252e%252e/b.example",
        "/tenants/a.example/..;/b.example",
        "/tenants/a.example//x",
        "/tenants/a.example/x%00",
        "/tenants/a.example/%c0%ae%c0%ae/b.example",
    ];
    for path in tricks {
        let events = [
            token_event(&bearer, "GET", path),
            request_event(Some(&bearer), "GET", path),
            http_event(Some(&bearer), "GET", path),
        ];
        for event in events {
            assert_eq!(
                outcome_of(&s, event),
                ("deny".into(), "non_canonical_path"),
                "{path}"
            );
        }
    }
    // The same token on a canonical path is allowed: the refusals are the path's.
    for path in ["/tenants/a.example/x", "/tenants/a.example/x/", "/"] {
        assert_eq!(
            outcome_of(&s, http_event(Some(&bearer), "GET", path)),
            ("allow".into(), "allowed"),
            "{path}"
        );
    }
    // A bad token on a bad path stays Unauthorized: the token is judged first.
    assert_eq!(
        outcome_of(&s, token_event("Bearer garbage!", "GET", tricks[0])),
        ("unauthorized".into(), "token_not_base64")
    );
}

#[test]
fn expired_bwks_key() {
    let a = Issuer::new("a.example", 1);
    let trust = trust(
        json!({"a.example": [a.bwks(Some("2029-01-01T00:00:00Z"))]}),
        &[],
    );
    let (outcome, kind, _) = decide(
        &engine(),
        &trust,
        get(&encode(&a.mint(r#"right("GET");"#), Some("a.example"))),
    );
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "no_key"));
}

#[test]
fn p256_high_s_twin_of_a_revoked_token_is_still_revoked() {
    // biscuit-auth accepts either S, so the twin (r, n - s) of a revoked P-256
    // signature verifies too; its revocation id differs, but the authorizer
    // compares ids in canonical form.
    let root = KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1);
    let issuer = Issuer {
        domain: "p.example",
        key_id: 1,
        key: root,
    };
    let token = issuer.mint(r#"right("GET");"#);
    let revoked_id = hex::encode(&token.revocation_identifiers()[0]);
    let mut proto = token.container().to_proto();
    let signature = p256::ecdsa::Signature::from_der(&proto.authority.signature).expect("DER");
    let (r, s) = signature.split_scalars();
    let twin = p256::ecdsa::Signature::from_scalars(r, -*s).expect("twin");
    proto.authority.signature = twin.to_der().as_bytes().to_vec();

    let trust = trust(
        json!({"p.example": [{"algorithm": "secp256r1", "key_bytes": issuer.key.public().to_bytes_hex(), "key_id": 1}]}),
        &[revoked_id],
    );
    let engine = engine();
    let (outcome, kind, _) = decide(&engine, &trust, get(&encoded(&proto, Some("p.example"))));
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "revoked"));
    let (outcome, kind, _) = decide(&engine, &trust, get(&encode(&token, Some("p.example"))));
    assert_eq!((outcome.as_str(), kind), ("unauthorized", "revoked"));
}
