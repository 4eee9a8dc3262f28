#![allow(missing_docs)] // criterion_main! generates an undocumented main
//! Cost of the decision's EMF line (formatting the wide event with metrique)
//! against one decision of a 1-block token, in the same run.
//!
//! `cargo bench -p authorizer --bench metrics`; the ratio is
//! `metrics/emf_line` over `metrics/decision`.

use std::time::{Duration, SystemTime};

use authorizer::engine::{Engine, Settings, Trust};
use authorizer::keymap::KeyMap;
use authorizer::metrics::{DecisionEvent, Metrics, MetricsArgs, Observed, Shape};
use authorizer::policy::Policy;
use authorizer::{envelope, token};
use biscuit_auth::{Biscuit, KeyPair};
use criterion::{criterion_group, criterion_main, Criterion};
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

fn metrics(c: &mut Criterion) {
    let root = KeyPair::new();
    let keysets = json!({DOMAIN: [{"algorithm": "ed25519", "key_bytes": root.public().to_bytes_hex(), "key_id": 1}]});
    let (keys, _) = KeyMap::parse(keysets.to_string().as_bytes()).expect("key map");
    let trust = Trust {
        keys: authorizer::store::KeyStore::Whole(keys),
        revoked: Default::default(),
    };
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), Settings::default());
    let biscuit = Biscuit::builder()
        .code(r#"user("alice"); right("read");"#)
        .and_then(|b| b.root_key_id(1).build(&root))
        .expect("authority");
    let bytes =
        envelope::with_domain(&biscuit.to_vec().expect("serialize"), Some(DOMAIN)).expect("hint");
    let event = json!({
        "version": "2.0", "type": "REQUEST",
        "routeArn": format!("arn:aws:execute-api:eu-west-1:123456789012:api/$default/GET{PATH}"),
        "routeKey": "GET /tenants/{tenant}/{proxy+}", "rawPath": PATH,
        "headers": {"authorization": format!("Bearer {}", token::encode(&bytes))},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "stage": "$default",
                           "http": {"method": "GET", "path": PATH, "sourceIp": "198.51.100.23"}},
    });
    let evaluated = engine.evaluate(event.clone(), Ok(&trust), SystemTime::now());
    assert_eq!(evaluated.decision.reason_kind(), "allowed");
    let args = MetricsArgs {
        metrics_namespace: Some("Bench".into()),
        metrics_per_domain: true,
    };
    let mut emf = Metrics::new(&args).expect("metrics on");
    let observed = Observed {
        trust_age: Some(Duration::from_secs(42)),
    };
    let mut line = Vec::with_capacity(1024);

    let mut group = c.benchmark_group("metrics");
    group.bench_function("decision", |b| {
        b.iter(|| engine.evaluate(event.clone(), Ok(&trust), SystemTime::now()))
    });
    group.bench_function("emf_line", |b| {
        b.iter(|| {
            line.clear();
            emf.write(
                Shape::Decision,
                &DecisionEvent::new(&evaluated, observed),
                &mut line,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
