#![allow(missing_docs)] // criterion_main! generates an undocumented main
//! Per-decision cost of the authorizer (JSON event in, answer out) against
//! bare biscuit-auth verify + authorize of the same token, policy and request
//! facts, in the same run.
//!
//! `cargo bench -p authorizer --bench decision`; the ratio is
//! `library/N` over `bare_biscuit/N` for tokens of N blocks.

mod fixture;

use std::time::SystemTime;

use authorizer::engine::{Engine, Evaluated, Settings, Trust};
use authorizer::keymap::KeyMap;
use authorizer::policy::{self, Policy};
use authorizer::revocation::{CompactId, RevocationDocument, RevocationList};
use authorizer::{envelope, token};
use biscuit_auth::builder::{fact, string};
use biscuit_auth::{AuthorizerLimits, KeyPair};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fixture::{
    all_facts, bare_decision, bare_policy, bare_policy_of, http_event, limits_with_policy_facts,
    token_with_blocks, trust_in, used_facts, with_operator_facts, PolicyShape, Shape, DOMAIN, PATH,
    POLICY,
};
use serde_json::json;

/// One decision, which must be allowed (a refusal would time the wrong path).
fn allowed(engine: &Engine, event: &serde_json::Value, trust: &Trust) -> Evaluated {
    let evaluated = engine.evaluate(event.clone(), Ok(trust), SystemTime::now());
    assert!(
        evaluated.decision.verdict.is_ok(),
        "{}",
        evaluated.decision.reason()
    );
    evaluated
}

fn decision(c: &mut Criterion) {
    let root = KeyPair::new();
    let trust = trust_in(&root);
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), Settings::default());
    // The same limits as the library (biscuit-auth's 1 ms default times out under load).
    let bare_policy = bare_policy(policy::default_limits());
    let public_key = root.public();

    let mut group = c.benchmark_group("decision");
    for blocks in [1, 2, 5] {
        let bytes = token_with_blocks(&root, blocks);
        let event = http_event(&token::encode(&bytes));
        group.bench_with_input(BenchmarkId::new("library", blocks), &event, |b, event| {
            b.iter(|| allowed(&engine, event, &trust))
        });
        group.bench_with_input(
            BenchmarkId::new("bare_biscuit", blocks),
            &bytes,
            |b, bytes| b.iter(|| bare_decision(&bare_policy, bytes, public_key, used_facts())),
        );
        // What every request fact the event gives would cost bare biscuit-auth.
        group.bench_with_input(
            BenchmarkId::new("bare_biscuit_all_facts", blocks),
            &bytes,
            |b, bytes| b.iter(|| bare_decision(&bare_policy, bytes, public_key, all_facts())),
        );
    }
    group.finish();
}

/// The library on each event shape and policy (1-block token), against bare
/// biscuit-auth on the same policy and token: `shapes/library/POLICY/SHAPE`
/// over `shapes/bare_biscuit/POLICY`.
fn shapes(c: &mut Criterion) {
    let root = KeyPair::new();
    let trust = trust_in(&root);
    let bytes = token_with_blocks(&root, 1);
    let token = token::encode(&bytes);
    let mut group = c.benchmark_group("shapes");
    for policy in PolicyShape::ALL {
        let engine = Engine::new(
            Policy::parse(policy.source()).expect("policy"),
            Settings::default(),
        );
        let bare = bare_policy_of(policy.source(), policy::default_limits());
        group.bench_function(format!("bare_biscuit/{}", policy.name()), |b| {
            b.iter(|| bare_decision(&bare, &bytes, root.public(), policy.used_facts()))
        });
        for shape in Shape::ALL {
            let event = shape.event(&token);
            group.bench_function(format!("library/{}/{}", policy.name(), shape.name()), |b| {
                b.iter(|| allowed(&engine, &event, &trust))
            });
        }
    }
    group.finish();
}

/// The library and bare biscuit-auth with the demo policy and 0, 500 and
/// 2,000 operator facts (1-block token, minimal event):
/// `operator_facts/library/N` over `operator_facts/bare_biscuit/N`, and each
/// over its own N = 0. biscuit-auth converts the policy into every
/// authorizer, so its size costs every decision; it should grow linearly.
fn operator_facts(c: &mut Criterion) {
    let root = KeyPair::new();
    let trust = trust_in(&root);
    let bytes = token_with_blocks(&root, 1);
    let event = Shape::HttpMinimal.event(&token::encode(&bytes));
    let demo = PolicyShape::Demo;
    let mut group = c.benchmark_group("operator_facts");
    for facts in [0, 500, 2000] {
        let source = with_operator_facts(demo.source(), facts);
        let engine = Engine::new(Policy::parse(&source).expect("policy"), Settings::default());
        let bare = bare_policy_of(
            &source,
            limits_with_policy_facts(policy::default_limits(), facts),
        );
        group.bench_function(format!("bare_biscuit/{facts}"), |b| {
            b.iter(|| bare_decision(&bare, &bytes, root.public(), demo.used_facts()))
        });
        group.bench_function(format!("library/{facts}"), |b| {
            b.iter(|| allowed(&engine, &event, &trust))
        });
    }
    group.finish();
}

