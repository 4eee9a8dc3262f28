//! key-sync: a Lambda function run on a schedule, or `key-sync once` from a shell.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use key_sync::config::SyncConfig;
use key_sync::metrics::{self, KeySyncMetricsArgs};
use key_sync::sync::{Summary, Syncer};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Fetch each trusted domain's BWKS and write the authorizer's key map")]
struct Cli {
    #[command(flatten)]
    config: SyncConfig,
    #[command(flatten)]
    metrics: KeySyncMetricsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one round now and print its summary (exit 1 if an operator must act).
    Once,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    authorizer::log::init();
    let cli = Cli::parse();
    // `once` prints its summary on stdout: its metrics go to stderr.
    cli.metrics.init(match cli.command {
        Some(Command::Once) => authorizer::metrics::Sink::Stderr,
        None => authorizer::metrics::Sink::Stdout,
    });
    let reporting = cli.metrics.reporting();
    let secrets = authorizer::source::secrets_client().await;
    let syncer = match Syncer::new(cli.config, secrets) {
        Ok(syncer) => syncer,
        Err(error) => {
            eprintln!("key-sync: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Once) => match run(&syncer, reporting).await {
            Ok(summary) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
                if summary.needing_operator().is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(error) => {
                eprintln!("key-sync: {error}");
                ExitCode::FAILURE
            }
        },
        None => {
            let syncer = &syncer;
            let handler =
                service_fn(
                    move |_: LambdaEvent<Value>| async move { round(syncer, reporting).await },
                );
            match lambda_runtime::run(handler).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("key-sync: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// One scheduled round: the summary, or an error (after writing what could be
/// written) so the schedule's error metric and alarm see domains an operator
/// must look at. The error is bounded (a count and the first few domains);
/// each such domain is logged on its own line with its status and reason.
async fn round(syncer: &Syncer, reporting: metrics::Reporting) -> Result<Summary, String> {
    let summary = run(syncer, reporting).await.map_err(|e| e.to_string())?;
    let needing_operator = summary.needing_operator();
    if needing_operator.is_empty() {
        return Ok(summary);
    }
    for domain in &needing_operator {
        if let Some(report) = summary.domains.get(*domain) {
            let reason = authorizer::decision::excerpt(&report.reason, 512);
            tracing::warn!(domain, status = report.status.as_str(), %reason, "domain needs an operator");
        }
    }
    Err(operator_error(&needing_operator))
}

/// The invocation's error when domains need an operator: their count and the first few.
fn operator_error(domains: &[&str]) -> String {
    const NAMED: usize = 5;
    let named = domains[..domains.len().min(NAMED)].join(", ");
    let more = domains.len().saturating_sub(NAMED);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} domain(s) need an operator: {named}{more} (one log line each: \"domain needs an operator\")",
        domains.len()
    )
}

/// One round, with its metrics.
async fn run(
    syncer: &Syncer,
    reporting: metrics::Reporting,
) -> Result<Summary, key_sync::sync::SyncError> {
    let result = syncer.run().await;
    let error = result.as_ref().err().map(ToString::to_string);
    metrics::round_end(
        result
            .as_ref()
            .map_err(|_| error.as_deref().unwrap_or_default()),
        reporting,
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_error_is_bounded() {
        let names: Vec<String> = (0..10_000).map(|i| format!("d{i}.example")).collect();
        let domains: Vec<&str> = names.iter().map(String::as_str).collect();
        let error = operator_error(&domains);
        assert!(error.len() < 200, "{error}");
        assert!(error.starts_with("10000 domain(s) need an operator: d0.example, "));
        assert!(error.contains("and 9995 more"));
        assert_eq!(
            operator_error(&["a.example"]),
            "1 domain(s) need an operator: a.example (one log line each: \"domain needs an operator\")"
        );
    }
}
