//! Delegated minting with third-party blocks: the holder asks
//! (`third-party-request`), a minter signs a block (`third-party-block`), the
//! holder appends it (`append-third-party`, keeping field 5).

use std::io::Write;
use std::path::PathBuf;

use biscuit_auth::{BlockBuilder, ThirdPartyRequest, UnverifiedBiscuit};

use super::{read_private_key, read_token, CliError, CodeArgs};
use crate::{envelope, token};

/// Arguments of `authz third-party-request`.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// The token: text, a file, or `-` for standard input.
    pub token: String,
}

/// Prints the request a minter needs to sign a block for this token.
pub fn request(args: &RequestArgs, out: &mut impl Write) -> Result<(), CliError> {
    let unverified = UnverifiedBiscuit::from(read_token(&args.token)?)?;
    writeln!(
        out,
        "{}",
        unverified.third_party_request()?.serialize_base64()?
    )?;
    Ok(())
}

/// Arguments of `authz third-party-block`.
#[derive(Debug, clap::Args)]
pub struct BlockArgs {
    /// The request from `authz third-party-request`.
    #[arg(long)]
    pub request: String,
    /// The minter's private key file.
    #[arg(long)]
    pub private_key: PathBuf,
    /// The block's Datalog (the grant).
    #[command(flatten)]
    pub code: CodeArgs,
}

/// Prints the third-party block, signed by the minter's key.
pub fn block(args: &BlockArgs, out: &mut impl Write) -> Result<(), CliError> {
    let request = ThirdPartyRequest::deserialize_base64(args.request.trim())?;
    let key = read_private_key(&args.private_key)?;
    let block = request.create_block(&key, BlockBuilder::new().code(args.code.text()?)?)?;
    writeln!(out, "{}", block.serialize_base64()?)?;
    Ok(())
}

/// Arguments of `authz append-third-party`.
#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// The token: text, a file, or `-` for standard input.
    pub token: String,
    /// The block from `authz third-party-block`.
    #[arg(long)]
    pub block: String,
}

/// Prints the token with the third-party block appended and its domain field kept.
pub fn append(args: &AppendArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bytes = read_token(&args.token)?;
    let hints = envelope::read_hints(&bytes)?;
    let appended = UnverifiedBiscuit::from(&bytes)?.append_third_party_base64(args.block.trim())?;
    let bytes = envelope::with_domain(&appended.to_vec()?, hints.domain.as_deref())?;
    writeln!(out, "{}", token::encode(&bytes))?;
    Ok(())
}
