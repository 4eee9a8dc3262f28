//! `authz keymap`: the domain-keyed map the authorizer reads, from BWKS documents.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::keyset::{self, KeySets};

use super::CliError;

/// Arguments of `authz keymap`.
#[derive(Debug, clap::Args)]
pub struct KeymapArgs {
    /// `DOMAIN=BWKS_FILE` pairs: each domain's published document.
    #[arg(required = true, value_name = "DOMAIN=BWKS_FILE")]
    pub domains: Vec<String>,
}

/// Validates each document as key-sync does and prints the map as key-sync
/// stores it. A public key in the documents of two domains is refused, as
/// key-sync refuses it when neither held it before ([`keyset::assign_owners`]).
pub fn run(args: &KeymapArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut key_sets = KeySets::new();
    for pair in &args.domains {
        let (domain, path) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("{pair:?} is not DOMAIN=BWKS_FILE")))?;
        let path = PathBuf::from(path);
        let document = std::fs::read(&path).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
        let (keys, skipped) = keyset::validate_published(domain, &document, SystemTime::now())
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
        for entry in skipped {
            eprintln!("authz: {domain}: skipped a key: {}", entry.reason);
        }
        if key_sets.insert(domain.to_owned(), keys).is_some() {
            return Err(CliError::Input(format!("domain {domain} given twice")));
        }
    }
    let (key_sets, conflicts) = keyset::assign_owners(&KeySets::new(), key_sets);
    if let Some((domain, conflict)) = conflicts
        .iter()
        .flat_map(|(domain, found)| found.iter().map(move |c| (domain, c)))
        .next()
    {
        return Err(CliError::Input(format!("{domain}: {conflict}")));
    }
    writeln!(out, "{}", keyset::canonical_json(&key_sets))?;
    Ok(())
}
