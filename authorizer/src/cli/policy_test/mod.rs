//! `authz test`: runs policy test suites through the same [`Engine`] the
//! Lambda function uses, prints a table, and fails on any mismatch.
//!
//! Tokens described by Datalog are minted on the fly with one throwaway key
//! per domain (key id [`THROWAWAY_KEY_ID`]); the key map the cases are decided
//! with holds those keys, plus the `--keysets` map when given (for tokens
//! given as strings).

pub mod suite;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};
use serde_json::Value;

use self::suite::{Case, Suite, TokenSpec};
use super::{read_text, CliError};
use crate::config::{self, SettingsArgs};
use crate::engine::{Engine, Trust};
use crate::keymap::KeyMap;
use crate::revocation::RevocationList;
use crate::store::KeyStore;
use crate::{envelope, token};
use biscuit_auth::BiscuitWebKey;

/// The key id of the throwaway keys minted tokens are signed with.
pub const THROWAWAY_KEY_ID: u32 = 4_000_000_001;

/// Arguments of `authz test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The Datalog policy under test.
    #[arg(long)]
    pub policy: PathBuf,
    /// A key map for cases whose token is given as a string (optional).
    #[arg(long)]
    pub keysets: Option<PathBuf>,
    /// A revocation list (JSON array of hex ids; optional).
    #[arg(long)]
    pub revoked: Option<PathBuf>,
    /// Decision settings (probes, holder binding, header allow-list, ...).
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Suite files (YAML).
    #[arg(required = true, value_name = "CASES")]
    pub cases: Vec<PathBuf>,
}

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
}

/// Runs the suites, writes the table to `out`; an error when a case fails.
pub fn run(args: &TestArgs, out: &mut impl Write) -> Result<(), CliError> {
    let policy = config::load_policy(&args.policy)?;
    let engine = Engine::new(policy, args.settings.settings()?);
    if let Some(policy) = engine.policy() {
        for warning in engine.cache_warnings(policy) {
            writeln!(out, "warning: {warning}")?;
        }
    }
    let mut failed = 0;
    let mut total = 0;
    for path in &args.cases {
        let suite = read_suite(path)?;
        let results = run_suite(&engine, &suite, args)?;
        write_table(out, path, &results)?;
        total += results.len();
        failed += results.iter().filter(|r| !r.mismatches.is_empty()).count();
    }
    writeln!(out, "{} passed, {failed} failed", total - failed)?;
    if failed > 0 {
        return Err(CliError::Input(format!(
            "{failed} of {total} policy test cases failed"
        )));
    }
    Ok(())
}

fn read_suite(path: &Path) -> Result<Suite, CliError> {
    serde_norway::from_str(&read_text(path)?)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Runs one suite's cases with throwaway keys for its domains.
pub fn run_suite(
    engine: &Engine,
    suite: &Suite,
    args: &TestArgs,
) -> Result<Vec<CaseResult>, CliError> {
    let issuers = Issuers::for_cases(&suite.cases);
    let trust = issuers.trust(args.keysets.as_deref(), args.revoked.as_deref())?;
    let now = suite.now.map_or_else(SystemTime::now, SystemTime::from);
    suite
        .cases
        .iter()
        .map(|case| {
            let authorization = match &case.token {
                None => None,
                Some(spec) => Some(format!("Bearer {}", issuers.token(spec, &case.name)?)),
            };
            let event = suite::event(&case.request, authorization.as_deref());
            let evaluated = engine.evaluate(event, Ok(&trust), now);
            Ok(compare(case, &evaluated.decision))
        })
        .collect()
}

/// A throwaway root key per domain the suite mints for.
struct Issuers {
    keys: BTreeMap<String, KeyPair>,
}

impl Issuers {
    fn for_cases(cases: &[Case]) -> Issuers {
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

    fn trust(&self, keysets: Option<&Path>, revoked: Option<&Path>) -> Result<Trust, CliError> {
        let Trust {
            keys: given,
            revoked,
        } = match keysets {
            Some(path) => config::load_trust(path, revoked)?,
            None => Trust {
                keys: KeyStore::default(),
                revoked: match revoked {
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

fn compare(case: &Case, decision: &crate::Decision) -> CaseResult {
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
    }
}

fn write_table(out: &mut impl Write, path: &Path, results: &[CaseResult]) -> std::io::Result<()> {
    writeln!(out, "{}", path.display())?;
    let name_width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let expected_width = results
        .iter()
        .map(|r| r.expected.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let got_width = results
        .iter()
        .map(|r| r.got.len())
        .max()
        .unwrap_or(3)
        .max(3);
    writeln!(
        out,
        "  {:<6}  {:<name_width$}  {:<expected_width$}  {:<got_width$}  detail",
        "result", "case", "expected", "got"
    )?;
    for result in results {
        let status = if result.mismatches.is_empty() {
            "ok"
        } else {
            "FAIL"
        };
        let row = format!(
            "  {status:<6}  {:<name_width$}  {:<expected_width$}  {:<got_width$}  {}",
            result.name,
            result.expected,
            result.got,
            result.mismatches.join("; ")
        );
        writeln!(out, "{}", row.trim_end())?;
    }
    Ok(())
}
