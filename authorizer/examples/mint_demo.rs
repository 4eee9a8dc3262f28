//! Re-mints the demo material in `events/`: key map, tokens and events.
//!
//! DEMO ONLY: the private keys in `events/demo/keys/` are public knowledge.
//! Run from the repository root: `cargo run -p authorizer --example mint_demo`.
//! Missing demo keys are created; existing ones are reused, so the key map
//! stays stable while tokens are re-minted.

use std::fs;
use std::path::Path;

use authorizer::{envelope, token};
use biscuit_auth::{Algorithm, Biscuit, BlockBuilder, KeyPair, PrivateKey};
use serde_json::{json, Value};

const DEMO: &str = "events/demo";
const API: &str = "arn:aws:execute-api:eu-west-1:123456789012:demo123api";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = demo_key("tenant-a.example-1")?;
    let b = demo_key("tenant-b.example-1")?;
    let a_old = demo_key("tenant-a.example-9")?;
    let keysets = json!({
        "tenant-a.example": [
            bwks(&a, 1, Some("2036-01-01T00:00:00Z")),
            bwks(&a_old, 9, Some("2024-01-01T00:00:00Z")),
        ],
        "tenant-b.example": [bwks(&b, 1, None)],
    });
    write_json(&format!("{DEMO}/keysets.json"), &keysets)?;

    let reader = mint(
        &a,
        1,
        Some("tenant-a.example"),
        "user(\"alice\"); right(\"read\");",
        None,
    )?;
    let writer = mint(
        &a,
        1,
        Some("tenant-a.example"),
        "user(\"alice\"); right(\"read\"); right(\"write\");",
        None,
    )?;
    // Attenuated by plain biscuit-auth: field 5 is dropped, the key is found by id.
    let b_attenuated = mint(
        &b,
        1,
        None,
        "user(\"bob\"); right(\"read\"); right(\"write\");",
        Some("check if method(\"GET\");"),
    )?;
    // Signed by tenant B, but claiming tenant A in the unsigned field 5.
    let forged = mint(
        &b,
        1,
        Some("tenant-a.example"),
        "user(\"mallory\"); right(\"read\"); right(\"write\");",
        None,
    )?;
    let expired_key = mint(
        &a_old,
        9,
        Some("tenant-a.example"),
        "user(\"alice\"); right(\"read\");",
        None,
    )?;
    let revoked = mint(
        &a,
        1,
        Some("tenant-a.example"),
        "user(\"eve\"); right(\"read\");",
        None,
    )?;
    let revoked_id = revocation_id(&revoked, &a)?;

    // Holder binding: bound to the demo client certificate; the token's own check enforces it.
    let client_pem = fs::read_to_string(format!("{DEMO}/client-cert.demo-only.pem"))?;
    let fingerprint =
        authorizer::holder::fingerprint(&client_pem).ok_or("the demo certificate is not PEM")?;
    let bound = mint(
        &a,
        1,
        Some("tenant-a.example"),
        &format!(
            r#"user("carol"); right("read"); holder_cert("{fingerprint}"); check if client_cert($fp), holder_cert($fp);"#
        ),
        None,
    )?;

    // Delegated minting: tenant A's authority block names a minter key; with
    // DELEGATED_MINTERS on, the policy trusts third-party blocks that key signs.
    let minter = demo_key("tenant-a.example-minter")?;
    let stranger = demo_key("unnamed-minter")?;
    let delegation = format!(r#"user("svc"); minter("{}");"#, minter.public());
    let delegated = mint_delegated(&a, &delegation, &minter)?;
    let unnamed = mint_delegated(&a, &delegation, &stranger)?;

    // Least privilege (events/least-privilege, replayed with probes on): a token
    // for one document, and the broad writer token, both reading that document.
    let narrow = mint(
        &a,
        1,
        Some("tenant-a.example"),
        r#"user("alice"); right("read"); check if path("/tenants/tenant-a.example/docs/7");"#,
        None,
    )?;
    // WebSocket $connect (events/websocket): a token that may connect.
    let connector = mint(
        &a,
        1,
        Some("tenant-a.example"),
        r#"user("alice"); right("connect");"#,
        None,
    )?;
    write_json(&format!("{DEMO}/revoked.json"), &json!([revoked_id]))?;

    let events = [
        (
            "rest-token-allow",
            rest_token(&reader, "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "rest-token-unauthorized-garbage",
            rest_token("not-a-biscuit!", "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "rest-token-unauthorized-expired-key",
            rest_token(&expired_key, "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "rest-request-allow",
            rest_request(&writer, "POST", "/tenants/tenant-a.example/pets"),
        ),
        (
            "rest-request-deny",
            rest_request(&reader, "DELETE", "/tenants/tenant-a.example/pets/7"),
        ),
        (
            "rest-request-unauthorized-revoked",
            rest_request(&revoked, "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "http-v2-allow",
            http_v2(
                Some(&b_attenuated),
                "GET",
                "/tenants/tenant-b.example/orders",
            ),
        ),
        (
            "http-v2-deny",
            http_v2(
                Some(&b_attenuated),
                "POST",
                "/tenants/tenant-b.example/orders",
            ),
        ),
        (
            "http-v2-deny-other-tenant",
            http_v2(Some(&writer), "GET", "/tenants/tenant-b.example/orders"),
        ),
        (
            "http-v2-unauthorized-forged-domain",
            http_v2(Some(&forged), "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "http-v2-unauthorized-missing",
            http_v2(None, "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "rest-request-allow-holder-bound",
            with_client_cert(
                rest_request(&bound, "GET", "/tenants/tenant-a.example/pets"),
                &client_pem,
            ),
        ),
        (
            "rest-request-deny-holder-missing",
            rest_request(&bound, "GET", "/tenants/tenant-a.example/pets"),
        ),
        (
            "delegation/http-v2-allow-delegated",
            http_v2(Some(&delegated), "GET", "/tenants/tenant-a.example/reports"),
        ),
        (
            "delegation/http-v2-deny-unnamed-minter",
            http_v2(Some(&unnamed), "GET", "/tenants/tenant-a.example/reports"),
        ),
    ];
    for (name, event) in events {
        write_json(&format!("events/{name}.json"), &event)?;
    }
    let least_privilege = [
        (
            "http-v2-allow-narrow-token",
            http_v2(Some(&narrow), "GET", "/tenants/tenant-a.example/docs/7"),
        ),
        (
            "http-v2-deny-broad-token",
            http_v2(Some(&writer), "GET", "/tenants/tenant-a.example/docs/7"),
        ),
    ];
    for (name, event) in least_privilege {
        write_json(&format!("events/least-privilege/{name}.json"), &event)?;
    }
    // Hostile paths (events/paths): tenant A's writer token aimed at tenant B.
    let paths = [
        (
            "http-v2-deny-tenant-in-the-middle",
            http_v2(
                Some(&writer),
                "GET",
                "/tenants/tenant-b.example/x/tenants/tenant-a.example/",
            ),
        ),
        (
            "http-v2-deny-dot-segments",
            http_v2(
                Some(&writer),
                "GET",
                "/tenants/tenant-a.example/../tenant-b.example/orders",
            ),
        ),
        (
            "http-v2-deny-encoded-dots",
            http_v2(
                Some(&writer),
                "GET",
                "/tenants/tenant-a.example/%2e%2e/tenant-b.example/orders",
            ),
        ),
        (
            "http-v2-deny-encoded-backslash",
            http_v2(
                Some(&writer),
                "GET",
                "/tenants/tenant-a.example/..%5ctenant-b.example/orders",
            ),
        ),
        (
            "http-v2-deny-control-characters",
            http_v2(
                Some(&writer),
                "GET",
                "/tenants/tenant-a.example/orders%0d%0a",
            ),
        ),
        (
            "rest-request-deny-encoded-slash",
            rest_request(
                &writer,
                "GET",
                "/tenants/tenant-a.example%2F..%2Ftenant-b.example/orders",
            ),
        ),
        (
            "rest-request-deny-empty-segment",
            rest_request(&writer, "GET", "/tenants/tenant-a.example//orders"),
        ),
        (
            "rest-token-deny-dot-segments",
            rest_token(
                &writer,
                "GET",
                "/tenants/tenant-a.example/../tenant-b.example/orders",
            ),
        ),
        (
            "http-v2-allow-trailing-slash",
            http_v2(Some(&writer), "GET", "/tenants/tenant-a.example/orders/"),
        ),
    ];
    for (name, event) in paths {
        write_json(&format!("events/paths/{name}.json"), &event)?;
    }
    let websocket = [
        (
            "connect-allow-own-tenant",
            websocket_connect(&connector, &["tenant-a.example"]),
        ),
        (
            "connect-deny-repeated-tenant",
            websocket_connect(&connector, &["tenant-a.example", "tenant-b.example"]),
        ),
        (
            "connect-deny-without-connect-right",
            websocket_connect(&reader, &["tenant-a.example"]),
        ),
    ];
    for (name, event) in websocket {
        write_json(&format!("events/websocket/{name}.json"), &event)?;
    }
    // Request facts as API Gateway sends them (events/request-facts).
    let mut headers_only = rest_request(&writer, "GET", "/tenants/tenant-a.example/pets");
    if let Some(multi) = headers_only["multiValueHeaders"].as_object_mut() {
        multi.remove("Authorization");
    }
    let request_facts = [
        (
            "rest-request-allow-authorization-in-headers-only",
            headers_only,
        ),
        (
            "http-v2-allow-tenant-query",
            with_raw_query(
                http_v2(Some(&writer), "GET", "/tenants/tenant-a.example/pets"),
                "tenant=tenant-a.example",
            ),
        ),
        (
            "http-v2-deny-repeated-tenant-query",
            with_raw_query(
                http_v2(Some(&writer), "GET", "/tenants/tenant-a.example/pets"),
                "tenant=tenant-a.example&tenant=tenant-b.example",
            ),
        ),
    ];
    for (name, event) in request_facts {
        write_json(&format!("events/request-facts/{name}.json"), &event)?;
    }
    Ok(())
}

/// Loads the named demo private key, creating it if missing.
fn demo_key(name: &str) -> Result<KeyPair, Box<dyn std::error::Error>> {
    let path = format!("{DEMO}/keys/{name}.demo-only.key");
    if !Path::new(&path).exists() {
        fs::write(&path, KeyPair::new().private().to_bytes_hex() + "\n")?;
    }
    let hex = fs::read_to_string(&path)?;
    Ok(KeyPair::from(&PrivateKey::from_bytes_hex(
        hex.trim(),
        Algorithm::Ed25519,
    )?))
}

fn bwks(key: &KeyPair, key_id: u32, expires_at: Option<&str>) -> Value {
    json!({
        "algorithm": "ed25519",
        "key_bytes": key.public().to_bytes_hex(),
        "key_id": key_id,
        "issuer": null,
        "expires_at": expires_at,
    })
}

fn mint(
    root: &KeyPair,
    key_id: u32,
    domain: Option<&str>,
    authority: &str,
    attenuation: Option<&str>,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut biscuit = Biscuit::builder()
        .code(authority)?
        .root_key_id(key_id)
        .build(root)?;
    if let Some(code) = attenuation {
        biscuit = biscuit.append(BlockBuilder::new().code(code)?)?;
    }
    let bytes = envelope::with_domain(&biscuit.to_vec()?, domain)?;
    Ok(token::encode(&bytes))
}

/// A token of `root` whose authority is `authority`, with a third-party block
/// `right("read")` signed by `minter`.
fn mint_delegated(
    root: &KeyPair,
    authority: &str,
    minter: &KeyPair,
) -> Result<String, Box<dyn std::error::Error>> {
    let biscuit = Biscuit::builder()
        .code(authority)?
        .root_key_id(1)
        .build(root)?;
    let grant = biscuit.third_party_request()?.create_block(
        &minter.private(),
        BlockBuilder::new().code(r#"right("read");"#)?,
    )?;
    let biscuit = biscuit.append_third_party(minter.public(), grant)?;
    let bytes = envelope::with_domain(&biscuit.to_vec()?, Some("tenant-a.example"))?;
    Ok(token::encode(&bytes))
}

/// Adds the mutual TLS client certificate API Gateway passes to a REST authorizer.
fn with_client_cert(mut event: Value, pem: &str) -> Value {
    event["requestContext"]["identity"]["clientCert"] = json!({
        "clientCertPem": pem,
        "subjectDN": "CN=demo-client (DEMO ONLY)",
        "issuerDN": "CN=demo-client (DEMO ONLY)",
        "serialNumber": "1",
        "validity": {"notBefore": "Nov 23 00:00:00 2026 GMT", "notAfter": "Nov 21 00:00:00 2036 GMT"},
    });
    event
}

fn revocation_id(token: &str, root: &KeyPair) -> Result<String, Box<dyn std::error::Error>> {
    let biscuit = Biscuit::from_base64(token, root.public())?;
    Ok(hex::encode(&biscuit.revocation_identifiers()[0]))
}

fn rest_token(token: &str, method: &str, path: &str) -> Value {
    json!({
        "type": "TOKEN",
        "authorizationToken": format!("Bearer {token}"),
        "methodArn": format!("{API}/prod/{method}{path}"),
    })
}

fn rest_request(token: &str, method: &str, path: &str) -> Value {
    let authorization = format!("Bearer {token}");
    json!({
        "type": "REQUEST",
        "methodArn": format!("{API}/prod/{method}{path}"),
        "resource": "/tenants/{tenant}/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Authorization": authorization, "Host": "api.example.com", "X-Request-Source": "demo"},
        "multiValueHeaders": {"Authorization": [authorization], "Host": ["api.example.com"], "X-Request-Source": ["demo"]},
        "queryStringParameters": {"limit": "10"},
        "multiValueQueryStringParameters": {"limit": ["10"]},
        "pathParameters": {"tenant": path.split('/').nth(2).unwrap_or_default(), "proxy": path.splitn(4, '/').nth(3).unwrap_or_default()},
        "stageVariables": null,
        "requestContext": {
            "path": format!("/prod{path}"),
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "apiKey": null, "apiKeyId": null, "clientCert": null},
            "resourcePath": "/tenants/{tenant}/{proxy+}",
            "httpMethod": method,
            "apiId": "demo123api",
        },
    })
}

fn http_v2(token: Option<&str>, method: &str, path: &str) -> Value {
    let mut headers =
        json!({"host": "api.example.com", "user-agent": "demo", "x-request-source": "demo"});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": format!("{API}/$default/{method}{path}"),
        "identitySource": token.map(|t| vec![format!("Bearer {t}")]),
        "routeKey": format!("{method} /tenants/{{tenant}}/{{proxy+}}"),
        "rawPath": path,
        "rawQueryString": "",
        "cookies": [],
        "headers": headers,
        "queryStringParameters": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "demo123api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.23", "userAgent": "demo"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("{method} /tenants/{{tenant}}/{{proxy+}}"),
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_428_000_000_i64,
        },
        "pathParameters": {"tenant": path.split('/').nth(2).unwrap_or_default(), "proxy": path.splitn(4, '/').nth(3).unwrap_or_default()},
        "stageVariables": null,
    })
}

/// Sets an HTTP API event's query as API Gateway does: the raw string, and the
/// parameters with the values of a repeated name joined by commas.
fn with_raw_query(mut event: Value, raw: &str) -> Value {
    let mut joined = serde_json::Map::new();
    for (name, value) in raw.split('&').filter_map(|pair| pair.split_once('=')) {
        let entry = joined.entry(name).or_insert_with(|| json!(""));
        let previous = entry.as_str().unwrap_or_default();
        *entry = json!(if previous.is_empty() {
            value.to_owned()
        } else {
            format!("{previous},{value}")
        });
    }
    event["rawQueryString"] = json!(raw);
    event["queryStringParameters"] = Value::Object(joined);
    event
}

/// A WebSocket API `$connect` REQUEST event, connecting with `?tenant=…` for each value.
fn websocket_connect(token: &str, tenants: &[&str]) -> Value {
    let authorization = format!("Bearer {token}");
    let host = "demows0api.execute-api.eu-west-1.amazonaws.com";
    json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:demows0api/live/$connect",
        "headers": {"Authorization": authorization, "Connection": "upgrade", "Host": host,
                    "Sec-WebSocket-Key": "ZGVtbyB3ZWJzb2NrZXQga2V5", "Sec-WebSocket-Version": "13", "Upgrade": "websocket",
                    "X-Forwarded-For": "198.51.100.23", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": {"Authorization": [authorization], "Connection": ["upgrade"], "Host": [host],
                              "Sec-WebSocket-Key": ["ZGVtbyB3ZWJzb2NrZXQga2V5"], "Sec-WebSocket-Version": ["13"],
                              "Upgrade": ["websocket"], "X-Forwarded-For": ["198.51.100.23"],
                              "X-Forwarded-Port": ["443"], "X-Forwarded-Proto": ["https"]},
        // As for REST APIs: the last value here, every value in the multi-value map.
        "queryStringParameters": {"tenant": tenants.last()},
        "multiValueQueryStringParameters": {"tenant": tenants},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": "demoExtendedId=",
            "requestTime": "23/Nov/2026:10:00:00 +0000",
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": 1_795_428_000_000_i64,
            "requestTimeEpoch": 1_795_428_000_001_i64,
            "identity": {"sourceIp": "198.51.100.23"},
            "requestId": "demoRequestId=",
            "domainName": host,
            "connectionId": "demoConnectionId=",
            "apiId": "demows0api",
        },
    })
}

fn write_json(path: &str, value: &Value) -> Result<(), Box<dyn std::error::Error>> {
    fs::write(path, serde_json::to_string_pretty(value)? + "\n")?;
    Ok(())
}
