//! Routing by the authority block's `domain("...")` fact: a token that lost
//! field 5 (every Biscuit library drops it when attenuating) is routed by its
//! signed authority block, and decided under the domain whose key verifies.

mod common;

use authorizer::response::Answer;
use biscuit_auth::Biscuit;
use common::*;
use serde_json::{json, Value};

/// Six domains all publishing key id 1: more than the candidate cap of 4.
fn issuers() -> (Vec<Issuer>, authorizer::Trust) {
    const DOMAINS: [&str; 6] = [
        "d-0.example",
        "d-1.example",
        "d-2.example",
        "d-3.example",
        "d-4.example",
        "d-5.example",
    ];
    let issuers: Vec<_> = DOMAINS.iter().map(|d| Issuer::new(d, 1)).collect();
    let keysets: serde_json::Map<_, _> = issuers
        .iter()
        .map(|issuer| (issuer.domain.to_owned(), json!([issuer.bwks(None)])))
        .collect();
    let trust = trust(Value::Object(keysets), &[]);
    (issuers, trust)
}

fn decided(
    trust: &authorizer::Trust,
    token: &Biscuit,
    field_5: Option<&str>,
) -> (String, &'static str, Option<Value>) {
    let event = http_event(
        Some(&format!("Bearer {}", encode(token, field_5))),
        "GET",
        "/pets",
    );
    let (outcome, kind, evaluated) = decide(&engine(), trust, event);
    let context = match evaluated.answer {
        Answer::Respond(response) => response.get("context").cloned(),
        _ => None,
    };
    (outcome, kind, context)
}

fn outcome(
    trust: &authorizer::Trust,
    token: &Biscuit,
    field_5: Option<&str>,
) -> (String, &'static str) {
    let (outcome, kind, _) = decided(trust, token, field_5);
    (outcome, kind)
}

#[test]
fn an_attenuated_token_without_field_5_is_routed_by_its_authority_fact() {
    let (issuers, trust) = issuers();
    let d3 = &issuers[3];
    let routed = attenuate(
        &d3.mint(r#"user("u"); right("GET"); domain("d-3.example");"#),
        r#"check if method("GET");"#,
    );
    let (outcome, kind, context) = decided(&trust, &routed, None);
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    let context = context.expect("context");
    assert_eq!(context["domain"], "d-3.example");
    assert_eq!(context["root_key_id"], 1);
    // The same token without the fact has only its key id: too many candidates.
    let unrouted = attenuate(
        &d3.mint(r#"user("u"); right("GET");"#),
        r#"check if method("GET");"#,
    );
    assert_eq!(decided(&trust, &unrouted, None).1, "too_many_candidates");
    // A token without a root key id is routed to its domain's keys.
    let no_key_id = Biscuit::builder()
        .code(r#"user("u"); right("GET"); domain("d-3.example");"#)
        .expect("code")
        .build(&d3.key)
        .expect("build");
    assert_eq!(decided(&trust, &no_key_id, None).1, "allowed");
    // The policy still decides: this token may not POST.
    let event = http_event(
        Some(&format!("Bearer {}", encode(&routed, None))),
        "POST",
        "/pets",
    );
    let (outcome, kind, _) = decide(&engine(), &trust, event);
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
}

#[test]
fn the_fact_only_chooses_candidates_the_verifying_key_decides() {
    let (issuers, trust) = issuers();
    // Signed by d-2, stating d-3: only d-3's key is tried, and it does not verify.
    let forged = issuers[2].mint(r#"user("u"); right("GET"); domain("d-3.example");"#);
    assert_eq!(
        outcome(&trust, &forged, None),
        ("unauthorized".into(), "bad_signature")
    );
    // A domain not in the key map.
    let stranger = issuers[2].mint(r#"user("u"); right("GET"); domain("z.example");"#);
    assert_eq!(decided(&trust, &stranger, None).1, "untrusted_domain");
}

#[test]
fn field_5_and_the_fact_disagreeing_or_two_facts_are_unauthorized() {
    let (issuers, trust) = issuers();
    let d3 = &issuers[3];
    let token = d3.mint(r#"user("u"); right("GET"); domain("d-3.example");"#);
    assert_eq!(decided(&trust, &token, Some("d-3.example")).1, "allowed");
    assert_eq!(
        outcome(&trust, &token, Some("d-2.example")),
        ("unauthorized".into(), "domain_hint_mismatch")
    );
    let two = d3.mint(r#"user("u"); right("GET"); domain("d-3.example"); domain("d-2.example");"#);
    assert_eq!(
        outcome(&trust, &two, Some("d-3.example")),
        ("unauthorized".into(), "conflicting_domain_facts")
    );
}
