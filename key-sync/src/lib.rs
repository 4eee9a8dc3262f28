//! key-sync: fetches each trusted domain's BWKS out of band and writes the
//! authorizer's key map to Secrets Manager.
//!
//! # Layout
//! - [`config`]: configuration from flags or environment variables.
//! - [`fetch`]: HTTPS GET of one domain's `/.well-known/biscuit-web-keys`, bounded.
//! - [`metrics`]: the round's metrics (domains by status, expiring keys, writes) in EMF.
//! - [`quotas`]: the per-domain limits, measured on what is stored.
//! - [`growth`]: fair admission of growth into a document that would pass its limit.
//! - [`merge`]: the new key map from the current one and this round's results
//!   (withdrawals always apply, one owner per public key).
//! - [`store`]: reading and writing the key-map secret (writes that always land, checked).
//! - [`sync`]: one round, tying the steps together, and its summary.
//!
//! Validation uses the authorizer's own key-set model ([`authorizer::keyset`]).

#![forbid(unsafe_code)]

pub mod config;
pub mod fetch;
pub mod growth;
pub mod merge;
pub mod metrics;
pub mod quotas;
pub mod store;
pub mod sync;
