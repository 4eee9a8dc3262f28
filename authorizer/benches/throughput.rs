//! Throughput of one warm engine (the state one Lambda process keeps) under
//! concurrent invocations of the HTTP API demo event: decisions per second and
//! latency percentiles. `cargo bench -p authorizer --bench throughput`.
#![allow(missing_docs)] // a bench binary

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use authorizer::config;
use authorizer::engine::{Engine, Settings};

const DECISIONS_PER_WORKER: usize = 4000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let policy =
        config::load_policy(&root.join("events/demo/policy.datalog")).expect("demo policy");
    let trust = config::load_trust(
        &root.join("events/demo/keysets.json"),
        Some(&root.join("events/demo/revoked.json")),
    )
    .expect("demo key map");
    let event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("events/http-v2-allow.json")).expect("event"),
    )
    .expect("JSON");
    let engine = Engine::new(policy, Settings::default());
    assert!(engine
        .evaluate(event.clone(), Ok(&trust), SystemTime::now())
        .decision
        .verdict
        .is_ok());

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for workers in [1, cores, cores * 4] {
        let started = Instant::now();
        let results: Vec<(Duration, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        (0..DECISIONS_PER_WORKER)
                            .map(|_| {
                                let begun = Instant::now();
                                let evaluated =
                                    engine.evaluate(event.clone(), Ok(&trust), SystemTime::now());
                                (begun.elapsed(), evaluated.decision.verdict.is_ok())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("worker"))
                .collect()
        });
        let wall = started.elapsed();
        // Biscuit's Datalog time limit is wall-clock: a thread descheduled mid-evaluation
        // (more workers than cores) can pass it and be refused. Count those.
        let refused = results.iter().filter(|(_, allowed)| !allowed).count();
        let mut latencies: Vec<Duration> =
            results.into_iter().map(|(latency, _)| latency).collect();
        latencies.sort();
        let percentile =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "throughput/http_v2 workers={workers}: {:.0} decisions/s, p50 {:?}, p99 {:?} ({} decisions on {cores} cores, {refused} refused by the Datalog time limit)",
            latencies.len() as f64 / wall.as_secs_f64(),
            percentile(0.50),
            percentile(0.99),
            latencies.len()
        );
    }
}
