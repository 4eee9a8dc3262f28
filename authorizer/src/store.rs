//! The key map as it is stored, one model for the writers (key-sync, `authz
//! keymap`) and the reader (the authorizer).
//!
//! A deployment with few issuers keeps the whole map in one document, a secret
//! or a file: `{"example.org": [BWKS item, ...], ...}`. Past what one secret
//! holds, the map is split into shards, documents of that same format, each
//! domain in the shard [`shard_of`] names, and the key-map secret holds a
//! [`Manifest`] instead: every shard's id and version, a generation number,
//! and an index from key id to shards for tokens that carry no domain.
//!
//! Writers write the changed shards first, then the manifest; the reader
//! fetches a shard by the version its manifest names, so it always sees one
//! whole generation, whatever a writer is doing meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keymap::{DomainKeys, KeyMap, KeyMapError, Publisher};
use crate::keyset::{self, KeySets};
use crate::synced_at::SyncedAt;

/// Secrets Manager's limit on a SecretString.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Largest shard (or single map) a writer stores: headroom under the limit.
pub const SHARD_BUDGET_BYTES: usize = 56 * 1024;
/// Largest manifest a writer stores; the key-id index is cut to fit.
pub const MANIFEST_BUDGET_BYTES: usize = 56 * 1024;
/// Most shards a manifest may name.
pub const MAX_SHARDS: usize = 256;
/// A key id published by more domains than this is listed as crowded, not by shard.
pub const KEY_ID_INDEX_CAP: usize = 16;
/// After a shard fails to load, decisions needing it are refused this long before it is fetched again.
pub const SHARD_RETRY_AFTER: Duration = Duration::from_secs(10);
/// The `manifest_version` this code writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// The document in the key-map secret (or file) of a sharded map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`]; a key map has no top-level number, so this marks a manifest.
    pub manifest_version: u32,
    /// Incremented by every write of the manifest.
    pub generation: u64,
    /// The shards, in shard-number order.
    pub shards: Vec<ShardRef>,
    /// Key id → the shards holding a domain that publishes it, for key ids
    /// published by at most [`KEY_ID_INDEX_CAP`] domains.
    #[serde(default)]
    pub key_ids: BTreeMap<u32, Vec<usize>>,
    /// Key ids published by more domains than that.
    #[serde(default)]
    pub crowded_key_ids: BTreeSet<u32>,
    /// False when the index was cut to fit the manifest: a key id missing
    /// from both lists may then still be published.
    pub index_complete: bool,
    /// When key-sync last confirmed the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<SyncedAt>,
}

/// One shard as a manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRef {
    /// The secret id (or file name, relative to the manifest's directory).
    pub id: String,
    /// The version to read: a secret's `VersionId`, a file's SHA-256 (hex).
    pub version: String,
}

/// Why a stored document cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The document is neither a key map nor a manifest.
    #[error(transparent)]
    KeyMap(#[from] KeyMapError),
    /// The document is a manifest this code cannot use.
    #[error("key map manifest: {0}")]
    BadManifest(String),
}

/// A stored key-map document: the whole map, or a manifest.
#[derive(Debug)]
pub enum Stored {
    /// The whole map (one shard).
    Whole(KeyMap),
    /// A manifest naming shards.
    Manifest(Manifest),
}

impl Stored {
    /// Reads a document from the key-map secret or file.
    pub fn parse(document: &[u8]) -> Result<Stored, StoreError> {
        let map = KeyMap::load(document)?;
        if !map.contains("manifest_version") {
            return Ok(Stored::Whole(map));
        }
        let manifest: Manifest =
            serde_json::from_slice(document).map_err(|e| StoreError::BadManifest(e.to_string()))?;
        manifest.check()?;
        Ok(Stored::Manifest(manifest))
    }
}

