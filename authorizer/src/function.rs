//! The Lambda function: configuration from the environment, built once at
//! cold start, and the handler, a plain async function over the event.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::config::SettingsArgs;
use crate::engine::Engine;
use crate::metrics::{MetricsArgs, Observed};
use crate::policy::Policy;
use crate::response::Answer;
use crate::result_cache;
use crate::source::{self, ConfiguredSource, DocumentSource, FileSource, SecretSource};
use crate::trust_cache::{Freshness, TrustCache};

/// The function's configuration, read from environment variables.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "authorizer",
    about = "Biscuit API Gateway authorizer (Lambda function)"
)]
pub struct FunctionConfig {
    /// Secrets Manager secret id (name or ARN) holding the key map.
    #[arg(
        long,
        env = "KEYSETS_SECRET_ID",
        conflicts_with = "keysets_file",
        required_unless_present = "keysets_file"
    )]
    pub keysets_secret_id: Option<String>,
    /// A key map file, for local runs.
    #[arg(long, env = "KEYSETS_FILE")]
    pub keysets_file: Option<PathBuf>,
    /// Secrets Manager secret id holding the revocation list (optional).
    #[arg(long, env = "REVOKED_SECRET_ID", conflicts_with = "revoked_file")]
    pub revoked_secret_id: Option<String>,
    /// A revocation list file (optional).
    #[arg(long, env = "REVOKED_FILE")]
    pub revoked_file: Option<PathBuf>,
    /// Secrets Manager secret id holding the policy's Datalog text, refreshed
    /// with the key map (operators change policy with one put-secret-value).
    #[arg(
        long,
        env = "POLICY_SECRET_ID",
        conflicts_with_all = ["policy", "policy_file"],
        required_unless_present_any = ["policy", "policy_file"]
    )]
    pub policy_secret_id: Option<String>,
    /// The policy as Datalog text (local runs; fixed for the process's life).
    #[arg(long, env = "POLICY", conflicts_with = "policy_file")]
    pub policy: Option<String>,
    /// A policy file (local runs; read once at start).
    #[arg(long, env = "POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Seconds the parsed key map is used before it is refreshed.
    #[arg(long, env = "CACHE_TTL_SECONDS", default_value_t = 300)]
    pub cache_ttl_seconds: u64,
    /// Seconds the last good key map is used while refreshes fail; then every request is refused.
    #[arg(long, env = "MAX_STALENESS_SECONDS", default_value_t = 86_400)]
    pub max_staleness_seconds: u64,
    /// Decision settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Metrics (CloudWatch embedded metric format).
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The policy is missing, unreadable or does not parse.
    #[error("policy: {0}")]
    Policy(String),
    /// A decision setting is unusable.
    #[error("settings: {0}")]
    Settings(String),
    /// No key map source is configured.
    #[error("set KEYSETS_SECRET_ID or KEYSETS_FILE")]
    NoKeySource,
}

/// The error whose message, `Unauthorized`, API Gateway turns into a 401 (REST APIs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

impl From<Unauthorized> for lambda_runtime::Diagnostic {
    fn from(_: Unauthorized) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "Unauthorized".to_owned(),
            error_message: "Unauthorized".to_owned(),
        }
    }
}

/// The function's state, built once per cold start.
#[derive(Debug)]
pub struct Function<S> {
    engine: Engine,
    trust: TrustCache<S>,
    /// The policy read from the trust material last checked against the
    /// result cache key (a weak pointer: its warnings are given once per version).
    checked_policy: Mutex<Weak<Policy>>,
}

