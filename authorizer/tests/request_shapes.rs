//! Request facts from events shaped as API Gateway sends them (REST REQUEST,
//! HTTP API payload 2.0, WebSocket `$connect`, after the input formats in the
//! AWS documentation), decided through the public engine.

mod common;

use authorizer::engine::Settings;
use authorizer::policy::Policy;
use authorizer::Engine;
use common::*;
use serde_json::{json, Value};

fn issuer_and_trust() -> (Issuer, authorizer::Trust) {
    let a = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [a.bwks(None)]}), &[]);
    (a, trust)
}

fn engine_with(policy: &str, headers: &[&str]) -> Engine {
    let settings = Settings {
        header_allow_list: headers.iter().map(|h| h.to_string()).collect(),
        ..Settings::default()
    };
    Engine::new(Policy::parse(policy).expect("policy"), settings)
}

/// A REST API REQUEST authorizer event: `headers` holds the last value of each
/// header, `multiValueHeaders` all of them.
fn rest_request(token: &str) -> Value {
    let authorization = format!("Bearer {token}");
    json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:rest0api/prod/GET/tenants/a.example/items",
        "resource": "/tenants/{tenant}/{proxy+}",
        "path": "/tenants/a.example/items",
        "httpMethod": "GET",
        "headers": {"Authorization": authorization, "Host": "rest0api.execute-api.eu-west-1.amazonaws.com",
                    "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Trace": "second"},
        "multiValueHeaders": {"Host": ["rest0api.execute-api.eu-west-1.amazonaws.com"],
                              "X-Forwarded-For": ["198.51.100.1, 203.0.113.9"], "X-Trace": ["first", "second"]},
        "queryStringParameters": {"tag": "b"},
        "multiValueQueryStringParameters": {"tag": ["a", "b"]},
        "pathParameters": {"tenant": "a.example", "proxy": "items"},
        "stageVariables": {"backend": "blue"},
        "requestContext": {
            "path": "/prod/tenants/a.example/items", "accountId": "123456789012", "resourceId": "r1",
            "stage": "prod", "requestId": "11111111-2222-3333-4444-555555555555",
            "identity": {"apiKey": "", "sourceIp": "203.0.113.9", "clientCert": null},
            "resourcePath": "/tenants/{tenant}/{proxy+}", "httpMethod": "GET", "apiId": "rest0api"
        }
    })
}

/// An HTTP API payload 2.0 authorizer event with a repeated query name.
fn http_v2(token: &str, raw_query: &str, joined: Value) -> Value {
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:http0api/$default/GET/tenants/a.example/items",
        "identitySource": [format!("Bearer {token}")],
        "routeKey": "GET /tenants/{tenant}/{proxy+}",
        "rawPath": "/tenants/a.example/items",
        "rawQueryString": raw_query,
        "cookies": ["session=1"],
        "headers": {"authorization": format!("Bearer {token}"), "host": "http0api.execute-api.eu-west-1.amazonaws.com"},
        "queryStringParameters": joined,
        "requestContext": {
            "accountId": "123456789012", "apiId": "http0api", "domainName": "http0api.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "http0api",
            "http": {"method": "GET", "path": "/tenants/a.example/items", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "curl/8"},
            "requestId": "abc=", "routeKey": "GET /tenants/{tenant}/{proxy+}", "stage": "$default",
            "time": "01/Dec/2026:10:00:00 +0000", "timeEpoch": 1_796_032_800_000_i64
        },
        "pathParameters": {"tenant": "a.example", "proxy": "items"},
        "stageVariables": null
    })
}

