//! Admission: a static bound on the Datalog work of a decision, computed
//! before any Datalog runs.
//!
//! biscuit-auth 6 checks its time and fact limits only between Datalog
//! iterations: one rule application, one check or one expression runs to the
//! end however long it takes. Any holder can append a block, so a verified
//! token is still attacker-controlled Datalog. Admission reads every block of
//! the verified token (third-party blocks included), the operator's policy
//! and the request facts, checks the structural [`Caps`], and computes an
//! upper bound on the work any evaluation can do ([`bound`]). A token over a
//! cap or over the work budget is refused with `token_too_complex` (Deny).
//!
//! - [`program`]: the shape of a Datalog program as admission sees it (from
//!   biscuit's protobuf schema), with the caps checked while reading it.
//! - [`bound`]: the work and memory bound of a program.

pub mod bound;
pub mod program;

use biscuit_auth::builder::Fact;
use biscuit_auth::AuthorizerLimits;
use prost::Message;

use crate::blocks::TokenBlocks;

pub use bound::{WorkBound, DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MAX_WORK};
pub use program::Program;

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
    /// Work budget of one decision, in work units (about a nanosecond each on
    /// the reference machine; see [`bound`]).
    pub max_work: u64,
    /// Memory budget of one decision's Datalog, in bytes.
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
            max_work: DEFAULT_MAX_WORK,
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
    /// A `.matches` pattern is not a string literal, or does not compile within the size limit.
    #[error("regular expression in block {block}: {reason}")]
    Regex {
        /// Index of the block (0 is the authority block).
        block: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The bound on Datalog work is over the budget.
    #[error("Datalog work bound {bound} is over the budget of {budget} units")]
    Work {
        /// The computed bound.
        bound: u64,
        /// The budget.
        budget: u64,
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

/// How a decision evaluates the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluations {
    /// Evaluations per decision: the decision and its least-privilege probes.
    pub count: u64,
    /// Whether the policy trusts blocks besides the authority block (delegated minters).
    pub policy_trusts_more_blocks: bool,
}

impl Default for Evaluations {
    fn default() -> Self {
        Evaluations {
            count: 1,
            policy_trusts_more_blocks: false,
        }
    }
}

/// Admits a verified token for `evaluations` (the decision and its probes) with the policy's program, these request facts and limits,
/// or says why not.
pub fn admit(
    token: &TokenBlocks,
    policy: &Program,
    request_facts: &[Fact],
    limits: &AuthorizerLimits,
    caps: &Caps,
    evaluations: Evaluations,
) -> Result<WorkBound, TooComplex> {
    let token = Program::from_token(token, caps)?;
    let bound = bound::bound(
        &[policy, &token],
        request_facts,
        limits,
        evaluations.policy_trusts_more_blocks,
    );
    let work = bound.work.saturating_mul(evaluations.count.max(1));
    if work > caps.max_work {
        return Err(TooComplex::Work {
            bound: work,
            budget: caps.max_work,
        });
    }
    if bound.memory_bytes > caps.max_memory_bytes {
        return Err(TooComplex::Memory {
            bound: bound.memory_bytes,
            budget: caps.max_memory_bytes,
        });
    }
    Ok(bound)
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
