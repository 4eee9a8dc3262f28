//! An AWS API Gateway Lambda authorizer for Biscuit tokens from many issuer domains.
//!
//! # Layout
//! - [`event`]: which API Gateway event arrived, its credential and request details.
//! - [`token`]: credential string to token bytes (size cap, base64).
//! - [`envelope`]: the key-choice hints (`rootKeyId`, domain field 5, the authority block's `domain` fact); attaching field 5.
//! - [`keyset`]: BWKS key sets: validation, the one-owner rule, the stored form.
//! - [`keymap`]: a key map document, located at load, each domain parsed on first use.
//! - [`store`]: the key map as stored (one document, or a manifest and shards), for reader and writer.
//! - [`synced_at`]: when key-sync last confirmed a stored key map (its content age).
//! - [`key_choice`]: candidate keys from the hints.
//! - [`verify`]: signature verification, giving a [`verify::VerifiedToken`].
//! - [`admission`]: caps and a static bound on Datalog work, checked before evaluation.
//! - [`blocks`]: a token's blocks decoded once, each with the symbol table biscuit-auth resolves it against.
//! - [`audit`]: rules on signed content biscuit-auth does not check (reserved facts, high-S).
//! - [`revocation`]: the revocation list: its document, the lookup, and `authz revoke`'s conditional writer.
//! - [`secret_write`]: writes to a secret that land (key-sync), and conditional replacement of its current version (`authz revoke`, `authz policy publish`).
//! - [`source`]: where the key map and revocation list come from (Secrets Manager, file).
//! - [`trust_cache`]: the parsed trust material kept between invocations, refreshed after a TTL.
//! - [`path`]: the canonical-path rule for request paths.
//! - [`facts`]: the request facts given to the policy.
//! - [`holder`]: client certificate fingerprints for holder-bound tokens.
//! - [`probe`]: least-privilege probes derived from a request.
//! - [`policy`]: the operator's Datalog policy, parsed once, evaluated per request.
//! - [`result_cache`]: cache-safe decisions: what API Gateway's result cache key holds, and the window an Allow must hold for.
//! - [`decision`]: outcomes and precise refusal reasons.
//! - [`response`]: answers in the format of each event kind.
//! - [`engine`]: the pipeline tying the steps together.
//! - [`function`]: the Lambda function: configuration from the environment and the handler.
//! - [`config`]: settings from flags or environment, and file loaders.
//! - [`cli`]: the `authz` operator commands, one module each.
//! - [`log`]: logging setup and the one line per decision.
//! - [`metrics`]: CloudWatch embedded-metric-format events (the decision line is one).

#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod blocks;
pub mod cli;
pub mod config;
pub mod decision;
pub mod engine;
pub mod envelope;
pub mod event;
pub mod facts;
#[cfg(feature = "lambda")]
pub mod function;
pub mod holder;
pub mod key_choice;
pub mod keymap;
pub mod keyset;
pub mod log;
pub mod metrics;
pub mod path;
pub mod policy;
pub mod probe;
pub mod response;
pub mod result_cache;
pub mod revocation;
pub mod secret_write;
#[cfg(feature = "lambda")]
pub mod source;
pub mod store;
pub mod synced_at;
pub mod token;
#[cfg(feature = "lambda")]
pub mod trust_cache;
pub mod verify;

pub use decision::{Decision, Outcome, Refusal};
pub use engine::{Engine, Evaluated, Settings, Trust};
