#![allow(missing_docs)] // criterion_main! generates an undocumented main
//! Cost of the decision's EMF line (formatting the wide event with metrique)
//! against one decision of a 1-block token, in the same run.
//!
//! `cargo bench -p authorizer --bench metrics`; the ratio is
//! `metrics/emf_line` over `metrics/decision`.

// The decision bench's fixture; this bench uses only part of it.
#[allow(dead_code)]
mod fixture;

use std::time::{Duration, SystemTime};

use authorizer::engine::{Engine, Settings};
use authorizer::metrics::{DecisionEvent, Metrics, MetricsArgs, Observed, Shape};
use authorizer::policy::Policy;
use authorizer::token;
use biscuit_auth::KeyPair;
use criterion::{criterion_group, criterion_main, Criterion};
use fixture::{http_event, token_with_blocks, trust_in, POLICY};

fn metrics(c: &mut Criterion) {
    let root = KeyPair::new();
    let trust = trust_in(&root);
    let engine = Engine::new(Policy::parse(POLICY).expect("policy"), Settings::default());
    let event = http_event(&token::encode(&token_with_blocks(&root, 1)));
    let evaluated = engine.evaluate(event.clone(), Ok(&trust), SystemTime::now());
    assert_eq!(evaluated.decision.reason_kind(), "allowed");
    let args = MetricsArgs {
        metrics_namespace: Some("Bench".into()),
        metrics_per_domain: true,
        lambda_log_level: Default::default(),
    };
    let mut emf = Metrics::new(&args).expect("metrics on");
    let observed = Observed {
        trust_age: Some(Duration::from_secs(42)),
        ..Observed::default()
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
                &DecisionEvent::new(&evaluated, observed.clone()),
                &mut line,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
