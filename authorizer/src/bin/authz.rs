//! `authz`: the operator's command line.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Operator tools for the Biscuit API Gateway authorizer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run saved API Gateway events through the authorizer's decision path, one JSON line each.
    Replay(authorizer::replay::ReplayArgs),
}

fn main() -> ExitCode {
    authorizer::log::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => {
            authorizer::replay::run(&args, &mut std::io::stdout().lock()).map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("authz: {message}");
            ExitCode::FAILURE
        }
    }
}
