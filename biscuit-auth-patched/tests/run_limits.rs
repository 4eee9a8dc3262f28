/*
 * Copyright (c) 2019 Geoffroy Couprie <contact@geoffroycouprie.com> and Contributors to the Eclipse Foundation.
 * SPDX-License-Identifier: Apache-2.0
 */
//! Run limits are enforced inside an iteration, a check, a policy and an
//! expression: each of these programs would run for minutes or hours if the
//! limits were only checked between iterations.
use std::time::Duration;

use biscuit_auth::datalog::{RunLimits, SymbolTable, World};
use biscuit_auth::error::{Expression, RunLimit, Token};
use biscuit_auth::{Authorizer, AuthorizerBuilder, AuthorizerLimits};

fn facts(name: &str, count: usize) -> String {
    (0..count).map(|i| format!("{name}({i}); ")).collect()
}

fn limits(max_time: Duration) -> AuthorizerLimits {
    AuthorizerLimits {
        max_time,
        ..AuthorizerLimits::default()
    }
}

fn authorizer(code: &str, limits: AuthorizerLimits) -> Authorizer {
    AuthorizerBuilder::new()
        .code(code)
        .expect("code")
        .set_limits(limits)
        .build_unauthenticated()
        .expect("authorizer")
}

/// 128^8 bindings, all deriving the same fact: one iteration never ends.
fn endless_join() -> String {
    format!(
        "{} h(1) <- a($a), a($b), a($c), a($d), a($e), a($f), a($g), a($h);",
        facts("a", 128)
    )
}

#[test]
fn a_join_stops_inside_its_iteration() {
    let mut authorizer = authorizer(
        &format!("{} allow if true;", endless_join()),
        limits(Duration::from_millis(5)),
    );
    assert_eq!(
        authorizer.authorize(),
        Err(Token::RunLimit(RunLimit::Timeout))
    );
}

#[test]
fn a_deny_policy_stopped_by_the_limit_is_an_error_not_a_non_match() {
    let code = format!(
        "{} deny if a($a), a($b), a($c), a($d), a($e), a($f), $a == -1; allow if true;",
        facts("a", 128)
    );
    let mut authorizer = authorizer(&code, limits(Duration::from_millis(5)));
    assert_eq!(
        authorizer.authorize(),
        Err(Token::RunLimit(RunLimit::Timeout))
    );
}

#[test]
fn a_try_or_does_not_hide_a_stop() {
    let items: Vec<String> = (0..64).map(|i| i.to_string()).collect();
    let code = format!(
        "arr([{}]); check if arr($a), ($a.all($w -> $a.all($x -> $a.all($y -> $a.all($z -> $w + $x + $y + $z >= 0))))).try_or(true); allow if true;",
        items.join(", ")
    );
    let mut authorizer = authorizer(&code, limits(Duration::from_millis(5)));
    assert_eq!(
        authorizer.authorize(),
        Err(Token::RunLimit(RunLimit::Timeout))
    );
}

#[test]
fn the_fact_limit_stops_an_iteration_before_it_is_merged() {
    let mut symbols = SymbolTable::new();
    let mut world = World::new();
    let code = format!("{} h($x, $y, $z) <- a($x), a($y), a($z);", facts("a", 100));
    let builder = AuthorizerBuilder::new().code(&code).expect("code");
    // The world of an authorizer, run directly: 10^6 facts in one iteration.
    let mut authorizer = builder
        .set_limits(AuthorizerLimits {
            max_facts: 1000,
            max_time: Duration::from_secs(60),
            ..AuthorizerLimits::default()
        })
        .build_unauthenticated()
        .expect("authorizer");
    assert_eq!(
        authorizer.run(),
        Err(Token::RunLimit(RunLimit::TooManyFacts))
    );
    // The same through a bare world: the stopped iteration's facts are not kept.
    let a = symbols.insert("a");
    let h = symbols.insert("h");
    let origin = [0usize].iter().collect();
    for i in 0..100 {
        world.add_fact(
            &origin,
            biscuit_auth::datalog::fact(a, &[biscuit_auth::datalog::int(i)]),
        );
    }
    let x = biscuit_auth::datalog::var(&mut symbols, "x");
    let y = biscuit_auth::datalog::var(&mut symbols, "y");
    let z = biscuit_auth::datalog::var(&mut symbols, "z");
    world.add_rule(
        0,
        &[0usize].iter().collect(),
        biscuit_auth::datalog::rule(
            h,
            &[x.clone(), y.clone(), z.clone()],
            &[
                biscuit_auth::datalog::pred(a, &[x]),
                biscuit_auth::datalog::pred(a, &[y]),
                biscuit_auth::datalog::pred(a, &[z]),
            ],
        ),
    );
    let result = world.run_with_limits(
        &symbols,
        RunLimits {
            max_facts: 1000,
            max_time: Duration::from_secs(60),
            ..RunLimits::default()
        },
    );
    assert_eq!(
        result,
        Err(biscuit_auth::error::Execution::RunLimit(
            RunLimit::TooManyFacts
        ))
    );
    assert_eq!(world.facts.len(), 100);
}

#[test]
fn authorize_with_limits_applies_them_to_fact_generation() {
    let mut authorizer = authorizer(
        &format!("{} allow if true;", endless_join()),
        limits(Duration::from_secs(3600)),
    );
    assert_eq!(
        authorizer.authorize_with_limits(limits(Duration::from_millis(5))),
        Err(Token::RunLimit(RunLimit::Timeout))
    );
}

#[test]
fn queries_are_held_to_the_limits() {
    let mut authorizer = authorizer(
        &format!("{} allow if true;", facts("a", 128)),
        limits(Duration::from_secs(3600)),
    );
    authorizer.authorize().expect("allowed");
    let answer: Result<Vec<biscuit_auth::builder::Fact>, Token> = authorizer.query_with_limits(
        "h(1) <- a($a), a($b), a($c), a($d), a($e), a($f)",
        limits(Duration::from_millis(5)),
    );
    assert_eq!(answer, Err(Token::RunLimit(RunLimit::Timeout)));
}

#[test]
fn a_pattern_too_large_once_compiled_fails_closed() {
    // In a deny policy, an error refuses; a non-match would have allowed.
    let mut authorizer = authorizer(
        r#"deny if "a".matches("(\\w{50}){50}"); allow if true;"#,
        limits(Duration::from_millis(100)),
    );
    assert_eq!(
        authorizer.authorize(),
        Err(Token::Execution(Expression::RegexTooLarge))
    );
}

#[test]
fn everyday_unicode_patterns_match() {
    let mut authorizer = authorizer(
        r#"check if "2026-12-07".matches("^\\d{4}-\\d{2}-\\d{2}$");
           check if "héllo_wörld".matches("^\\w+$");
           check if "anything".matches(".{1,64}");
           check if "jane.doe+tag@example.co.uk".matches("^[\\w.+-]+@[\\w-]+\\.[\\w.-]+$");
           allow if true;"#,
        limits(Duration::from_millis(100)),
    );
    assert_eq!(authorizer.authorize(), Ok(0));
}
