//! Cache-safe decisions: with API Gateway's result cache on, an Allow is
//! refused (`cache_unsafe`) unless it holds for every request with the same
//! identity sources, for the whole TTL.

mod common;

use std::time::Duration;

use authorizer::engine::{Engine, Settings};
use authorizer::policy::Policy;
use authorizer::result_cache::key::{CacheKey, IdentitySource};
use authorizer::result_cache::ResultCache;
use common::*;
use serde_json::{json, Value};

const POLICY: &str = r#"
    action("read") <- method($m), ["GET", "HEAD"].contains($m);
    allow if domain($d), path($p), $p.starts_with("/tenants/" + $d + "/"), action($a), right($a);
    deny if true;
"#;

/// The template's identity sources for both APIs.
const TEMPLATE_KEY: &str = "method.request.header.Authorization,context.httpMethod,context.path,\
                            $request.header.Authorization,$context.http.method,$context.http.path";

fn cache(ttl: u64, key: &str) -> ResultCache {
    let sources = key
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<IdentitySource>().expect("identity source"));
    ResultCache {
        ttl: Duration::from_secs(ttl),
        key: CacheKey::new(sources),
        ..ResultCache::default()
    }
}

fn engine_with(policy: &str, ttl: u64, key: &str) -> Engine {
    let settings = Settings {
        result_cache: cache(ttl, key),
        header_allow_list: vec!["x-client".into()],
        ..Settings::default()
    };
    Engine::new(Policy::parse(policy).expect("policy"), settings)
}

const PATH: &str = "/tenants/a.example/docs/1";

/// An HTTP API request with this token, client address and raw query string.
fn http(token: &str, source_ip: &str, query: &str) -> Value {
    let mut event = http_event(Some(&format!("Bearer {token}")), "GET", PATH);
    event["requestContext"]["http"]["sourceIp"] = json!(source_ip);
    event["rawQueryString"] = json!(query);
    event["headers"]["x-client"] = json!("app-1");
    event
}

fn verdict(engine: &Engine, trust: &authorizer::Trust, event: Value) -> String {
    let (outcome, kind, _) = decide(engine, trust, event);
    format!("{outcome}/{kind}")
}

fn setup() -> (Issuer, authorizer::Trust) {
    let a = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [a.bwks(None)]}), &[]);
    (a, trust)
}

