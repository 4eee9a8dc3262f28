//! One sync round: fetch every trusted domain concurrently, validate, merge
//! under the one-owner rule and the quotas, write if changed, and report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use authorizer::keyset;
use authorizer::store::{split, whole_document, Manifest, ShardRef};
use authorizer::synced_at::SyncedAt;
use aws_sdk_secretsmanager::Client;
use biscuit_auth::BiscuitWebKey;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{self, SyncConfig};
use crate::fetch::{ClientError, FetchError, Fetcher};
use crate::merge::{self, DomainReport, Failure, KeySets, TooLarge};
use crate::store::{self, StoreError};

/// Most BWKS fetches in flight at once: bounded sockets and memory with
/// thousands of domains (Lambda allows 1,024 file descriptors).
pub const MAX_CONCURRENT_FETCHES: usize = 64;

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Per domain: its status and the reason.
    pub domains: BTreeMap<String, DomainReport>,
    /// Whether a new version of the key-map secret (the map or the manifest) was written.
    pub written: bool,
    /// The VersionId of the key-map secret now stored (AWSCURRENT).
    pub version_id: String,
    /// The shards written this round (empty for a whole map).
    pub shards_written: Vec<usize>,
    /// The manifest's generation now stored, for a sharded map.
    pub generation: Option<u64>,
    /// The domains whose growth was refused for room this round (each also `rejected`).
    pub growth_refused: Vec<String>,
    /// Per domain, the `expires_at` of each key now stored that has one (for metrics; not printed).
    #[serde(skip)]
    pub key_expiry: BTreeMap<String, Vec<chrono::DateTime<chrono::FixedOffset>>>,
}

impl Summary {
    /// The domains an operator must look at (kept last good, conflict, rejected).
    pub fn needing_operator(&self) -> Vec<&str> {
        self.domains
            .iter()
            .filter(|(_, r)| r.status.needs_operator())
            .map(|(d, _)| d.as_str())
            .collect()
    }
}

