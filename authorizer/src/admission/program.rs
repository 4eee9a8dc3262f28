//! The shape of a Datalog program as admission sees it: how many facts it
//! asserts, which predicates its rule, check and policy bodies read, and the
//! widest predicate and largest collection it holds. Read from biscuit's
//! protobuf schema in one pass, for the token's blocks and for the operator's
//! policy alike; the token caps are checked while reading.

use biscuit_auth::format::schema;
use biscuit_auth::AuthorizerBuilder;

use super::{Caps, TooComplex};
use crate::blocks::{symbol, TokenBlocks};

/// A program: what its facts, rules, checks and policies add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    /// Facts it asserts.
    pub facts: u64,
    /// Predicate names its rule, check and policy bodies read (repeats kept).
    pub reads: Vec<String>,
    /// Largest collection in any fact or rule head (nested elements counted).
    pub max_collection: u64,
    /// Longest string or byte string in any fact or literal.
    pub max_string: u64,
    /// Most terms of any fact or rule head.
    pub max_arity: u64,
}

/// Who wrote the program: the token is held to the caps, the policy is not.
#[derive(Clone, Copy)]
enum Author<'c> {
    Token { caps: &'c Caps, block: usize },
    Operator,
}

impl Author<'_> {
    fn cap(
        &self,
        what: impl Fn(usize) -> String,
        actual: usize,
        cap: impl Fn(&Caps) -> usize,
    ) -> Result<(), TooComplex> {
        match self {
            Author::Token { caps, block } if actual > cap(caps) => Err(TooComplex::OverCap {
                what: what(*block),
                actual: actual as u64,
                cap: cap(caps) as u64,
            }),
            _ => Ok(()),
        }
    }

    fn block(&self) -> usize {
        match self {
            Author::Token { block, .. } => *block,
            Author::Operator => 0,
        }
    }
}

impl Program {
    /// Reads a verified token's blocks, checking the caps.
    pub fn from_token(blocks: &TokenBlocks, caps: &Caps) -> Result<Program, TooComplex> {
        Author::Token { caps, block: 0 }.cap(
            |_| "blocks".into(),
            blocks.len(),
            |c| c.max_blocks,
        )?;
        let mut program = Program::default();
        for view in blocks.iter() {
            let block = view.block;
            let author = Author::Token {
                caps,
                block: view.index,
            };
            for text in &block.symbols {
                author.cap(
                    |b| format!("a string of block {b}"),
                    text.len(),
                    |c| c.max_string_bytes,
                )?;
                program.max_string = program.max_string.max(text.len() as u64);
            }
            author.cap(
                |b| format!("facts in block {b}"),
                block.facts.len(),
                |c| c.max_facts_per_block,
            )?;
            author.cap(
                |b| format!("rules in block {b}"),
                block.rules.len(),
                |c| c.max_rules_per_block,
            )?;
            let queries = block.checks.iter().map(|check| check.queries.len()).sum();
            author.cap(
                |b| format!("check queries in block {b}"),
                queries,
                |c| c.max_checks_per_block,
            )?;
            program.read(
                view.symbols(),
                &block.facts,
                &block.rules,
                block.checks.iter().flat_map(|c| &c.queries),
                author,
            )?;
        }
        Ok(program)
    }

    /// Reads the operator's policy (facts, rules, checks and policies).
    pub fn from_policy(policy: &AuthorizerBuilder) -> Result<Program, TooComplex> {
        let snapshot = policy.snapshot().map_err(|e| TooComplex::Unreadable {
            block: 0,
            reason: e.to_string(),
        })?;
        let world = snapshot.world;
        let block = world.authorizer_block;
        let queries = block.checks.iter().flat_map(|check| &check.queries).chain(
            world
                .authorizer_policies
                .iter()
                .flat_map(|policy| &policy.queries),
        );
        let mut program = Program {
            max_string: world
                .symbols
                .iter()
                .map(|s| s.len() as u64)
                .max()
                .unwrap_or(0),
            ..Program::default()
        };
        program.read(
            &world.symbols,
            &block.facts,
            &block.rules,
            queries,
            Author::Operator,
        )?;
        Ok(program)
    }

