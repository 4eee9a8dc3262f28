/*
 * Copyright (c) 2019 Geoffroy Couprie <contact@geoffroycouprie.com> and Contributors to the Eclipse Foundation.
 * SPDX-License-Identifier: Apache-2.0
 */
//! Run limits enforced while the engine runs, not only between iterations.
//!
//! A [`RunBudget`] is armed with [`RunLimits`] at the start of a run, a check or
//! a query. Rule application charges it for every candidate fact and every
//! binding, expression evaluation for every operation and closure call, and it
//! reads the clock every [`CLOCK_EVERY`] units. Once a limit is reached the
//! budget stays exhausted: the iterators stop early and every entry point of
//! [`super::World`] turns the early stop into [`Execution::RunLimit`], so a
//! truncated result is never used as an answer.
//!
//! The budget also caches the regular expressions compiled during one
//! evaluation, each built once per pattern within [`REGEX_SIZE_LIMIT`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use regex::{Regex, RegexBuilder};

use super::RunLimits;
use crate::error::{Execution, Expression, RunLimit};
use crate::time::Instant;

/// Work units between two reads of the clock. A unit is about the cost of
/// matching one candidate fact or evaluating one operation.
pub const CLOCK_EVERY: u64 = 64;

/// Largest compiled program of a `.matches` pattern, in bytes: room for a few
/// Unicode-aware classes (`\w` alone needs about 50 KB, an e-mail shape such
/// as `^[\w.+-]+@[\w-]+\.[\w.-]+$` about 150 KB), and a compile that takes
/// at most about 1.5 ms.
pub const REGEX_SIZE_LIMIT: usize = 192 * 1024;

/// Largest lazy DFA cache of a `.matches` pattern, in bytes.
pub const REGEX_DFA_SIZE_LIMIT: usize = 192 * 1024;

/// A compile is never interrupted: one is started only with this much time
/// left before the deadline (or half the time limit, if that is less).
pub const REGEX_COMPILE_RESERVE: Duration = Duration::from_micros(1500);

/// Most distinct patterns kept compiled during one evaluation; past it the
/// cache is emptied (each compile is charged, so time stays bounded).
pub const REGEX_CACHE_PATTERNS: usize = 16;

const NOT_EXHAUSTED: u8 = 0;
const TIMEOUT: u8 = 1;
const TOO_MANY_FACTS: u8 = 2;

/// Enforces [`RunLimits`] from inside the engine. See the module documentation.
///
/// Atomics and mutexes (never contended: one evaluation runs on one thread)
/// keep [`super::World`] `Send` and `Sync`.
#[derive(Debug, Default)]
pub struct RunBudget {
    deadline: Mutex<Option<Instant>>,
    /// Time left needed to start a compile.
    compile_reserve: Mutex<Duration>,
    /// `0`: no fact limit.
    max_facts: AtomicU64,
    since_clock: AtomicU64,
    exhausted: AtomicU8,
    regexes: Mutex<HashMap<String, Option<Regex>>>,
}

impl Clone for RunBudget {
    /// A clone starts unarmed, with an empty cache.
    fn clone(&self) -> Self {
        RunBudget::default()
    }
}

impl RunBudget {
    /// A budget without limits.
    pub fn unlimited() -> Self {
        RunBudget::default()
    }

    /// Arms the budget for one run, check or query under `limits`.
    pub fn arm(&self, limits: &RunLimits) {
        *lock(&self.deadline) = Some(Instant::now() + limits.max_time);
        *lock(&self.compile_reserve) = REGEX_COMPILE_RESERVE.min(limits.max_time / 2);
        self.max_facts.store(limits.max_facts.max(1), Relaxed);
        self.since_clock.store(0, Relaxed);
        self.exhausted.store(NOT_EXHAUSTED, Relaxed);
    }

    /// Lifts the limits (the compiled patterns stay cached).
    pub fn disarm(&self) {
        *lock(&self.deadline) = None;
        self.max_facts.store(0, Relaxed);
        self.exhausted.store(NOT_EXHAUSTED, Relaxed);
    }

    /// Charges `units` of work; `false` once a limit is reached.
    #[inline]
    pub fn charge(&self, units: u64) -> bool {
        if self.is_exhausted() {
            return false;
        }
        let spent = self.since_clock.load(Relaxed).saturating_add(units);
        if spent < CLOCK_EVERY {
            self.since_clock.store(spent, Relaxed);
            return true;
        }
        self.since_clock.store(0, Relaxed);
        match *lock(&self.deadline) {
            Some(deadline) if Instant::now() >= deadline => {
                self.exhausted.store(TIMEOUT, Relaxed);
                false
            }
            _ => true,
        }
    }

    /// Whether `needed` is left before the deadline; if not, the budget is
    /// exhausted (a timeout).
    fn has_time_left(&self, needed: Duration) -> bool {
        if let Some(deadline) = *lock(&self.deadline) {
            if Instant::now() + needed >= deadline {
                self.exhausted.store(TIMEOUT, Relaxed);
            }
        }
        !self.is_exhausted()
    }

    /// Records that `facts` facts are held; `false` once at the fact limit.
    pub fn hold_facts(&self, facts: usize) -> bool {
        match self.max_facts.load(Relaxed) {
            max if max > 0 && facts as u64 >= max => {
                self.exhausted.store(TOO_MANY_FACTS, Relaxed);
                false
            }
            _ => !self.is_exhausted(),
        }
    }

