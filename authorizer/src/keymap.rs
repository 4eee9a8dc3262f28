//! A key map document, `{"example.org": [BWKS item, ...], ...}`, loaded lazily.
//!
//! Loading only finds where each domain's key set lies in the document. A
//! domain's key set is parsed (its public keys decoded, the costly part) the
//! first time a decision needs it; the index of key ids and of keys published
//! under several domains is built by a light scan, without decoding any key,
//! the first time a decision needs either. A map of thousands of domains thus
//! costs a cold start one pass over its bytes, and each decision only the key
//! sets it touches.
//!
//! A bad item (or a domain whose value is not an array) is skipped with a
//! logged reason when its domain is parsed; it never disables the rest. A
//! public key found under several domains is marked on each of its entries
//! ([`TrustedKey::also_published_by`]), so no token it verifies is accepted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use chrono::DateTime;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::keyset::{parse_items, KeySets, SkippedEntry, TrustedKey};
use crate::synced_at::{BadSyncedAt, SyncedAt, MEMBER as SYNCED_AT};

/// Errors that make a whole key map unusable.
#[derive(Debug, thiserror::Error)]
pub enum KeyMapError {
    /// The document is not JSON.
    #[error("key map is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    /// The document is JSON but not an object from domain to key set.
    #[error("key map must be a JSON object from domain to an array of BWKS items")]
    NotAnObject,
    /// The map's `synced_at` stamp is not a time.
    #[error(transparent)]
    BadSyncedAt(#[from] BadSyncedAt),
}

/// The keys of one domain, in the order they were published.
#[derive(Debug, Default)]
pub struct DomainKeys {
    all: Vec<Arc<TrustedKey>>,
    skipped: Vec<SkippedEntry>,
}

impl DomainKeys {
    /// All keys of the domain, in publication order.
    pub fn all(&self) -> &[Arc<TrustedKey>] {
        &self.all
    }

    /// The keys of the domain with this key id.
    pub fn with_key_id(&self, key_id: u32) -> Vec<Arc<TrustedKey>> {
        self.all
            .iter()
            .filter(|key| key.key_id == key_id)
            .cloned()
            .collect()
    }
}

/// A domain publishing a key id, with that key's expiry, from the light scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The domain.
    pub domain: Arc<str>,
    /// When its key with that id expires, if it does.
    pub expires_at: Option<SystemTime>,
}

/// A key map document with its domains located, parsed on first use.
#[derive(Debug)]
pub struct KeyMap {
    text: Box<[u8]>,
    domains: HashMap<Arc<str>, Entry>,
    index: OnceLock<Index>,
    synced_at: Option<SyncedAt>,
}

#[derive(Debug)]
struct Entry {
    /// Where the domain's value lies in the document.
    span: Range<usize>,
    keys: OnceLock<DomainKeys>,
}

/// What only a look at every domain tells, built without decoding keys.
#[derive(Debug, Default)]
struct Index {
    /// Per key id, the domains publishing it, in lexical order.
    by_key_id: HashMap<u32, Vec<Publisher>>,
    /// Key bytes (lowercase hex) published by more than one domain, with those domains.
    shared: HashMap<String, Vec<Arc<str>>>,
}

/// The fields of a BWKS item the index needs; nothing is decoded.
#[derive(Deserialize)]
struct LightItem<'a> {
    #[serde(borrow)]
    key_bytes: Cow<'a, str>,
    key_id: u32,
    #[serde(borrow, default)]
    expires_at: Option<Cow<'a, str>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap {
            text: Box::default(),
            domains: HashMap::new(),
            index: OnceLock::new(),
            synced_at: None,
        }
    }
}

impl KeyMap {
    /// Locates each domain's key set in `json`; parses none of them. Only a
    /// document that is not a JSON object, or whose `synced_at` stamp is not
    /// a time, is an error.
    pub fn load(json: &[u8]) -> Result<KeyMap, KeyMapError> {
        let mut located: HashMap<Cow<'_, str>, &RawValue> =
            serde_json::from_slice(json).map_err(|error| match error.classify() {
                serde_json::error::Category::Data => KeyMapError::NotAnObject,
                _ => KeyMapError::NotJson(error),
            })?;
        let synced_at = match located.remove(SYNCED_AT) {
            Some(stamp) => Some(
                serde_json::from_str::<SyncedAt>(stamp.get())
                    .map_err(|_| BadSyncedAt::of(stamp.get()))?,
            ),
            None => None,
        };
        let base = json.as_ptr() as usize;
        let domains = located
            .into_iter()
            .map(|(domain, value)| {
                let start = value.get().as_ptr() as usize - base;
                let entry = Entry {
                    span: start..start + value.get().len(),
                    keys: OnceLock::new(),
                };
                (Arc::from(domain.as_ref()), entry)
            })
            .collect();
        Ok(KeyMap {
            text: json.into(),
            domains,
            index: OnceLock::new(),
            synced_at,
        })
    }

    /// When key-sync last confirmed this map, if it says.
    pub fn synced_at(&self) -> Option<SyncedAt> {
        self.synced_at
    }

