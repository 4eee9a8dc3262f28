//! The parsed trust material kept in process between invocations.
//!
//! A warm invocation makes no network call and parses nothing: it reads an
//! `Arc<Trust>`. After the TTL the next invocation refreshes (one refresh at a
//! time; concurrent callers wait for it and share its result). A refresh that
//! finds the same document versions re-parses nothing. A failed refresh keeps
//! the last good material until the maximum staleness, then fails closed;
//! with no material at all (a cold start that cannot read), every request is
//! refused and the next one tries again.
//!
//! A sharded key map is read as its manifest here; the shards a token needs are
//! loaded by [`TrustCache::load_shards`] before its decision, at the versions
//! the manifest names, and kept until a new manifest names other versions.
//!
//! The policy, when it is read from a source too (`POLICY_SECRET_ID`), is
//! refreshed with the rest and parsed once per version; a version that does
//! not parse is refused (logged and counted) and the last good policy keeps
//! serving. A cold start whose current version does not parse falls back to
//! the previous version (`AWSPREVIOUS`); only when no version parses is every
//! request refused (`policy_unavailable`), while the keys stay loaded.
//!
//! With nothing usable (no trust material, or no policy), refreshes back off
//! exponentially with jitter: a burst of requests makes one read per interval,
//! not one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::engine::Trust;
use crate::keymap::KeyMap;
use crate::metrics;
use crate::policy::{Policy, PolicyStatus};
use crate::revocation::RevocationList;
use crate::source::{Document, DocumentSource, SourceError};
use crate::store::{KeyStore, Route, Stored};

/// How long parsed material is used before it is refreshed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How long the last good material is used while refreshes fail.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(24 * 3600);
/// After a failed refresh, the next try waits at most this long.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// With nothing usable, the first retry waits about this long (then doubling).
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// With nothing usable, retries are at most this far apart.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Freshness rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Refresh after this long.
    pub ttl: Duration,
    /// Fail closed when the last successful load is older than this.
    pub max_staleness: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            ttl: DEFAULT_TTL,
            max_staleness: DEFAULT_MAX_STALENESS,
        }
    }
}

#[derive(Debug)]
struct Loaded {
    trust: Arc<Trust>,
    keys_version: String,
    revoked_version: Option<String>,
    /// Last time the sources were read successfully.
    confirmed_at: Instant,
    /// Next time a refresh is due.
    refresh_at: Instant,
    /// The policy in force, when it is read from a source.
    policy: Option<LoadedPolicy>,
}

/// The newest policy version seen (which may be one that was refused) and the one in force.
#[derive(Debug, Clone)]
struct LoadedPolicy {
    /// The source's current version.
    current: String,
    /// The version in force and its policy; `None` when no version parses.
    serving: Option<(String, Arc<Policy>)>,
}

impl LoadedPolicy {
    fn status(&self) -> PolicyStatus {
        PolicyStatus {
            version: self.serving.as_ref().map(|(version, _)| version.clone()),
            fallback: self
                .serving
                .as_ref()
                .is_none_or(|(version, _)| *version != self.current),
        }
    }
}

/// Retries when nothing usable is loaded: the earliest next try and why the last failed.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_try: Option<Instant>,
    last_error: String,
}

impl Backoff {
    /// Records a failure at `now` and sets the next try: exponential from
    /// [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], jittered to 50–100 %.
    fn failed(&mut self, now: Instant, error: &str) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(16);
        let full = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
        let delay = full.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..=1.0));
        self.next_try = Some(now + delay);
        error.clone_into(&mut self.last_error);
        delay
    }

    /// Why the last try failed, if the next one is not due yet.
    fn waiting(&self, now: Instant) -> Option<&str> {
        self.next_try
            .filter(|at| now < *at)
            .map(|_| self.last_error.as_str())
    }
}