    /// Whether a limit was reached since the budget was armed.
    #[inline]
    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Relaxed) != NOT_EXHAUSTED
    }

    /// The limit reached since the budget was armed, as an error.
    pub fn check(&self) -> Result<(), Execution> {
        match self.exhausted.load(Relaxed) {
            NOT_EXHAUSTED => Ok(()),
            TOO_MANY_FACTS => Err(Execution::RunLimit(RunLimit::TooManyFacts)),
            _ => Err(Execution::RunLimit(RunLimit::Timeout)),
        }
    }

    /// Whether `pattern` matches `haystack`, compiling the pattern at most once
    /// per evaluation. An invalid pattern matches nothing (as before); one whose
    /// compiled program is over [`REGEX_SIZE_LIMIT`] is an error.
    pub fn is_match(&self, pattern: &str, haystack: &str) -> Result<bool, Expression> {
        self.charge(1 + haystack.len() as u64 / 64);
        let mut regexes = lock(&self.regexes);
        if !regexes.contains_key(pattern) {
            if !self.has_time_left(*lock(&self.compile_reserve)) {
                return Err(Expression::RunLimitReached);
            }
            if regexes.len() >= REGEX_CACHE_PATTERNS {
                regexes.clear();
            }
            let compiled = RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
                .build();
            // A compile is never interrupted: read the clock right after it.
            self.charge(CLOCK_EVERY);
            let compiled = match compiled {
                Ok(regex) => Some(regex),
                Err(regex::Error::CompiledTooBig(_)) => return Err(Expression::RegexTooLarge),
                Err(_) => None,
            };
            regexes.insert(pattern.to_owned(), compiled);
        }
        Ok(regexes
            .get(pattern)
            .and_then(Option::as_ref)
            .is_some_and(|regex| regex.is_match(haystack)))
    }
}

/// The guarded value, even if a panic poisoned the mutex (the value is a cache
/// or a deadline: never left half-written).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlimited_budget_never_runs_out() {
        let budget = RunBudget::unlimited();
        for _ in 0..10_000 {
            assert!(budget.charge(CLOCK_EVERY));
        }
        assert!(budget.hold_facts(usize::MAX));
        assert!(budget.check().is_ok());
    }

    #[test]
    fn the_deadline_stops_charges_and_stays_reached() {
        let budget = RunBudget::unlimited();
        budget.arm(&RunLimits {
            max_time: Duration::ZERO,
            ..RunLimits::default()
        });
        assert!(!budget.charge(CLOCK_EVERY));
        assert!(!budget.charge(1));
        assert_eq!(budget.check(), Err(Execution::RunLimit(RunLimit::Timeout)));
        // Arming again starts afresh.
        budget.arm(&RunLimits::default());
        assert!(budget.check().is_ok());
    }

    #[test]
    fn the_fact_limit_is_checked_when_facts_are_held() {
        let budget = RunBudget::unlimited();
        budget.arm(&RunLimits {
            max_facts: 10,
            ..RunLimits::default()
        });
        assert!(budget.hold_facts(9));
        assert!(!budget.hold_facts(10));
        assert_eq!(
            budget.check(),
            Err(Execution::RunLimit(RunLimit::TooManyFacts))
        );
    }

    #[test]
    fn everyday_unicode_patterns_compile_and_are_cached() {
        let budget = RunBudget::unlimited();
        let cases = [
            (r"^\d{4}-\d{2}-\d{2}$", "2026-12-07"),
            (r"^\w+$", "héllo_wörld"),
            (r".{1,64}", "anything"),
            (r"^[\w.+-]+@[\w-]+\.[\w.-]+$", "jane.doe+tag@example.co.uk"),
        ];
        for (pattern, haystack) in cases {
            assert_eq!(budget.is_match(pattern, haystack), Ok(true), "{pattern}");
            assert_eq!(budget.is_match(pattern, ""), Ok(false), "{pattern}");
        }
        assert_eq!(lock(&budget.regexes).len(), cases.len());
    }

    #[test]
    fn invalid_patterns_match_nothing_and_huge_ones_are_errors() {
        let budget = RunBudget::unlimited();
        assert_eq!(budget.is_match("(", "("), Ok(false));
        assert_eq!(
            budget.is_match(r"(\w{50}){50}", "a"),
            Err(Expression::RegexTooLarge)
        );
    }

    #[test]
    fn no_compile_starts_too_close_to_the_deadline() {
        let budget = RunBudget::unlimited();
        budget.arm(&RunLimits {
            max_time: Duration::from_millis(10),
            ..RunLimits::default()
        });
        // Less than the reserve left (sleep lasts at least as long as asked).
        std::thread::sleep(Duration::from_millis(10) - REGEX_COMPILE_RESERVE / 2);
        assert_eq!(
            budget.is_match("^a$", "a"),
            Err(Expression::RunLimitReached)
        );
        assert_eq!(budget.check(), Err(Execution::RunLimit(RunLimit::Timeout)));
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_patterns() {
        let budget = RunBudget::unlimited();
        for i in 0..(3 * REGEX_CACHE_PATTERNS) {
            assert_eq!(budget.is_match(&format!("^{i}$"), &i.to_string()), Ok(true));
            assert!(lock(&budget.regexes).len() <= REGEX_CACHE_PATTERNS);
        }
    }
}
