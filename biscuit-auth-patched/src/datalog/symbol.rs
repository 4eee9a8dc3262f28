/*
 * Copyright (c) 2019 Geoffroy Couprie <contact@geoffroycouprie.com> and Contributors to the Eclipse Foundation.
 * SPDX-License-Identifier: Apache-2.0
 */
//! Symbol table implementation
use std::collections::{HashMap, HashSet};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub type SymbolIndex = u64;
use crate::crypto::PublicKey;
use crate::token::default_symbol_table;
use crate::{error, token::public_keys::PublicKeys};

use super::{Check, Fact, Predicate, Rule, Term, World};

#[derive(Clone, Debug)]
pub struct SymbolTable {
    symbols: Vec<String>,
    pub(crate) public_keys: PublicKeys,
    /// (patch) The position of each symbol's first occurrence in `symbols`,
    /// kept from the first `insert` into a table of `INDEXED_FROM` symbols or
    /// more: interning is then a lookup, not a scan of every symbol (which
    /// made building an authorizer quadratic in its symbols: a policy of
    /// 2,000 distinct strings took milliseconds per authorizer).
    index: Option<HashMap<String, usize>>,
}

// The index is derived from `symbols`: equality ignores it.
impl PartialEq for SymbolTable {
    fn eq(&self, other: &Self) -> bool {
        self.symbols == other.symbols && self.public_keys == other.public_keys
    }
}

impl Eq for SymbolTable {}

/// (patch) Tables smaller than this are scanned (cheaper than hashing, and
/// nothing to clone with the table).
const INDEXED_FROM: usize = 64;

const DEFAULT_SYMBOLS: [&str; 28] = [
    "read",
    "write",
    "resource",
    "operation",
    "right",
    "time",
    "role",
    "owner",
    "tenant",
    "namespace",
    "user",
    "team",
    "service",
    "admin",
    "email",
    "group",
    "member",
    "ip_address",
    "client",
    "client_ip",
    "domain",
    "path",
    "version",
    "cluster",
    "node",
    "hostname",
    "nonce",
    "query",
];

const OFFSET: usize = 1024;

/// (patch) The id of a default symbol: a `match`, which the compiler
/// dispatches on the length first, where a scan of `DEFAULT_SYMBOLS` compared
/// the string with each of them at every `insert` and `get`.
fn default_symbol(s: &str) -> Option<SymbolIndex> {
    Some(match s {
        "read" => 0,
        "write" => 1,
        "resource" => 2,
        "operation" => 3,
        "right" => 4,
        "time" => 5,
        "role" => 6,
        "owner" => 7,
        "tenant" => 8,
        "namespace" => 9,
        "user" => 10,
        "team" => 11,
        "service" => 12,
        "admin" => 13,
        "email" => 14,
        "group" => 15,
        "member" => 16,
        "ip_address" => 17,
        "client" => 18,
        "client_ip" => 19,
        "domain" => 20,
        "path" => 21,
        "version" => 22,
        "cluster" => 23,
        "node" => 24,
        "hostname" => 25,
        "nonce" => 26,
        "query" => 27,
        _ => return None,
    })
}

impl SymbolTable {
    pub fn new() -> Self {
        SymbolTable {
            symbols: vec![],
            public_keys: PublicKeys::new(),
            index: None,
        }
    }

    pub fn from(symbols: Vec<String>) -> Result<Self, error::Format> {
        // (patch) No default symbol among them: matched one by one, where
        // two hash sets were built for every table.
        if symbols
            .iter()
            .any(|symbol| default_symbol(symbol).is_some())
        {
            return Err(error::Format::SymbolTableOverlap);
        }

        Ok(SymbolTable {
            symbols,
            public_keys: PublicKeys::new(),
            index: None,
        })
    }

    pub fn from_symbols_and_public_keys(
        symbols: Vec<String>,
        public_keys: Vec<PublicKey>,
    ) -> Result<Self, error::Format> {
        let mut table = Self::from(symbols)?;
        table.public_keys = PublicKeys::from(public_keys);
        Ok(table)
    }

