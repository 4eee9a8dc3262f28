#![allow(missing_docs)] // criterion_main! generates an undocumented main
//! Per-decision cost of the authorizer (JSON event in, answer out) against
//! bare biscuit-auth verify + authorize of the same token, policy and request
//! facts, in the same run.
//!
//! `cargo bench -p authorizer --bench decision`; the ratio is
//! `library/N` over `bare_biscuit/N` for tokens of N blocks.

use std::time::SystemTime;

use authorizer::engine::{Engine, Settings, Trust};
use authorizer::keymap::KeyMap;
use authorizer::policy::{self, Policy};
use authorizer::{envelope, token};
use biscuit_auth::builder::{date, fact, int, string};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit, BlockBuilder, KeyPair};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;

const POLICY: &str = r#"
    action("read") <- method($m), ["GET", "HEAD"].contains($m);
    principal($u) <- user($u);
    context("user", $u) <- user($u);
    allow if domain($d), path($p), $p.starts_with("/tenants/" + $d + "/"), action($a), right($a);
    deny if true;
"#;
const DOMAIN: &str = "tenant-a.example";
const PATH: &str = "/tenants/tenant-a.example/pets";

fn token_with_blocks(root: &KeyPair, blocks: usize) -> Vec<u8> {
    let mut biscuit = Biscuit::builder()
        .code(r#"user("alice"); right("read");"#)
        .and_then(|b| b.root_key_id(1).build(root))
        .expect("authority");
    for i in 1..blocks {
        let check =
            format!(r#"check if method("GET"), path($p), $p.starts_with("/tenants/"), {i} > 0;"#);
        biscuit = biscuit
            .append(BlockBuilder::new().code(&check).expect("block"))
            .expect("append");
    }
    envelope::with_domain(&biscuit.to_vec().expect("serialize"), Some(DOMAIN)).expect("field 5")
}

fn http_event(token: &str) -> serde_json::Value {
    json!({
        "version": "2.0", "type": "REQUEST",
        "routeArn": format!("arn:aws:execute-api:eu-west-1:123456789012:api/$default/GET{PATH}"),
        "routeKey": "GET /tenants/{tenant}/{proxy+}", "rawPath": PATH,
        "headers": {"authorization": format!("Bearer {token}"), "host": "api.example.com", "user-agent": "bench"},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "stage": "$default",
                           "http": {"method": "GET", "path": PATH, "sourceIp": "198.51.100.23"}},
        "pathParameters": {"tenant": DOMAIN, "proxy": "pets"},
    })
}

/// A key map trusting `root` as key 1 of the bench domain.
fn trust_in(root: &KeyPair) -> Trust {
    let keysets = json!({DOMAIN: [{"algorithm": "ed25519", "key_bytes": root.public().to_bytes_hex(), "key_id": 1}]});
    let (keys, _) = KeyMap::parse(keysets.to_string().as_bytes()).expect("key map");
    Trust {
        keys: authorizer::store::KeyStore::Whole(keys),
        revoked: Default::default(),
    }
}

fn decision(c: &mut Criterion) {
    let root = KeyPair::new();
    let trust = trust_in(&root);
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), Settings::default());
    // The same limits as the library (biscuit-auth's 1 ms default times out under load).
    let bare_policy = AuthorizerBuilder::new()
        .code(POLICY)
        .expect("policy")
        .set_limits(policy::default_limits());
    let public_key = root.public();

    let mut group = c.benchmark_group("decision");
    for blocks in [1, 2, 5] {
        let bytes = token_with_blocks(&root, blocks);
        let event = http_event(&token::encode(&bytes));
        group.bench_with_input(BenchmarkId::new("library", blocks), &event, |b, event| {
            b.iter(|| {
                let evaluated = engine.evaluate(event.clone(), Ok(&trust), SystemTime::now());
                assert!(
                    evaluated.decision.verdict.is_ok(),
                    "{}",
                    evaluated.decision.reason()
                );
                evaluated
            })
        });
        group.bench_with_input(
            BenchmarkId::new("bare_biscuit", blocks),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let biscuit = Biscuit::from(bytes, public_key).expect("verify");
                    // The facts the library adds for this event (the fact contract).
                    let facts = [
                        fact("domain", &[string(DOMAIN)]),
                        fact("root_key_id", &[int(1)]),
                        fact("time", &[date(&SystemTime::now())]),
                        fact("method", &[string("GET")]),
                        fact("path", &[string(PATH)]),
                        fact("route", &[string("GET /tenants/{tenant}/{proxy+}")]),
                        fact("source_ip", &[string("198.51.100.23")]),
                        fact("stage", &[string("$default")]),
                        fact("api_id", &[string("api")]),
                        fact("account_id", &[string("123456789012")]),
                        fact("region", &[string("eu-west-1")]),
                        fact("path_param", &[string("proxy"), string("pets")]),
                        fact("path_param", &[string("tenant"), string(DOMAIN)]),
                    ];
                    let mut builder = bare_policy.clone();
                    for f in facts {
                        builder = builder.fact(f).expect("fact");
                    }
                    let mut authorizer = builder.build(&biscuit).expect("build");
                    authorizer.authorize().expect("allowed")
                })
            },
        );
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
        group.bench_function(name, |b| {
            b.iter(|| {
                let evaluated = engine.evaluate(event.clone(), Ok(&trust), SystemTime::now());
                assert!(
                    evaluated.decision.verdict.is_ok(),
                    "{}",
                    evaluated.decision.reason()
                );
                evaluated
            })
        });
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
            authorizer::admission::admit(
                &blocks,
                policy.program(),
                &request,
                &limits,
                &caps,
                Default::default(),
            )
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
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), Settings::default());
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
                b.iter(|| {
                    let evaluated = engine.evaluate(event.clone(), Ok(&trust), SystemTime::now());
                    assert!(evaluated.decision.verdict.is_ok());
                    evaluated
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decision, options, steps, key_map, by_domain_count);
criterion_main!(benches);
