//! `authz keygen`: a new root key pair for a domain.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use biscuit_auth::{Algorithm, BiscuitWebKey, KeyPair};
use chrono::{DateTime, FixedOffset};

use super::CliError;

/// Arguments of `authz keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The issuer domain the key is for.
    #[arg(long)]
    pub domain: String,
    /// The key id (the tokens' rootKeyId).
    #[arg(long)]
    pub key_id: u32,
    /// The signature algorithm.
    #[arg(long, value_enum, default_value_t = KeyAlgorithm::Ed25519)]
    pub algorithm: KeyAlgorithm,
    /// When the key stops being trusted (RFC 3339).
    #[arg(long)]
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// Directory for `DOMAIN-KEYID.private.key` (mode 0600) and
    /// `DOMAIN-KEYID.bwks.json`; created (mode 0700) if missing.
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
}

/// Root key algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA P-256.
    Secp256r1,
}

/// Writes the private key (never overwriting one) and the BWKS item; prints the item.
pub fn run(args: &KeygenArgs, out: &mut impl Write) -> Result<(), CliError> {
    let algorithm = match args.algorithm {
        KeyAlgorithm::Ed25519 => Algorithm::Ed25519,
        KeyAlgorithm::Secp256r1 => Algorithm::Secp256r1,
    };
    let key = KeyPair::new_with_algorithm(algorithm);
    let item = BiscuitWebKey {
        public_key: key.public(),
        key_id: args.key_id,
        issuer: Some(args.domain.clone()),
        expires_at: args.expires_at,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.out_dir)
        .map_err(|source| CliError::Io {
            path: args.out_dir.clone(),
            source,
        })?;
    let stem = format!("{}-{}", args.domain, args.key_id);
    let private_path = args.out_dir.join(format!("{stem}.private.key"));
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| CliError::Io { path, source }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private_path)
        .map_err(io(&private_path))?;
    file.write_all(format!("{}\n", key.private().to_prefixed_string()).as_bytes())
        .map_err(io(&private_path))?;
    let item_json = serde_json::to_string_pretty(&item).map_err(std::io::Error::from)?;
    let bwks_path = args.out_dir.join(format!("{stem}.bwks.json"));
    std::fs::write(&bwks_path, format!("{item_json}\n")).map_err(io(&bwks_path))?;
    writeln!(out, "{item_json}")?;
    Ok(())
}
