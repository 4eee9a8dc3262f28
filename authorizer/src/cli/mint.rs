//! `authz mint`: a token with rootKeyId and the domain in field 5.

use std::io::Write;
use std::path::PathBuf;

use biscuit_auth::{Biscuit, KeyPair};

use super::{expiry_check, parse_ttl, read_private_key, CliError, CodeArgs};
use crate::{envelope, token};

/// Arguments of `authz mint`.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// The issuer domain, written to the token's field 5.
    #[arg(long)]
    pub domain: String,
    /// The root key id, written to the token's rootKeyId.
    #[arg(long)]
    pub key_id: u32,
    /// The private key file (as written by `authz keygen`).
    #[arg(long)]
    pub private_key: PathBuf,
    /// The authority block.
    #[command(flatten)]
    pub code: CodeArgs,
    /// Lifetime of the token (`90s`, `15m`, `1h`, `7d`): adds a `time` check.
    #[arg(long, value_parser = parse_ttl)]
    pub ttl: Option<std::time::Duration>,
}

/// Prints the token, URL-safe base64.
pub fn run(args: &MintArgs, out: &mut impl Write) -> Result<(), CliError> {
    let root = KeyPair::from(&read_private_key(&args.private_key)?);
    let mut builder = Biscuit::builder()
        .code(args.code.text()?)?
        .root_key_id(args.key_id);
    if let Some(ttl) = args.ttl {
        builder = builder.code(expiry_check(ttl)?)?;
    }
    let biscuit = builder.build(&root)?;
    let bytes = envelope::with_domain(&biscuit.to_vec()?, Some(&args.domain))?;
    writeln!(out, "{}", token::encode(&bytes))?;
    Ok(())
}
