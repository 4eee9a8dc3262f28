//! Decisions and the reasons behind them.
//!
//! Every refusal names its cause precisely; [`Refusal::outcome`] maps it to
//! what API Gateway is told: a bad or untrusted token is `Unauthorized` (401),
//! a verified token that the policy does not allow is `Deny` (403).

use serde::Serialize;

use crate::admission::TooComplex;
use crate::audit::AuditFinding;
use crate::envelope::EnvelopeError;
use crate::event::{CredentialError, EventError};
use crate::key_choice::KeyChoiceError;
use crate::keyset::AmbiguousKey;
use crate::path::PathError;
use crate::policy::{Grant, PolicyRefusal};
use crate::result_cache::CacheUnsafe;
use crate::store::LookupError;
use crate::token::TokenError;
use crate::verify::VerifyError;

/// What API Gateway is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The request may proceed.
    Allow,
    /// The token is valid but not good for this request (403).
    Deny,
    /// No valid token (401).
    Unauthorized,
}

/// Why a request was not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The event could not be used.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The event carries no usable credential.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The credential is not a token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Before its signature is checked, the token is too costly to parse.
    #[error("token too complex to parse: {0}")]
    Shape(TooComplex),
    /// The token's envelope could not be read.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// No key can be tried.
    #[error(transparent)]
    KeyChoice(#[from] KeyChoiceError),
    /// The token does not verify (or breaks a rule on its signed content).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The key that verified is published under several domains of the key map.
    #[error(transparent)]
    AmbiguousKey(#[from] AmbiguousKey),
    /// The authority block claims a domain other than the verified one.
    #[error("token claims domain {claimed:?} but verified under {verified:?}")]
    DomainClaimMismatch {
        /// The claimed domain.
        claimed: String,
        /// The verified domain.
        verified: String,
    },
    /// A block of the token is revoked.
    #[error("block {block} is revoked")]
    Revoked {
        /// Index of the revoked block.
        block: usize,
    },
    /// The verified token's Datalog is over a cap or the work budget.
    #[error("token too complex: {0}")]
    TooComplex(TooComplex),
    /// The request path is not canonical, so the policy cannot judge it.
    #[error("non-canonical request path: {0}")]
    NonCanonicalPath(#[from] PathError),
    /// The policy did not allow the request.
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
    /// The token would also allow a probe request it was not presented for.
    #[error("token broader than request: it would also allow the {probe} probe")]
    TokenBroaderThanRequest {
        /// The probe that was allowed.
        probe: String,
    },
    /// API Gateway would reuse the Allow for requests or instants it does not
    /// hold for (result caching on).
    #[error("cache unsafe: {0}")]
    CacheUnsafe(#[from] CacheUnsafe),
    /// The token is bound to a client certificate the request did not present.
    #[error("token is bound to a client certificate the request did not present")]
    HolderMismatch,
    /// The key map or revocation list is not available: fail closed.
    #[error("trusted keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// No version of the policy parses: fail closed.
    #[error("no policy is in force: {0}")]
    PolicyUnavailable(String),
}

impl Refusal {
    /// What API Gateway is told for this refusal.
    pub fn outcome(&self) -> Outcome {
        match self {
            // A verified token that is not good for this request: 403. A
            // non-canonical path is a fault of the request, not of the token.
            Refusal::Policy(_)
            | Refusal::TooComplex(_)
            | Refusal::NonCanonicalPath(_)
            | Refusal::TokenBroaderThanRequest { .. }
            | Refusal::HolderMismatch
            | Refusal::CacheUnsafe(_)
            | Refusal::Verify(VerifyError::Audit(AuditFinding::ReservedFact { .. })) => {
                Outcome::Deny
            }
            // No valid token, or nothing to check it with: 401.
            Refusal::Event(_)
            | Refusal::Credential(_)
            | Refusal::Token(_)
            | Refusal::Envelope(_)
            | Refusal::Shape(_)
            | Refusal::KeyChoice(_)
            | Refusal::Verify(VerifyError::Malformed(_) | VerifyError::BadSignature { .. })
            | Refusal::Verify(VerifyError::Audit(AuditFinding::Unreadable(_)))
            | Refusal::AmbiguousKey(_)
            | Refusal::DomainClaimMismatch { .. }
            | Refusal::Revoked { .. }
            | Refusal::KeysUnavailable(_)
            | Refusal::PolicyUnavailable(_) => Outcome::Unauthorized,
        }
    }

    /// A stable, machine-readable name for the reason, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Event(EventError::UnknownKind) => "unknown_event",
            Refusal::Event(EventError::Malformed { .. }) => "malformed_event",
            Refusal::Event(EventError::TooManyEntries { .. }) => "oversized_event",
            Refusal::Credential(CredentialError::Missing) => "missing_token",
            Refusal::Credential(CredentialError::Ambiguous) => "ambiguous_token",
            Refusal::Credential(CredentialError::NotBearer) => "not_bearer",
            Refusal::Token(TokenError::TooLarge { .. }) => "token_too_large",
            Refusal::Token(TokenError::NotBase64) => "token_not_base64",
            Refusal::Envelope(EnvelopeError::ConflictingDomainFacts { .. }) => {
                "conflicting_domain_facts"
            }
            Refusal::Envelope(_) | Refusal::Verify(VerifyError::Malformed(_)) => "malformed_token",
            Refusal::KeyChoice(KeyChoiceError::UntrustedDomain(_)) => "untrusted_domain",
            Refusal::KeyChoice(KeyChoiceError::NoHints) => "no_key_hint",
            Refusal::KeyChoice(KeyChoiceError::DomainHintMismatch { .. }) => "domain_hint_mismatch",
            Refusal::KeyChoice(KeyChoiceError::NoKey { .. }) => "no_key",
            Refusal::KeyChoice(KeyChoiceError::TooManyCandidates { .. })
            | Refusal::KeyChoice(KeyChoiceError::Lookup(LookupError::CrowdedKeyId { .. })) => {
                "too_many_candidates"
            }
            Refusal::KeyChoice(KeyChoiceError::Lookup(LookupError::ShardUnavailable {
                ..
            })) => "keys_unavailable",
            Refusal::KeyChoice(KeyChoiceError::KeyIdRequired { .. }) => "key_id_required",
            Refusal::Shape(_) | Refusal::TooComplex(_) => "token_too_complex",
            Refusal::Verify(VerifyError::BadSignature { .. }) => "bad_signature",
            Refusal::Verify(VerifyError::Audit(AuditFinding::ReservedFact { .. })) => {
                "reserved_fact"
            }
            Refusal::Verify(VerifyError::Audit(AuditFinding::Unreadable(_))) => "malformed_token",
            Refusal::AmbiguousKey(_) => "ambiguous_key",
            Refusal::DomainClaimMismatch { .. } => "domain_claim_mismatch",
            Refusal::Revoked { .. } => "revoked",
            Refusal::NonCanonicalPath(_) => "non_canonical_path",
            Refusal::Policy(PolicyRefusal::DenyPolicy { .. }) => "deny_policy",
            Refusal::Policy(PolicyRefusal::FailedChecks { .. }) => "failed_checks",
            Refusal::Policy(PolicyRefusal::NoMatchingPolicy) => "no_matching_policy",
            Refusal::Policy(PolicyRefusal::LimitReached(_)) => "limits_reached",
            Refusal::Policy(PolicyRefusal::Evaluation(_)) => "evaluation_failed",
            Refusal::TokenBroaderThanRequest { .. } => "token_broader_than_request",
            Refusal::HolderMismatch => "holder_binding_mismatch",
            Refusal::CacheUnsafe(_) => "cache_unsafe",
            Refusal::KeysUnavailable(_) => "keys_unavailable",
            Refusal::PolicyUnavailable(_) => "policy_unavailable",
        }
    }

    /// The human-readable reason. Reserved facts read as the contract says.
    pub fn describe(&self) -> String {
        match self {
            Refusal::Verify(VerifyError::Audit(finding @ AuditFinding::ReservedFact { .. })) => {
                format!("token asserts a reserved fact: {finding}")
            }
            other => other.to_string(),
        }
    }
}

/// The verified identity behind a decision, for logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The verified domain.
    pub domain: String,
    /// The key id that verified.
    pub key_id: u32,
}

