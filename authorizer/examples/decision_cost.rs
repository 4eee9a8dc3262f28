//! N allowed decisions of one kind, for counting instructions per decision
//! with callgrind (`BENCHMARKS.md`, "Instructions per decision"):
//!
//! ```sh
//! decision_cost library|library-cached|bare|bare-all-facts BLOCKS N [SHAPE [POLICY [FACTS]]]
//! ```
//!
//! SHAPE is the event (`http-minimal`, the default, `http-browser`,
//! `rest-request`, `rest-token`: `fixture::Shape`), POLICY the policy
//! (`fixture`, the default, or `demo`), FACTS a number of operator facts
//! added to the policy (`revoked_grant("g-N")`, 0 by default). The bare side
//! reads no event, so only POLICY and FACTS change it.
//!
//! `library` runs the authorizer's whole decision (JSON event in, answer
//! out); `library-cached` the same with API Gateway's result cache on (TTL
//! 300 s, the template's identity sources), so with the cache-safety checks; `bare` runs bare biscuit-auth verify + authorize with only the
//! request facts the policy and the token read; `bare-all-facts` the same
//! with every fact the event gives (what the library added before). Only `run_library` and
//! `run_bare` are meant to be counted (`--toggle-collect`); counting two
//! values of N and dividing the difference by the difference of N leaves
//! out the first decision's one-time work.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use authorizer::engine::{Engine, Settings, Trust};
use authorizer::policy::{self, Policy};
use authorizer::result_cache::key::{CacheKey, IdentitySource};
use authorizer::result_cache::ResultCache;
use authorizer::token;
use biscuit_auth::builder::Fact;
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, PublicKey};
use serde_json::Value;

#[inline(never)]
fn run_library(engine: &Engine, trust: &Trust, events: Vec<Value>) -> usize {
    let mut allowed = 0;
    for event in events {
        let evaluated = engine.evaluate(event, Ok(trust), SystemTime::now());
        allowed += usize::from(evaluated.decision.verdict.is_ok());
        black_box(evaluated);
    }
    allowed
}

#[inline(never)]
fn run_bare<F: IntoIterator<Item = Fact>>(
    policy: &AuthorizerBuilder,
    bytes: &[u8],
    root: PublicKey,
    n: usize,
    facts: impl Fn() -> F,
) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        // `bare_decision` panics unless an allow policy matched.
        black_box(fixture::bare_decision(policy, bytes, root, facts()));
        allowed += 1;
    }
    allowed
}

/// The one of `all` whose `name` is `arg` (or `default` without one).
fn named<T: Copy>(
    all: impl IntoIterator<Item = T>,
    name: fn(T) -> &'static str,
    arg: Option<&String>,
    default: &str,
) -> Option<T> {
    let wanted = arg.map_or(default, String::as_str);
    all.into_iter().find(|item| name(*item) == wanted)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(blocks), Some(n), Some(shape), Some(policy_shape), Some(facts)) = (
        args.get(1),
        args.get(2).and_then(|b| b.parse().ok()),
        args.get(3).and_then(|n| n.parse().ok()),
        named(
            fixture::Shape::ALL,
            fixture::Shape::name,
            args.get(4),
            "http-minimal",
        ),
        named(
            fixture::PolicyShape::ALL,
            fixture::PolicyShape::name,
            args.get(5),
            "fixture",
        ),
        args.get(6).map_or(Some(0), |facts| facts.parse().ok()),
    ) else {
        eprintln!("usage: decision_cost library|library-cached|bare|bare-all-facts BLOCKS N [http-minimal|http-browser|rest-request|rest-token [fixture|demo [FACTS]]]");
        std::process::exit(2);
    };
    // Fixed keys: the same token, so the same work, in every run.
    let root = fixture::fixed_key_pair(7);
    let bytes = fixture::token_with_blocks(&root, blocks);
    // The library's Datalog limits, but time enough to finish under
    // callgrind (about 50 times slower than native), for both sides.
    let limits = AuthorizerLimits {
        max_time: Duration::from_secs(10),
        ..policy::default_limits()
    };
    let settings = Settings {
        limits: limits.clone(),
        ..Settings::default()
    };
    let cached = kind == "library-cached";
    let settings = if cached {
        let key = [
            "$request.header.Authorization",
            "$context.http.method",
            "$context.http.path",
        ];
        Settings {
            result_cache: ResultCache {
                ttl: Duration::from_secs(300),
                key: CacheKey::new(key.map(|s| s.parse::<IdentitySource>().expect("source"))),
                ..ResultCache::default()
            },
            ..settings
        }
    } else {
        settings
    };
    let source = fixture::with_operator_facts(policy_shape.source(), facts);
    let allowed = match kind.as_str() {
        "library" | "library-cached" => {
            let policy = Policy::parse_within(&source, &limits).expect("policy");
            let engine = Engine::new(policy, settings);
            let trust = fixture::trust_in(&root);
            let event = shape.event(&token::encode(&bytes));
            let events = vec![event; n];
            run_library(&engine, &trust, events)
        }
        "bare" => run_bare(
            &fixture::bare_policy_of(
                &source,
                fixture::limits_with_policy_facts(limits.clone(), facts),
            ),
            &bytes,
            root.public(),
            n,
            || policy_shape.used_facts(),
        ),
        "bare-all-facts" => run_bare(
            &fixture::bare_policy(limits.clone()),
            &bytes,
            root.public(),
            n,
            fixture::all_facts,
        ),
        other => {
            eprintln!("unknown kind {other:?}: library, library-cached, bare or bare-all-facts");
            std::process::exit(2);
        }
    };
    assert_eq!(allowed, n, "every decision must allow");
}
