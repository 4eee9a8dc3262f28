//! Fixtures shared by the integration tests: issuers, key maps, tokens, events.
#![allow(dead_code, missing_docs)] // each test binary uses a different part

use std::time::{Duration, SystemTime};

use authorizer::engine::{Engine, Evaluated, Settings, Trust};
use authorizer::keymap::KeyMap;
use authorizer::policy::Policy;
use authorizer::revocation::RevocationList;
use authorizer::{envelope, token};
use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};
use serde_json::{json, Value};

/// 2030-01-01T00:00:00Z: decisions in tests happen then.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// The test policy: `right($method)` in the authority block allows that method.
pub const POLICY: &str = r#"
    principal($u) <- user($u);
    context("user", $u) <- user($u);
    context("shape", [1]) <- user($u);
    allow if method($m), right($m);
    deny if true;
"#;

/// An issuer: a domain and its root key.
pub struct Issuer {
    pub domain: &'static str,
    pub key_id: u32,
    pub key: KeyPair,
}

impl Issuer {
    pub fn new(domain: &'static str, key_id: u32) -> Issuer {
        Issuer {
            domain,
            key_id,
            key: KeyPair::new(),
        }
    }

    pub fn bwks(&self, expires_at: Option<&str>) -> Value {
        json!({"algorithm": "ed25519", "key_bytes": self.key.public().to_bytes_hex(),
               "key_id": self.key_id, "issuer": null, "expires_at": expires_at})
    }

    /// A token with this issuer's root key id.
    pub fn mint(&self, authority: &str) -> Biscuit {
        Biscuit::builder()
            .code(authority)
            .expect("authority code")
            .root_key_id(self.key_id)
            .build(&self.key)
            .expect("build")
    }
}

/// Serializes a token with field 5 set (or not) and encodes it.
pub fn encode(biscuit: &Biscuit, domain: Option<&str>) -> String {
    let bytes = biscuit.to_vec().expect("serialize");
    token::encode(&envelope::with_domain(&bytes, domain).expect("field 5"))
}

pub fn attenuate(biscuit: &Biscuit, code: &str) -> Biscuit {
    biscuit
        .append(BlockBuilder::new().code(code).expect("block code"))
        .expect("append")
}

pub fn trust(keysets: Value, revoked: &[String]) -> Trust {
    let (keys, _) = KeyMap::parse(keysets.to_string().as_bytes()).expect("key map");
    let revoked =
        RevocationList::parse(json!(revoked).to_string().as_bytes()).expect("revocation list");
    Trust {
        keys: authorizer::store::KeyStore::Whole(keys),
        revoked,
    }
}

pub fn engine() -> Engine {
    Engine::new(Policy::parse(POLICY).expect("policy"), Settings::default())
}

pub const ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:api1";

pub fn token_event(authorization: &str, method: &str, path: &str) -> Value {
    json!({"type": "TOKEN", "authorizationToken": authorization, "methodArn": format!("{ARN}/prod/{method}{path}")})
}

pub fn request_event(authorization: Option<&str>, method: &str, path: &str) -> Value {
    let mut headers = json!({"X-Tenant": "t1"});
    if let Some(authorization) = authorization {
        headers["Authorization"] = json!(authorization);
    }
    json!({
        "type": "REQUEST", "methodArn": format!("{ARN}/prod/{method}{path}"), "resource": "/{proxy+}",
        "path": path, "httpMethod": method, "headers": headers,
        "queryStringParameters": {"q": "1"}, "pathParameters": {"proxy": path.trim_start_matches('/')},
        "requestContext": {"accountId": "123456789012", "stage": "prod", "apiId": "api1", "identity": {"sourceIp": "192.0.2.1"}},
    })
}

pub fn http_event(authorization: Option<&str>, method: &str, path: &str) -> Value {
    let mut headers = json!({"x-tenant": "t1"});
    if let Some(authorization) = authorization {
        headers["authorization"] = json!(authorization);
    }
    json!({
        "version": "2.0", "type": "REQUEST", "routeArn": format!("{ARN}/$default/{method}{path}"),
        "routeKey": format!("{method} /{{proxy+}}"), "rawPath": path, "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "api1", "stage": "$default",
                           "http": {"method": method, "path": path, "sourceIp": "192.0.2.1"}},
    })
}

/// Evaluates and returns (outcome, reason kind) as strings, plus the whole result.
pub fn decide(engine: &Engine, trust: &Trust, event: Value) -> (String, &'static str, Evaluated) {
    let evaluated = engine.evaluate(event, Ok(trust), now());
    let outcome = serde_json::to_value(evaluated.decision.outcome()).expect("outcome");
    let outcome = outcome.as_str().unwrap_or_default().to_owned();
    (outcome, evaluated.decision.reason_kind(), evaluated)
}
