//! Admission: a linear first filter on a token's Datalog, before any of it runs.
//!
//! The engine enforces the Datalog limits while it runs (the patched
//! biscuit-auth in `biscuit-auth-patched/`: time inside every join, expression
//! and closure, facts inside every iteration, each pattern compiled once).
//! Admission only refuses early, in one pass over the token, what is
//! structurally out of bounds: the shape caps before the signature is checked
//! ([`check_shape`]), the per-block [`Caps`] once it is verified, and a
//! memory bound on the facts the engine may hold ([`admit`]). A token over
//! any of them is refused with `token_too_complex` (Deny).
//!
//! - [`program`]: the shape of a Datalog program (from biscuit's protobuf
//!   schema), with the caps checked while reading it.

pub mod program;

use biscuit_auth::builder::Fact;
use biscuit_auth::AuthorizerLimits;
use prost::Message;

use crate::blocks::TokenBlocks;

pub use program::Program;

/// Default memory budget of one evaluation's facts.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 8 * 1024 * 1024;

/// Bytes held per fact, besides its terms (hash set slot, origin, vector).
const FACT_BYTES: u64 = 96;
/// Bytes held per term of a fact, besides collection elements.
const TERM_BYTES: u64 = 40;
/// Bytes held per element of a collection term.
const ELEMENT_BYTES: u64 = 40;

/// Structural caps on each token, each a setting (see the README's "Datalog limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most blocks per token (authority included).
    pub max_blocks: usize,
    /// Most facts per block.
    pub max_facts_per_block: usize,
    /// Most rules per block.
    pub max_rules_per_block: usize,
    /// Most check queries per block (a check with `or` counts each query).
    pub max_checks_per_block: usize,
    /// Most terms of one predicate (fact, rule head or body).
    pub max_predicate_terms: usize,
    /// Most symbols (strings, predicate and variable names) a token carries,
    /// counted before its signature is checked.
    pub max_symbols: usize,
    /// Most predicates in one rule, check or policy body.
    pub max_body_predicates: usize,
    /// Most operations in one expression, closure bodies included.
    pub max_expression_ops: usize,
    /// Deepest nesting of looping closures (`.all`, `.any`).
    pub max_closure_depth: usize,
    /// Most elements in one set, array or map literal (nested elements counted).
    pub max_collection_len: usize,
    /// Longest string or byte-string literal, in bytes.
    pub max_string_bytes: usize,
    /// Longest regular expression (`.matches`) pattern, in bytes.
    pub max_regex_bytes: usize,
    /// Most public keys a token lists in its blocks (for `trusting` scopes),
    /// counted before the signature is checked.
    pub max_public_keys: usize,
    /// Memory budget of one evaluation's facts, in bytes: the most facts the
    /// engine may hold times the widest fact the program can build.
    pub max_memory_bytes: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_blocks: 16,
            max_facts_per_block: 128,
            max_rules_per_block: 32,
            max_checks_per_block: 64,
            max_body_predicates: 8,
            max_predicate_terms: 16,
            max_symbols: 1024,
            max_expression_ops: 64,
            max_closure_depth: 2,
            max_collection_len: 64,
            max_string_bytes: 1024,
            max_regex_bytes: 128,
            max_public_keys: 8,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
        }
    }
}

/// Why a token is too complex to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooComplex {
    /// A structural cap is exceeded.
    #[error("{what} is {actual}, over the cap of {cap}")]
    OverCap {
        /// What was counted (for example "facts in block 1").
        what: String,
        /// The count.
        actual: u64,
        /// The cap.
        cap: u64,
    },
    /// A `.matches` pattern is not a string literal.
    #[error("regular expression in block {block}: {reason}")]
    Regex {
        /// Index of the block (0 is the authority block).
        block: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The bound on Datalog memory is over the budget.
    #[error("Datalog memory bound {bound} bytes is over the budget of {budget} bytes")]
    Memory {
        /// The computed bound.
        bound: u64,
        /// The budget.
        budget: u64,
    },
    /// A block cannot be read (biscuit-auth accepted it, so this should not happen).
    #[error("block {block} is unreadable: {reason}")]
    Unreadable {
        /// Index of the block.
        block: usize,
        /// The decoding error.
        reason: String,
    },
}

