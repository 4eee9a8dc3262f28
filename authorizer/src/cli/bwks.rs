//! `authz bwks`: a domain's `/.well-known/biscuit-web-keys` document from BWKS items.

use std::io::Write;
use std::path::PathBuf;

use biscuit_auth::BiscuitWebKey;

use super::{read_text, CliError};

/// Arguments of `authz bwks`.
#[derive(Debug, clap::Args)]
pub struct BwksArgs {
    /// BWKS item files (as written by `authz keygen`).
    #[arg(required = true, value_name = "ITEM")]
    pub items: Vec<PathBuf>,
}

/// Prints the document: the items as a JSON array, key ids unique.
pub fn run(args: &BwksArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut items: Vec<BiscuitWebKey> = Vec::new();
    for path in &args.items {
        let item: BiscuitWebKey = serde_json::from_str(&read_text(path)?)
            .map_err(|e| CliError::Input(format!("{}: not a BWKS item: {e}", path.display())))?;
        if items.iter().any(|other| other.key_id == item.key_id) {
            return Err(CliError::Input(format!(
                "{}: key_id {} is already used",
                path.display(),
                item.key_id
            )));
        }
        items.push(item);
    }
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&items).map_err(std::io::Error::from)?
    )?;
    Ok(())
}