/// What the cache knows about its own health, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStatus {
    /// When the sources were last read successfully (`None`: never).
    pub last_success: Option<Instant>,
    /// Failed refreshes since start.
    pub refresh_failures: u64,
}

/// Caches the key map (and the revocation list, if configured) from their sources.
#[derive(Debug)]
pub struct TrustCache<S> {
    keys: S,
    revoked: Option<S>,
    policy: Option<S>,
    freshness: Freshness,
    loaded: RwLock<Option<Loaded>>,
    failures: AtomicU64,
    /// Held while a refresh runs, so there is one at a time; it guards the backoff.
    refreshing: Mutex<Backoff>,
}

impl<S: DocumentSource> TrustCache<S> {
    /// A cache over these sources; nothing is read until [`TrustCache::get`].
    pub fn new(keys: S, revoked: Option<S>, freshness: Freshness) -> TrustCache<S> {
        TrustCache {
            keys,
            revoked,
            policy: None,
            freshness,
            loaded: RwLock::new(None),
            failures: AtomicU64::new(0),
            refreshing: Mutex::new(Backoff::default()),
        }
    }

    /// Reads the policy from `source` too, with the same refresh rules.
    pub fn with_policy(mut self, source: S) -> TrustCache<S> {
        self.policy = Some(source);
        self
    }

    /// The policy read from the policy source, as of the last refresh
    /// (`None` without a policy source, or before the first good read).
    pub fn policy(&self) -> Option<Arc<Policy>> {
        let loaded = self.read_loaded();
        loaded
            .as_ref()
            .and_then(|l| l.policy.as_ref())
            .and_then(|p| p.serving.as_ref())
            .map(|(_, policy)| policy.clone())
    }

    /// The policy version in force (`None` without a policy source or before the first read).
    pub fn policy_status(&self) -> Option<PolicyStatus> {
        let loaded = self.read_loaded();
        loaded
            .as_ref()
            .and_then(|l| l.policy.as_ref())
            .map(LoadedPolicy::status)
    }

    /// The key map's version (its secret's `VersionId`, or a file's content hash).
    pub fn keys_version(&self) -> Option<String> {
        let loaded = self.read_loaded();
        loaded.as_ref().map(|l| l.keys_version.clone())
    }