    pub fn extend(&mut self, other: &SymbolTable) -> Result<(), error::Format> {
        if !self.is_disjoint(other) {
            return Err(error::Format::SymbolTableOverlap);
        }
        self.symbols.extend(other.symbols.iter().cloned());
        self.index = None;
        self.public_keys.extend(&other.public_keys)?;
        Ok(())
    }

    pub fn insert(&mut self, s: &str) -> SymbolIndex {
        if let Some(index) = default_symbol(s) {
            return index;
        }

        if self.index.is_none() && self.symbols.len() >= INDEXED_FROM {
            let mut index = HashMap::with_capacity(self.symbols.len());
            for (position, symbol) in self.symbols.iter().enumerate() {
                index.entry(symbol.clone()).or_insert(position);
            }
            self.index = Some(index);
        }

        match self.position(s) {
            Some(index) => (OFFSET + index) as u64,
            None => {
                self.symbols.push(s.to_string());
                let position = self.symbols.len() - 1;
                if let Some(index) = &mut self.index {
                    index.insert(s.to_string(), position);
                }
                (OFFSET + position) as u64
            }
        }
    }

    /// (patch) Where `s` first occurs in `symbols`.
    #[inline(always)]
    fn position(&self, s: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(s).copied(),
            None => self.symbols.iter().position(|sym| sym.as_str() == s),
        }
    }

    pub fn add(&mut self, s: &str) -> Term {
        let term = self.insert(s);
        Term::Str(term)
    }

    pub fn get(&self, s: &str) -> Option<SymbolIndex> {
        if let Some(index) = default_symbol(s) {
            return Some(index);
        }

        self.position(s).map(|i| (OFFSET + i) as SymbolIndex)
    }

    pub fn strings(&self) -> Vec<String> {
        self.symbols.clone()
    }

    pub fn current_offset(&self) -> usize {
        self.symbols.len()
    }

    pub fn split_at(&mut self, offset: usize) -> SymbolTable {
        let mut table = SymbolTable::new();
        table.symbols = self.symbols.split_off(offset);
        self.index = None;
        table
    }

    pub fn is_disjoint(&self, other: &SymbolTable) -> bool {
        // (patch) One set, of the smaller table, or none when a scan is
        // cheaper, where two sets were built (a token's first table is empty).
        let (small, large) = if self.symbols.len() <= other.symbols.len() {
            (&self.symbols, &other.symbols)
        } else {
            (&other.symbols, &self.symbols)
        };
        if small.len().saturating_mul(large.len()) <= 256 {
            return !small.iter().any(|symbol| large.contains(symbol));
        }
        let small = small.iter().collect::<HashSet<_>>();
        !large.iter().any(|symbol| small.contains(symbol))
    }

    pub fn get_symbol(&self, i: SymbolIndex) -> Option<&str> {
        if i >= OFFSET as u64 {
            self.symbols
                .get((i - OFFSET as u64) as usize)
                .map(|s| s.as_str())
        } else {
            DEFAULT_SYMBOLS.get(i as usize).copied()
        }
    }

    pub fn print_symbol(&self, i: SymbolIndex) -> Result<String, error::Format> {
        self.get_symbol(i)
            .map(|s| s.to_string())
            .ok_or(error::Format::UnknownSymbol(i))
    }

    // infallible symbol printing method
    pub fn print_symbol_default(&self, i: SymbolIndex) -> String {
        self.get_symbol(i)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("<{}?>", i))
    }

    pub fn print_world(&self, w: &World) -> String {
        let facts = w
            .facts
            .inner
            .iter()
            .flat_map(|facts| facts.1.iter())
            .map(|f| self.print_fact(f))
            .collect::<Vec<_>>();
        let rules = w
            .rules
            .inner
            .iter()
            .flat_map(|rules| rules.1.iter())
            .map(|(_, r)| self.print_rule(r))
            .collect::<Vec<_>>();
        format!("World {{\n  facts: {:#?}\n  rules: {:#?}\n}}", facts, rules)
    }

    pub fn print_term(&self, term: &Term) -> String {
        match term {
            Term::Variable(i) => format!("${}", self.print_symbol_default(*i as u64)),
            Term::Integer(i) => i.to_string(),
            Term::Str(index) => format!("\"{}\"", self.print_symbol_default(*index)),
            Term::Date(d) => OffsetDateTime::from_unix_timestamp(*d as i64)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| "<invalid date>".to_string()),
            Term::Bytes(s) => format!("hex:{}", hex::encode(s)),
            Term::Bool(b) => {
                if *b {
                    "true".to_string()
                } else {
                    "false".to_string()
                }
            }
            Term::Set(s) => {
                if s.is_empty() {
                    "{,}".to_string()
                } else {
                    let terms = s
                        .iter()
                        .map(|term| self.print_term(term))
                        .collect::<Vec<_>>();
                    format!("{{{}}}", terms.join(", "))
                }
            }
            Term::Null => "null".to_string(),
            Term::Array(a) => {
                let terms = a
                    .iter()
                    .map(|term| self.print_term(term))
                    .collect::<Vec<_>>();
                format!("[{}]", terms.join(", "))
            }
            Term::Map(m) => {
                let terms = m
                    .iter()
                    .map(|(key, term)| match key {
                        crate::datalog::MapKey::Integer(i) => {
                            format!("{}: {}", i, self.print_term(term))
                        }
                        crate::datalog::MapKey::Str(s) => {
                            format!(
                                "\"{}\": {}",
                                self.print_symbol_default(*s as u64),
                                self.print_term(term)
                            )
                        }
                    })
                    .collect::<Vec<_>>();
                format!("{{{}}}", terms.join(", "))
            }
        }
    }

    pub fn print_fact(&self, f: &Fact) -> String {
        self.print_predicate(&f.predicate)
    }

    pub fn print_predicate(&self, p: &Predicate) -> String {
        let strings = p
            .terms
            .iter()
            .map(|term| self.print_term(term))
            .collect::<Vec<_>>();
        format!(
            "{}({})",
            self.get_symbol(p.name).unwrap_or("<?>"),
            strings.join(", ")
        )
    }

    pub fn print_expression(&self, e: &super::expression::Expression) -> String {
        e.print(self)
            .unwrap_or_else(|| format!("<invalid expression: {:?}>", e.ops))
    }

    pub fn print_rule_body(&self, r: &Rule) -> String {
        let preds: Vec<_> = r.body.iter().map(|p| self.print_predicate(p)).collect();

        let expressions: Vec<_> = r
            .expressions
            .iter()
            .map(|c| self.print_expression(c))
            .collect();

        let e = if expressions.is_empty() {
            String::new()
        } else if preds.is_empty() {
            expressions.join(", ")
        } else {
            format!(", {}", expressions.join(", "))
        };

        let scopes = if r.scopes.is_empty() {
            String::new()
        } else {
            let s: Vec<_> = r
                .scopes
                .iter()
                .map(|scope| match scope {
                    crate::token::Scope::Authority => "authority".to_string(),
                    crate::token::Scope::Previous => "previous".to_string(),
                    crate::token::Scope::PublicKey(key_id) => {
                        match self.public_keys.get_key(*key_id) {
                            Some(key) => key.print(),
                            None => "<unknown public key id>".to_string(),
                        }
                    }
                })
                .collect();
            format!(" trusting {}", s.join(", "))
        };

        format!("{}{}{}", preds.join(", "), e, scopes)
    }

    pub fn print_rule(&self, r: &Rule) -> String {
        let res = self.print_predicate(&r.head);

        format!("{} <- {}", res, self.print_rule_body(r))
    }

    pub fn print_check(&self, c: &Check) -> String {
        let queries = c
            .queries
            .iter()
            .map(|r| self.print_rule_body(r))
            .collect::<Vec<_>>();

        format!(
            "{} {}",
            match c.kind {
                crate::builder::CheckKind::One => "check if",
                crate::builder::CheckKind::All => "check all",
                crate::builder::CheckKind::Reject => "reject if",
            },
            queries.join(" or ")
        )
    }
}