fn token(issuer: &Issuer, block: Option<&str>) -> String {
    let root = issuer.mint(r#"right("read");"#);
    let token = match block {
        Some(code) => attenuate(&root, code),
        None => root,
    };
    encode(&token, Some(issuer.domain))
}

#[test]
fn with_ttl_0_nothing_changes() {
    let (a, trust) = setup();
    let bound = token(&a, Some(r#"check if source_ip("203.0.113.7");"#));
    for key in ["", TEMPLATE_KEY] {
        let engine = engine_with(POLICY, 0, key);
        assert_eq!(
            verdict(&engine, &trust, http(&bound, "203.0.113.7", "")),
            "allow/allowed"
        );
        assert!(engine
            .cache_warnings(engine.policy().expect("policy"))
            .is_empty());
    }
}

#[test]
fn an_allow_that_reads_only_keyed_facts_is_kept() {
    let (a, trust) = setup();
    let engine = engine_with(POLICY, 300, TEMPLATE_KEY);
    let plain = token(&a, None);
    assert_eq!(
        verdict(&engine, &trust, http(&plain, "192.0.2.1", "")),
        "allow/allowed"
    );
    let event = request_event(Some(&format!("Bearer {plain}")), "GET", PATH);
    assert_eq!(verdict(&engine, &trust, event), "allow/allowed");
    // A policy deny keeps its own reason.
    let event = http_event(
        Some(&format!("Bearer {plain}")),
        "GET",
        "/tenants/b.example/x",
    );
    assert_eq!(verdict(&engine, &trust, event), "deny/deny_policy");
}

#[test]
fn a_token_bound_to_an_unkeyed_source_address_is_refused_until_the_address_is_keyed() {
    let (a, trust) = setup();
    let bound = token(&a, Some(r#"check if source_ip("203.0.113.7");"#));
    let engine = engine_with(POLICY, 300, TEMPLATE_KEY);
    let (_, kind, evaluated) = decide(&engine, &trust, http(&bound, "203.0.113.7", ""));
    assert_eq!(kind, "cache_unsafe");
    assert!(
        evaluated.decision.reason().contains("source_ip"),
        "{}",
        evaluated.decision.reason()
    );
    let mut rest = request_event(Some(&format!("Bearer {bound}")), "GET", PATH);
    rest["requestContext"]["identity"]["sourceIp"] = json!("203.0.113.7");
    assert_eq!(verdict(&engine, &trust, rest.clone()), "deny/cache_unsafe");
    let keyed = engine_with(
        POLICY,
        300,
        &format!("{TEMPLATE_KEY},$context.identity.sourceIp,context.identity.sourceIp"),
    );
    assert_eq!(
        verdict(&keyed, &trust, http(&bound, "203.0.113.7", "")),
        "allow/allowed"
    );
    assert_eq!(verdict(&keyed, &trust, rest), "allow/allowed");
    // From another address, the token's own check refuses, cache or not.
    assert_eq!(
        verdict(&keyed, &trust, http(&bound, "198.51.100.1", "")),
        "deny/failed_checks"
    );
}

#[test]
fn the_key_must_hold_the_credential() {
    let (a, trust) = setup();
    let engine = engine_with(POLICY, 300, "$context.http.method,$context.http.path");
    assert_eq!(
        verdict(&engine, &trust, http(&token(&a, None), "192.0.2.1", "")),
        "deny/cache_unsafe"
    );
    let warnings = engine.cache_warnings(engine.policy().expect("policy"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("HTTP API") && warnings[0].contains("Authorization"),
        "{warnings:?}"
    );
    let none = engine_with(POLICY, 300, "");
    let warnings = none.cache_warnings(none.policy().expect("policy"));
    assert!(
        warnings[0].contains("names no identity source"),
        "{warnings:?}"
    );
}

#[test]
fn method_and_path_are_pinned_by_rest_answers_but_must_be_keyed_for_http_apis() {
    let (a, trust) = setup();
    let plain = token(&a, None);
    let only_token = engine_with(
        POLICY,
        300,
        "method.request.header.Authorization,$request.header.Authorization",
    );
    // REST: the answer is an IAM policy on the exact method ARN.
    let rest = request_event(Some(&format!("Bearer {plain}")), "GET", PATH);
    assert_eq!(verdict(&only_token, &trust, rest), "allow/allowed");
    let token_event = token_event(&format!("Bearer {plain}"), "GET", PATH);
    assert_eq!(verdict(&only_token, &trust, token_event), "allow/allowed");
    // HTTP API simple answers apply to any route.
    assert_eq!(
        verdict(&only_token, &trust, http(&plain, "192.0.2.1", "")),
        "deny/cache_unsafe"
    );
    let warnings = only_token.cache_warnings(only_token.policy().expect("policy"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("HTTP API") && warnings[0].contains("method"),
        "{warnings:?}"
    );
}

#[test]
fn a_query_check_needs_every_value_of_that_name_keyed() {
    let (a, trust) = setup();
    let checked = token(&a, Some(r#"check if query("tenant", "a.example");"#));
    let unkeyed = engine_with(POLICY, 300, TEMPLATE_KEY);
    assert_eq!(
        verdict(
            &unkeyed,
            &trust,
            http(&checked, "192.0.2.1", "tenant=a.example")
        ),
        "deny/cache_unsafe"
    );
    let keyed = engine_with(
        POLICY,
        300,
        &format!("{TEMPLATE_KEY},$request.querystring.tenant"),
    );
    assert_eq!(
        verdict(
            &keyed,
            &trust,
            http(&checked, "192.0.2.1", "tenant=a.example")
        ),
        "allow/allowed"
    );
    // Two values, or a comma, look like another request in the key.
    for query in [
        "tenant=a.example&tenant=b.example",
        "tenant=a.example&tenant=a.example%2Cx",
    ] {
        assert_eq!(
            verdict(&keyed, &trust, http(&checked, "192.0.2.1", query)),
            "deny/cache_unsafe",
            "{query}"
        );
    }
    // REST: one value of the name is not enough, every value is.
    let mut rest = request_event(Some(&format!("Bearer {checked}")), "GET", PATH);
    rest["queryStringParameters"] = json!({"tenant": "a.example"});
    rest["multiValueQueryStringParameters"] = json!({"tenant": ["a.example"]});
    let single = engine_with(
        POLICY,
        300,
        &format!("{TEMPLATE_KEY},method.request.querystring.tenant"),
    );
    assert_eq!(verdict(&single, &trust, rest.clone()), "deny/cache_unsafe");
    let multi = engine_with(
        POLICY,
        300,
        &format!("{TEMPLATE_KEY},method.request.multivaluequerystring.tenant"),
    );
    assert_eq!(verdict(&multi, &trust, rest), "allow/allowed");
    // A variable name reads every parameter: no key holds them all.
    let any = token(&a, Some(r#"check if query($name, "a.example");"#));
    assert_eq!(
        verdict(&keyed, &trust, http(&any, "192.0.2.1", "tenant=a.example")),
        "deny/cache_unsafe"
    );
}

#[test]
fn a_header_check_needs_the_header_keyed_when_it_is_allow_listed() {
    let (a, trust) = setup();
    let checked = token(&a, Some(r#"check if header("x-client", "app-1");"#));
    let unkeyed = engine_with(POLICY, 300, TEMPLATE_KEY);
    assert_eq!(
        verdict(&unkeyed, &trust, http(&checked, "192.0.2.1", "")),
        "deny/cache_unsafe"
    );
    let keyed = engine_with(
        POLICY,
        300,
        &format!("{TEMPLATE_KEY},$request.header.X-Client"),
    );
    assert_eq!(
        verdict(&keyed, &trust, http(&checked, "192.0.2.1", "")),
        "allow/allowed"
    );
    // A header that is not allow-listed is never a fact: reading it depends on nothing.
    let other = token(&a, Some(r#"check if header("x-other", "v") or true;"#));
    assert_eq!(
        verdict(&unkeyed, &trust, http(&other, "192.0.2.1", "")),
        "allow/allowed"
    );
}

#[test]
fn an_allow_must_hold_until_the_end_of_the_window() {
    let (a, trust) = setup();
    // now() is 2030-01-01T00:00:00Z.
    let expiring = token(&a, Some("check if time($t), $t < 2030-01-01T00:01:40Z;"));
    let long = engine_with(POLICY, 300, TEMPLATE_KEY);
    let (_, kind, evaluated) = decide(&long, &trust, http(&expiring, "192.0.2.1", ""));
    assert_eq!(kind, "cache_unsafe");
    assert!(
        evaluated.decision.reason().contains("would not hold"),
        "{}",
        evaluated.decision.reason()
    );
    let short = engine_with(POLICY, 60, TEMPLATE_KEY);
    assert_eq!(
        verdict(&short, &trust, http(&expiring, "192.0.2.1", "")),
        "allow/allowed"
    );
    // A gap inside the window: allowed at both ends, refused in between.
    let gap = token(
        &a,
        Some("check if time($t), $t < 2030-01-01T00:00:50Z || $t > 2030-01-01T00:01:40Z;"),
    );
    assert_eq!(
        verdict(&long, &trust, http(&gap, "192.0.2.1", "")),
        "deny/cache_unsafe"
    );
    let off = engine_with(POLICY, 0, TEMPLATE_KEY);
    assert_eq!(
        verdict(&off, &trust, http(&gap, "192.0.2.1", "")),
        "allow/allowed"
    );
    // Not yet valid: refused by the check itself, whatever the cache.
    let early = token(&a, Some("check if time($t), $t > 2030-01-01T00:01:40Z;"));
    assert_eq!(
        verdict(&long, &trust, http(&early, "192.0.2.1", "")),
        "deny/failed_checks"
    );
    // An expiry after the window keeps the allow.
    let later = token(&a, Some("check if time($t), $t < 2030-01-01T01:00:00Z;"));
    assert_eq!(
        verdict(&long, &trust, http(&later, "192.0.2.1", "")),
        "allow/allowed"
    );
}

#[test]
fn too_many_dates_within_the_window_are_refused() {
    let (a, trust) = setup();
    let dates: Vec<String> = (1..=10)
        .map(|i| format!("2030-01-01T00:00:{:02}Z", i * 5))
        .collect();
    let code = format!("check if time($t), ![{}].contains($t);", dates.join(", "));
    let many = token(&a, Some(&code));
    let engine = engine_with(POLICY, 300, TEMPLATE_KEY);
    let (_, kind, evaluated) = decide(&engine, &trust, http(&many, "192.0.2.1", ""));
    assert_eq!(kind, "cache_unsafe");
    assert!(
        evaluated.decision.reason().contains("over the limit"),
        "{}",
        evaluated.decision.reason()
    );
}

#[test]
fn a_key_expiring_within_the_window_is_refused() {
    let a = Issuer::new("a.example", 1);
    // Expires 100 s after now(); the default grace is 300 s.
    let trust = trust(
        json!({"a.example": [a.bwks(Some("2030-01-01T00:01:40Z"))]}),
        &[],
    );
    let plain = token(&a, None);
    let short = engine_with(POLICY, 60, TEMPLATE_KEY);
    assert_eq!(
        verdict(&short, &trust, http(&plain, "192.0.2.1", "")),
        "allow/allowed"
    );
    let long = engine_with(POLICY, 3600, TEMPLATE_KEY);
    assert_eq!(
        verdict(&long, &trust, http(&plain, "192.0.2.1", "")),
        "deny/cache_unsafe"
    );
}

#[test]
fn a_policy_that_reads_an_unkeyed_fact_is_reported_and_its_allows_refused() {
    let (a, trust) = setup();
    let policy = format!(r#"deny if query("tenant", $t), domain($d), $t != $d; {POLICY}"#);
    let engine = engine_with(&policy, 300, TEMPLATE_KEY);
    let warnings = engine.cache_warnings(engine.policy().expect("policy"));
    assert_eq!(warnings.len(), 2, "one per API: {warnings:?}");
    assert!(
        warnings.iter().all(|w| w.contains("\"tenant\"")),
        "{warnings:?}"
    );
    assert_eq!(
        verdict(&engine, &trust, http(&token(&a, None), "192.0.2.1", "")),
        "deny/cache_unsafe"
    );
}
