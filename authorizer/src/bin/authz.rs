//! `authz`: the operator's command line.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use authorizer::cli::{self, CliError};
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
    Replay(Box<cli::replay::ReplayArgs>),
    /// Run policy test suites (YAML cases: request, token as Datalog, expected answer); exit 1 on a failed case, 2 on an error.
    Test(Box<cli::policy_test::TestArgs>),
    /// Publish a policy version to its secret only if it parses and passes its suites.
    #[cfg(feature = "lambda")]
    #[command(subcommand)]
    Policy(cli::policy::PolicyCommand),
    /// Create a root key pair for a domain: a private key file and its BWKS item.
    Keygen(cli::keygen::KeygenArgs),
    /// Assemble a domain's /.well-known/biscuit-web-keys document from BWKS items.
    Bwks(cli::bwks::BwksArgs),
    /// Assemble the domain-keyed key map the authorizer reads from BWKS documents.
    Keymap(cli::keymap::KeymapArgs),
    /// Mint a token with rootKeyId and the domain in the envelope's field 5.
    Mint(cli::mint::MintArgs),
    /// Append a block to a token, keeping its domain field.
    Attenuate(cli::attenuate::AttenuateArgs),
    /// Show a token's hints, blocks and revocation ids, and which trusted key verifies it.
    Inspect(cli::inspect::InspectArgs),
    /// Add a token's blocks (or one revocation id) to the revocation list in its secret.
    #[cfg(feature = "lambda")]
    Revoke(cli::revoke::RevokeArgs),
    /// Ask for a third-party block (delegated minting): the request a minter signs.
    ThirdPartyRequest(cli::third_party::RequestArgs),
    /// As a minter, sign a third-party block (the grant) for a request.
    ThirdPartyBlock(cli::third_party::BlockArgs),
    /// Append a minter's third-party block to a token, keeping its domain field.
    AppendThirdParty(cli::third_party::AppendArgs),
}

fn main() -> ExitCode {
    authorizer::log::init();
    let cli = Cli::parse();
    let out = &mut std::io::stdout().lock();
    let result: Result<(), CliError> = match &cli.command {
        Command::Replay(args) => cli::replay::run(args, out),
        Command::Test(args) => cli::policy_test::run(args, out),
        #[cfg(feature = "lambda")]
        Command::Policy(cli::policy::PolicyCommand::Publish(args)) => cli::policy::run(args, out),
        Command::Keygen(args) => cli::keygen::run(args, out),
        Command::Bwks(args) => cli::bwks::run(args, out),
        Command::Keymap(args) => cli::keymap::run(args, out),
        Command::Mint(args) => cli::mint::run(args, out),
        Command::Attenuate(args) => cli::attenuate::run(args, out),
        Command::Inspect(args) => cli::inspect::run(args, out),
        #[cfg(feature = "lambda")]
        Command::Revoke(args) => cli::revoke::run(args, out),
        Command::ThirdPartyRequest(args) => cli::third_party::request(args, out),
        Command::ThirdPartyBlock(args) => cli::third_party::block(args, out),
        Command::AppendThirdParty(args) => cli::third_party::append(args, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("authz: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