    /// Loads and parses every domain at once: the map and every skipped entry
    /// (logged). For writers and tools that need the whole map; the
    /// authorizer uses [`KeyMap::load`].
    pub fn parse(json: &[u8]) -> Result<(KeyMap, Vec<SkippedEntry>), KeyMapError> {
        let map = KeyMap::load(json)?;
        let skipped = map
            .sorted_domains()
            .iter()
            .filter_map(|domain| map.domain(domain))
            .flat_map(|keys| keys.skipped.iter().cloned())
            .collect();
        Ok((map, skipped))
    }

    /// The keys of a domain, parsed on first use, if the domain is in the map.
    pub fn domain(&self, domain: &str) -> Option<&DomainKeys> {
        let (name, entry) = self.domains.get_key_value(domain)?;
        Some(entry.keys.get_or_init(|| self.parse_domain(name, entry)))
    }

    /// Whether the document has this top-level key.
    pub fn contains(&self, domain: &str) -> bool {
        self.domains.contains_key(domain)
    }

    /// The domains publishing this key id, in lexical order, with the key's expiry.
    pub fn publishers(&self, key_id: u32) -> &[Publisher] {
        self.index()
            .by_key_id
            .get(&key_id)
            .map_or(&[], Vec::as_slice)
    }

    /// Every key with this key id across all domains, in lexical domain order.
    pub fn with_key_id(&self, key_id: u32) -> Vec<Arc<TrustedKey>> {
        self.publishers(key_id)
            .iter()
            .filter_map(|publisher| self.domain(&publisher.domain))
            .flat_map(|keys| keys.with_key_id(key_id))
            .collect()
    }

    /// Number of domains in the map (including domains with no usable key).
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Size of the document in bytes.
    pub fn byte_len(&self) -> usize {
        self.text.len()
    }

    /// Number of usable keys in the map (parses every domain).
    pub fn key_count(&self) -> usize {
        self.domains
            .keys()
            .filter_map(|domain| self.domain(domain))
            .map(|keys| keys.all.len())
            .sum()
    }

    /// The map's key sets, as they are stored (parses every domain).
    pub fn to_key_sets(&self) -> KeySets {
        self.sorted_domains()
            .into_iter()
            .filter_map(|domain| {
                let keys = self.domain(&domain)?;
                Some((
                    domain.to_string(),
                    keys.all.iter().map(|k| k.to_bwks()).collect(),
                ))
            })
            .collect()
    }

    fn sorted_domains(&self) -> Vec<Arc<str>> {
        let mut domains: Vec<_> = self.domains.keys().cloned().collect();
        domains.sort_unstable();
        domains
    }

    fn value_of(&self, entry: &Entry) -> &[u8] {
        &self.text[entry.span.clone()]
    }

    fn parse_domain(&self, domain: &Arc<str>, entry: &Entry) -> DomainKeys {
        let items = match serde_json::from_slice::<Value>(self.value_of(entry)) {
            Ok(Value::Array(items)) => items,
            _ => {
                let skipped = SkippedEntry {
                    domain: domain.to_string(),
                    index: None,
                    reason: "the key set is not a JSON array".into(),
                };
                tracing::warn!(domain = %skipped.domain, reason = %skipped.reason, "skipped key map entry");
                return DomainKeys {
                    all: Vec::new(),
                    skipped: vec![skipped],
                };
            }
        };
        let (keys, skipped) = parse_items(domain, items);
        for entry in &skipped {
            tracing::warn!(domain = %entry.domain, index = ?entry.index, reason = %entry.reason, "skipped key map entry");
        }
        let shared = &self.index().shared;
        let all = keys
            .into_iter()
            .map(|key| {
                let also_published_by = shared
                    .get(&key.public_key.to_bytes_hex())
                    .into_iter()
                    .flatten()
                    .filter(|name| *name != domain)
                    .cloned()
                    .collect();
                Arc::new(TrustedKey {
                    domain: domain.clone(),
                    key_id: key.key_id,
                    public_key: key.public_key,
                    expires_at: key.expires_at,
                    issuer: key.issuer,
                    also_published_by,
                })
            })
            .collect();
        DomainKeys { all, skipped }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| self.build_index())
    }

    /// One light pass over every domain: key ids and key bytes, nothing decoded.
    /// Items the light scan cannot read are left out; parsing skips them too.
    fn build_index(&self) -> Index {
        let mut index = Index::default();
        let mut publishers: HashMap<Cow<'_, str>, Vec<Arc<str>>> = HashMap::new();
        for domain in self.sorted_domains() {
            let Some(entry) = self.domains.get(&domain) else {
                continue;
            };
            // One pass when every item reads; item by item when some do not.
            let value = self.value_of(entry);
            let items = serde_json::from_slice::<Vec<LightItem>>(value).or_else(|_| {
                serde_json::from_slice::<Vec<&RawValue>>(value).map(|raw| {
                    raw.iter()
                        .filter_map(|item| serde_json::from_str::<LightItem>(item.get()).ok())
                        .collect()
                })
            });
            let Ok(items) = items else {
                continue;
            };
            for item in items {
                let expires_at = match item.expires_at.as_deref().map(DateTime::parse_from_rfc3339)
                {
                    Some(Err(_)) => continue,
                    parsed => parsed.and_then(Result::ok).map(SystemTime::from),
                };
                let ids = index.by_key_id.entry(item.key_id).or_default();
                if ids.last().is_none_or(|last| last.domain != domain) {
                    ids.push(Publisher {
                        domain: domain.clone(),
                        expires_at,
                    });
                }
                let key_bytes = match item.key_bytes.bytes().any(|b| b.is_ascii_uppercase()) {
                    true => Cow::Owned(item.key_bytes.to_ascii_lowercase()),
                    false => item.key_bytes,
                };
                let names = publishers.entry(key_bytes).or_default();
                if !names.contains(&domain) {
                    names.push(domain.clone());
                }
            }
        }
        for (key_bytes, names) in publishers {
            if names.len() > 1 {
                tracing::error!(%key_bytes, domains = ?names, "one public key is published under several domains; tokens it verifies are refused (ambiguous_key)");
                index.shared.insert(key_bytes.into_owned(), names);
            }
        }
        index
    }
}

