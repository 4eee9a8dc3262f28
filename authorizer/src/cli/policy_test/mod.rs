//! `authz test`: runs policy test suites through the same [`Engine`] the
//! Lambda function uses and reports them as a table, JSON or JUnit XML.
//!
//! Tokens described by Datalog are minted on the fly with one throwaway key
//! per domain (key id [`THROWAWAY_KEY_ID`]); the key map the cases are decided
//! with holds those keys, plus the `--keysets` map when given (for tokens
//! given as strings). `authz policy publish` runs suites with the same code
//! ([`run_suites`]) before a policy version may go live.
//!
//! # Layout
//! - [`suite`]: the YAML suite format, and a case's API Gateway event.
//! - [`run`]: minting, deciding and comparing each case.
//! - [`explain`]: what decided a case (`--explain`).
//! - [`report`]: the text, JSON and JUnit outputs.

pub mod explain;
pub mod report;
pub mod run;
pub mod suite;

use std::path::{Path, PathBuf};

use self::report::SuiteReport;
use self::run::TrustFiles;
use self::suite::Suite;
use super::{read_text, CliError};
use crate::config::{self, SettingsArgs};
use crate::engine::Engine;
use crate::policy::Policy;

/// The key id of the throwaway keys minted tokens are signed with.
pub const THROWAWAY_KEY_ID: u32 = 4_000_000_001;

/// What cases are decided with besides the policy; the same for `authz test`
/// and `authz policy publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct DecisionArgs {
    /// A key map for cases whose token is given as a string (optional).
    #[arg(long)]
    pub keysets: Option<PathBuf>,
    /// A revocation list (JSON array of hex ids; optional).
    #[arg(long)]
    pub revoked: Option<PathBuf>,
    /// Decision settings (probes, holder binding, header allow-list, ...):
    /// give the function's own, so that cases are decided as it decides.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// How `authz test` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table per suite.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML.
    Junit,
}

/// Arguments of `authz test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The Datalog policy under test.
    #[arg(long)]
    pub policy: PathBuf,
    /// What the cases are decided with.
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a JUnit XML report to this file (whatever --format is).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run only the cases whose name contains this text (case-sensitive);
    /// matching no case at all is an error.
    #[arg(long, value_name = "SUBSTRING")]
    pub filter: Option<String>,
    /// Name what decided each case: the matched `allow if` / `deny if` policy,
    /// the failed checks, or the refusal.
    #[arg(long)]
    pub explain: bool,
    /// Suite files (YAML).
    #[arg(required = true, value_name = "CASES")]
    pub cases: Vec<PathBuf>,
}

/// Runs the suites and reports them on `out`. Exits through
/// [`CliError::CasesFailed`] when a case fails; any other error means the
/// suites could not be run.
pub fn run(args: &TestArgs, out: &mut impl std::io::Write) -> Result<(), CliError> {
    let policy = config::load_policy(&args.policy)?;
    // Cache-safety warnings: on the table's output in text, on stderr otherwise
    // (JSON and JUnit stay parseable).
    let engine = Engine::new(policy.clone(), args.decision.settings.settings()?);
    for warning in engine.cache_warnings(&policy) {
        match args.format {
            Format::Text => writeln!(out, "warning: {warning}")?,
            Format::Json | Format::Junit => eprintln!("warning: {warning}"),
        }
    }
    let reports = run_suites(&policy, &args.cases, &args.decision, args.filter.as_deref())?;
    match args.format {
        Format::Text => report::text(out, &reports, args.explain)?,
        Format::Json => report::json(out, &reports, args.explain)?,
        Format::Junit => report::junit(out, &reports, args.explain)?,
    }
    if let Some(path) = &args.junit {
        let mut xml = Vec::new();
        report::junit(&mut xml, &reports, args.explain)?;
        std::fs::write(path, xml).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
    }
    outcome(&reports)
}

/// `Ok` when every case passed, else [`CliError::CasesFailed`].
pub fn outcome(reports: &[SuiteReport]) -> Result<(), CliError> {
    match report::totals(reports) {
        (_, 0) => Ok(()),
        (total, failed) => Err(CliError::CasesFailed { failed, total }),
    }
}