impl Manifest {
    /// Builds the manifest of `shards` (their ids and versions, in order)
    /// holding `contents`, with the key-id index cut to fit the budget.
    pub fn new(generation: u64, shards: Vec<ShardRef>, contents: &[KeySets]) -> Manifest {
        let mut publishers: BTreeMap<u32, (usize, BTreeSet<usize>)> = BTreeMap::new();
        for (shard, key_sets) in contents.iter().enumerate() {
            for keys in key_sets.values() {
                let ids: BTreeSet<u32> = keys.iter().map(|key| key.key_id).collect();
                for id in ids {
                    let (domains, shards) = publishers.entry(id).or_default();
                    *domains += 1;
                    shards.insert(shard);
                }
            }
        }
        let mut manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            generation,
            shards,
            key_ids: BTreeMap::new(),
            crowded_key_ids: BTreeSet::new(),
            index_complete: true,
            synced_at: None,
        };
        for (id, (domains, shards)) in publishers {
            if domains > KEY_ID_INDEX_CAP {
                manifest.crowded_key_ids.insert(id);
            } else {
                manifest.key_ids.insert(id, shards.into_iter().collect());
            }
        }
        manifest.fit_index();
        manifest
    }

    /// Drops index entries, highest key ids first, until the manifest fits its
    /// budget: an estimate of each entry's bytes decides how many go, then the
    /// size is measured again.
    fn fit_index(&mut self) {
        loop {
            let size = self.to_json().len();
            if size <= MANIFEST_BUDGET_BYTES {
                return;
            }
            let mut excess = size - MANIFEST_BUDGET_BYTES;
            while excess > 0 {
                let dropped = match self.key_ids.pop_last() {
                    Some((id, shards)) => format!("\"{id}\":{},", serde_json::json!(shards)).len(),
                    None => match self.crowded_key_ids.pop_last() {
                        Some(id) => format!("{id},").len(),
                        None => return,
                    },
                };
                self.index_complete = false;
                excess = excess.saturating_sub(dropped);
            }
        }
    }

    /// The manifest as stored.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and integer-keyed maps always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), StoreError> {
        let bad = |reason: String| Err(StoreError::BadManifest(reason));
        if self.manifest_version != MANIFEST_VERSION {
            return bad(format!(
                "manifest_version {} (this authorizer reads {MANIFEST_VERSION})",
                self.manifest_version
            ));
        }
        if self.shards.is_empty() || self.shards.len() > MAX_SHARDS {
            return bad(format!(
                "{} shards (1 to {MAX_SHARDS} allowed)",
                self.shards.len()
            ));
        }
        if let Some((id, _)) = self
            .key_ids
            .iter()
            .find(|(_, shards)| shards.iter().any(|s| *s >= self.shards.len()))
        {
            return bad(format!("key id {id} names a shard that does not exist"));
        }
        Ok(())
    }
}

/// The shard that holds `domain` when the map has `shard_count` shards: the
/// first 8 bytes of the domain's SHA-256, modulo the count. Stable across
/// processes, versions and platforms.
pub fn shard_of(domain: &str, shard_count: usize) -> usize {
    let digest = Sha256::digest(domain.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let count = shard_count.max(1) as u64;
    // The remainder is below `shard_count`, which is a usize.
    (u64::from_be_bytes(first) % count) as usize
}

/// Splits key sets into `shard_count` shards by [`shard_of`].
pub fn split(key_sets: &KeySets, shard_count: usize) -> Vec<KeySets> {
    let mut shards = vec![KeySets::new(); shard_count.max(1)];
    for (domain, keys) in key_sets {
        shards[shard_of(domain, shard_count)].insert(domain.clone(), keys.clone());
    }
    shards
}

/// A whole map as key-sync stores it: the canonical JSON of `key_sets` with
/// the `synced_at` stamp first.
pub fn whole_document(key_sets: &KeySets, synced_at: SyncedAt) -> String {
    #[derive(Serialize)]
    struct Stamped<'a> {
        synced_at: SyncedAt,
        #[serde(flatten)]
        key_sets: &'a KeySets,
    }
    let stamped = Stamped {
        synced_at,
        key_sets: &keyset::sorted(key_sets),
    };
    // A stamp and a map of string keys to BWKS items always serialize.
    serde_json::to_string(&stamped).unwrap_or_default()
}