/// Builds a map from already validated key sets (tests and tools).
impl From<&KeySets> for KeyMap {
    fn from(key_sets: &KeySets) -> KeyMap {
        let json = crate::keyset::canonical_json(key_sets);
        // The canonical JSON of key sets is always an object.
        KeyMap::load(json.as_bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyset::tests::item;
    use biscuit_auth::KeyPair;

    #[test]
    fn loading_parses_no_domain_and_first_use_parses_one() {
        let (a, b) = (KeyPair::new(), KeyPair::new());
        let document =
            serde_json::json!({"a.example": [item(&a, 1, None)], "b.example": [item(&b, 1, None)]});
        let map = KeyMap::load(document.to_string().as_bytes()).expect("object");
        assert_eq!(map.domain_count(), 2);
        assert!(map.domains.values().all(|e| e.keys.get().is_none()));
        assert!(map.index.get().is_none());
        let keys = map.domain("a.example").expect("domain");
        assert_eq!(keys.all()[0].public_key, a.public());
        let parsed: Vec<_> = map
            .domains
            .iter()
            .filter(|(_, e)| e.keys.get().is_some())
            .map(|(d, _)| d.to_string())
            .collect();
        assert_eq!(parsed, ["a.example"]);
        assert!(map.domain("c.example").is_none());
    }

    #[test]
    fn escaped_domain_names_and_unicode_values_are_located_exactly() {
        let key = KeyPair::new();
        let mut value = item(&key, 3, None);
        value["issuer"] = Value::String("é\"x".into());
        let document = serde_json::json!({"a\\u002eexample": [], "b.example": [value]});
        let map = KeyMap::load(document.to_string().as_bytes()).expect("object");
        let keys = map.domain("b.example").expect("domain");
        assert_eq!(keys.all()[0].issuer.as_deref(), Some("é\"x"));
    }

    #[test]
    fn publishers_skip_unreadable_items_and_carry_expiry() {
        let (a, b) = (KeyPair::new(), KeyPair::new());
        let document = serde_json::json!({
            "z.example": [item(&a, 7, Some("2030-01-01T00:00:00Z"))],
            "a.example": [item(&b, 7, None), {"key_id": "seven"}],
            "m.example": "not an array",
        });
        let map = KeyMap::load(document.to_string().as_bytes()).expect("object");
        let publishers = map.publishers(7);
        let names: Vec<_> = publishers.iter().map(|p| &*p.domain).collect();
        assert_eq!(names, ["a.example", "z.example"]);
        assert_eq!(publishers[0].expires_at, None);
        assert!(publishers[1].expires_at.is_some());
        assert!(map.publishers(8).is_empty());
    }

    #[test]
    fn a_key_under_two_domains_is_marked_even_in_other_case() {
        let key = KeyPair::new();
        let mut upper = item(&key, 2, None);
        upper["key_bytes"] = Value::String(key.public().to_bytes_hex().to_uppercase());
        let document =
            serde_json::json!({"a.example": [item(&key, 1, None)], "b.example": [upper]});
        let map = KeyMap::load(document.to_string().as_bytes()).expect("object");
        let a = &map.domain("a.example").expect("a").all()[0];
        assert_eq!(
            a.also_published_by.iter().map(|d| &**d).collect::<Vec<_>>(),
            ["b.example"]
        );
    }

    #[test]
    fn not_an_object_and_not_json_are_errors() {
        assert!(matches!(KeyMap::load(b"[]"), Err(KeyMapError::NotAnObject)));
        assert!(matches!(
            KeyMap::load(b"{\"a\": 1"),
            Err(KeyMapError::NotJson(_))
        ));
        assert!(matches!(
            KeyMap::load(b"\xff"),
            Err(KeyMapError::NotJson(_))
        ));
    }
}
