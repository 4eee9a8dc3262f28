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
    let window = cli.metrics.window();
    let secrets = authorizer::source::secrets_client().await;
    let syncer = match Syncer::new(cli.config, secrets) {
        Ok(syncer) => syncer,
        Err(error) => {
            eprintln!("key-sync: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Once) => match run(&syncer, window).await {
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
                service_fn(move |_: LambdaEvent<Value>| async move { round(syncer, window).await });
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
/// must look at.
async fn round(syncer: &Syncer, window: std::time::Duration) -> Result<Summary, String> {
    let summary = run(syncer, window).await.map_err(|e| e.to_string())?;
    let needing_operator = summary.needing_operator();
    if needing_operator.is_empty() {
        Ok(summary)
    } else {
        Err(format!(
            "domains need an operator: {}; summary: {}",
            needing_operator.join(", "),
            serde_json::to_string(&summary).unwrap_or_default()
        ))
    }
}

/// One round, with its metrics.
async fn run(
    syncer: &Syncer,
    window: std::time::Duration,
) -> Result<Summary, key_sync::sync::SyncError> {
    let result = syncer.run().await;
    let error = result.as_ref().err().map(ToString::to_string);
    metrics::round_end(
        result
            .as_ref()
            .map_err(|_| error.as_deref().unwrap_or_default()),
        window,
    );
    result
}