/// The canonical JSON of each shard: what a writer stores.
pub fn shard_documents(shards: &[KeySets]) -> Vec<String> {
    shards.iter().map(keyset::canonical_json).collect()
}

/// Why a decision cannot look a domain or key id up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The shard holding it is not loaded (its fetch failed or was not made).
    #[error("key map shard {shard} ({id}) is unavailable: {detail}")]
    ShardUnavailable {
        /// The shard number.
        shard: usize,
        /// Its secret id or file.
        id: String,
        /// Why.
        detail: String,
    },
    /// The key id is published by more domains than the index lists.
    #[error("root key id {key_id} is published by more than {KEY_ID_INDEX_CAP} domains")]
    CrowdedKeyId {
        /// The key id.
        key_id: u32,
    },
}

/// What a decision routes by: the domain hint and the root key id, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Route<'a> {
    /// The domain hint.
    pub domain: Option<&'a str>,
    /// The root key id.
    pub key_id: Option<u32>,
}

/// The trusted keys a decision looks up: the whole map, or a manifest whose
/// shards are loaded when a token needs them.
#[derive(Debug)]
pub enum KeyStore {
    /// One document holding every domain.
    Whole(KeyMap),
    /// A manifest and its shards.
    Sharded(Sharded),
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore::Whole(KeyMap::default())
    }
}

/// A manifest with a slot per shard, filled on first need.
#[derive(Debug)]
pub struct Sharded {
    manifest: Manifest,
    slots: Vec<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    map: OnceLock<Arc<KeyMap>>,
    /// Why and when the last load failed.
    failure: Mutex<Option<(String, Instant)>>,
}

impl KeyStore {
    /// The store for a manifest; shards of `previous` with the same id and
    /// version are kept, not fetched again.
    pub fn sharded(manifest: Manifest, previous: Option<&KeyStore>) -> KeyStore {
        let slots = manifest
            .shards
            .iter()
            .map(|reference| {
                let slot = Slot::default();
                if let Some(map) = previous.and_then(|p| p.loaded(reference)) {
                    let _ = slot.map.set(map);
                }
                slot
            })
            .collect();
        KeyStore::Sharded(Sharded { manifest, slots })
    }

    /// The manifest, if the map is sharded.
    pub fn manifest(&self) -> Option<&Manifest> {
        match self {
            KeyStore::Whole(_) => None,
            KeyStore::Sharded(sharded) => Some(&sharded.manifest),
        }
    }

    /// When key-sync last confirmed the map (the whole map's or the manifest's stamp).
    pub fn synced_at(&self) -> Option<SyncedAt> {
        match self {
            KeyStore::Whole(map) => map.synced_at(),
            KeyStore::Sharded(sharded) => sharded.manifest.synced_at,
        }
    }

    fn loaded(&self, reference: &ShardRef) -> Option<Arc<KeyMap>> {
        let KeyStore::Sharded(sharded) = self else {
            return None;
        };
        sharded
            .manifest
            .shards
            .iter()
            .zip(&sharded.slots)
            .find(|(r, _)| *r == reference)
            .and_then(|(_, slot)| slot.map.get().cloned())
    }

