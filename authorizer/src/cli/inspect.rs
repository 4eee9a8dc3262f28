//! `authz inspect`: what a token says, and which trusted key verifies it.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use biscuit_auth::UnverifiedBiscuit;
use serde_json::{json, Value};

use super::{read_token, CliError};
use crate::key_choice::{self, KeyChoiceRules};
use crate::store::Route;
use crate::{envelope, verify};

/// Arguments of `authz inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The token: text, a file, or `-` for standard input.
    pub token: String,
    /// A key map: also tell which key verifies the token and the verified domain.
    #[arg(long)]
    pub keysets: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Prints the hints, each block's source, the revocation ids and, with a key
/// map, the verification result.
pub fn run(args: &InspectArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bytes = read_token(&args.token)?;
    let hints = envelope::read_hints(&bytes)?;
    let unverified = UnverifiedBiscuit::from(&bytes)?;
    let blocks = (0..unverified.block_count())
        .map(|i| unverified.print_block_source(i).map(Value::from))
        .collect::<Result<Vec<_>, _>>()?;
    let revocation_ids: Vec<String> = unverified
        .revocation_identifiers()
        .iter()
        .map(hex::encode)
        .collect();
    let mut report = json!({
        "domain_hint": hints.domain,
        "authority_domain": hints.authority_domain,
        "root_key_id": hints.root_key_id,
        "blocks": blocks,
        "revocation_ids": revocation_ids,
    });
    if let Some(path) = &args.keysets {
        let keys =
            crate::config::open_key_store(path).map_err(|e| CliError::Input(e.to_string()))?;
        // Of a manifest, only the shard files the token's hints name are read.
        let route = Route {
            domain: key_choice::routing_domain(&hints).ok().flatten(),
            key_id: hints.root_key_id,
        };
        crate::config::load_shard_files(&keys, path, route);
        let verification =
            key_choice::candidates(&keys, &hints, KeyChoiceRules::default(), SystemTime::now())
                .map_err(|e| e.to_string())
                .and_then(|candidates| {
                    let token = verify::verify(&bytes, &candidates).map_err(|e| e.to_string())?;
                    // As the authorizer does: a key under two domains verifies no one.
                    token.key().unambiguous().map_err(|e| e.to_string())?;
                    Ok(token)
                });
        report["verification"] = match verification {
            Ok(token) => {
                json!({"verified": true, "domain": token.domain(), "key_id": token.key().key_id,
                                "public_key": token.key().public_key.to_string()})
            }
            Err(reason) => json!({"verified": false, "reason": reason}),
        };
    }
    if args.json {
        writeln!(out, "{report}")?;
        return Ok(());
    }
    let text = |value: &Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    writeln!(out, "domain hint: {}", text(&report["domain_hint"]))?;
    writeln!(
        out,
        "authority domain: {}",
        text(&report["authority_domain"])
    )?;
    writeln!(out, "root key id: {}", text(&report["root_key_id"]))?;
    for (index, (source, id)) in blocks.iter().zip(&revocation_ids).enumerate() {
        writeln!(out, "block {index} (revocation id {id}):")?;
        for line in text(source).lines() {
            writeln!(out, "    {line}")?;
        }
    }
    if let Some(verification) = report.get("verification") {
        match verification["verified"].as_bool() {
            Some(true) => writeln!(
                out,
                "verified: domain {} with key id {}",
                text(&verification["domain"]),
                verification["key_id"]
            )?,
            _ => writeln!(out, "not verified: {}", text(&verification["reason"]))?,
        }
    }
    Ok(())
}
