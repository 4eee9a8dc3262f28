//! Token bytes → decoding, key choice, verification and policy against a fixed
//! key map. Invariant: an Allow only for bytes that verify, under bare
//! biscuit-auth, with the key of the domain the authorizer reports.
#![no_main]

use std::sync::LazyLock;
use std::time::SystemTime;

use authorizer::engine::{Engine, Settings, Trust};
use authorizer::keymap::KeyMap;
use authorizer::policy::Policy;
use biscuit_auth::{Algorithm, Biscuit, KeyPair, PrivateKey};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

struct Fixture {
    engine: Engine,
    trust: Trust,
    keys: Vec<(&'static str, KeyPair)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = |byte: u8| KeyPair::from(&PrivateKey::from_bytes(&[byte; 32], Algorithm::Ed25519).expect("key"));
    let keys = vec![("a.example", key(1)), ("b.example", key(2))];
    let map = json!({
        "a.example": [{"algorithm": "ed25519", "key_bytes": keys[0].1.public().to_bytes_hex(), "key_id": 1}],
        "b.example": [{"algorithm": "ed25519", "key_bytes": keys[1].1.public().to_bytes_hex(), "key_id": 1}],
    });
    let (keys_map, _) = KeyMap::parse(map.to_string().as_bytes()).expect("map");
    let policy = Policy::parse("allow if true;").expect("policy");
    Fixture { engine: Engine::new(policy, Settings::default()), trust: Trust { keys: authorizer::store::KeyStore::Whole(keys_map), revoked: Default::default() }, keys }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let token = authorizer::token::encode(data);
    let event = json!({"type": "TOKEN", "authorizationToken": token, "methodArn": "arn:aws:execute-api:r:1:api/s/GET/x"});
    let evaluated = fixture.engine.evaluate(event, Ok(&fixture.trust), SystemTime::now());
    if evaluated.decision.verdict.is_ok() {
        let identity = evaluated.decision.identity.as_ref().expect("an allow has an identity");
        let (_, key) = fixture.keys.iter().find(|(domain, _)| *domain == identity.domain).expect("a known domain");
        assert!(Biscuit::from(data, key.public()).is_ok(), "allowed a token that does not verify");
    }
});