    /// The shards a decision on `route` needs that are not loaded yet, with
    /// what to fetch; a shard that failed less than [`SHARD_RETRY_AFTER`] before
    /// `now` is left out (its domains are refused meanwhile). Empty for a whole map.
    pub fn missing(&self, route: Route<'_>, now: Instant) -> Vec<(usize, ShardRef)> {
        let KeyStore::Sharded(sharded) = self else {
            return Vec::new();
        };
        let wanted: Vec<usize> = match route {
            Route {
                domain: Some(domain),
                ..
            } => vec![shard_of(domain, sharded.slots.len())],
            Route {
                domain: None,
                key_id: Some(key_id),
            } => sharded
                .manifest
                .key_ids
                .get(&key_id)
                .cloned()
                .unwrap_or_default(),
            Route {
                domain: None,
                key_id: None,
            } => Vec::new(),
        };
        wanted
            .into_iter()
            .filter(|shard| sharded.slots[*shard].wanted(now))
            .map(|shard| (shard, sharded.manifest.shards[shard].clone()))
            .collect()
    }

    /// Installs a fetched shard (what [`KeyStore::missing`] named).
    pub fn install(&self, shard: usize, map: KeyMap) {
        if let KeyStore::Sharded(sharded) = self {
            if let Some(slot) = sharded.slots.get(shard) {
                let _ = slot.map.set(Arc::new(map));
            }
        }
    }

    /// Records why a shard could not be loaded; its domains are refused until it is.
    pub fn failed(&self, shard: usize, detail: String, at: Instant) {
        if let KeyStore::Sharded(sharded) = self {
            if let Some(slot) = sharded.slots.get(shard) {
                *slot.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some((detail, at));
            }
        }
    }

    /// The keys of a domain, if it is in the map.
    pub fn domain(&self, domain: &str) -> Result<Option<&DomainKeys>, LookupError> {
        match self {
            KeyStore::Whole(map) => Ok(map.domain(domain)),
            KeyStore::Sharded(sharded) => {
                let map = sharded.shard(shard_of(domain, sharded.slots.len()))?;
                Ok(map.domain(domain))
            }
        }
    }

    /// The domains publishing a key id, in lexical order, with the key's expiry.
    pub fn publishers(&self, key_id: u32) -> Result<Vec<Publisher>, LookupError> {
        match self {
            KeyStore::Whole(map) => Ok(map.publishers(key_id).to_vec()),
            KeyStore::Sharded(sharded) => {
                if sharded.manifest.crowded_key_ids.contains(&key_id) {
                    return Err(LookupError::CrowdedKeyId { key_id });
                }
                let shards = sharded.manifest.key_ids.get(&key_id);
                let mut found = Vec::new();
                for shard in shards.into_iter().flatten() {
                    found.extend_from_slice(sharded.shard(*shard)?.publishers(key_id));
                }
                found.sort_by(|a, b| a.domain.cmp(&b.domain));
                Ok(found)
            }
        }
    }

    /// The key sets of the whole map, or of the loaded shards (parses every domain).
    pub fn to_key_sets(&self) -> KeySets {
        match self {
            KeyStore::Whole(map) => map.to_key_sets(),
            KeyStore::Sharded(sharded) => sharded
                .slots
                .iter()
                .filter_map(|slot| slot.map.get())
                .flat_map(|map| map.to_key_sets())
                .collect(),
        }
    }

    /// Shards loaded so far (0 for a whole map).
    pub fn loaded_shard_count(&self) -> usize {
        match self {
            KeyStore::Whole(_) => 0,
            KeyStore::Sharded(sharded) => sharded
                .slots
                .iter()
                .filter(|slot| slot.map.get().is_some())
                .count(),
        }
    }

    /// Domains in the whole map, or in the loaded shards.
    pub fn loaded_domain_count(&self) -> usize {
        match self {
            KeyStore::Whole(map) => map.domain_count(),
            KeyStore::Sharded(sharded) => sharded
                .slots
                .iter()
                .filter_map(|slot| slot.map.get())
                .map(|map| map.domain_count())
                .sum(),
        }
    }
}

impl Slot {
    fn wanted(&self, now: Instant) -> bool {
        if self.map.get().is_some() {
            return false;
        }
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure
            .as_ref()
            .is_none_or(|(_, at)| now.saturating_duration_since(*at) >= SHARD_RETRY_AFTER)
    }
}

