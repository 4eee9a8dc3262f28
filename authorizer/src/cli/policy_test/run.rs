//! Running a suite's cases: tokens minted with throwaway keys, each case
//! decided by the [`Engine`], and the answer compared with what it expects.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use biscuit_auth::{Biscuit, BiscuitWebKey, BlockBuilder, KeyPair};
use serde_json::Value;

use super::explain::DecidedBy;
use super::suite::{self, Case, Suite, TokenSpec};
use super::THROWAWAY_KEY_ID;
use crate::cli::{read_text, CliError};
use crate::config;
use crate::engine::{Engine, Trust};
use crate::keymap::KeyMap;
use crate::revocation::RevocationList;
use crate::store::KeyStore;
use crate::{envelope, token};

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case name.
    pub name: String,
    /// What was expected, as `outcome/reason_kind`.
    pub expected: String,
    /// What the engine answered, as `outcome/reason_kind`.
    pub got: String,
    /// Each expectation that did not hold (empty: passed).
    pub mismatches: Vec<String>,
    /// What decided it.
    pub decided_by: DecidedBy,
}

impl CaseResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Where string tokens' keys and the revocation list come from.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustFiles<'a> {
    /// A key map, for tokens given as strings.
    pub keysets: Option<&'a Path>,
    /// A revocation list.
    pub revoked: Option<&'a Path>,
}

/// Runs the cases of `suite` that `selected` keeps, with throwaway keys for
/// its domains; `policies` are the policy's texts, for [`DecidedBy`].
pub fn run_suite(
    engine: &Engine,
    suite: &Suite,
    trust: TrustFiles<'_>,
    policies: &[String],
    selected: impl Fn(&Case) -> bool,
) -> Result<Vec<CaseResult>, CliError> {
    let cases: Vec<&Case> = suite.cases.iter().filter(|case| selected(case)).collect();
    let issuers = Issuers::for_cases(&cases);
    let trust = issuers.trust(trust)?;
    let now = suite.now.map_or_else(SystemTime::now, SystemTime::from);
    cases
        .into_iter()
        .map(|case| {
            let authorization = match &case.token {
                None => None,
                Some(spec) => Some(format!("Bearer {}", issuers.token(spec, &case.name)?)),
            };
            let event = suite::event(&case.request, authorization.as_deref());
            let evaluated = engine.evaluate(event, Ok(&trust), now);
            Ok(compare(case, &evaluated.decision, policies))
        })
        .collect()
}

/// A throwaway root key per domain the suite mints for.
struct Issuers {
    keys: BTreeMap<String, KeyPair>,
}

impl Issuers {
    fn for_cases(cases: &[&Case]) -> Issuers {
        let keys = cases
            .iter()
            .filter_map(|case| match &case.token {
                Some(TokenSpec::Minted { domain, .. }) => Some(domain.clone()),
                _ => None,
            })
            .map(|domain| (domain, KeyPair::new()))
            .collect();
        Issuers { keys }
    }

    fn trust(&self, files: TrustFiles<'_>) -> Result<Trust, CliError> {
        let Trust {
            keys: given,
            revoked,
        } = match files.keysets {
            Some(path) => config::load_trust(path, files.revoked)?,
            None => Trust {
                keys: KeyStore::default(),
                revoked: match files.revoked {
                    Some(path) => RevocationList::parse(read_text(path)?.as_bytes())
                        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?,
                    None => RevocationList::default(),
                },
            },
        };
        let mut domains = given.to_key_sets();
        for (domain, key) in &self.keys {
            domains
                .entry(domain.clone())
                .or_default()
                .push(BiscuitWebKey {
                    public_key: key.public(),
                    key_id: THROWAWAY_KEY_ID,
                    issuer: None,
                    expires_at: None,
                });
        }
        Ok(Trust {
            keys: KeyStore::Whole(KeyMap::from(&domains)),
            revoked,
        })
    }

    fn token(&self, spec: &TokenSpec, case: &str) -> Result<String, CliError> {
        let input = |what: &str, error: &dyn std::fmt::Display| {
            CliError::Input(format!("case {case:?}: {what}: {error}"))
        };
        match spec {
            TokenSpec::Given { given } => Ok(given.clone()),
            TokenSpec::Minted {
                domain,
                authority,
                blocks,
                without_domain_hint,
            } => {
                let root = self
                    .keys
                    .get(domain)
                    .ok_or_else(|| input("domain", &"no throwaway key"))?;
                let mut biscuit = Biscuit::builder()
                    .code(authority)
                    .map_err(|e| input("authority", &e))?
                    .root_key_id(THROWAWAY_KEY_ID)
                    .build(root)
                    .map_err(|e| input("authority", &e))?;
                for block in blocks {
                    let block = BlockBuilder::new()
                        .code(block)
                        .map_err(|e| input("block", &e))?;
                    biscuit = biscuit.append(block).map_err(|e| input("block", &e))?;
                }
                let bytes = biscuit.to_vec().map_err(|e| input("token", &e))?;
                let hint = (!without_domain_hint).then_some(domain.as_str());
                let bytes = envelope::with_domain(&bytes, hint)?;
                Ok(token::encode(&bytes))
            }
        }
    }
}

fn compare(case: &Case, decision: &crate::Decision, policies: &[String]) -> CaseResult {
    let expect = &case.expect;
    let outcome = crate::metrics::outcome_name(decision.outcome());
    let kind = decision.reason_kind();
    let mut mismatches = Vec::new();
    if expect.outcome != outcome {
        mismatches.push(format!("outcome {outcome}, expected {}", expect.outcome));
    }
    if let Some(want) = expect.reason_kind.as_deref().filter(|want| *want != kind) {
        mismatches.push(format!("reason {kind}, expected {want}"));
    }
    let grant = decision.verdict.as_ref().ok();
    if let Some(want) = &expect.principal {
        let got = grant.and_then(|g| g.principal.as_deref());
        if got != Some(want.as_str()) {
            mismatches.push(format!("principal {got:?}, expected {want:?}"));
        }
    }
    for (key, want) in &expect.context {
        let got = grant.and_then(|g| g.context.get(key));
        if got != Some(want) {
            let got = got.map_or("none".to_owned(), Value::to_string);
            mismatches.push(format!("context {key} = {got}, expected {want}"));
        }
    }
    let expected = match &expect.reason_kind {
        Some(kind) => format!("{}/{kind}", expect.outcome),
        None => expect.outcome.clone(),
    };
    CaseResult {
        name: case.name.clone(),
        expected,
        got: format!("{outcome}/{kind}"),
        mismatches,
        decided_by: DecidedBy::of(decision, policies),
    }
}
