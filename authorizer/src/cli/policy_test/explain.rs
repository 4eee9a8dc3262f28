//! `authz test --explain`: what decided a case, named as the operator wrote
//! it: the `allow if` / `deny if` policy that matched (index and text), the
//! checks that failed (block, index and text), or the refusal that came
//! before the policy was asked.

use std::fmt;

use biscuit_auth::error::FailedCheck;
use serde::Serialize;

use crate::decision::{Decision, Refusal};
use crate::policy::PolicyRefusal;

/// One `allow if` / `deny if` policy, by its index among the policy's policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// Its index (0 is the first policy in the file).
    pub index: usize,
    /// Its text as biscuit-auth prints it.
    pub source: String,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRef {
    /// The token block it is in (0: the authority block); `None`: the policy's own check.
    pub block: Option<u32>,
    /// Its index within the block (or among the policy's checks).
    pub check: u32,
    /// Its text.
    pub source: String,
}

/// What decided a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecidedBy {
    /// An `allow if` policy matched and no check failed.
    AllowPolicy {
        /// The policy.
        policy: PolicyRef,
    },
    /// A `deny if` policy matched.
    DenyPolicy {
        /// The policy.
        policy: PolicyRef,
    },
    /// Checks failed.
    FailedChecks {
        /// The `allow if` policy that matched despite them, if one did.
        allow_policy: Option<PolicyRef>,
        /// The checks.
        checks: Vec<CheckRef>,
    },
    /// No `allow if` or `deny if` policy matched.
    NoMatchingPolicy,
    /// Refused before or apart from the policy's verdict (token, key, path,
    /// revocation, limits, probes).
    Refusal {
        /// The reason kind.
        reason_kind: String,
        /// The refusal, printed.
        detail: String,
    },
}

impl DecidedBy {
    /// What decided `decision`; `policies` are the policy's texts by index
    /// ([`crate::policy::Policy::policy_texts`]).
    pub fn of(decision: &Decision, policies: &[String]) -> DecidedBy {
        let policy = |index: usize| PolicyRef {
            index,
            source: policies
                .get(index)
                .cloned()
                .unwrap_or_else(|| "(unknown policy)".to_owned()),
        };
        match &decision.verdict {
            Ok(grant) => DecidedBy::AllowPolicy {
                policy: policy(grant.allow_policy),
            },
            Err(Refusal::Policy(PolicyRefusal::DenyPolicy { index })) => DecidedBy::DenyPolicy {
                policy: policy(*index),
            },
            Err(Refusal::Policy(PolicyRefusal::FailedChecks {
                checks,
                allow_policy,
            })) => DecidedBy::FailedChecks {
                allow_policy: allow_policy.map(policy),
                checks: checks.iter().map(CheckRef::of).collect(),
            },
            Err(Refusal::Policy(PolicyRefusal::NoMatchingPolicy)) => DecidedBy::NoMatchingPolicy,
            Err(refusal) => DecidedBy::Refusal {
                reason_kind: refusal.kind().to_owned(),
                detail: refusal.to_string(),
            },
        }
    }
}

impl CheckRef {
    fn of(check: &FailedCheck) -> CheckRef {
        match check {
            FailedCheck::Block(check) => CheckRef {
                block: Some(check.block_id),
                check: check.check_id,
                source: check.rule.clone(),
            },
            FailedCheck::Authorizer(check) => CheckRef {
                block: None,
                check: check.check_id,
                source: check.rule.clone(),
            },
        }
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy #{}: {}", self.index, self.source)
    }
}

impl fmt::Display for CheckRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.block {
            Some(0) => write!(f, "check #{} of the authority block", self.check)?,
            Some(block) => write!(f, "check #{} of block {block}", self.check)?,
            None => write!(f, "check #{} of the policy", self.check)?,
        }
        write!(f, ": {}", self.source)
    }
}

impl fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecidedBy::AllowPolicy { policy } => write!(f, "allowed by {policy}"),
            DecidedBy::DenyPolicy { policy } => write!(f, "denied by {policy}"),
            DecidedBy::FailedChecks {
                allow_policy,
                checks,
            } => {
                write!(f, "failed ")?;
                for (n, check) in checks.iter().enumerate() {
                    if n > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{check}")?;
                }
                match allow_policy {
                    Some(policy) => write!(f, " (though {policy} matched)"),
                    None => write!(f, " (and no policy matched)"),
                }
            }
            DecidedBy::NoMatchingPolicy => write!(f, "no allow if / deny if policy matched"),
            DecidedBy::Refusal {
                reason_kind,
                detail,
            } => write!(f, "refused ({reason_kind}): {detail}"),
        }
    }
}
