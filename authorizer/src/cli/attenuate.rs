//! `authz attenuate`: appends a block, keeping the token's field 5.

use std::io::Write;

use biscuit_auth::{BlockBuilder, UnverifiedBiscuit};

use super::{expiry_check, parse_ttl, read_token, CliError, CodeArgs};
use crate::{envelope, token};

/// Arguments of `authz attenuate`.
#[derive(Debug, clap::Args)]
pub struct AttenuateArgs {
    /// The token: text, a file, or `-` for standard input.
    pub token: String,
    /// The block to append.
    #[command(flatten)]
    pub code: CodeArgs,
    /// Lifetime of the new block (`90s`, `15m`, `1h`, `7d`): adds a `time` check.
    #[arg(long, value_parser = parse_ttl)]
    pub ttl: Option<std::time::Duration>,
}

/// Prints the attenuated token. biscuit-auth drops field 5 when it
/// re-serializes a token; the domain hint is attached again.
pub fn run(args: &AttenuateArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bytes = read_token(&args.token)?;
    let hints = envelope::read_hints(&bytes)?;
    let mut block = BlockBuilder::new().code(args.code.text()?)?;
    if let Some(ttl) = args.ttl {
        block = block.code(expiry_check(ttl)?)?;
    }
    let attenuated = UnverifiedBiscuit::from(&bytes)?.append(block)?;
    let bytes = envelope::with_domain(&attenuated.to_vec()?, hints.domain.as_deref())?;
    writeln!(out, "{}", token::encode(&bytes))?;
    Ok(())
}