/// Why a round failed as a whole (per-domain problems are in the [`Summary`]).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A trusted domain is not a DNS name.
    #[error(transparent)]
    Config(#[from] config::BadDomain),
    /// The shard layout is unusable.
    #[error(transparent)]
    Layout(#[from] config::BadLayout),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The secret could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The map is over the size limit even without this round's growth.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The current secret is not a whole key map and some domains have no
    /// fresh key set: writing would drop their keys, so nothing is written.
    #[error("current key map in {id} is unreadable ({detail}) and not every domain was fetched and validated ({}); nothing written, the authorizer keeps the map it has", .not_synced.join("; "))]
    UnreadableMap {
        /// The secret id.
        id: String,
        /// Why the current secret is not a key map.
        detail: String,
        /// The domains without a fresh key set, with their status and reason.
        not_synced: Vec<String>,
    },
}

/// Everything a round needs, built once per process.
#[derive(Debug, Clone)]
pub struct Syncer {
    config: SyncConfig,
    domains: Vec<String>,
    shard_ids: Vec<String>,
    fetcher: Fetcher,
    secrets: Client,
}

impl Syncer {
    /// Checks the configuration and builds the HTTP client.
    pub fn new(config: SyncConfig, secrets: Client) -> Result<Syncer, SyncError> {
        let domains = config::trusted_domains(&config)?;
        let shard_ids = config.shard_secret_ids()?;
        let fetcher = Fetcher::new(&config)?;
        Ok(Syncer {
            config,
            domains,
            shard_ids,
            fetcher,
            secrets,
        })
    }

    /// Runs one round and writes what it safely can. Domains an operator must
    /// look at are in the summary ([`Summary::needing_operator`]).
    pub async fn run(&self) -> Result<Summary, SyncError> {
        let secret_id = &self.config.keysets_secret_id;
        let stored = store::read(&self.secrets, secret_id).await?;
        let results = self.fetch_all().await;
        let empty = KeySets::new();
        let current = stored.map.as_ref().unwrap_or(&empty);
        let now = SystemTime::now();
        let merged = merge::merge(current, results, self.config.quotas(), now)?;
        // The stamp stays while it is fresh and nothing else changes; a write
        // carries a new one.
        let fresh_stamp = stored.synced_at.filter(|stamp| !stamp.is_due(now));
        let new_stamp = SyncedAt::at(now);
        for (domain, report) in &merged.reports {
            let (status, keys, reason) = (report.status.as_str(), report.keys, &report.reason);
            if report.status.needs_operator() {
                tracing::warn!(%domain, status, keys, %reason, "domain needs an operator");
            } else {
                tracing::info!(%domain, status, keys, %reason, "synced");
            }
        }
        if let Err(detail) = &stored.map {
            let not_synced = merged.without_fresh_set();
            if !not_synced.is_empty() {
                return Err(SyncError::UnreadableMap {
                    id: secret_id.clone(),
                    detail: detail.clone(),
                    not_synced,
                });
            }
        }
        if self.shard_ids.is_empty() {
            let written =
                fresh_stamp.is_none_or(|stamp| whole_document(&merged.next, stamp) != stored.text);
            let version_id = if written {
                store::write(
                    &self.secrets,
                    secret_id,
                    &stored.version_id,
                    &whole_document(&merged.next, new_stamp),
                )
                .await?
            } else {
                stored.version_id
            };
            return Ok(Summary {
                key_expiry: key_expiry(&merged.next),
                domains: merged.reports,
                written,
                version_id,
                shards_written: Vec::new(),
                generation: None,
                growth_refused: merged.growth_refused.into_iter().collect(),
            });
        }
        let (refs, shards_written) = self.write_shards(&merged.shards).await?;
        let previous = stored.manifest.as_ref();
        let generation = previous.map_or(0, |m| m.generation) + 1;
        let mut manifest =
            Manifest::new(generation, refs, &split(&merged.next, self.shard_ids.len()));
        let unchanged = fresh_stamp.is_some()
            && previous.is_some_and(|previous| {
                *previous
                    == Manifest {
                        generation: previous.generation,
                        synced_at: previous.synced_at,
                        ..manifest.clone()
                    }
            });
        manifest.synced_at = Some(new_stamp);
        let (written, version_id, generation) = if unchanged {
            (false, stored.version_id, previous.map(|m| m.generation))
        } else {
            let version = store::write(
                &self.secrets,
                secret_id,
                &stored.version_id,
                &manifest.to_json(),
            )
            .await?;
            (true, version, Some(generation))
        };
        Ok(Summary {
            key_expiry: key_expiry(&merged.next),
            domains: merged.reports,
            written,
            version_id,
            shards_written,
            generation,
            growth_refused: merged.growth_refused.into_iter().collect(),
        })
    }

    /// Writes each shard whose AWSCURRENT differs from its new content; the
    /// manifest entries name every shard's version after that, and the
    /// numbers of the shards written.
    async fn write_shards(
        &self,
        documents: &[String],
    ) -> Result<(Vec<ShardRef>, Vec<usize>), SyncError> {
        let current = store::read_current_shards(&self.secrets, &self.shard_ids).await?;
        let mut refs = Vec::with_capacity(documents.len());
        let mut written = Vec::new();
        for (shard, ((id, document), (version, text))) in self
            .shard_ids
            .iter()
            .zip(documents)
            .zip(current)
            .enumerate()
        {
            let version = if text == *document {
                version
            } else {
                written.push(shard);
                store::write(&self.secrets, id, &version, document).await?
            };
            refs.push(ShardRef {
                id: id.clone(),
                version,
            });
        }
        Ok((refs, written))
    }

    /// Fetches and validates every trusted domain, [`MAX_CONCURRENT_FETCHES`] at a time.
    async fn fetch_all(&self) -> BTreeMap<String, Result<Vec<BiscuitWebKey>, Failure>> {
        let mut fetches = JoinSet::new();
        let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_FETCHES));
        for domain in &self.domains {
            let (fetcher, domain) = (self.fetcher.clone(), domain.clone());
            let permits = permits.clone();
            fetches.spawn(async move {
                // The semaphore is never closed, so a permit always comes.
                let _permit = permits.acquire_owned().await.ok();
                let result = match fetcher.fetch(&domain).await {
                    Ok(document) => keyset::validate_published(&domain, &document, SystemTime::now())
                        .map(|(keys, skipped)| {
                            for entry in skipped {
                                tracing::warn!(domain = %entry.domain, reason = %entry.reason, "dropped a published key");
                            }
                            keys
                        })
                        .map_err(|e| Failure::Failed(e.to_string())),
                    Err(error @ FetchError::TooLarge(_)) => Err(Failure::OverQuota(error.to_string())),
                    Err(error) => Err(Failure::Failed(error.to_string())),
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
                .or_insert_with(|| Err(Failure::Failed("fetch task failed".to_owned())));
        }
        results
    }
}

/// Per domain, the `expires_at` of each stored key that has one.
fn key_expiry(key_sets: &KeySets) -> BTreeMap<String, Vec<chrono::DateTime<chrono::FixedOffset>>> {
    key_sets
        .iter()
        .map(|(domain, keys)| {
            let expiry = keys.iter().filter_map(|key| key.expires_at).collect();
            (domain.clone(), expiry)
        })
        .collect()
}