impl Default for SymbolTable {
    fn default() -> Self {
        default_symbol_table()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemporarySymbolTable<'a> {
    base: &'a SymbolTable,
    offset: usize,
    symbols: Vec<String>,
}

impl<'a> TemporarySymbolTable<'a> {
    pub fn new(base: &'a SymbolTable) -> Self {
        let offset = OFFSET + base.current_offset();

        TemporarySymbolTable {
            base,
            offset,
            symbols: vec![],
        }
    }

    pub fn get_symbol(&self, i: SymbolIndex) -> Option<&str> {
        if i as usize >= self.offset {
            self.symbols
                .get(i as usize - self.offset)
                .map(|s| s.as_str())
        } else {
            self.base.get_symbol(i)
        }
    }

    pub fn insert(&mut self, s: &str) -> SymbolIndex {
        if let Some(index) = self.base.get(s) {
            return index;
        }

        match self.symbols.iter().position(|sym| sym.as_str() == s) {
            Some(index) => (self.offset + index) as u64,
            None => {
                self.symbols.push(s.to_string());
                (self.offset + (self.symbols.len() - 1)) as u64
            }
        }
    }
}

/// (patch) Interning with the index gives the symbols a scan gives.
#[cfg(test)]
mod index_tests {
    use super::*;

    #[test]
    fn an_indexed_table_interns_as_a_scanned_one() {
        // A token's table may hold a string twice: the first occurrence wins.
        let mut strings: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        strings.push("s7".to_string());
        let mut table = SymbolTable::from(strings.clone()).unwrap();
        assert!(table.index.is_none());
        assert_eq!(table.insert("s7"), (OFFSET + 7) as u64);
        assert!(
            table.index.is_some(),
            "built at the first insert past the threshold"
        );
        assert_eq!(table.get("s99"), Some((OFFSET + 99) as u64));
        assert_eq!(table.insert("read"), 0, "default symbols come first");
        assert_eq!(table.insert("new"), (OFFSET + 101) as u64);
        assert_eq!(table.get("new"), Some((OFFSET + 101) as u64));
        assert_eq!(table.get("absent"), None);

        // Tables that change wholesale drop the index, and build it again.
        let tail = table.split_at(50);
        assert!(table.index.is_none());
        assert_eq!(table.get("s60"), None);
        assert_eq!(tail.get("s60"), Some((OFFSET + 10) as u64));
        assert_eq!(table.insert("s60"), (OFFSET + 50) as u64);
        table
            .extend(&SymbolTable::from(vec!["x".to_string()]).unwrap())
            .unwrap();
        assert!(table.index.is_none());
        assert_eq!(table.insert("x"), (OFFSET + 51) as u64);
        assert_eq!(table.insert("s3"), (OFFSET + 3) as u64);
    }

