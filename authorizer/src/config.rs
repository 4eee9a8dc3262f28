//! Operator configuration: settings from flags or environment variables (one
//! definition serves `authz` and the Lambda function), and the file loaders.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use biscuit_auth::AuthorizerLimits;

use crate::admission::Caps;

use crate::engine::{Settings, Trust};
use crate::key_choice::KeyChoiceRules;
use crate::keymap::KeyMap;
use crate::policy::{Policy, PolicyError};
use crate::probe::Probe;
use crate::response::HttpApiResponseFormat;
use crate::result_cache::key::{CacheKey, IdentitySource};
use crate::result_cache::{ResultCache, MAX_TTL_SECONDS};
use crate::revocation::{RevocationList, RevocationListError};
use crate::store::{KeyStore, Route, ShardRef, StoreError, Stored};

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
    /// Most Datalog facts per evaluation, besides those the policy and the request assert.
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
    /// Caps on token Datalog and the work budget.
    #[command(flatten)]
    pub caps: CapsArgs,
    /// API Gateway's result cache in front of the function.
    #[command(flatten)]
    pub result_cache: ResultCacheArgs,
}

/// What the function is told of API Gateway's authorizer result cache
/// (README, "Cache-safe decisions").
#[derive(Debug, Clone, clap::Args)]
pub struct ResultCacheArgs {
    /// API Gateway's authorizer result TTL in seconds (0: no caching, every
    /// request is decided); above 0, an Allow that the cache could reuse
    /// wrongly is refused as cache_unsafe.
    #[arg(long, env = "RESULT_CACHE_TTL_SECONDS", default_value_t = 0)]
    pub result_cache_ttl_seconds: u64,
    /// The authorizers' identity sources, comma-separated, in API Gateway's
    /// syntax (method.request.header.Authorization,context.httpMethod,…
    /// for REST; $request.header.Authorization,$context.http.method,… for HTTP APIs).
    #[arg(
        long,
        env = "RESULT_CACHE_KEY",
        value_delimiter = ',',
        default_value = ""
    )]
    pub result_cache_key: Vec<String>,
    /// Most extra evaluations at later instants of the cache window per
    /// decision, for tokens and policies that read `time`.
    #[arg(long, env = "MAX_CACHE_WINDOW_EVALUATIONS", default_value_t = crate::result_cache::DEFAULT_MAX_WINDOW_EVALUATIONS)]
    pub max_cache_window_evaluations: usize,
}

impl ResultCacheArgs {
    /// The result cache these flags describe.
    pub fn result_cache(&self) -> Result<ResultCache, ConfigError> {
        if self.result_cache_ttl_seconds > MAX_TTL_SECONDS {
            return Err(ConfigError::Settings(format!(
                "RESULT_CACHE_TTL_SECONDS={} is over API Gateway's maximum of {MAX_TTL_SECONDS}",
                self.result_cache_ttl_seconds
            )));
        }
        let sources = self
            .result_cache_key
            .iter()
            .filter(|source| !source.trim().is_empty())
            .map(|source| source.parse::<IdentitySource>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Settings(format!("RESULT_CACHE_KEY: {e}")))?;
        Ok(ResultCache {
            ttl: Duration::from_secs(self.result_cache_ttl_seconds),
            key: CacheKey::new(sources),
            max_window_evaluations: self.max_cache_window_evaluations,
        })
    }
}

/// Caps on a token's Datalog, checked before it is evaluated (README, "Datalog limits").
#[derive(Debug, Clone, clap::Args)]
pub struct CapsArgs {
    /// Most blocks per token.
    #[arg(long, env = "MAX_BLOCKS", default_value_t = Caps::default().max_blocks)]
    pub max_blocks: usize,
    /// Most facts per block.
    #[arg(long, env = "MAX_BLOCK_FACTS", default_value_t = Caps::default().max_facts_per_block)]
    pub max_block_facts: usize,
    /// Most rules per block.
    #[arg(long, env = "MAX_BLOCK_RULES", default_value_t = Caps::default().max_rules_per_block)]
    pub max_block_rules: usize,
    /// Most check queries per block.
    #[arg(long, env = "MAX_BLOCK_CHECKS", default_value_t = Caps::default().max_checks_per_block)]
    pub max_block_checks: usize,
    /// Most terms of one predicate of a token.
    #[arg(long, env = "MAX_PREDICATE_TERMS", default_value_t = Caps::default().max_predicate_terms)]
    pub max_predicate_terms: usize,
    /// Most symbols a token carries, counted before its signature is checked.
    #[arg(long, env = "MAX_SYMBOLS", default_value_t = Caps::default().max_symbols)]
    pub max_symbols: usize,
    /// Most predicates in one rule, check or policy body of a token.
    #[arg(long, env = "MAX_BODY_PREDICATES", default_value_t = Caps::default().max_body_predicates)]
    pub max_body_predicates: usize,
    /// Most operations in one expression of a token.
    #[arg(long, env = "MAX_EXPRESSION_OPS", default_value_t = Caps::default().max_expression_ops)]
    pub max_expression_ops: usize,
    /// Deepest closure nesting in a token's expressions.
    #[arg(long, env = "MAX_CLOSURE_DEPTH", default_value_t = Caps::default().max_closure_depth)]
    pub max_closure_depth: usize,
    /// Most elements in one collection literal of a token.
    #[arg(long, env = "MAX_COLLECTION_LEN", default_value_t = Caps::default().max_collection_len)]
    pub max_collection_len: usize,
    /// Longest string or byte-string literal of a token.
    #[arg(long, env = "MAX_STRING_BYTES", default_value_t = Caps::default().max_string_bytes)]
    pub max_string_bytes: usize,
    /// Longest regular expression pattern of a token.
    #[arg(long, env = "MAX_REGEX_BYTES", default_value_t = Caps::default().max_regex_bytes)]
    pub max_regex_bytes: usize,
    /// Most public keys a token lists in its blocks, counted before its signature is checked.
    #[arg(long, env = "MAX_PUBLIC_KEYS", default_value_t = Caps::default().max_public_keys)]
    pub max_public_keys: usize,
    /// Memory budget of one evaluation's Datalog facts, in bytes.
    #[arg(long, env = "MAX_DATALOG_MEMORY_BYTES", default_value_t = Caps::default().max_memory_bytes)]
    pub max_datalog_memory_bytes: u64,
}

