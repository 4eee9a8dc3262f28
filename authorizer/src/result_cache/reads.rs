//! What a decision's Datalog can depend on beyond the request predicates
//! ([`crate::facts::Predicates`]): which header and query names its bodies
//! read, and the dates it holds (the only values `time` is ever compared with).

use std::collections::BTreeSet;

use biscuit_auth::format::schema::{self, op, term};
use biscuit_auth::AuthorizerBuilder;

use crate::blocks::{symbol, TokenBlocks};
use crate::policy::PolicyError;

/// The names a body reads of a two-term request predicate (`header`, `query`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// A body reads this predicate with a variable name: every name.
    pub any: bool,
    /// The names bodies read as constants.
    pub names: BTreeSet<String>,
}

impl Names {
    fn union(&mut self, other: &Names) {
        self.any |= other.any;
        self.names.extend(other.names.iter().cloned());
    }
}

/// The header and query names a program's bodies read, and its dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheReads {
    /// Names read by `header($name, $value)` bodies.
    pub headers: Names,
    /// Names read by `query($name, $value)` bodies.
    pub queries: Names,
    /// Every date the program holds (seconds since the epoch), in facts,
    /// rules, checks and policies.
    pub dates: BTreeSet<u64>,
}

impl CacheReads {
    /// What a token's blocks read, third-party blocks included.
    pub fn of_blocks(blocks: &TokenBlocks) -> CacheReads {
        let mut reads = CacheReads::default();
        for view in blocks.iter() {
            let queries = view.block.checks.iter().flat_map(|check| &check.queries);
            reads.read(
                view.symbols(),
                &view.block.facts,
                view.block.rules.iter().chain(queries),
            );
        }
        reads
    }

    /// What the operator's policy reads (its facts, rules, checks and policies).
    pub fn of_policy(policy: &AuthorizerBuilder) -> Result<CacheReads, PolicyError> {
        let snapshot = policy
            .snapshot()
            .map_err(|e| PolicyError::Parse(e.into()))?;
        let world = snapshot.world;
        let block = &world.authorizer_block;
        let queries = block.checks.iter().flat_map(|check| &check.queries).chain(
            world
                .authorizer_policies
                .iter()
                .flat_map(|policy| &policy.queries),
        );
        let mut reads = CacheReads::default();
        reads.read(
            &world.symbols,
            &block.facts,
            block.rules.iter().chain(queries),
        );
        Ok(reads)
    }

    /// Both together.
    pub fn union(&self, other: &CacheReads) -> CacheReads {
        let mut both = self.clone();
        both.headers.union(&other.headers);
        both.queries.union(&other.queries);
        both.dates.extend(&other.dates);
        both
    }

    fn read<'r>(
        &mut self,
        symbols: &[String],
        facts: &[schema::Fact],
        rules: impl Iterator<Item = &'r schema::Rule>,
    ) {
        for fact in facts {
            self.dates_of(&fact.predicate.terms);
        }
        for rule in rules {
            self.dates_of(&rule.head.terms);
            for predicate in &rule.body {
                self.dates_of(&predicate.terms);
                let names = match symbol(symbols, predicate.name) {
                    Some("header") => &mut self.headers,
                    Some("query") => &mut self.queries,
                    _ => continue,
                };
                match predicate.terms.first().and_then(|t| t.content.as_ref()) {
                    Some(term::Content::Variable(_)) => names.any = true,
                    Some(term::Content::String(id)) => {
                        // A name that is not in the table matches no fact.
                        if let Some(name) = symbol(symbols, *id) {
                            names.names.insert(name.to_owned());
                        }
                    }
                    // Any other constant matches no request fact (names are strings).
                    _ => {}
                }
            }
            for expression in &rule.expressions {
                self.dates_of_ops(&expression.ops);
            }
        }
    }

    fn dates_of_ops(&mut self, ops: &[schema::Op]) {
        for op in ops {
            match &op.content {
                Some(op::Content::Value(value)) => self.dates_of(std::slice::from_ref(value)),
                Some(op::Content::Closure(closure)) => self.dates_of_ops(&closure.ops),
                _ => {}
            }
        }
    }

    fn dates_of(&mut self, terms: &[schema::Term]) {
        // Collections nest: walk them without recursion on the caller's stack depth.
        let mut pending: Vec<&schema::Term> = terms.iter().collect();
        while let Some(term) = pending.pop() {
            match &term.content {
                Some(term::Content::Date(date)) => {
                    self.dates.insert(*date);
                }
                Some(term::Content::Set(set)) => pending.extend(&set.set),
                Some(term::Content::Array(array)) => pending.extend(&array.array),
                Some(term::Content::Map(map)) => {
                    pending.extend(map.entries.iter().map(|entry| &entry.value))
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

    #[test]
    fn a_policy_reads_its_header_and_query_names_and_holds_its_dates() {
        let policy = AuthorizerBuilder::new()
            .code(
                r#"window(2030-01-01T00:00:00Z);
                   check if time($t), $t < 2031-01-01T00:00:00Z;
                   deny if query("tenant", $v), header("x-client", "bad");
                   allow if header($name, $v), [2032-01-01T00:00:00Z].contains(2032-01-01T00:00:00Z);"#,
            )
            .expect("policy");
        let reads = CacheReads::of_policy(&policy).expect("reads");
        assert_eq!(reads.queries.names, BTreeSet::from(["tenant".to_owned()]));
        assert!(!reads.queries.any);
        assert!(reads.headers.any, "header($name, ...) reads every name");
        assert!(reads.headers.names.contains("x-client"));
        assert_eq!(
            reads.dates,
            BTreeSet::from([1_893_456_000, 1_924_992_000, 1_956_528_000])
        );
    }

    #[test]
    fn a_token_reads_what_every_block_reads() {
        let token = Biscuit::builder()
            .code(r#"right("read"); check if query("a", $v);"#)
            .expect("authority")
            .build(&KeyPair::new())
            .expect("build")
            .append(
                BlockBuilder::new()
                    .code(r#"check if query($n, $v), time($t), $t < 2030-01-01T00:00:00Z;"#)
                    .expect("block"),
            )
            .expect("append");
        let blocks = TokenBlocks::decode(&token.to_vec().expect("bytes")).expect("blocks");
        let reads = CacheReads::of_blocks(&blocks);
        assert!(reads.queries.any);
        assert!(reads.queries.names.contains("a"));
        assert_eq!(reads.dates, BTreeSet::from([1_893_456_000]));
        assert_eq!(reads.headers, Names::default());
    }
}