/// What the opt-in probes and the Datalog limits add to one decision (1-block token).
fn options(c: &mut Criterion) {
    let root = KeyPair::new();
    let trust = trust_in(&root);
    let event = http_event(&token::encode(&token_with_blocks(&root, 1)));
    // Three probes the read-only token passes: each is one more evaluation.
    let probes = ["write-method", "method:POST", "method:PUT"]
        .map(|p| p.parse().expect("probe"))
        .to_vec();
    let relaxed = AuthorizerLimits {
        max_facts: u64::MAX,
        max_iterations: u64::MAX,
        max_time: std::time::Duration::from_secs(1),
    };
    let engines = [
        ("default", Settings::default()),
        (
            "three_probes",
            Settings {
                probes,
                ..Settings::default()
            },
        ),
        (
            "relaxed_limits",
            Settings {
                limits: relaxed,
                ..Settings::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("options");
    for (name, settings) in engines {
        let engine = Engine::new(Policy::parse(POLICY).expect("policy"), settings);
        group.bench_function(name, |b| b.iter(|| allowed(&engine, &event, &trust)));
    }
    group.finish();
}

/// The library's own steps around verification, to see where its overhead goes.
fn steps(c: &mut Criterion) {
    let root = KeyPair::new();
    let bytes = token_with_blocks(&root, 2);
    let event = http_event(&token::encode(&bytes));
    let mut group = c.benchmark_group("steps");
    group.bench_function("event_parse", |b| {
        b.iter(|| authorizer::event::AuthorizerEvent::from_json(event.clone()).expect("event"))
    });
    group.bench_function("event_clone", |b| b.iter(|| event.clone()));
    group.bench_function("hints", |b| {
        b.iter(|| envelope::read_hints(&bytes).expect("hints"))
    });
    group.bench_function("audit", |b| {
        b.iter(|| authorizer::audit::audit(&bytes).expect("audit"))
    });
    let caps = authorizer::admission::Caps::default();
    group.bench_function("shape", |b| {
        b.iter(|| authorizer::admission::check_shape(&bytes, &caps).expect("shape"))
    });
    let policy = Policy::parse(POLICY).expect("policy");
    let request = [
        fact("method", &[string("GET")]),
        fact("path", &[string(PATH)]),
    ];
    let limits = policy::default_limits();
    let blocks = authorizer::blocks::TokenBlocks::decode(&bytes).expect("blocks");
    group.bench_function("decode_blocks", |b| {
        b.iter(|| authorizer::blocks::TokenBlocks::decode(&bytes).expect("blocks"))
    });
    group.bench_function("admission", |b| {
        b.iter(|| {
            authorizer::admission::admit(&blocks, policy.program(), &request, &limits, &caps)
                .expect("admitted")
        })
    });
    group.finish();
}

/// Key choice and key-map parsing as the map grows, up to as many keys as fit
/// in a 64 KiB secret.
fn key_map(c: &mut Criterion) {
    let key_hex = KeyPair::new().public().to_bytes_hex();
    let item = |id: u32| json!({"algorithm": "ed25519", "key_bytes": key_hex, "key_id": id, "issuer": null, "expires_at": null});
    let mut sizes = vec![1, 10, 100];
    // One key per domain: grow until the stored map would pass 64 KiB.
    let full = (1..)
        .find(|&n| {
            let document: serde_json::Map<_, _> = (0..n)
                .map(|i| (format!("tenant-{i}.example"), json!([item(i)])))
                .collect();
            serde_json::to_string(&document).map_or(0, |d| d.len()) > 64 * 1024
        })
        .map_or(400, |n| n - 1);
    sizes.push(full);
    let mut group = c.benchmark_group("key_map");
    for domains in sizes {
        let document: serde_json::Map<_, _> = (0..domains)
            .map(|i| (format!("tenant-{i}.example"), json!([item(i)])))
            .collect();
        let bytes = serde_json::to_vec(&document).expect("JSON");
        let keys = authorizer::store::KeyStore::Whole(KeyMap::load(&bytes).expect("map"));
        let last = domains - 1;
        let by_domain = envelope::Hints {
            root_key_id: Some(last),
            domain: Some(format!("tenant-{last}.example")),
            authority_domain: None,
        };
        let by_id = envelope::Hints {
            root_key_id: Some(last),
            domain: None,
            authority_domain: None,
        };
        let now = SystemTime::now();
        let rules = authorizer::key_choice::KeyChoiceRules::default();
        for (name, hints) in [
            ("choose_by_domain", &by_domain),
            ("choose_by_key_id", &by_id),
        ] {
            group.bench_with_input(BenchmarkId::new(name, domains), hints, |b, hints| {
                b.iter(|| {
                    authorizer::key_choice::candidates(&keys, hints, rules, now).expect("candidate")
                })
            });
        }
        // What a refresh costs (locating the domains), then what the whole map
        // would cost parsed at once (writers, tools).
        group.bench_with_input(
            BenchmarkId::new(format!("load_{}_bytes", bytes.len()), domains),
            &bytes,
            |b, bytes| b.iter(|| KeyMap::load(bytes).expect("map")),
        );
        group.bench_with_input(
            BenchmarkId::new(format!("parse_all_{}_bytes", bytes.len()), domains),
            &bytes,
            |b, bytes| b.iter(|| KeyMap::parse(bytes).expect("map")),
        );
    }
    group.finish();
}

/// One decision (1 block, domain hint) with the bench domain among N domains of
/// two keys each, as one whole map and as a manifest with its shards loaded:
/// per-decision cost should not depend on N.
fn by_domain_count(c: &mut Criterion) {
    use authorizer::store::{self, KeyStore, Manifest, ShardRef};
    let root = KeyPair::new();
    // A 1 s Datalog time limit: this group compares domain counts, and on a loaded
    // machine the default 10 ms wall-clock limit can refuse a sample.
    let mut settings = Settings::default();
    settings.limits.max_time = std::time::Duration::from_secs(1);
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), settings);
    let event = http_event(&token::encode(&token_with_blocks(&root, 1)));
    let mut group = c.benchmark_group("decision_by_domain_count");
    for domains in [1usize, 100, 1_000, 10_000] {
        let mut key_sets = authorizer::keyset::KeySets::new();
        let bench_key = biscuit_auth::BiscuitWebKey {
            public_key: root.public(),
            key_id: 1,
            issuer: None,
            expires_at: None,
        };
        key_sets.insert(DOMAIN.to_owned(), vec![bench_key]);
        for n in 1..domains {
            let keys = (1..=2)
                .map(|key_id| biscuit_auth::BiscuitWebKey {
                    public_key: KeyPair::new().public(),
                    key_id,
                    issuer: None,
                    expires_at: None,
                })
                .collect();
            key_sets.insert(format!("tenant-{n}.generated.example"), keys);
        }
        let whole = KeyStore::Whole(KeyMap::from(&key_sets));
        let shard_count = domains.div_ceil(150).next_power_of_two();
        let contents = store::split(&key_sets, shard_count);
        let refs = (0..shard_count)
            .map(|n| ShardRef {
                id: format!("shard-{n}"),
                version: "v1".into(),
            })
            .collect();
        let sharded = KeyStore::sharded(Manifest::new(1, refs, &contents), None);
        for (n, document) in store::shard_documents(&contents).iter().enumerate() {
            sharded.install(n, KeyMap::load(document.as_bytes()).expect("shard"));
        }
        for (layout, keys) in [("whole", whole), ("sharded", sharded)] {
            let trust = Trust {
                keys,
                revoked: Default::default(),
            };
            group.bench_with_input(BenchmarkId::new(layout, domains), &event, |b, event| {
                b.iter(|| allowed(&engine, event, &trust))
            });
        }
    }
    group.finish();
}

/// Parsing a full revocation list (as many entries as fit in a secret) and
/// looking a token's blocks up in it.
fn revocation(c: &mut Criterion) {
    let mut document = RevocationDocument::default();
    for i in 0..2_183u32 {
        document.add(CompactId::of(&i.to_be_bytes()), Some(9_999_999_999));
    }
    let full = document.to_json();
    let list = RevocationList::parse(full.as_bytes()).expect("list");
    let ids: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 64]).collect();
    let mut group = c.benchmark_group("revocation");
    group.bench_function(
        format!("parse_{}_entries_{}_bytes", list.len(), full.len()),
        |b| b.iter(|| RevocationList::parse(full.as_bytes()).expect("list")),
    );
    group.bench_function("lookup_5_blocks", |b| b.iter(|| list.first_revoked(&ids)));
    group.finish();
}

criterion_group!(
    benches,
    decision,
    shapes,
    operator_facts,
    options,
    steps,
    key_map,
    revocation,
    by_domain_count
);
criterion_main!(benches);