    #[test]
    fn a_table_holding_a_default_symbol_is_refused() {
        assert!(SymbolTable::from(vec!["a".to_string(), "b".to_string()]).is_ok());
        assert_eq!(
            SymbolTable::from(vec!["a".to_string(), "nonce".to_string()]),
            Err(error::Format::SymbolTableOverlap)
        );
    }

    #[test]
    fn disjoint_tables_of_every_size() {
        let table = |range: std::ops::Range<usize>| {
            SymbolTable::from(range.map(|i| format!("s{i}")).collect()).unwrap()
        };
        for (a, b, disjoint) in [
            (0..0, 0..5, true),
            (0..5, 5..10, true),
            (0..5, 4..10, false),
            (0..100, 100..300, true),
            (0..100, 99..300, false),
            (250..300, 0..251, false),
        ] {
            assert_eq!(table(a.clone()).is_disjoint(&table(b.clone())), disjoint);
            assert_eq!(table(b).is_disjoint(&table(a)), disjoint);
        }
    }

    #[test]
    fn default_symbols_are_matched_as_they_are_listed() {
        for (index, symbol) in DEFAULT_SYMBOLS.iter().enumerate() {
            assert_eq!(default_symbol(symbol), Some(index as u64));
        }
        for other in ["", "reads", "Read", "ip", "client_", "queryy"] {
            assert_eq!(default_symbol(other), None);
        }
    }

    #[test]
    fn small_tables_are_scanned_and_equality_ignores_the_index() {
        let mut small = SymbolTable::new();
        for i in 0..INDEXED_FROM {
            small.insert(&format!("s{i}"));
        }
        assert!(small.index.is_none());
        let mut indexed = small.clone();
        indexed.insert("s0");
        assert!(indexed.index.is_some());
        assert_eq!(small, indexed);
    }
}