    /// The last successful read and the count of failed refreshes.
    pub fn status(&self) -> CacheStatus {
        let loaded = self.read_loaded();
        CacheStatus {
            last_success: loaded.as_ref().map(|l| l.confirmed_at),
            refresh_failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// The current trust material, refreshing it when due; `Err` says why
    /// there is none fit for use (fail closed).
    pub async fn get(&self) -> Result<Arc<Trust>, String> {
        if let Some(trust) = self.current(Instant::now()) {
            return Ok(trust);
        }
        let mut backoff = self.refreshing.lock().await;
        // Another caller may have refreshed while this one waited.
        let now = Instant::now();
        if let Some(trust) = self.current(now) {
            return Ok(trust);
        }
        let nothing_loaded = self.read_loaded().is_none();
        if nothing_loaded {
            if let Some(error) = backoff.waiting(now) {
                return Err(error.to_owned());
            }
        }
        match self.refresh(now).await {
            Ok(trust) => {
                self.after_success(now, &mut backoff);
                Ok(trust)
            }
            Err(error) => {
                if nothing_loaded {
                    let delay = backoff.failed(now, &error);
                    tracing::error!(%error, retry_in_ms = delay.as_millis() as u64, "no trust material: refusing every request until a read succeeds");
                }
                self.after_failure(now, error)
            }
        }
    }

    /// After a successful read: with no policy in force, the next refresh
    /// backs off; otherwise the backoff is over.
    fn after_success(&self, now: Instant, backoff: &mut Backoff) {
        let status = self.policy_status();
        if status.as_ref().is_some_and(|s| s.version.is_none()) {
            let delay = backoff.failed(now, "no policy version parses");
            if let Some(loaded) = self.write_loaded().as_mut() {
                loaded.refresh_at = now + delay.min(self.freshness.ttl.max(FIRST_BACKOFF));
            }
        } else {
            *backoff = Backoff::default();
        }
    }

    /// The loaded state; a poisoned lock still holds consistent data (writers replace it whole).
    fn read_loaded(&self) -> std::sync::RwLockReadGuard<'_, Option<Loaded>> {
        self.loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_loaded(&self) -> std::sync::RwLockWriteGuard<'_, Option<Loaded>> {
        self.loaded
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current(&self, now: Instant) -> Option<Arc<Trust>> {
        let loaded = self.read_loaded();
        loaded
            .as_ref()
            .filter(|loaded| now < loaded.refresh_at)
            .map(|loaded| loaded.trust.clone())
    }

    async fn refresh(&self, now: Instant) -> Result<Arc<Trust>, String> {
        let keys = self.keys.fetch().await.map_err(|e| e.to_string())?;
        let revoked = match &self.revoked {
            Some(source) => Some(source.fetch().await.map_err(|e| e.to_string())?),
            None => None,
        };
        let policy = match &self.policy {
            Some(source) => Some(
                self.policy_for(source, source.fetch().await.map_err(|e| e.to_string())?)
                    .await,
            ),
            None => None,
        };
        let previous = self.snapshot();
        let unchanged = previous
            .as_ref()
            .filter(|(_, keys_version, revoked_version)| {
                *keys_version == keys.version
                    && *revoked_version == revoked.as_ref().map(|d| d.version.clone())
            });
        let trust = match unchanged {
            Some((trust, _, _)) => trust.clone(),
            None => {
                let previous = previous.as_ref().map(|(trust, _, _)| &trust.keys);
                Arc::new(self.parse(&keys, revoked.as_ref(), previous)?)
            }
        };
        let mut loaded = self.write_loaded();
        *loaded = Some(Loaded {
            trust: trust.clone(),
            keys_version: keys.version,
            revoked_version: revoked.map(|d| d.version),
            confirmed_at: now,
            refresh_at: now + self.freshness.ttl,
            policy,
        });
        Ok(trust)
    }

    /// The policy to serve after reading `document`, the source's current
    /// version: the same one for the same version; the new one if it parses;
    /// else the last good one; with none (a cold start), the previous version
    /// if it parses; else none, and every request is refused.
    async fn policy_for(&self, source: &S, document: Document) -> LoadedPolicy {
        let previous = self.read_loaded().as_ref().and_then(|l| l.policy.clone());
        if let Some(previous) = previous
            .as_ref()
            .filter(|p| p.current == document.version && p.serving.is_some())
        {
            return previous.clone();
        }
        let name = source.name();
        let current = document.version.clone();
        let error = match parse_policy(&document) {
            Ok(policy) => {
                tracing::info!(version = %current, "loaded policy");
                return LoadedPolicy {
                    serving: Some((current.clone(), policy)),
                    current,
                };
            }
            Err(error) => error,
        };
        metrics::policy_rejected(&current, &error);
        if let Some(serving) = previous.and_then(|p| p.serving) {
            tracing::error!(%error, version = %current, serving = %serving.0, "{name}: policy version refused; the last good policy keeps serving");
            return LoadedPolicy {
                current,
                serving: Some(serving),
            };
        }
        let fallback = match source.fetch_previous().await {
            Ok(Some(previous)) => parse_policy(&previous)
                .map(|policy| (previous.version, policy))
                .map_err(|e| format!("the previous version does not parse either: {e}")),
            Ok(None) => Err("there is no previous version".to_owned()),
            Err(e) => Err(format!("cannot read the previous version: {e}")),
        };
        match fallback {
            Ok(serving) => {
                tracing::error!(%error, version = %current, serving = %serving.0, "{name}: the current policy version does not parse; serving the PREVIOUS version until a good one is current");
                LoadedPolicy {
                    current,
                    serving: Some(serving),
                }
            }
            Err(why) => {
                tracing::error!(%error, version = %current, fallback = %why, "{name}: no policy version parses: refusing every request (policy_unavailable)");
                LoadedPolicy {
                    current,
                    serving: None,
                }
            }
        }
    }

    fn snapshot(&self) -> Option<(Arc<Trust>, String, Option<String>)> {
        let loaded = self.read_loaded();
        loaded.as_ref().map(|l| {
            (
                l.trust.clone(),
                l.keys_version.clone(),
                l.revoked_version.clone(),
            )
        })
    }

    fn parse(
        &self,
        keys: &Document,
        revoked: Option<&Document>,
        previous: Option<&KeyStore>,
    ) -> Result<Trust, String> {
        let keys =
            match Stored::parse(&keys.content).map_err(|e| format!("{}: {e}", self.keys.name()))? {
                Stored::Whole(map) => KeyStore::Whole(map),
                Stored::Manifest(manifest) => KeyStore::sharded(manifest, previous),
            };
        let revoked = match revoked {
            Some(document) => RevocationList::parse(&document.content).map_err(|e| {
                let name = self
                    .revoked
                    .as_ref()
                    .map_or("revocation list", |s| s.name());
                format!("{name}: {e}")
            })?,
            None => RevocationList::default(),
        };
        match keys.manifest() {
            None => tracing::info!(
                domains = keys.loaded_domain_count(),
                revoked = revoked.len(),
                "loaded trust material"
            ),
            Some(manifest) => tracing::info!(
                generation = manifest.generation,
                shards = manifest.shards.len(),
                shards_kept = keys.loaded_shard_count(),
                revoked = revoked.len(),
                "loaded trust material (key map manifest)"
            ),
        }
        Ok(Trust { keys, revoked })
    }

    /// Loads the key map shards a decision on `route` needs and `trust` has
    /// not loaded yet. A shard that cannot be read is recorded in the store,
    /// so its domains are refused with the reason while every other domain is
    /// decided; a version the manifest names that is gone makes the manifest
    /// due for a refresh at once.
    pub async fn load_shards(&self, trust: &Trust, route: Route<'_>) {
        let now = Instant::now();
        let missing = trust.keys.missing(route, now);
        if missing.is_empty() {
            return;
        }
        let wanted: Vec<_> = missing.iter().map(|(_, shard)| shard.clone()).collect();
        let fetched = self.keys.fetch_shards(&wanted).await;
        for ((shard, reference), result) in missing.into_iter().zip(fetched) {
            let loaded = result.map_err(|error| {
                if matches!(error, SourceError::VersionGone { .. }) {
                    self.refresh_now();
                }
                error.to_string()
            });
            match loaded.and_then(|content| KeyMap::load(&content).map_err(|e| e.to_string())) {
                Ok(map) => {
                    tracing::info!(shard, id = %reference.id, domains = map.domain_count(), "loaded key map shard");
                    trust.keys.install(shard, map);
                }
                Err(error) => {
                    tracing::error!(shard, id = %reference.id, %error, "cannot load key map shard: its domains are refused");
                    metrics::shard_load_failed(shard, &error);
                    trust.keys.failed(shard, error, now);
                }
            }
        }
    }

    /// Makes the next [`TrustCache::get`] refresh.
    fn refresh_now(&self) {
        let mut loaded = self.write_loaded();
        if let Some(loaded) = loaded.as_mut() {
            loaded.refresh_at = Instant::now();
        }
    }

    fn after_failure(&self, now: Instant, error: String) -> Result<Arc<Trust>, String> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        metrics::refresh_failed(&error);
        let mut loaded = self.write_loaded();
        let Some(loaded) = loaded.as_mut() else {
            return Err(error);
        };
        let age = now.duration_since(loaded.confirmed_at);
        if age > self.freshness.max_staleness {
            tracing::error!(%error, age_s = age.as_secs(), "trust material past its maximum staleness: refusing");
            return Err(format!(
                "last good trust material is {}s old: {error}",
                age.as_secs()
            ));
        }
        tracing::warn!(%error, age_s = age.as_secs(), "refresh failed; serving the last good trust material");
        loaded.refresh_at = now + RETRY_AFTER_FAILURE.min(self.freshness.ttl);
        Ok(loaded.trust.clone())
    }
}

/// Parses one policy version.
fn parse_policy(document: &Document) -> Result<Arc<Policy>, String> {
    let text = std::str::from_utf8(&document.content).map_err(|e| e.to_string())?;
    Policy::parse(text).map(Arc::new).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceError;
    use crate::store::ShardRef;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    /// An in-process fake: serves the queued answers, the last one forever.
    struct Fake {
        answers: StdMutex<Vec<Result<Document, SourceError>>>,
        fetches: AtomicUsize,
        previous: Option<Document>,
    }

    impl Fake {
        fn new(answers: Vec<Result<Document, SourceError>>) -> Fake {
            Fake {
                answers: StdMutex::new(answers),
                fetches: AtomicUsize::new(0),
                previous: None,
            }
        }
    }

    impl DocumentSource for Fake {
        async fn fetch(&self) -> Result<Document, SourceError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock().expect("lock");
            if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers[0].clone()
            }
        }
        async fn fetch_shards(&self, shards: &[ShardRef]) -> Vec<Result<Vec<u8>, SourceError>> {
            shards.iter().map(|_| Err(gone())).collect()
        }
        fn name(&self) -> &str {
            "fake"
        }
        async fn fetch_previous(&self) -> Result<Option<Document>, SourceError> {
            Ok(self.previous.clone())
        }
    }

    fn doc(version: &str, json: &str) -> Result<Document, SourceError> {
        Ok(Document {
            version: version.into(),
            content: json.as_bytes().to_vec(),
        })
    }

    fn gone() -> SourceError {
        SourceError::VersionGone {
            source_name: "fake".into(),
            version: "v".into(),
            detail: "no shards here".into(),
        }
    }

    fn down() -> Result<Document, SourceError> {
        Err(SourceError::Unavailable {
            source_name: "fake".into(),
            detail: "down".into(),
        })
    }

    const EMPTY: &str = "{}";

    #[tokio::test]
    async fn warm_calls_do_not_fetch_and_unchanged_versions_are_not_reparsed() {
        let cache = TrustCache::new(
            Fake::new(vec![doc("v1", EMPTY)]),
            None,
            Freshness {
                ttl: Duration::ZERO,
                ..Freshness::default()
            },
        );
        let first = cache.get().await.expect("loaded");
        let second = cache.get().await.expect("refreshed");
        assert!(
            Arc::ptr_eq(&first, &second),
            "same version: the parsed map is reused"
        );
        assert_eq!(cache.keys.fetches.load(Ordering::SeqCst), 2);

        let warm = TrustCache::new(
            Fake::new(vec![doc("v1", EMPTY)]),
            None,
            Freshness::default(),
        );
        for _ in 0..5 {
            warm.get().await.expect("loaded");
        }
        assert_eq!(warm.keys.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_refresh_serves_the_last_good_map_until_max_staleness() {
        let freshness = Freshness {
            ttl: Duration::ZERO,
            max_staleness: Duration::from_millis(200),
        };
        let cache = TrustCache::new(Fake::new(vec![doc("v1", EMPTY), down()]), None, freshness);
        let good = cache.get().await.expect("loaded");
        assert!(Arc::ptr_eq(
            &good,
            &cache.get().await.expect("stale but fine")
        ));
        // Force the retry due now, then wait past the maximum staleness.
        tokio::time::sleep(Duration::from_millis(250)).await;
        cache
            .loaded
            .write()
            .expect("lock")
            .as_mut()
            .expect("loaded")
            .refresh_at = Instant::now();
        assert!(
            cache.get().await.is_err(),
            "past max staleness: fail closed"
        );
    }

    /// Lets the backoff pass at once.
    async fn backoff_over<S: DocumentSource>(cache: &TrustCache<S>) {
        cache.refreshing.lock().await.next_try = None;
    }

    #[tokio::test]
    async fn a_cold_start_that_cannot_read_fails_closed_and_backs_off() {
        let cache = TrustCache::new(
            Fake::new(vec![down(), doc("v1", EMPTY)]),
            None,
            Freshness::default(),
        );
        assert!(cache.get().await.is_err());
        for _ in 0..5 {
            let error = cache.get().await.expect_err("within the backoff");
            assert!(error.contains("down"), "{error}");
        }
        assert_eq!(
            cache.keys.fetches.load(Ordering::SeqCst),
            1,
            "requests within the backoff do not read"
        );
        backoff_over(&cache).await;
        assert!(cache.get().await.is_ok(), "after the backoff, a read");
        assert_eq!(cache.keys.fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_backoff_doubles_with_jitter_up_to_its_maximum() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let delays: Vec<_> = (0..10).map(|_| backoff.failed(now, "down")).collect();
        assert!(delays[0] >= FIRST_BACKOFF / 2 && delays[0] <= FIRST_BACKOFF);
        assert!(delays[3] >= FIRST_BACKOFF * 4 && delays[3] <= FIRST_BACKOFF * 8);
        assert!(delays.iter().all(|d| *d <= MAX_BACKOFF));
        assert!(delays[9] >= MAX_BACKOFF / 2);
        assert_eq!(backoff.waiting(now), Some("down"));
        assert_eq!(backoff.waiting(now + MAX_BACKOFF), None);
    }

    /// Serves version N on its Nth fetch, slowly, so callers overlap a refresh.
    struct Versions {
        fetches: AtomicUsize,
    }

    impl DocumentSource for Versions {
        async fn fetch(&self) -> Result<Document, SourceError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            doc(&format!("v{n}"), EMPTY)
        }
        async fn fetch_shards(&self, shards: &[ShardRef]) -> Vec<Result<Vec<u8>, SourceError>> {
            shards.iter().map(|_| Err(gone())).collect()
        }
        fn name(&self) -> &str {
            "versions"
        }
    }

    #[tokio::test]
    async fn concurrent_callers_during_a_refresh_see_the_old_or_the_new_map() {
        // A long TTL, made due by hand: a loaded machine cannot make the
        // refreshed map due again while the callers run.
        let cache = Arc::new(TrustCache::new(
            Versions {
                fetches: AtomicUsize::new(0),
            },
            None,
            Freshness::default(),
        ));
        let first = cache.get().await.expect("loaded");
        cache.refresh_now();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.expect("task").expect("trust"));
        }
        let second = cache.get().await.expect("loaded");
        assert!(!Arc::ptr_eq(&first, &second), "a new version was loaded");
        assert!(seen
            .iter()
            .all(|t| Arc::ptr_eq(t, &first) || Arc::ptr_eq(t, &second)));
        assert_eq!(
            cache.keys.fetches.load(Ordering::SeqCst),
            2,
            "one refresh for all 64 callers"
        );
    }

    fn policy_cache(answers: Vec<Result<Document, SourceError>>) -> TrustCache<Fake> {
        TrustCache::new(
            Fake::new(vec![doc("k1", EMPTY)]),
            None,
            Freshness {
                ttl: Duration::ZERO,
                ..Freshness::default()
            },
        )
        .with_policy(Fake::new(answers))
    }

    #[tokio::test]
    async fn a_policy_version_is_parsed_once_and_a_bad_one_keeps_the_last_good_policy() {
        let cache = policy_cache(vec![
            doc("p1", "allow if true;"),
            doc("p1", "allow if true;"),
            doc("p2", "allow if this does not parse ("),
            doc("p2", "allow if this does not parse ("),
            doc("p3", "deny if true;"),
        ]);
        cache.get().await.expect("loaded");
        let first = cache.policy().expect("a policy");
        cache.get().await.expect("same version");
        assert!(Arc::ptr_eq(&first, &cache.policy().expect("a policy")));
        cache
            .get()
            .await
            .expect("a bad policy version is not a failed refresh");
        assert!(
            Arc::ptr_eq(&first, &cache.policy().expect("a policy")),
            "the last good policy keeps serving"
        );
        assert_eq!(cache.status().refresh_failures, 0);
        cache.get().await.expect("the bad version again");
        cache.get().await.expect("a good version");
        assert!(
            !Arc::ptr_eq(&first, &cache.policy().expect("a policy")),
            "a new good version replaces it"
        );
    }

    #[tokio::test]
    async fn a_cold_start_without_a_policy_that_parses_keeps_the_keys_and_backs_off() {
        let cache = policy_cache(vec![
            doc("p1", "not datalog ("),
            doc("p2", "allow if true;"),
        ]);
        cache.get().await.expect("the keys load without a policy");
        assert!(cache.policy().is_none());
        assert_eq!(
            cache.policy_status(),
            Some(PolicyStatus {
                version: None,
                fallback: true
            })
        );
        // The TTL is zero, yet within the backoff nothing is read again.
        cache.get().await.expect("keys");
        assert_eq!(cache.keys.fetches.load(Ordering::SeqCst), 1);
        assert_eq!(
            cache.status().refresh_failures,
            0,
            "a bad policy is not a failed read"
        );
        cache.write_loaded().as_mut().expect("loaded").refresh_at = Instant::now();
        cache.get().await.expect("the next refresh tries again");
        assert!(cache.policy().is_some());
        assert_eq!(
            cache.policy_status(),
            Some(PolicyStatus {
                version: Some("p2".into()),
                fallback: false
            })
        );
    }

    #[tokio::test]
    async fn a_cold_start_whose_current_policy_does_not_parse_serves_the_previous_one() {
        let mut source = Fake::new(vec![doc("p2", "not datalog (")]);
        source.previous = doc("p1", "allow if true;").ok();
        let cache = TrustCache::new(
            Fake::new(vec![doc("k1", EMPTY)]),
            None,
            Freshness::default(),
        )
        .with_policy(source);
        cache.get().await.expect("loaded");
        assert!(cache.policy().is_some(), "the previous version serves");
        assert_eq!(
            cache.policy_status(),
            Some(PolicyStatus {
                version: Some("p1".into()),
                fallback: true
            })
        );

        let mut source = Fake::new(vec![doc("p2", "not datalog (")]);
        source.previous = doc("p1", "nor this (").ok();
        let cache = TrustCache::new(
            Fake::new(vec![doc("k1", EMPTY)]),
            None,
            Freshness::default(),
        )
        .with_policy(source);
        cache.get().await.expect("keys loaded");
        assert!(cache.policy().is_none(), "no version parses: none serves");
    }

    #[tokio::test]
    async fn a_policy_source_that_cannot_be_read_is_a_failed_refresh() {
        let cache = policy_cache(vec![doc("p1", "allow if true;"), down()]);
        cache.get().await.expect("loaded");
        cache.get().await.expect("stale but fine");
        assert_eq!(cache.status().refresh_failures, 1);
        assert!(cache.policy().is_some());
    }

    #[tokio::test]
    async fn a_document_that_does_not_parse_is_a_failed_refresh() {
        let cache = TrustCache::new(
            Fake::new(vec![doc("v1", "not json")]),
            None,
            Freshness::default(),
        );
        assert!(cache
            .get()
            .await
            .expect_err("not json")
            .contains("not valid JSON"));
    }
}
