//! Hostile tokens are refused cheaply, and the worst tokens admission lets
//! through are decided within bounds.
//!
//! Each class is decided in a child process (this test binary, run again with
//! `HOSTILE_CLASS` set), which reports the decision, its Datalog time, its
//! total time and the peak memory it added. Bounds here are 20 times the
//! targets (10 ms of Datalog, 16 MB of memory), so a busy machine does not
//! make them flake; the figures themselves, from a release build, are in
//! BENCHMARKS.md (`cargo test --release -p authorizer --test hostile -- --nocapture`).

mod common;

use std::process::Command;
use std::time::Instant;

use authorizer::admission::{self, Caps};
use authorizer::blocks::TokenBlocks;
use authorizer::engine::{Engine, Settings, Trust};
use authorizer::policy::Policy;
use biscuit_auth::format::schema;
use biscuit_auth::{Algorithm, Biscuit, KeyPair};
use common::*;
use prost::Message;
use serde_json::{json, Value};

/// Datalog time target per decision, in milliseconds.
const DATALOG_MS: f64 = 10.0;
/// Extra peak memory target per decision, in MiB.
const EXTRA_MIB: f64 = 16.0;
/// Test bounds are this many times the targets.
const SLACK: f64 = 20.0;

/// What a child reports.
#[derive(Debug)]
struct Measured {
    outcome: String,
    kind: String,
    total_ms: f64,
    datalog_ms: f64,
    extra_mib: f64,
}

/// One case: the engine, its trust material and the event.
struct Case {
    engine: Engine,
    trust: Trust,
    event: Value,
}

/// The policy of these cases: the test policy plus a rule and a check that
/// join on the request, so the policy's own work counts in every bound.
const HOSTILE_POLICY: &str = r#"
    principal($u) <- user($u);
    allowed($m) <- method($m), right($m);
    check if time($t), $t > 2020-01-01T00:00:00Z;
    allow if allowed($m);
    deny if true;
"#;

fn hostile_engine(settings: Settings) -> Engine {
    Engine::new(Policy::parse(HOSTILE_POLICY).expect("policy"), settings)
}

/// Settings whose library time limit does not cut the measurement short:
/// what is measured is the Datalog time admission lets through.
fn measuring() -> Settings {
    let mut settings = Settings::default();
    settings.limits.max_time = std::time::Duration::from_secs_f64(DATALOG_MS * SLACK / 1e3);
    settings
}

fn ed25519_case(authority: &str, blocks: &[String]) -> Case {
    let issuer = Issuer::new("a.example", 1);
    let mut token = issuer.mint(authority);
    for block in blocks {
        token = attenuate(&token, block);
    }
    Case {
        engine: hostile_engine(measuring()),
        trust: trust(json!({"a.example": [issuer.bwks(None)]}), &[]),
        event: token_event(
            &format!("Bearer {}", encode(&token, Some("a.example"))),
            "GET",
            "/x",
        ),
    }
}

fn facts(name: &str, count: usize) -> String {
    (0..count).map(|i| format!("{name}({i}); ")).collect()
}