/// Refuses, before the signature is checked, a token whose parsing alone
/// would be costly: too many blocks, too many public keys listed in its
/// blocks (each parsed, P-256 ones decompressed), or too many symbols (each
/// hashed into the token's table), all before biscuit-auth checks any signature.
pub fn check_shape(token: &[u8], caps: &Caps) -> Result<(), TooComplex> {
    let unreadable = |e: prost::DecodeError| TooComplex::Unreadable {
        block: 0,
        reason: e.to_string(),
    };
    let envelope = wire::Envelope::decode(token).map_err(unreadable)?;
    let blocks = envelope.authority.iter().chain(&envelope.blocks);
    over_cap("blocks", blocks.clone().count(), caps.max_blocks)?;
    let (mut keys, mut symbols) = (0usize, 0usize);
    for block in blocks {
        let counted = wire::BlockCounts::decode(&block.block[..]).map_err(unreadable)?;
        keys += counted.public_keys.len();
        symbols += counted.symbols.len();
    }
    over_cap("public keys listed in blocks", keys, caps.max_public_keys)?;
    over_cap("symbols", symbols, caps.max_symbols)
}

/// Admits a verified token with the policy's program and these request
/// facts under `limits` (the ones the engine will run with), or says why not.
/// One pass over the token: linear in its size.
pub fn admit(
    token: &TokenBlocks,
    policy: &Program,
    request_facts: &[Fact],
    limits: &AuthorizerLimits,
    caps: &Caps,
) -> Result<(), TooComplex> {
    let token = Program::from_token(token, caps)?;
    let bound = memory_bound(&[policy, &token], request_facts, limits);
    if bound > caps.max_memory_bytes {
        return Err(TooComplex::Memory {
            bound,
            budget: caps.max_memory_bytes,
        });
    }
    Ok(())
}

/// The bytes the engine's facts can take: every fact it may hold (the fact
/// limit, or all asserted facts if more), twice (the facts held and those an
/// iteration or a query builds), each as wide as the widest predicate and
/// every term as large as the largest collection.
fn memory_bound(programs: &[&Program], request_facts: &[Fact], limits: &AuthorizerLimits) -> u64 {
    let mut asserted = request_facts.len() as u64;
    let (mut widest, mut largest) = (0u64, 0u64);
    for program in programs {
        asserted = asserted.saturating_add(program.facts);
        widest = widest.max(program.max_arity);
        largest = largest.max(program.max_collection);
    }
    for fact in request_facts {
        widest = widest.max(fact.predicate.terms.len() as u64);
    }
    let per_fact = FACT_BYTES.saturating_add(
        widest.saturating_mul(TERM_BYTES.saturating_add(largest.saturating_mul(ELEMENT_BYTES))),
    );
    limits
        .max_facts
        .max(asserted)
        .saturating_mul(2)
        .saturating_mul(per_fact)
}

fn over_cap(what: &str, actual: usize, cap: usize) -> Result<(), TooComplex> {
    if actual > cap {
        return Err(TooComplex::OverCap {
            what: what.to_owned(),
            actual: actual as u64,
            cap: cap as u64,
        });
    }
    Ok(())
}

/// The fields the shape check reads; prost skips the rest without decoding it.
mod wire {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Envelope {
        #[prost(message, optional, tag = "2")]
        pub authority: Option<SignedBlock>,
        #[prost(message, repeated, tag = "3")]
        pub blocks: Vec<SignedBlock>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignedBlock {
        #[prost(bytes = "vec", tag = "1")]
        pub block: Vec<u8>,
    }

    /// A block's `symbols` (field 1) and `public_keys` (field 8), as opaque bytes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlockCounts {
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub symbols: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "8")]
        pub public_keys: Vec<Vec<u8>>,
    }
}
