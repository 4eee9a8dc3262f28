//! Structure-aware: Datalog blocks built from the fuzzer's input (joins,
//! self-dependent rules, closures, concatenations, regular expressions with
//! Unicode classes, collections), up to 16 blocks, signed with a fixed key and
//! decided in full under the default settings. Slowness and memory are the
//! findings: `tests/fuzz` runs it with libFuzzer's `-timeout` and
//! `-rss_limit_mb`, and a decision whose Datalog runs past its time limit
//! plus `SLACK` fails here (the engine stops within the limit plus about a
//! millisecond; the slack covers the fuzzer's instrumentation and a busy machine).
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use authorizer::engine::{Engine, Settings, Trust};
use authorizer::keymap::KeyMap;
use authorizer::policy::Policy;
use biscuit_auth::{Algorithm, Biscuit, BlockBuilder, KeyPair, PrivateKey};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

struct Fixture {
    engine: Engine,
    trust: Trust,
    key: KeyPair,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = KeyPair::from(&PrivateKey::from_bytes(&[7; 32], Algorithm::Ed25519).expect("key"));
    let map = json!({"a.example": [{"algorithm": "ed25519", "key_bytes": key.public().to_bytes_hex(), "key_id": 1}]});
    let (keys, _) = KeyMap::parse(map.to_string().as_bytes()).expect("map");
    let policy = Policy::parse(
        "allowed($m) <- method($m), right($m); allow if allowed($m); allow if p0($x), p1($x); deny if true;",
    )
    .expect("policy");
    Fixture {
        engine: Engine::new(policy, Settings::default()),
        trust: Trust { keys: authorizer::store::KeyStore::Whole(keys), revoked: Default::default() },
        key,
    }
});

/// Predicates p0..p3, plus the request's `method` and the policy's `right`.
#[derive(Arbitrary, Debug)]
enum Name {
    P(u8),
    Method,
    Right,
}

#[derive(Arbitrary, Debug)]
enum Value {
    Int(i8),
    Str(u8),
    Long(u16),
    Array(Vec<i8>),
    Set(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Expr {
    Var(u8),
    Lit(Value),
    Compare(Box<Expr>, Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Union(Box<Expr>, Box<Expr>),
    Contains(Box<Expr>, Box<Expr>),
    Length(Box<Expr>),
    Matches(Box<Expr>, u8),
    All(Box<Expr>, u8, Box<Expr>),
    Any(Box<Expr>, u8, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Arbitrary, Debug)]
struct Body {
    predicates: Vec<(Name, Vec<u8>)>,
    expressions: Vec<Expr>,
}

#[derive(Arbitrary, Debug)]
enum Statement {
    Fact(Name, Vec<Value>),
    Rule(Name, Vec<u8>, Body),
    Check(Body),
}

#[derive(Arbitrary, Debug)]
struct Input {
    blocks: Vec<Vec<Statement>>,
}

const PATTERNS: [&str; 8] = [
    "^a+$",
    "(a|b)*c",
    "[0-9]{1,8}",
    "x.*y.*z",
    "^\\\\w+$",
    "^\\\\d{4}-\\\\d{2}-\\\\d{2}$",
    "(a|b)*a(a|b){11}x",
    "\\\\w{1,20}[^\\\\w]\\\\w{1,20}",
];

/// Datalog time allowed past the limit before the decision counts as slow.
const SLACK: Duration = Duration::from_millis(5);

fn name(name: &Name) -> String {
    match name {
        Name::P(i) => format!("p{}", i % 4),
        Name::Method => "method".into(),
        Name::Right => "right".into(),
    }
}

fn var(i: u8) -> String {
    format!("$v{}", i % 6)
}

fn value(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Str(i) => format!("\"s{i}\""),
        Value::Long(n) => format!("\"{}\"", "x".repeat(usize::from(*n % 2048))),
        Value::Array(items) => format!("[{}]", items.iter().map(i8::to_string).collect::<Vec<_>>().join(", ")),
        Value::Set(items) => format!("{{{}}}", items.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")),
    }
}

fn expr(e: &Expr, depth: usize) -> String {
    if depth > 6 {
        return "true".into();
    }
    let sub = |e: &Expr| expr(e, depth + 1);
    match e {
        Expr::Var(i) => var(*i),
        Expr::Lit(v) => value(v),
        Expr::Compare(a, b) => format!("({} == {})", sub(a), sub(b)),
        Expr::Add(a, b) => format!("({} + {})", sub(a), sub(b)),
        Expr::Union(a, b) => format!("{}.union({})", sub(a), sub(b)),
        Expr::Contains(a, b) => format!("{}.contains({})", sub(a), sub(b)),
        Expr::Length(a) => format!("({}.length() >= 0)", sub(a)),
        Expr::Matches(a, p) => format!("{}.matches(\"{}\")", sub(a), PATTERNS[usize::from(*p) % PATTERNS.len()]),
        Expr::All(a, p, body) => format!("{}.all($c{} -> {})", sub(a), p % 3, sub(body)),
        Expr::Any(a, p, body) => format!("{}.any($c{} -> {})", sub(a), p % 3, sub(body)),
        Expr::Or(a, b) => format!("({} || {})", sub(a), sub(b)),
    }
}

fn body(body: &Body) -> String {
    let mut parts: Vec<String> = body
        .predicates
        .iter()
        .map(|(n, vars)| format!("{}({})", name(n), vars.iter().map(|v| var(*v)).collect::<Vec<_>>().join(", ")))
        .collect();
    parts.extend(body.expressions.iter().map(|e| expr(e, 0)));
    if parts.is_empty() {
        parts.push("true".into());
    }
    parts.join(", ")
}

fn statement(s: &Statement) -> String {
    match s {
        Statement::Fact(n, values) => format!("{}({});", name(n), values.iter().map(value).collect::<Vec<_>>().join(", ")),
        Statement::Rule(n, vars, b) => format!("{}({}) <- {};", name(n), vars.iter().map(|v| var(*v)).collect::<Vec<_>>().join(", "), body(b)),
        Statement::Check(b) => format!("check if {};", body(b)),
    }
}

fn block(statements: &[Statement]) -> Option<BlockBuilder> {
    let code: String = statements.iter().map(statement).collect::<Vec<_>>().join("\n");
    BlockBuilder::new().code(&code).ok()
}

fuzz_target!(|input: Input| {
    let fixture = &*FIXTURE;
    let mut blocks = input.blocks.iter();
    let Some(authority) = blocks.next().and_then(|b| block(b)) else { return };
    let Ok(mut token) = Biscuit::builder().merge(authority).root_key_id(1).build(&fixture.key) else { return };
    for statements in blocks.take(15) {
        let Some(next) = block(statements) else { return };
        let Ok(appended) = token.append(next) else { return };
        token = appended;
    }
    let Ok(bytes) = token.to_vec() else { return };
    let bytes = authorizer::envelope::with_domain(&bytes, Some("a.example")).expect("field 5");
    let event = json!({"type": "TOKEN", "authorizationToken": authorizer::token::encode(&bytes),
                       "methodArn": "arn:aws:execute-api:r:1:api/s/GET/x"});
    let evaluated = fixture.engine.evaluate(event, Ok(&fixture.trust), SystemTime::now());
    if let Some(datalog) = evaluated.decision.evaluation_time {
        let limit = Settings::default().limits.max_time + SLACK;
        assert!(datalog <= limit, "Datalog ran {datalog:?}, over {limit:?}");
    }
});
