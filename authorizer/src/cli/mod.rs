//! The `authz` operator commands, one module each, all of the same shape:
//! an `Args` struct (its doc comments are the help) and a `run` function.

pub mod attenuate;
pub mod bwks;
pub mod inspect;
pub mod keygen;
pub mod keymap;
pub mod mint;
#[cfg(feature = "lambda")]
pub mod policy;
pub mod policy_test;
pub mod replay;
#[cfg(feature = "lambda")]
pub mod revoke;
pub mod third_party;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::date;
use biscuit_auth::{Algorithm, PrivateKey};

use crate::config::ConfigError;
use crate::envelope::EnvelopeError;
use crate::token::TokenError;

/// Largest token the commands read (the authorizer's own limit is configurable).
const MAX_CLI_TOKEN_BYTES: usize = 1024 * 1024;

/// Why a command failed; printed as one line on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An argument or input is unusable.
    #[error("{0}")]
    Input(String),
    /// biscuit-auth refused (Datalog that does not parse, a key that does not fit).
    #[error("{0}")]
    Biscuit(#[from] biscuit_auth::error::Token),
    /// The token text is not a token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The token envelope could not be read or rewritten.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Configuration files are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `authz revoke` could not record the revocation.
    #[cfg(feature = "lambda")]
    #[error(transparent)]
    Revoke(#[from] crate::revocation::store::RevokeError),
    /// `authz policy publish` did not make the version current.
    #[cfg(feature = "lambda")]
    #[error(transparent)]
    Publish(#[from] policy::PublishError),
    /// Policy test cases ran and some failed (exit code 1).
    #[error("{failed} of {total} policy test cases failed")]
    CasesFailed {
        /// Cases that failed.
        failed: usize,
        /// Cases run.
        total: usize,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The process's exit code: 1 when policy test cases failed, 2 for any
    /// other error (the code clap gives a usage error), so a CI job can tell
    /// a policy that fails its tests from tests that could not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::CasesFailed { .. } => 1,
            _ => 2,
        }
    }
}

impl From<biscuit_auth::error::Format> for CliError {
    fn from(error: biscuit_auth::error::Format) -> Self {
        CliError::Biscuit(error.into())
    }
}

/// Datalog given inline or in a file.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct CodeArgs {
    /// Datalog text.
    #[arg(long)]
    pub code: Option<String>,
    /// A file of Datalog.
    #[arg(long)]
    pub code_file: Option<PathBuf>,
}

impl CodeArgs {
    /// The Datalog text.
    pub fn text(&self) -> Result<String, CliError> {
        match (&self.code, &self.code_file) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some(path)) => read_text(path),
            (None, None) => Err(CliError::Input("give --code or --code-file".into())),
        }
    }
}

/// A lifetime such as `90s`, `15m`, `1h`, `7d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a lifetime like 90s, 15m, 1h or 7d"))?;
    let seconds = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}; use s, m, h or d"
            ))
        }
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// The check that makes a block expire `ttl` from now.
pub fn expiry_check(ttl: Duration) -> Result<String, CliError> {
    let expiry = SystemTime::now()
        .checked_add(ttl)
        .ok_or_else(|| CliError::Input("lifetime too long".into()))?;
    Ok(format!("check if time($time), $time < {};", date(&expiry)))
}

/// Reads a token given as text, a file name, or `-` for standard input.
pub fn read_token(input: &str) -> Result<Vec<u8>, CliError> {
    let text = if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_CLI_TOKEN_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|source| CliError::Io {
                path: "-".into(),
                source,
            })?;
        text
    } else if Path::new(input).is_file() {
        read_text(Path::new(input))?
    } else {
        input.to_owned()
    };
    Ok(crate::token::decode(text.trim(), MAX_CLI_TOKEN_BYTES)?)
}

/// Reads a private key file: `ed25519-private/<hex>`, `secp256r1-private/<hex>`, or bare Ed25519 hex.
pub fn read_private_key(path: &Path) -> Result<PrivateKey, CliError> {
    let text = read_text(path)?;
    let text = text.trim();
    let key = if text.contains('/') {
        text.parse()
    } else {
        PrivateKey::from_bytes_hex(text, Algorithm::Ed25519)
    };
    key.map_err(|e| CliError::Input(format!("{}: not a private key: {e}", path.display())))
}

/// Reads a UTF-8 file.
pub fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_ttl("30"), Ok(Duration::from_secs(30)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
    }
}