    fn read<'q>(
        &mut self,
        symbols: &[String],
        facts: &[schema::Fact],
        rules: &'q [schema::Rule],
        queries: impl Iterator<Item = &'q schema::Rule>,
        author: Author<'_>,
    ) -> Result<(), TooComplex> {
        self.facts += facts.len() as u64;
        for fact in facts {
            self.held(&fact.predicate.terms, author)?;
        }
        for rule in rules {
            self.held(&rule.head.terms, author)?;
        }
        for body in rules.iter().chain(queries) {
            self.body(symbols, body, author)?;
        }
        Ok(())
    }

    fn body(
        &mut self,
        symbols: &[String],
        rule: &schema::Rule,
        author: Author<'_>,
    ) -> Result<(), TooComplex> {
        author.cap(
            |b| format!("predicates in a body of block {b}"),
            rule.body.len(),
            |c| c.max_body_predicates,
        )?;
        for predicate in &rule.body {
            self.reads.push(predicate_name(symbols, predicate.name));
            self.terms(&predicate.terms, author)?;
        }
        for expression in &rule.expressions {
            author.cap(
                |b| format!("operations in an expression of block {b}"),
                count_ops(&expression.ops),
                |c| c.max_expression_ops,
            )?;
            self.ops(symbols, &expression.ops, 0, author)?;
        }
        Ok(())
    }

    /// Checks an expression's literals, closure depth and patterns.
    fn ops(
        &mut self,
        symbols: &[String],
        ops: &[schema::Op],
        depth: usize,
        author: Author<'_>,
    ) -> Result<(), TooComplex> {
        use schema::op::Content;
        use schema::op_binary::Kind;
        for (index, op) in ops.iter().enumerate() {
            match &op.content {
                Some(Content::Value(term)) => {
                    self.terms(std::slice::from_ref(term), author)?;
                }
                Some(Content::Binary(binary)) if binary.kind == Kind::Regex as i32 => {
                    let pattern = index
                        .checked_sub(1)
                        .and_then(|previous| literal_string(symbols, &ops[previous]));
                    self.regex(pattern, author)?;
                }
                Some(Content::Closure(closure)) => {
                    // Only closures with a parameter loop; `&&`, `||` and
                    // `.try_or` run their body at most once.
                    let depth = depth + usize::from(!closure.params.is_empty());
                    author.cap(
                        |b| format!("closure depth in block {b}"),
                        depth,
                        |c| c.max_closure_depth,
                    )?;
                    self.ops(symbols, &closure.ops, depth, author)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A token's `.matches` pattern must be a short literal. It is not
    /// compiled here: the engine compiles each pattern once per evaluation,
    /// within a size limit, and fails closed past it.
    fn regex(&self, pattern: Option<&str>, author: Author<'_>) -> Result<(), TooComplex> {
        let Author::Token { .. } = author else {
            return Ok(());
        };
        let pattern = pattern.ok_or_else(|| TooComplex::Regex {
            block: author.block(),
            reason: "the pattern is not a string literal".into(),
        })?;
        author.cap(
            |b| format!("a regular expression of block {b}"),
            pattern.len(),
            |c| c.max_regex_bytes,
        )
    }

    /// Records the sizes of literal terms and checks them against the caps.
    fn terms(&mut self, terms: &[schema::Term], author: Author<'_>) -> Result<u64, TooComplex> {
        author.cap(
            |b| format!("terms of a predicate of block {b}"),
            terms.len(),
            |c| c.max_predicate_terms,
        )?;
        let mut largest = 0;
        for term in terms {
            let (elements, bytes) = term_size(term);
            author.cap(
                |b| format!("a collection of block {b}"),
                elements as usize,
                |c| c.max_collection_len,
            )?;
            author.cap(
                |b| format!("a byte string of block {b}"),
                bytes as usize,
                |c| c.max_string_bytes,
            )?;
            largest = largest.max(elements);
            self.max_string = self.max_string.max(bytes);
        }
        Ok(largest)
    }

    /// [`Program::terms`] of a fact or rule head: what the engine's facts hold.
    fn held(&mut self, terms: &[schema::Term], author: Author<'_>) -> Result<(), TooComplex> {
        let largest = self.terms(terms, author)?;
        self.max_arity = self.max_arity.max(terms.len() as u64);
        self.max_collection = self.max_collection.max(largest);
        Ok(())
    }
}

/// Elements of a collection term (nested ones counted; 0 for a scalar) and
/// the length of a byte-string term.
fn term_size(term: &schema::Term) -> (u64, u64) {
    use schema::term::Content;
    let nested = |terms: &mut dyn Iterator<Item = &schema::Term>| {
        terms.fold((0u64, 0u64), |(elements, bytes), term| {
            let (inner, inner_bytes) = term_size(term);
            (
                elements.saturating_add(1).saturating_add(inner),
                bytes.max(inner_bytes),
            )
        })
    };
    match &term.content {
        Some(Content::Bytes(bytes)) => (0, bytes.len() as u64),
        Some(Content::Set(set)) => nested(&mut set.set.iter()),
        Some(Content::Array(array)) => nested(&mut array.array.iter()),
        Some(Content::Map(map)) => nested(&mut map.entries.iter().map(|entry| &entry.value)),
        _ => (0, 0),
    }
}

/// Operations in an expression, closure bodies included.
fn count_ops(ops: &[schema::Op]) -> usize {
    ops.iter()
        .map(|op| match &op.content {
            Some(schema::op::Content::Closure(closure)) => 1 + count_ops(&closure.ops),
            _ => 1,
        })
        .sum()
}

/// The string an operation pushes, if it pushes a string literal.
fn literal_string<'s>(symbols: &'s [String], op: &schema::Op) -> Option<&'s str> {
    match &op.content {
        Some(schema::op::Content::Value(schema::Term {
            content: Some(schema::term::Content::String(id)),
        })) => symbol(symbols, *id),
        _ => None,
    }
}

/// A predicate's name; an unknown symbol keeps its id, so it never matches a known name.
fn predicate_name(symbols: &[String], id: u64) -> String {
    match symbol(symbols, id) {
        Some(name) => name.to_owned(),
        None => format!("#{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

    fn read(authority: &str, block: Option<&str>, caps: &Caps) -> Result<Program, TooComplex> {
        let mut token = Biscuit::builder()
            .code(authority)
            .expect("code")
            .build(&KeyPair::new())
            .expect("build");
        if let Some(code) = block {
            token = token
                .append(BlockBuilder::new().code(code).expect("block"))
                .expect("append");
        }
        let blocks = TokenBlocks::decode(&token.to_vec().expect("serialize")).expect("decode");
        Program::from_token(&blocks, caps)
    }

    fn over(result: Result<Program, TooComplex>) -> String {
        match result {
            Err(TooComplex::OverCap { what, .. }) => what,
            other => panic!("expected a cap, got {other:?}"),
        }
    }

    #[test]
    fn every_cap_is_enforced() {
        let caps = Caps {
            max_blocks: 1,
            ..Caps::default()
        };
        assert_eq!(over(read("a(1);", Some("check if true;"), &caps)), "blocks");
        let tight = Caps {
            max_facts_per_block: 1,
            max_rules_per_block: 1,
            max_checks_per_block: 1,
            max_body_predicates: 1,
            max_closure_depth: 1,
            max_collection_len: 2,
            max_string_bytes: 4,
            max_regex_bytes: 3,
            ..Caps::default()
        };
        let cases = [
            ("a(1); a(2);", "facts in block 0"),
            ("h(1) <- a(1); h(2) <- a(2);", "rules in block 0"),
            ("check if a(1) or a(2);", "check queries in block 0"),
            ("h(1) <- a(1), a(2);", "predicates in a body of block 0"),
            ("a([1, 2, 3]);", "a collection of block 0"),
            ("a(\"abcde\");", "a string of block 0"),
            ("a(hex:0102030405);", "a byte string of block 0"),
            (
                "check if [1].all($x -> [1].all($y -> true));",
                "closure depth in block 0",
            ),
            (
                "check if \"a\".matches(\"abcd\");",
                "a regular expression of block 0",
            ),
        ];
        for (code, what) in cases {
            assert_eq!(over(read(code, None, &tight)), what, "{code}");
        }
        let few_ops = Caps {
            max_expression_ops: 3,
            ..Caps::default()
        };
        assert_eq!(
            over(read("check if 1 + 2 + 3 > 0;", None, &few_ops)),
            "operations in an expression of block 0"
        );
        // Caps hold in attenuation blocks too.
        assert_eq!(
            over(read("a(1);", Some("b(1); b(2);"), &tight)),
            "facts in block 1"
        );
    }

    #[test]
    fn regular_expressions_must_be_small_literals() {
        let caps = Caps::default();
        assert!(read(r#"check if "ab".matches("^a+b$");"#, None, &caps).is_ok());
        assert!(matches!(
            read(r#"p("^a$"); check if p($p), "a".matches($p);"#, None, &caps),
            Err(TooComplex::Regex { .. })
        ));
        // Short but huge once compiled: admitted, since admission compiles
        // nothing; the engine refuses it (see the decisions tests).
        assert!(read(r#"check if "a".matches("(\\w{50}){50}");"#, None, &caps).is_ok());
    }

    #[test]
    fn third_party_blocks_resolve_their_own_symbols() {
        let root = KeyPair::new();
        let token = Biscuit::builder()
            .code("right(\"read\");")
            .expect("code")
            .build(&root)
            .expect("build");
        let minter = KeyPair::new();
        let request = token.third_party_request().expect("request");
        let block = request
            .create_block(
                &minter.private(),
                BlockBuilder::new()
                    .code("grant(\"x\"); grant(\"y\");")
                    .expect("code"),
            )
            .expect("block");
        let token = token
            .append_third_party(minter.public(), block)
            .expect("append");
        let blocks = TokenBlocks::decode(&token.to_vec().expect("serialize")).expect("decode");
        let program = Program::from_token(&blocks, &Caps::default()).expect("read");
        assert_eq!(program.facts, 3);
    }
}