impl Function<ConfiguredSource> {
    /// Builds the engine and the sources described by `config`. Secrets
    /// Manager clients are only built when a secret is configured.
    pub async fn from_config(config: &FunctionConfig) -> Result<Self, StartError> {
        let policy_text =
            match (&config.policy, &config.policy_file) {
                (Some(text), _) => Some(text.clone()),
                (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
                    StartError::Policy(format!("cannot read {}: {e}", path.display()))
                })?),
                (None, None) => None,
            };
        let client = match (
            &config.keysets_secret_id,
            &config.revoked_secret_id,
            &config.policy_secret_id,
        ) {
            (None, None, None) => None,
            _ => Some(source::secrets_client().await),
        };
        let source = |secret: &Option<String>, file: &Option<PathBuf>| match (secret, file, &client)
        {
            (Some(id), _, Some(client)) => Some(ConfiguredSource::Secret(SecretSource::new(
                client.clone(),
                id.clone(),
            ))),
            (_, Some(path), _) => Some(ConfiguredSource::File(FileSource::new(path.clone()))),
            _ => None,
        };
        let keys = source(&config.keysets_secret_id, &config.keysets_file)
            .ok_or(StartError::NoKeySource)?;
        let revoked = source(&config.revoked_secret_id, &config.revoked_file);
        let freshness = Freshness {
            ttl: Duration::from_secs(config.cache_ttl_seconds),
            max_staleness: Duration::from_secs(config.max_staleness_seconds),
        };
        let settings = config
            .settings
            .settings()
            .map_err(|e| StartError::Settings(e.to_string()))?;
        let trust = TrustCache::new(keys, revoked, freshness);
        let (engine, trust) = match (policy_text, &config.policy_secret_id, &client) {
            (Some(text), _, _) => {
                let policy = Policy::parse_within(&text, &settings.limits)
                    .map_err(|e| StartError::Policy(e.to_string()))?;
                (Engine::new(policy, settings), trust)
            }
            (None, Some(id), Some(client)) => (
                Engine::without_policy(settings),
                trust.with_policy(ConfiguredSource::Secret(SecretSource::new(
                    client.clone(),
                    id.clone(),
                ))),
            ),
            _ => {
                return Err(StartError::Policy(
                    "set POLICY_SECRET_ID, POLICY or POLICY_FILE".into(),
                ))
            }
        };
        Ok(Function::new(engine, trust))
    }
}

impl<S: DocumentSource> Function<S> {
    /// A function over this engine and trust cache.
    pub fn new(engine: Engine, trust: TrustCache<S>) -> Self {
        Function {
            engine,
            trust,
            checked_policy: Mutex::new(Weak::new()),
        }
    }

    /// Reads the trust material once, so the first request does not wait; a
    /// failure is logged and retried by the first request. Warns when the
    /// policy reads a fact the result cache key does not hold.
    pub async fn preload(&self) {
        if let Some(policy) = self.engine.policy() {
            result_cache::report(&self.engine.cache_warnings(policy));
        }
        if let Err(error) = self.trust.get().await {
            tracing::error!(%error, "cannot load trust material at start");
        }
        self.check_policy(self.trust.policy().as_ref());
    }

    /// Warns about a policy read with the trust material the first time it is seen.
    fn check_policy(&self, policy: Option<&Arc<Policy>>) {
        let Some(policy) = policy else { return };
        let mut checked = self
            .checked_policy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !Weak::ptr_eq(&checked, &Arc::downgrade(policy)) {
            *checked = Arc::downgrade(policy);
            result_cache::report(&self.engine.cache_warnings(policy));
        }
    }

    /// Decides one event: the response document, or the error `Unauthorized`.
    /// `invocation_id` is Lambda's request id, logged with the decision.
    pub async fn handle(
        &self,
        event: Value,
        invocation_id: Option<String>,
    ) -> Result<Value, Unauthorized> {
        let incoming = self.engine.read(event);
        let trust = self.trust.get().await;
        if let Ok(trust) = &trust {
            self.trust.load_shards(trust, incoming.route()).await;
        }
        let trust = trust.as_deref().map_err(String::as_str);
        let policy = self.trust.policy();
        self.check_policy(policy.as_ref());
        let now = SystemTime::now();
        let evaluated = self.engine.finish(policy.as_deref(), incoming, trust, now);
        let observed = Observed {
            trust_age: self.trust.status().last_success.map(|at| at.elapsed()),
            keymap_content_age: trust
                .ok()
                .and_then(|trust| trust.keys.synced_at())
                .map(|synced_at| synced_at.age(now)),
            invocation_id,
            policy: self.trust.policy_status(),
            keymap_version: self.trust.keys_version(),
        };
        crate::log::decision(&evaluated, observed);
        match evaluated.answer {
            Answer::Respond(response) => Ok(response),
            Answer::Unauthorized => Err(Unauthorized),
        }
    }
}