/// A list literal of `count` integers.
fn array(count: usize) -> String {
    let items: Vec<String> = (0..count).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// The largest `n` for which `build(n)` is admitted under the default caps
/// (`None` if even `from` is refused); `build` gives the authority and blocks.
fn largest_admitted(from: usize, build: impl Fn(usize) -> (String, Vec<String>)) -> Option<usize> {
    let issuer = Issuer::new("a.example", 1);
    let admitted = |n: usize| {
        let (authority, blocks) = build(n);
        let mut token = issuer.mint(&authority);
        for block in &blocks {
            token = attenuate(&token, block);
        }
        admission_bound(&token.to_vec().expect("serialize")).is_ok()
    };
    let mut best = None;
    let mut n = from;
    while admitted(n) {
        best = Some(n);
        n += 1;
        if n > 4096 {
            break;
        }
    }
    best
}

fn join_of(predicates: usize, n: usize) -> (String, Vec<String>) {
    let vars: Vec<String> = (0..predicates).map(|i| format!("a($v{i})")).collect();
    (
        format!(
            r#"right("GET"); {} h(1) <- {};"#,
            facts("a", n),
            vars.join(", ")
        ),
        vec![],
    )
}

fn closure_of(n: usize) -> (String, Vec<String>) {
    (
        format!(r#"right("GET"); arr({});"#, array(n)),
        vec!["check if arr($a), $a.all($x -> $a.all($y -> $x + $y >= 0));".into()],
    )
}

fn concat_of(n: usize) -> (String, Vec<String>) {
    let long = "x".repeat(1000);
    (
        format!(r#"right("GET"); s("{long}"); arr({});"#, array(n)),
        vec![r#"check if s($s), arr($a), $a.all($x -> $a.all($y -> ($s + $s + $s + $s).length() > $x + $y));"#.into()],
    )
}

/// A pattern whose DFA has thousands of states (the 12th byte from the end
/// must be an `a`) on an 800-byte haystack, once per fact.
fn regex_of(n: usize) -> (String, Vec<String>) {
    (
        format!(
            r#"right("GET"); {} s("{}");"#,
            facts("a", n),
            "ab".repeat(400)
        ),
        vec![r#"check if a($x), s($s), !$s.matches("(a|b)*a(a|b){11}x");"#.into()],
    )
}

/// The cases, by name.
fn case(name: &str) -> Case {
    match name {
        // Datalog bombs: each is refused before any Datalog runs.
        "join_5way_20_facts" => {
            let (authority, blocks) = join_of(5, 20);
            ed25519_case(&authority, &blocks)
        }
        "join_3way_300_facts" => ed25519_case(
            r#"right("GET");"#,
            &[
                facts("a", 100),
                facts("a", 100),
                facts("a", 100) + "h($x, $y, $z) <- a($x), a($y), a($z);",
            ],
        ),
        "nested_closures_60" => ed25519_case(
            &format!(r#"right("GET"); arr({});"#, array(60)),
            &[
                "check if arr($a), $a.all($x -> $a.all($y -> $a.all($z -> $x + $y + $z >= 0)));"
                    .into(),
            ],
        ),
        "expired_ttl_with_join" => {
            let (authority, _) = join_of(5, 20);
            ed25519_case(
                &authority,
                &["check if time($t), $t < 2020-01-01T00:00:00Z;".into()],
            )
        }
        // One fact derived once per origin set: a rule trusting previous
        // blocks gives p(1) a copy per pair of blocks holding q(1).
        "origin_copies" => {
            let mut blocks: Vec<String> = (0..13).map(|_| "q(1);".to_owned()).collect();
            blocks.push(
                "p(1) <- q($x), q($y) trusting previous; \
                 check if p(1), p(1), p(1), p(1), p(1), 1 == 2 trusting previous;"
                    .into(),
            );
            ed25519_case(r#"right("GET");"#, &blocks)
        }
        // Wide rule heads: every derived fact clones every term.
        "wide_heads" => {
            let terms = vec!["$s"; 2000].join(", ");
            ed25519_case(
                &format!(r#"right("GET"); {} big({});"#, facts("n", 64), array(64)),
                &[format!("h($x, {terms}) <- n($x), big($s);")],
            )
        }
        // Unauthenticated key search: 400 P-256 keys under one domain; a
        // forged token names the domain and no key id.
        "key_search_400_p256" => {
            let keys: Vec<Value> = (0..400)
                .map(|id| {
                    json!({"algorithm": "secp256r1", "key_id": id,
                           "key_bytes": KeyPair::new_with_algorithm(Algorithm::Secp256r1).public().to_bytes_hex()})
                })
                .collect();
            let forged = Biscuit::builder()
                .code(r#"right("GET");"#)
                .expect("code")
                .build(&KeyPair::new_with_algorithm(Algorithm::Secp256r1))
                .expect("build");
            Case {
                engine: hostile_engine(Settings::default()),
                trust: trust(json!({"big.example": keys}), &[]),
                event: token_event(
                    &format!("Bearer {}", encode(&forged, Some("big.example"))),
                    "GET",
                    "/x",
                ),
            }
        }
        // Pre-auth parsing: a forged token packing P-256 public keys into its block.
        "forged_public_keys_250" => {
            let issuer = Issuer::new("a.example", 1);
            let token = issuer.mint(r#"right("GET");"#);
            let mut proto =
                schema::Biscuit::decode(&token.to_vec().expect("serialize")[..]).expect("decode");
            let mut block = schema::Block::decode(&proto.authority.block[..]).expect("block");
            for _ in 0..250 {
                let key = KeyPair::new_with_algorithm(Algorithm::Secp256r1).public();
                block.public_keys.push(schema::PublicKey {
                    algorithm: 1,
                    key: key.to_bytes(),
                });
            }
            proto.authority.block = block.encode_to_vec();
            let bytes =
                authorizer::envelope::with_domain(&proto.encode_to_vec(), Some("a.example"))
                    .expect("field 5");
            Case {
                engine: hostile_engine(Settings::default()),
                trust: trust(json!({"a.example": [issuer.bwks(None)]}), &[]),
                event: token_event(
                    &format!("Bearer {}", authorizer::token::encode(&bytes)),
                    "GET",
                    "/x",
                ),
            }
        }
        // The costliest forged token within the shape caps: every block with a
        // P-256 next key, the authority listing MAX_PUBLIC_KEYS P-256 keys,
        // signed by a root key the map does not hold.
        "forged_within_caps" => {
            let caps = Caps::default();
            let p256 = || KeyPair::new_with_algorithm(Algorithm::Secp256r1);
            let listed: Vec<String> = (0..caps.max_public_keys)
                .map(|_| format!("secp256r1/{}", p256().public().to_bytes_hex()))
                .collect();
            let authority = format!(
                r#"right("GET"); check if right("GET") trusting {};"#,
                listed.join(", ")
            );
            let issuer = Issuer::new("a.example", 1);
            let mut forged = Biscuit::builder()
                .code(&authority)
                .expect("code")
                .root_key_id(1)
                .build_with_key_pair(&p256(), biscuit_auth::datalog::SymbolTable::new(), &p256())
                .expect("build");
            for _ in 1..caps.max_blocks {
                forged = forged
                    .append_with_keypair(&p256(), biscuit_auth::BlockBuilder::new())
                    .expect("append");
            }
            Case {
                engine: hostile_engine(Settings::default()),
                trust: trust(json!({"a.example": [issuer.bwks(None)]}), &[]),
                event: token_event(
                    &format!("Bearer {}", encode(&forged, Some("a.example"))),
                    "GET",
                    "/x",
                ),
            }
        }
        // The worst tokens admission lets through.
        "worst_admitted_join" => {
            let n = largest_admitted(2, |n| join_of(3, n)).expect("some join admitted");
            let (authority, blocks) = join_of(3, n);
            ed25519_case(&authority, &blocks)
        }
        "worst_admitted_closure" => {
            let n = largest_admitted(1, closure_of).expect("some closure admitted");
            let (authority, blocks) = closure_of(n);
            ed25519_case(&authority, &blocks)
        }
        "worst_admitted_concat" => {
            let n = largest_admitted(1, concat_of).expect("some concatenation admitted");
            let (authority, blocks) = concat_of(n);
            ed25519_case(&authority, &blocks)
        }
        "worst_admitted_regex" => {
            let n = largest_admitted(1, regex_of).expect("some regex admitted");
            let (authority, blocks) = regex_of(n);
            ed25519_case(&authority, &blocks)
        }
        // A normal allowed decision, the baseline.
        "normal_allow" => ed25519_case(
            r#"right("GET"); user("alice");"#,
            &[r#"check if method("GET");"#.into()],
        ),
        other => panic!("unknown class {other}"),
    }
}

/// Resident and peak memory of this process, in KiB (Linux).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child: decides its class once and prints what it measured.
#[test]
fn child() {
    let Ok(name) = std::env::var("HOSTILE_CLASS") else {
        return;
    };
    let case = case(&name);
    let (rss_before, _) = memory_kib();
    let started = Instant::now();
    let report = if std::env::var_os("HOSTILE_BARE").is_some() {
        bare(&case)
    } else {
        let evaluated = case
            .engine
            .evaluate(case.event.clone(), Ok(&case.trust), now());
        json!({
            "outcome": evaluated.decision.outcome(),
            "kind": evaluated.decision.reason_kind(),
            "datalog_ms": evaluated.decision.evaluation_time.map_or(0.0, |t| t.as_secs_f64() * 1e3),
        })
    };
    let total = started.elapsed();
    let (_, peak) = memory_kib();
    let mut report = report;
    report["work_bound"] = json!(work_bound(&case));
    report["total_ms"] = json!(total.as_secs_f64() * 1e3);
    report["extra_mib"] = json!(peak.saturating_sub(rss_before) as f64 / 1024.0);
    println!("HOSTILE {report}");
}

/// Admission's work bound for the case's token, for calibration (0 if refused).
fn work_bound(case: &Case) -> u64 {
    let credential = case.event["authorizationToken"]
        .as_str()
        .unwrap_or_default();
    authorizer::token::decode(credential.trim_start_matches("Bearer "), usize::MAX)
        .ok()
        .and_then(|bytes| admission_bound(&bytes).ok())
        .map_or(0, |bound| bound.work)
}

/// Admission of a token's bytes with the hostile policy, default caps and a GET request.
fn admission_bound(bytes: &[u8]) -> Result<admission::WorkBound, admission::TooComplex> {
    let policy = Policy::parse(HOSTILE_POLICY).expect("policy");
    let settings = Settings::default();
    let request_facts = [biscuit_auth::builder::fact(
        "method",
        &[biscuit_auth::builder::string("GET")],
    )];
    let blocks = TokenBlocks::decode(bytes).map_err(|e| admission::TooComplex::Unreadable {
        block: 0,
        reason: e.to_string(),
    })?;
    admission::admit(
        &blocks,
        policy.program(),
        &request_facts,
        &settings.limits,
        &settings.caps,
        Default::default(),
    )
}

/// The Datalog step as it was before admission: bare biscuit-auth with the
/// same policy and limits (for BENCHMARKS.md's "before" column; run by hand
/// with `HOSTILE_BARE=1`, since some classes take minutes).
fn bare(case: &Case) -> Value {
    let credential = case.event["authorizationToken"]
        .as_str()
        .unwrap_or_default();
    let bytes = authorizer::token::decode(credential.trim_start_matches("Bearer "), usize::MAX)
        .expect("base64");
    let keys: Vec<_> = case
        .trust
        .keys
        .domain("a.example")
        .ok()
        .flatten()
        .map(|d| d.all().to_vec())
        .unwrap_or_default();
    let Some(key) = keys.first() else {
        return json!({"outcome": "unauthorized", "kind": "no_key"});
    };
    let Ok(token) = Biscuit::from(&bytes, key.public_key) else {
        return json!({"outcome": "unauthorized", "kind": "bad_signature"});
    };
    let started = Instant::now();
    let result = biscuit_auth::AuthorizerBuilder::new()
        .code(HOSTILE_POLICY)
        .and_then(|b| {
            b.fact(biscuit_auth::builder::fact(
                "method",
                &[biscuit_auth::builder::string("GET")],
            ))
        })
        .and_then(|b| {
            b.time()
                .set_limits(authorizer::policy::default_limits())
                .build(&token)
        })
        .and_then(|mut authorizer| authorizer.authorize());
    json!({
        "outcome": if result.is_ok() { "allow" } else { "deny" },
        "kind": result.err().map(|e| e.to_string()).unwrap_or_default(),
        "datalog_ms": started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Runs `class` in a child process and returns what it measured.
fn measure(class: &str) -> Measured {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["child", "--exact", "--nocapture", "--test-threads", "1"])
        .env("HOSTILE_CLASS", class)
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.split_once("HOSTILE ").map(|(_, report)| report))
        .unwrap_or_else(|| {
            panic!(
                "{class}: no report; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let report: Value = serde_json::from_str(line).expect("report");
    let text = |key: &str| report[key].as_str().unwrap_or_default().to_owned();
    let number = |key: &str| report[key].as_f64().unwrap_or(f64::NAN);
    let measured = Measured {
        outcome: text("outcome"),
        kind: text("kind"),
        total_ms: number("total_ms"),
        datalog_ms: number("datalog_ms"),
        extra_mib: number("extra_mib"),
    };
    println!(
        "| {class} | {} / {} | {:.3} ms | {:.3} ms | {:.1} MiB | {} |",
        measured.outcome,
        measured.kind,
        measured.total_ms,
        measured.datalog_ms,
        measured.extra_mib,
        report["work_bound"]
    );
    measured
}

fn assert_bounded(class: &str, measured: &Measured) {
    assert!(
        measured.datalog_ms <= DATALOG_MS * SLACK,
        "{class}: {:.1} ms of Datalog",
        measured.datalog_ms
    );
    assert!(
        measured.extra_mib <= EXTRA_MIB * SLACK,
        "{class}: {:.1} MiB of extra peak memory",
        measured.extra_mib
    );
}

#[test]
fn datalog_bombs_are_refused_before_evaluation() {
    for class in [
        "join_5way_20_facts",
        "join_3way_300_facts",
        "nested_closures_60",
        "expired_ttl_with_join",
        "origin_copies",
        "wide_heads",
    ] {
        let measured = measure(class);
        assert_eq!(
            (measured.outcome.as_str(), measured.kind.as_str()),
            ("deny", "token_too_complex"),
            "{class}"
        );
        // Refused by admission before any Datalog ran: its time is admission's alone.
        assert!(
            measured.datalog_ms < 2.0,
            "{class}: {:.3} ms",
            measured.datalog_ms
        );
        assert_bounded(class, &measured);
    }
}

#[test]
fn forged_tokens_cost_a_bounded_refusal() {
    let normal = measure("normal_allow");
    assert_eq!(normal.outcome, "allow");
    for (class, kind) in [
        ("key_search_400_p256", "key_id_required"),
        ("forged_public_keys_250", "token_too_complex"),
        ("forged_within_caps", "bad_signature"),
    ] {
        let measured = measure(class);
        assert_eq!(
            (measured.outcome.as_str(), measured.kind.as_str()),
            ("unauthorized", kind),
            "{class}"
        );
        // Target: 10 times a normal decision; the test allows twice that for noise.
        assert!(
            measured.total_ms <= 20.0 * normal.total_ms.max(1.0),
            "{class}: {:.2} ms against {:.2} ms for a normal decision",
            measured.total_ms,
            normal.total_ms
        );
    }
}

#[test]
fn worst_admitted_tokens_are_decided_within_bounds() {
    for class in [
        "worst_admitted_join",
        "worst_admitted_closure",
        "worst_admitted_concat",
        "worst_admitted_regex",
    ] {
        let measured = measure(class);
        assert_ne!(
            measured.kind, "token_too_complex",
            "{class} was meant to be admitted"
        );
        assert_ne!(
            measured.kind, "limits_reached",
            "{class} hit a library limit"
        );
        assert_bounded(class, &measured);
    }
}

#[test]
fn caps_are_settings() {
    // A cap lowered by the operator refuses what the default admits.
    let tight = Settings {
        caps: Caps {
            max_blocks: 1,
            ..Caps::default()
        },
        ..Settings::default()
    };
    let issuer = Issuer::new("a.example", 1);
    let token = attenuate(&issuer.mint(r#"right("GET");"#), "check if true;");
    let trust = trust(json!({"a.example": [issuer.bwks(None)]}), &[]);
    let event = token_event(
        &format!("Bearer {}", encode(&token, Some("a.example"))),
        "GET",
        "/x",
    );
    let (outcome, kind, _) = decide(&hostile_engine(tight), &trust, event.clone());
    assert_eq!(
        (outcome.as_str(), kind),
        ("unauthorized", "token_too_complex")
    );
    let (outcome, kind, _) = decide(&hostile_engine(Settings::default()), &trust, event);
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));
}