impl Sharded {
    fn shard(&self, shard: usize) -> Result<&KeyMap, LookupError> {
        let slot = &self.slots[shard];
        slot.map.get().map(|map| &**map).ok_or_else(|| {
            let detail = slot
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or_else(|| "not loaded".to_owned(), |(detail, _)| detail.clone());
            LookupError::ShardUnavailable {
                shard,
                id: self.manifest.shards[shard].id.clone(),
                detail,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{BiscuitWebKey, KeyPair};

    fn key_sets(domains: usize, key_id: impl Fn(usize) -> u32) -> KeySets {
        (0..domains)
            .map(|d| {
                let key = BiscuitWebKey {
                    public_key: KeyPair::new().public(),
                    key_id: key_id(d),
                    issuer: None,
                    expires_at: None,
                };
                (format!("d-{d}.example"), vec![key])
            })
            .collect()
    }

    fn refs(count: usize) -> Vec<ShardRef> {
        (0..count)
            .map(|i| ShardRef {
                id: format!("shard-{i}"),
                version: format!("v{i}"),
            })
            .collect()
    }

    #[test]
    fn shard_of_is_stable_and_spreads() {
        assert_eq!(shard_of("example.org", 1), 0);
        // Pinned: a change here moves every domain of every deployment.
        assert_eq!(shard_of("example.org", 16), shard_of("example.org", 16));
        let counts = split(&key_sets(1000, |_| 1), 8)
            .iter()
            .map(|s| s.len())
            .collect::<Vec<_>>();
        assert!(counts.iter().all(|c| (80..=170).contains(c)), "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 1000);
    }

    #[test]
    fn the_synced_at_stamp_is_read_from_either_layout_and_is_no_domain() {
        use crate::synced_at;
        let sets = key_sets(3, |_| 1);
        let stamp = SyncedAt::parse("2026-12-07T16:00:00Z").expect("time");
        let whole = whole_document(&sets, stamp);
        let canonical = keyset::canonical_json(&sets);
        assert_eq!(whole.len(), canonical.len() + synced_at::STORED_BYTES);
        assert!(whole.starts_with("{\"synced_at\":\"2026-12-07T16:00:00Z\",\"d-0.example\""));
        let Ok(Stored::Whole(map)) = Stored::parse(whole.as_bytes()) else {
            panic!("a stamped map is a whole map");
        };
        assert_eq!(map.synced_at(), Some(stamp));
        assert_eq!(map.domain_count(), 3);
        assert!(map.domain("synced_at").is_none());
        assert_eq!(map.to_key_sets(), sets);
        let unstamped = KeyMap::load(keyset::canonical_json(&sets).as_bytes()).expect("map");
        assert_eq!(unstamped.synced_at(), None);

        let mut manifest = Manifest::new(1, refs(2), &split(&sets, 2));
        manifest.synced_at = Some(stamp);
        let Ok(Stored::Manifest(read)) = Stored::parse(manifest.to_json().as_bytes()) else {
            panic!("a stamped manifest is a manifest");
        };
        assert_eq!(KeyStore::sharded(read, None).synced_at(), Some(stamp));

        let garbage = whole.replace("2026-12-07T16:00:00Z", "soon");
        assert!(matches!(
            Stored::parse(garbage.as_bytes()),
            Err(StoreError::KeyMap(KeyMapError::BadSyncedAt(_)))
        ));
    }

    #[test]
    fn a_manifest_round_trips_and_is_told_from_a_map() {
        let sets = key_sets(40, |d| if d < 20 { 1 } else { d as u32 });
        let shards = split(&sets, 4);
        let manifest = Manifest::new(7, refs(4), &shards);
        assert!(manifest.crowded_key_ids.contains(&1));
        assert_eq!(manifest.key_ids.len(), 20);
        assert!(manifest.index_complete);
        match Stored::parse(manifest.to_json().as_bytes()).expect("parses") {
            Stored::Manifest(read) => assert_eq!(read, manifest),
            Stored::Whole(_) => panic!("a manifest read as a map"),
        }
        let whole = keyset::canonical_json(&sets);
        assert!(matches!(
            Stored::parse(whole.as_bytes()),
            Ok(Stored::Whole(_))
        ));
        let mut bad = manifest.clone();
        bad.key_ids.insert(99, vec![4]);
        assert!(matches!(
            Stored::parse(bad.to_json().as_bytes()),
            Err(StoreError::BadManifest(_))
        ));
    }

    #[test]
    fn the_index_is_cut_to_fit_the_manifest_budget() {
        let shards = vec![KeySets::new(); 2];
        let mut contents = shards.clone();
        for id in 0..20_000u32 {
            contents[(id % 2) as usize].insert(
                format!("d{id}"),
                vec![BiscuitWebKey {
                    public_key: KeyPair::new().public(),
                    key_id: id,
                    issuer: None,
                    expires_at: None,
                }],
            );
        }
        let manifest = Manifest::new(1, refs(2), &contents);
        assert!(!manifest.index_complete);
        assert!(manifest.to_json().len() <= MANIFEST_BUDGET_BYTES);
        assert!(manifest.key_ids.len() > 1000, "most of the index is kept");
        assert!(manifest.key_ids.contains_key(&0), "lowest ids are kept");
    }

    #[test]
    fn a_sharded_store_loads_only_what_a_route_needs() {
        let sets = key_sets(20, |d| if d == 3 { 42 } else { 1 });
        let shards = split(&sets, 4);
        let manifest = Manifest::new(1, refs(4), &shards);
        let store = KeyStore::sharded(manifest.clone(), None);
        let now = Instant::now();
        let home = shard_of("d-3.example", 4);
        let route = Route {
            domain: Some("d-3.example"),
            key_id: None,
        };
        assert_eq!(
            store.missing(route, now),
            vec![(home, refs(4)[home].clone())]
        );
        assert!(matches!(
            store.domain("d-3.example"),
            Err(LookupError::ShardUnavailable { .. })
        ));
        let docs = shard_documents(&shards);
        store.install(home, KeyMap::load(docs[home].as_bytes()).expect("shard"));
        assert!(store.missing(route, now).is_empty());
        assert!(store.domain("d-3.example").expect("loaded").is_some());
        let by_id = Route {
            domain: None,
            key_id: Some(42),
        };
        assert!(store.missing(by_id, now).is_empty(), "the same shard");
        let publishers = store.publishers(42).expect("indexed");
        assert_eq!(&*publishers[0].domain, "d-3.example");
        assert_eq!(
            store.publishers(1),
            Err(LookupError::CrowdedKeyId { key_id: 1 })
        );
        assert_eq!(store.publishers(7).expect("unknown id"), vec![]);

        // A new generation keeps the shards whose version did not change.
        let mut next = manifest;
        next.generation += 1;
        let other = (home + 1) % 4;
        next.shards[other].version = "changed".into();
        let next = KeyStore::sharded(next, Some(&store));
        assert!(next.missing(route, now).is_empty());
        // A shard that cannot be read refuses its own domains, with the reason.
        let (far, far_domain) = (0..4)
            .filter(|s| *s != home)
            .find_map(|s| Some((s, shards[s].keys().next()?.clone())))
            .expect("another shard has a domain");
        store.failed(far, "down".into(), now);
        let far_route = Route {
            domain: Some(&far_domain),
            key_id: None,
        };
        assert!(
            store.missing(far_route, now).is_empty(),
            "not retried at once"
        );
        assert_eq!(store.missing(far_route, now + SHARD_RETRY_AFTER).len(), 1);
        match store.domain(&far_domain) {
            Err(LookupError::ShardUnavailable { shard, detail, .. }) => {
                assert_eq!((shard, detail.as_str()), (far, "down"))
            }
            other => panic!("{other:?}"),
        }
    }
}