/// One decision about one event.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The allowed grant, or why not.
    pub verdict: Result<Grant, Refusal>,
    /// The verified identity, when the token verified.
    pub identity: Option<Identity>,
    /// A stable id derived from the token (not the token), when it verified.
    pub token_id: Option<String>,
    /// Time spent evaluating Datalog, when it ran.
    pub evaluation_time: Option<std::time::Duration>,
}

impl Decision {
    /// What API Gateway is told.
    pub fn outcome(&self) -> Outcome {
        match &self.verdict {
            Ok(_) => Outcome::Allow,
            Err(refusal) => refusal.outcome(),
        }
    }

    /// Machine-readable reason kind (`allowed` for an allow).
    pub fn reason_kind(&self) -> &'static str {
        match &self.verdict {
            Ok(_) => "allowed",
            Err(refusal) => refusal.kind(),
        }
    }

    /// Human-readable reason, at most [`MAX_REASON_BYTES`] and escaped (see [`excerpt`]):
    /// a check's text comes from the token, so it is attacker-written.
    pub fn reason(&self) -> String {
        match &self.verdict {
            Ok(_) => "allowed by policy".to_owned(),
            Err(refusal) => excerpt(&refusal.describe(), MAX_REASON_BYTES),
        }
    }

    /// The principal API Gateway is told: the policy's `principal($p)`, else
    /// the token's id; `None` for a token that did not verify.
    pub fn principal(&self) -> Option<String> {
        self.verdict
            .as_ref()
            .ok()
            .and_then(|grant| grant.principal.clone())
            .or_else(|| self.token_id.clone())
    }
}

/// Longest reason text a decision logs, in bytes (before escaping).
pub const MAX_REASON_BYTES: usize = 320;

/// `text` cut to at most `max_bytes` on a character boundary (with a marker
/// saying how much was left out), every control character escaped as
/// `\u{..}`: one log line stays one line, whatever the token's text holds.
pub fn excerpt(text: &str, max_bytes: usize) -> String {
    // The usual case: short, printable ASCII (no control character is).
    if text.len() <= max_bytes && text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return text.to_owned();
    }
    let mut cut = text.len().min(max_bytes);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + 32);
    for c in text[..cut].chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    if cut < text.len() {
        out.push_str(&format!("… ({} more bytes)", text.len() - cut));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_line_and_bounded() {
        let hostile = format!("check if a(\"x\ny\r\u{85}z\"){}", "é".repeat(1000));
        let out = excerpt(&hostile, MAX_REASON_BYTES);
        assert!(!out.chars().any(char::is_control), "{out}");
        assert!(out.contains("x\\u{a}y\\u{d}\\u{85}z"), "{out}");
        assert!(out.len() < MAX_REASON_BYTES * 2, "{}", out.len());
        assert!(out.ends_with("more bytes)"), "{out}");
        assert_eq!(excerpt("short", 10), "short");
    }
}
