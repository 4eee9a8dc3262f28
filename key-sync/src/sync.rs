//! One sync round: fetch every trusted domain concurrently, validate, merge,
//! write if changed, and report.

use std::collections::BTreeMap;
use std::time::SystemTime;

use authorizer::keyset;
use aws_sdk_secretsmanager::Client;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::{self, SyncConfig};
use crate::fetch::{ClientError, Fetcher};
use crate::merge::{self, DomainReport};
use crate::store::{self, StoreError};

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Per domain: fetched, unchanged, kept last good (with the error), or removed.
    pub domains: BTreeMap<String, DomainReport>,
    /// Whether a new secret version was written.
    pub written: bool,
    /// The `ClientRequestToken` (content hash) of the map now stored.
    pub content_hash: String,
}

impl Summary {
    /// The domains that failed this round.
    pub fn failed_domains(&self) -> Vec<&str> {
        self.domains
            .iter()
            .filter(|(_, r)| r.failed())
            .map(|(d, _)| d.as_str())
            .collect()
    }
}

/// Why a round failed as a whole (per-domain failures are in the [`Summary`]).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A trusted domain is not a DNS name.
    #[error(transparent)]
    Config(#[from] config::BadDomain),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The secret could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a round needs, built once per process.
#[derive(Debug, Clone)]
pub struct Syncer {
    config: SyncConfig,
    domains: Vec<String>,
    fetcher: Fetcher,
    secrets: Client,
}

impl Syncer {
    /// Checks the configuration and builds the HTTP client.
    pub fn new(config: SyncConfig, secrets: Client) -> Result<Syncer, SyncError> {
        let domains = config::trusted_domains(&config)?;
        let fetcher = Fetcher::new(&config)?;
        Ok(Syncer {
            config,
            domains,
            fetcher,
            secrets,
        })
    }

    /// Runs one round. Domains that failed are reported in the summary; the
    /// map is written first, so what could be synced is.
    pub async fn run(&self) -> Result<Summary, SyncError> {
        let secret_id = &self.config.keysets_secret_id;
        let current = store::read(&self.secrets, secret_id).await?;
        let mut fetches = JoinSet::new();
        for domain in &self.domains {
            let (fetcher, domain) = (self.fetcher.clone(), domain.clone());
            fetches.spawn(async move {
                let result = match fetcher.fetch(&domain).await {
                    Ok(document) => keyset::validate_published(&domain, &document, SystemTime::now())
                        .map(|(keys, skipped)| {
                            for entry in skipped {
                                tracing::warn!(domain = %entry.domain, reason = %entry.reason, "dropped a published key");
                            }
                            keys
                        })
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                (domain, result)
            });
        }
        let mut results = BTreeMap::new();
        while let Some(joined) = fetches.join_next().await {
            match joined {
                Ok((domain, result)) => {
                    results.insert(domain, result);
                }
                Err(error) => tracing::error!(%error, "a fetch task failed"),
            }
        }
        // A domain whose task vanished counts as failed: its last good set is kept.
        for domain in &self.domains {
            results
                .entry(domain.clone())
                .or_insert_with(|| Err("fetch task failed".to_owned()));
        }
        let (next, domains) = merge::merge(&current, results);
        let canonical = keyset::canonical_json(&next);
        let written = canonical != keyset::canonical_json(&current);
        let content_hash = if written {
            store::write(&self.secrets, secret_id, &canonical).await?
        } else {
            store::request_token(&canonical)
        };
        for (domain, report) in &domains {
            match report {
                DomainReport::KeptLastGood { error, keys } => {
                    tracing::warn!(%domain, %error, keys, "kept last good key set")
                }
                report => tracing::info!(%domain, ?report, "synced"),
            }
        }
        Ok(Summary {
            domains,
            written,
            content_hash,
        })
    }
}