impl CapsArgs {
    /// The caps these flags describe.
    pub fn caps(&self) -> Caps {
        Caps {
            max_blocks: self.max_blocks,
            max_facts_per_block: self.max_block_facts,
            max_rules_per_block: self.max_block_rules,
            max_checks_per_block: self.max_block_checks,
            max_body_predicates: self.max_body_predicates,
            max_predicate_terms: self.max_predicate_terms,
            max_symbols: self.max_symbols,
            max_expression_ops: self.max_expression_ops,
            max_closure_depth: self.max_closure_depth,
            max_collection_len: self.max_collection_len,
            max_string_bytes: self.max_string_bytes,
            max_regex_bytes: self.max_regex_bytes,
            max_public_keys: self.max_public_keys,
            max_memory_bytes: self.max_datalog_memory_bytes,
        }
    }
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
            caps: self.caps.caps(),
            result_cache: self.result_cache.result_cache()?,
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
        source: StoreError,
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

/// Loads a key map file (every shard of a manifest) and, if given, a revocation list file.
pub fn load_trust(keysets: &Path, revoked: Option<&Path>) -> Result<Trust, ConfigError> {
    with_revocations(load_key_store(keysets)?, revoked)
}

/// [`load_trust`] reading only a manifest, not its shard files: load those a
/// decision needs with [`load_shard_files`].
pub fn open_trust(keysets: &Path, revoked: Option<&Path>) -> Result<Trust, ConfigError> {
    with_revocations(open_key_store(keysets)?, revoked)
}

fn with_revocations(keys: KeyStore, revoked: Option<&Path>) -> Result<Trust, ConfigError> {
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

/// Loads a key map file: a whole map, or a manifest whose shards are files
/// beside it (each read and checked against its version now).
pub fn load_key_store(path: &Path) -> Result<KeyStore, ConfigError> {
    let store = open_key_store(path)?;
    let shards = store
        .manifest()
        .map(|m| m.shards.clone())
        .unwrap_or_default();
    for (shard, reference) in shards.iter().enumerate() {
        let map = read_shard_map(path, reference).map_err(|detail| ConfigError::KeyMap {
            path: path.to_owned(),
            source: StoreError::BadManifest(detail),
        })?;
        store.install(shard, map);
    }
    Ok(store)
}

/// Opens a key map file: a whole map (its keys decoded on first use), or a
/// manifest alone, its shard files left for [`load_shard_files`].
pub fn open_key_store(path: &Path) -> Result<KeyStore, ConfigError> {
    let stored = Stored::parse(&read(path)?).map_err(|source| ConfigError::KeyMap {
        path: path.to_owned(),
        source,
    })?;
    Ok(match stored {
        Stored::Whole(map) => KeyStore::Whole(map),
        Stored::Manifest(manifest) => KeyStore::sharded(manifest, None),
    })
}

/// Loads the shard files beside `manifest` that a decision on `route` needs,
/// as the function does from Secrets Manager: a shard file that cannot be
/// read, or is not the version the manifest names, refuses its own domains
/// (logged) and no others.
pub fn load_shard_files(store: &KeyStore, manifest: &Path, route: Route<'_>) {
    let now = Instant::now();
    for (shard, reference) in store.missing(route, now) {
        match read_shard_map(manifest, &reference) {
            Ok(map) => store.install(shard, map),
            Err(error) => {
                tracing::error!(shard, id = %reference.id, %error, "cannot load key map shard: its domains are refused");
                store.failed(shard, error, now);
            }
        }
    }
}

fn read_shard_map(manifest: &Path, shard: &ShardRef) -> Result<KeyMap, String> {
    let content = read_shard_file(manifest, shard)?;
    KeyMap::load(&content).map_err(|e| format!("{}: {e}", shard.id))
}

/// Reads the shard file a manifest file names: a plain file name in the
/// manifest's directory, whose SHA-256 must be the version the manifest names.
pub fn read_shard_file(manifest: &Path, shard: &ShardRef) -> Result<Vec<u8>, String> {
    let name = Path::new(&shard.id);
    if name.components().count() != 1 || name.file_name().is_none() {
        return Err(format!(
            "shard {:?} must be a file name beside the manifest",
            shard.id
        ));
    }
    let path = manifest.parent().unwrap_or(Path::new(".")).join(name);
    let content = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let version = file_version(&content);
    if version != shard.version {
        return Err(format!(
            "{} has version {version}, the manifest names {}",
            path.display(),
            shard.version
        ));
    }
    Ok(content)
}

/// The version of a file's content, as manifests name file shards: its SHA-256, hex.
pub fn file_version(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content))
}
