//! `authz mint`: a token with rootKeyId, the domain in field 5 and, unless
//! told not to, the domain as a `domain("...")` fact of the authority block
//! (which survives attenuation by every Biscuit library; field 5 does not).

use std::io::Write;
use std::path::PathBuf;

use biscuit_auth::builder::{fact, string};
use biscuit_auth::{Biscuit, KeyPair};

use super::{expiry_check, parse_ttl, read_private_key, CliError, CodeArgs};
use crate::{envelope, token};

/// Arguments of `authz mint`.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// The issuer domain, written to the token's field 5 and, as
    /// `domain("...")`, to its authority block.
    #[arg(long)]
    pub domain: String,
    /// Leave the `domain("...")` fact out of the authority block (field 5 only).
    #[arg(long)]
    pub no_domain_fact: bool,
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
    if !args.no_domain_fact {
        builder = builder.fact(fact("domain", &[string(&args.domain)]))?;
    }
    if let Some(ttl) = args.ttl {
        builder = builder.code(expiry_check(ttl)?)?;
    }
    let biscuit = builder.build(&root)?;
    let bytes = envelope::with_domain(&biscuit.to_vec()?, Some(&args.domain))?;
    // The authorizer refuses a token whose authority block states another
    // domain (or two): say so now rather than at the first request.
    if let Some(stated) = envelope::read_hints(&bytes)?.authority_domain {
        if stated != args.domain {
            return Err(CliError::Input(format!(
                "the authority block states domain({stated:?}) but --domain is {:?}",
                args.domain
            )));
        }
    }
    writeln!(out, "{}", token::encode(&bytes))?;
    Ok(())
}
