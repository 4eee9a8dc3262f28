//! Deterministic mutation testing of the decision path (a fuzzer that runs on
//! stable Rust in every test run): mutated tokens, events, key maps and
//! envelopes never panic, and an Allow always comes from a token that bare
//! biscuit-auth verifies under the verified domain's key.

mod common;

use std::path::PathBuf;

use authorizer::keymap::KeyMap;
use authorizer::{envelope, token};
use biscuit_auth::Biscuit;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const ROUNDS: usize = 3000;

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        let len = bytes.len().max(1);
        match rng.gen_range(0..6) {
            0 if !bytes.is_empty() => {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => bytes.truncate(rng.gen_range(0..len)),
            2 => {
                let at = rng.gen_range(0..=bytes.len());
                let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                bytes.splice(at..at, extra);
            }
            3 if bytes.len() > 2 => {
                let from = rng.gen_range(0..bytes.len() - 1);
                let to = rng.gen_range(from + 1..=bytes.len());
                bytes.drain(from..to);
            }
            4 if bytes.len() > 2 => {
                let from = rng.gen_range(0..bytes.len() - 1);
                let to = rng.gen_range(from + 1..=bytes.len().min(from + 64));
                let copy = bytes[from..to].to_vec();
                let at = rng.gen_range(0..=bytes.len());
                bytes.splice(at..at, copy);
            }
            _ => {
                let i = rng.gen_range(0..len);
                if i < bytes.len() {
                    bytes[i] = rng.gen();
                }
            }
        }
    }
    bytes
}

#[test]
fn mutated_tokens_never_panic_and_never_allow_unverified() {
    let a = Issuer::new("a.example", 1);
    let b = Issuer::new("b.example", 1);
    let trust = trust(
        json!({"a.example": [a.bwks(None)], "b.example": [b.bwks(None)]}),
        &[],
    );
    let engine = engine();
    let seeds: Vec<Vec<u8>> = vec![
        a.mint(r#"right("GET");"#).to_vec().expect("token"),
        attenuate(
            &a.mint(r#"right("GET"); user("u");"#),
            r#"check if method("GET");"#,
        )
        .to_vec()
        .expect("token"),
        b.mint(r#"right("GET");"#)
            .seal()
            .expect("seal")
            .to_vec()
            .expect("token"),
    ];
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut allowed = 0;
    for round in 0..ROUNDS {
        let seed = &seeds[round % seeds.len()];
        let with_domain = envelope::with_domain(
            seed,
            Some(if round % 2 == 0 {
                "a.example"
            } else {
                "b.example"
            }),
        )
        .expect("field 5");
        let mutated = mutate(&mut rng, &with_domain);
        let event = token_event(&format!("Bearer {}", token::encode(&mutated)), "GET", "/");
        let evaluated = engine.evaluate(event, Ok(&trust), now());
        if let Ok(_grant) = &evaluated.decision.verdict {
            allowed += 1;
            let identity = evaluated
                .decision
                .identity
                .as_ref()
                .expect("an allow has an identity");
            let key = if identity.domain == "a.example" {
                &a.key
            } else {
                &b.key
            };
            assert!(
                Biscuit::from(&mutated, key.public()).is_ok(),
                "round {round}: allowed a token that does not verify"
            );
        }
    }
    // Mutations of the unsigned envelope (field 5, unknown fields) keep some tokens valid.
    assert!(allowed < ROUNDS, "mutations must break most tokens");
}

#[test]
fn mutated_envelopes_and_key_maps_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/biscuit-samples");
    let tokens: Vec<Vec<u8>> = std::fs::read_dir(&samples)
        .expect("samples")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "bc"))
        .filter_map(|path| std::fs::read(path).ok())
        .collect();
    assert!(tokens.len() >= 38);
    let key_map = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/demo/keysets.json"),
    )
    .expect("demo map");
    for round in 0..ROUNDS {
        let mutated = mutate(&mut rng, &tokens[round % tokens.len()]);
        let _ = envelope::read_hints(&mutated);
        let _ = envelope::with_domain(&mutated, Some("x.example"));
        let _ = authorizer::audit::audit(&mutated);
        let _ = KeyMap::parse(&mutate(&mut rng, &key_map));
    }
}

/// Replaces a random node of a JSON document with a hostile value.
fn mutate_json(rng: &mut StdRng, value: &mut Value) {
    let hostile = |rng: &mut StdRng| match rng.gen_range(0..7) {
        0 => Value::Null,
        1 => json!(""),
        2 => json!(-1),
        3 => json!("\u{0}\u{1}\u{7f}\u{202e}"),
        4 => json!([]),
        5 => json!({}),
        _ => json!("x".repeat(rng.gen_range(0..10_000))),
    };
    match value {
        Value::Object(map) if !map.is_empty() && rng.gen_bool(0.7) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.gen_range(0..keys.len())];
            if let Some(child) = map.get_mut(key) {
                mutate_json(rng, child);
            }
        }
        Value::Array(items) if !items.is_empty() && rng.gen_bool(0.7) => {
            let i = rng.gen_range(0..items.len());
            mutate_json(rng, &mut items[i]);
        }
        other => *other = hostile(rng),
    }
}

#[test]
fn mutated_events_never_panic() {
    let a = Issuer::new("tenant-a.example", 1);
    let trust = trust(json!({"tenant-a.example": [a.bwks(None)]}), &[]);
    let engine = engine();
    let events_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    // The top-level events and the folders of other shapes (WebSocket, path tricks, query forms).
    let events: Vec<Value> = ["", "websocket", "paths", "request-facts"]
        .iter()
        .flat_map(|folder| std::fs::read_dir(events_dir.join(folder)).expect("events"))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| serde_json::from_slice(&std::fs::read(path).ok()?).ok())
        .collect();
    assert!(events.len() >= 6);
    let mut rng = StdRng::seed_from_u64(42);
    for round in 0..ROUNDS {
        let mut event = events[round % events.len()].clone();
        for _ in 0..rng.gen_range(1..4) {
            mutate_json(&mut rng, &mut event);
        }
        let evaluated = engine.evaluate(event, Ok(&trust), now());
        // The demo tokens are signed by other keys: nothing here can be allowed.
        assert!(evaluated.decision.verdict.is_err(), "round {round}");
    }
}