/// Reads every suite (all must be readable before any runs), then runs the
/// cases whose name contains `filter` under `policy`. No case to run is an
/// error: a suite that tests nothing must not pass.
pub fn run_suites(
    policy: &Policy,
    paths: &[PathBuf],
    decision: &DecisionArgs,
    filter: Option<&str>,
) -> Result<Vec<SuiteReport>, CliError> {
    let suites = paths
        .iter()
        .map(|path| Ok((path, read_suite(path)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    let engine = Engine::new(policy.clone(), decision.settings.settings()?);
    let policies = policy.policy_texts();
    let trust = TrustFiles {
        keysets: decision.keysets.as_deref(),
        revoked: decision.revoked.as_deref(),
    };
    let selected = |case: &suite::Case| filter.is_none_or(|text| case.name.contains(text));
    let mut reports = Vec::with_capacity(suites.len());
    for (path, suite) in suites {
        let cases = run::run_suite(&engine, &suite, trust, &policies, selected)?;
        if !cases.is_empty() {
            reports.push(SuiteReport {
                path: path.clone(),
                cases,
            });
        }
    }
    if reports.is_empty() {
        return Err(CliError::Input(match filter {
            Some(text) => format!("no case name contains {text:?}"),
            None => "the suites hold no case".to_owned(),
        }));
    }
    Ok(reports)
}

fn read_suite(path: &Path) -> Result<Suite, CliError> {
    serde_norway::from_str(&read_text(path)?)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::explain::{CheckRef, DecidedBy};
    use super::*;
    use clap::Parser;

    const POLICY: &str = r#"
        check if method($m);
        deny if method("DELETE");
        allow if right("read"), method("GET");
        allow if right("write");
    "#;

    const SUITE: &str = r#"
now: 2030-01-01T00:00:00Z
cases:
  - name: read allowed
    request: {kind: http, method: GET, path: /a}
    token: {domain: a.example, authority: 'right("read");'}
    expect: {outcome: allow}
  - name: delete denied
    request: {kind: http, method: DELETE, path: /a}
    token: {domain: a.example, authority: 'right("write");'}
    expect: {outcome: deny}
  - name: attenuated to GET, wrongly expected to allow a POST
    request: {kind: rest, method: POST, path: /a}
    token: {domain: a.example, authority: 'right("write");', blocks: ['check if method("GET");']}
    expect: {outcome: allow}
  - name: read right on a POST
    request: {kind: http, method: POST, path: /a}
    token: {domain: a.example, authority: 'right("read");'}
    expect: {outcome: deny, reason_kind: no_matching_policy}
  - name: dot segments
    request: {kind: http, method: GET, path: /a/../b}
    token: {domain: a.example, authority: 'right("read");'}
    expect: {outcome: deny}
"#;

    /// `TestArgs`' decision flags at their defaults (no environment needed).
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        decision: DecisionArgs,
    }

    fn results(filter: Option<&str>) -> Vec<run::CaseResult> {
        let policy = Policy::parse(POLICY).expect("policy");
        let suite: Suite = serde_norway::from_str(SUITE).expect("suite");
        let flags = Flags::parse_from(["test", "--max-time-ms", "1000"]);
        let engine = Engine::new(
            policy.clone(),
            flags.decision.settings.settings().expect("settings"),
        );
        run::run_suite(
            &engine,
            &suite,
            TrustFiles::default(),
            &policy.policy_texts(),
            |case| filter.is_none_or(|text| case.name.contains(text)),
        )
        .expect("runs")
    }

    #[test]
    fn explain_names_the_policy_or_the_checks_that_decided() {
        let results = results(None);
        let decided: Vec<&DecidedBy> = results.iter().map(|r| &r.decided_by).collect();
        assert!(
            matches!(decided[0], DecidedBy::AllowPolicy { policy } if policy.index == 1 && policy.source == r#"allow if right("read"), method("GET")"#),
            "{:?}",
            decided[0]
        );
        assert!(
            matches!(decided[1], DecidedBy::DenyPolicy { policy } if policy.index == 0 && policy.source == r#"deny if method("DELETE")"#),
            "{:?}",
            decided[1]
        );
        match decided[2] {
            DecidedBy::FailedChecks {
                allow_policy: Some(policy),
                checks,
            } => {
                assert_eq!(policy.index, 2);
                assert_eq!(
                    checks,
                    &[CheckRef {
                        block: Some(1),
                        check: 0,
                        source: r#"check if method("GET")"#.into()
                    }]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decided[3], &DecidedBy::NoMatchingPolicy);
        assert!(
            matches!(decided[4], DecidedBy::Refusal { reason_kind, .. } if reason_kind == "non_canonical_path"),
            "{:?}",
            decided[4]
        );
        let passed: Vec<bool> = results.iter().map(|r| r.passed()).collect();
        assert_eq!(passed, [true, true, false, true, true]);
        assert!(decided[2].to_string().contains("check #0 of block 1"));
    }

    #[test]
    fn a_filter_runs_only_the_cases_it_names() {
        let names: Vec<String> = results(Some("denied"))
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["delete denied"]);
    }

    #[test]
    fn reports_count_failures_in_every_format() {
        let reports = [SuiteReport {
            path: "suite.yaml".into(),
            cases: results(None),
        }];
        assert_eq!(report::totals(&reports), (5, 1));
        assert!(matches!(
            outcome(&reports),
            Err(CliError::CasesFailed {
                failed: 1,
                total: 5
            })
        ));
        let mut junit = Vec::new();
        report::junit(&mut junit, &reports, true).expect("junit");
        let junit = String::from_utf8(junit).expect("utf-8");
        assert!(
            junit.contains(r#"<testsuites name="authz test" tests="5" failures="1" errors="0">"#)
        );
        assert_eq!(junit.matches("<failure ").count(), 1);
        assert_eq!(junit.matches("<system-out>").count(), 5);
        assert!(
            junit.contains("allow if right(&quot;read&quot;)"),
            "escaped: {junit}"
        );
        let mut json = Vec::new();
        report::json(&mut json, &reports, false).expect("json");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("one JSON document");
        assert_eq!(json["failures"], 1);
        assert_eq!(json["suites"][0]["cases"][2]["passed"], false);
        assert!(json["suites"][0]["cases"][0].get("decided_by").is_none());
        let mut text = Vec::new();
        report::text(&mut text, &reports, true).expect("text");
        let text = String::from_utf8(text).expect("utf-8");
        assert_eq!(text.matches("decided by: ").count(), 5);
        assert!(text.ends_with("4 passed, 1 failed\n"));
    }

    #[test]
    fn failed_cases_and_errors_have_different_exit_codes() {
        let failed = CliError::CasesFailed {
            failed: 1,
            total: 2,
        };
        assert_eq!(failed.exit_code(), 1);
        assert_eq!(CliError::Input("broken suite".into()).exit_code(), 2);
    }
}
