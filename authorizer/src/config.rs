//! Operator configuration: settings from flags or environment variables (one
//! definition serves `authz` and the Lambda function), and the file loaders.

use std::path::{Path, PathBuf};
use std::time::Duration;

use biscuit_auth::AuthorizerLimits;

use crate::engine::{Settings, Trust};
use crate::key_choice::KeyChoiceRules;
use crate::keyset::{KeyMap, KeyMapError};
use crate::policy::{Policy, PolicyError};
use crate::probe::Probe;
use crate::response::HttpApiResponseFormat;
use crate::revocation::{RevocationList, RevocationListError};

/// Decision settings; each flag can also be set by the environment variable named.
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// Longest token accepted, in bytes of base64, checked before decoding.
    #[arg(long, env = "MAX_TOKEN_BYTES", default_value_t = crate::token::DEFAULT_MAX_TOKEN_BYTES)]
    pub max_token_bytes: usize,
    /// Most candidate keys tried for a token without a domain hint.
    #[arg(long, env = "MAX_CANDIDATES", default_value_t = crate::key_choice::DEFAULT_MAX_CANDIDATES)]
    pub max_candidates: usize,
    /// Seconds a key is still honoured past its `expires_at`.
    #[arg(long, env = "KEY_EXPIRY_GRACE_SECONDS", default_value_t = 300)]
    pub key_expiry_grace_seconds: u64,
    /// Most Datalog facts per decision.
    #[arg(long, env = "MAX_FACTS", default_value_t = 1000)]
    pub max_facts: u64,
    /// Most Datalog iterations per decision.
    #[arg(long, env = "MAX_ITERATIONS", default_value_t = 100)]
    pub max_iterations: u64,
    /// Most Datalog time per decision, in milliseconds.
    #[arg(long, env = "MAX_TIME_MS", default_value_t = 10)]
    pub max_time_ms: u64,
    /// Header names given to the policy as `header($name, $value)`, comma-separated.
    #[arg(
        long,
        env = "HEADER_ALLOW_LIST",
        value_delimiter = ',',
        default_value = ""
    )]
    pub header_allow_list: Vec<String>,
    /// Least-privilege probes (comma-separated: write-method, sibling-path,
    /// collection-root, method:VERB); an allowed request is denied when its
    /// token would also allow one of them.
    #[arg(
        long,
        env = "LEAST_PRIVILEGE_PROBES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub least_privilege_probes: Vec<String>,
    /// Most probes, each one extra policy evaluation per allowed request.
    #[arg(long, env = "MAX_PROBES", default_value_t = crate::probe::DEFAULT_MAX_PROBES)]
    pub max_probes: usize,
    /// Enforce holder binding: every `holder_cert($sha256)` fact in any block must
    /// match the request's mutual TLS client certificate.
    #[arg(long, env = "HOLDER_BINDING", default_value_t = false)]
    pub holder_binding: bool,
    /// Delegated minters: the policy also trusts third-party blocks signed by
    /// the keys the authority block names with `minter("ed25519/...")`.
    #[arg(long, env = "DELEGATED_MINTERS", default_value_t = false)]
    pub delegated_minters: bool,
    /// Answer format for HTTP API (payload 2.0) events.
    #[arg(long, env = "HTTP_API_RESPONSE", value_enum, default_value_t = HttpApiResponseFormat::Simple)]
    pub http_api_response: HttpApiResponseFormat,
}

impl SettingsArgs {
    /// The engine settings these flags describe.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let probes = self
            .least_privilege_probes
            .iter()
            .filter(|name| !name.trim().is_empty())
            .map(|name| name.parse::<Probe>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::Settings)?;
        if probes.len() > self.max_probes {
            return Err(ConfigError::Settings(format!(
                "{} least-privilege probes configured, over MAX_PROBES={}",
                probes.len(),
                self.max_probes
            )));
        }
        Ok(Settings {
            max_token_bytes: self.max_token_bytes,
            key_choice: KeyChoiceRules {
                max_candidates: self.max_candidates,
                expiry_grace: Duration::from_secs(self.key_expiry_grace_seconds),
            },
            limits: AuthorizerLimits {
                max_facts: self.max_facts,
                max_iterations: self.max_iterations,
                max_time: Duration::from_millis(self.max_time_ms),
            },
            header_allow_list: self
                .header_allow_list
                .iter()
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect(),
            probes,
            holder_binding: self.holder_binding,
            delegated_minters: self.delegated_minters,
            http_response: self.http_api_response,
        })
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting is unusable.
    #[error("{0}")]
    Settings(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The policy does not parse.
    #[error("{path}: {source}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: PolicyError,
    },
    /// The key map is unusable.
    #[error("{path}: {source}")]
    KeyMap {
        /// The file.
        path: PathBuf,
        /// The error.
        source: KeyMapError,
    },
    /// The revocation list is unusable.
    #[error("{path}: {source}")]
    Revocation {
        /// The file.
        path: PathBuf,
        /// The error.
        source: RevocationListError,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Loads and parses a policy file.
pub fn load_policy(path: &Path) -> Result<Policy, ConfigError> {
    let text = String::from_utf8(read(path)?).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    Policy::parse(&text).map_err(|source| ConfigError::Policy {
        path: path.to_owned(),
        source,
    })
}

/// Loads a key map file and, if given, a revocation list file.
pub fn load_trust(keysets: &Path, revoked: Option<&Path>) -> Result<Trust, ConfigError> {
    let (keys, _skipped) =
        KeyMap::parse(&read(keysets)?).map_err(|source| ConfigError::KeyMap {
            path: keysets.to_owned(),
            source,
        })?;
    let revoked = match revoked {
        None => RevocationList::default(),
        Some(path) => {
            RevocationList::parse(&read(path)?).map_err(|source| ConfigError::Revocation {
                path: path.to_owned(),
                source,
            })?
        }
    };
    Ok(Trust { keys, revoked })
}