/// A WebSocket `$connect` REQUEST event: no method, path or account id in the
/// request context; the methodArn ends with `$connect`.
fn websocket_connect(token: &str) -> Value {
    let authorization = format!("Bearer {token}");
    json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:ws0api/live/$connect",
        "headers": {"Authorization": authorization, "Connection": "upgrade", "Host": "ws0api.execute-api.eu-west-1.amazonaws.com",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13", "Upgrade": "websocket"},
        "multiValueHeaders": {"Authorization": [authorization], "Connection": ["upgrade"],
                              "Host": ["ws0api.execute-api.eu-west-1.amazonaws.com"],
                              "Sec-WebSocket-Key": ["dGhlIHNhbXBsZSBub25jZQ=="], "Sec-WebSocket-Version": ["13"], "Upgrade": ["websocket"]},
        "queryStringParameters": {"room": "blue"},
        "multiValueQueryStringParameters": {"room": ["blue"]},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "extendedRequestId": "Xyz=",
            "requestTime": "01/Dec/2026:10:00:00 +0000", "messageDirection": "IN", "stage": "live",
            "connectedAt": 1_796_032_800_000_i64, "requestTimeEpoch": 1_796_032_800_001_i64,
            "identity": {"sourceIp": "192.0.2.10"}, "requestId": "Xyz=",
            "domainName": "ws0api.execute-api.eu-west-1.amazonaws.com", "connectionId": "Abc=", "apiId": "ws0api"
        }
    })
}

#[test]
fn rest_request_headers_are_the_union_of_both_maps() {
    let (a, trust) = issuer_and_trust();
    let token = encode(&a.mint(r#"user("x");"#), Some("a.example"));
    // `Authorization` is only in `headers`, although `multiValueHeaders` is not empty.
    let policy = r#"
        allow if header("x-trace", "first"), header("x-trace", "second"), query("tag", "a"), query("tag", "b"),
                 path("/tenants/a.example/items"), route("/tenants/{tenant}/{proxy+}"), account_id("123456789012"),
                 region("eu-west-1"), stage("prod"), api_id("rest0api"), source_ip("203.0.113.9");
        deny if true;
    "#;
    let engine = engine_with(policy, &["x-trace"]);
    let (outcome, kind, _) = decide(&engine, &trust, rest_request(&token));
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    // Without the allow-list entry the headers are not facts, and the same event is denied.
    let engine = engine_with(policy, &[]);
    let (outcome, kind, _) = decide(&engine, &trust, rest_request(&token));
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
}

#[test]
fn http_v2_repeated_query_names_give_one_fact_per_value() {
    let (a, trust) = issuer_and_trust();
    let token = encode(&a.mint(r#"user("x");"#), Some("a.example"));
    let policy = r#"
        allow if query("tag", "a"), query("tag", "b"), query("note", "café au lait");
        deny if true;
    "#;
    let engine = engine_with(policy, &[]);
    let event = http_v2(
        &token,
        "tag=a&tag=b&note=caf%C3%A9+au+lait",
        json!({"tag": "a,b", "note": "café au lait"}),
    );
    let (outcome, kind, _) = decide(&engine, &trust, event);
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    // The comma-joined form is not a value the policy sees.
    let joined = engine_with(r#"allow if query("tag", "a,b"); deny if true;"#, &[]);
    let event = http_v2(&token, "tag=a&tag=b", json!({"tag": "a,b"}));
    let (outcome, kind, _) = decide(&joined, &trust, event);
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
}

#[test]
fn websocket_connect_is_decided_with_facts_from_the_method_arn() {
    let (a, trust) = issuer_and_trust();
    let token = encode(&a.mint(r#"right("connect");"#), Some("a.example"));
    let policy = r#"
        allow if route("$connect"), account_id("123456789012"), region("eu-west-1"), api_id("ws0api"),
                 stage("live"), source_ip("192.0.2.10"), query("room", "blue"), right("connect");
        deny if true;
    "#;
    let engine = engine_with(policy, &[]);
    let (outcome, kind, evaluated) = decide(&engine, &trust, websocket_connect(&token));
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
    let authorizer::response::Answer::Respond(response) = evaluated.answer else {
        panic!("an allow is answered with a policy");
    };
    assert_eq!(
        response["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:eu-west-1:123456789012:ws0api/live/$connect"])
    );
    // No method and no path: a policy that needs them does not allow.
    let engine = engine_with(
        r#"allow if method($m); allow if path($p); deny if true;"#,
        &[],
    );
    let (outcome, kind, _) = decide(&engine, &trust, websocket_connect(&token));
    assert_eq!((outcome.as_str(), kind), ("deny", "deny_policy"));
}
