//! The domain-keyed map of key sets: `{"example.org": [BWKS item, ...], ...}`.
//!
//! This is the one model of trusted keys in the project: the authorizer reads
//! it, key-sync writes it. Items follow the BWKS proposal and are parsed by
//! biscuit-auth's own [`BiscuitWebKey`]. A bad item (or a domain whose value is
//! not an array) is skipped with a logged reason; it never disables the rest.
//!
//! One public key, one domain: writers apply [`assign_owners`] before they
//! store a map, and the loader marks a key found under several domains as
//! ambiguous ([`TrustedKey::unambiguous`]), so no token it verifies is accepted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::{BiscuitWebKey, PublicKey};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// One trusted root key, tied to the domain it was published for.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The issuer domain whose key set holds this key.
    pub domain: Arc<str>,
    /// The BWKS `key_id`, matched against the token's `rootKeyId`.
    pub key_id: u32,
    /// The public key itself.
    pub public_key: PublicKey,
    /// When the key stops being trusted, if it ever does.
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// The optional free-form `issuer` of the BWKS item.
    pub issuer: Option<String>,
    /// The other domains of the map that publish the same public key (empty in
    /// a sound map). Such a key cannot say whose token it verified.
    pub also_published_by: Vec<Arc<str>>,
}

/// A token verified under a public key that several domains of the loaded
/// map publish: whose token it is cannot be told, so it is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {key_id} ({public_key}) of {domain} is also published by {}; tokens it verifies are refused", .others.join(", "))]
pub struct AmbiguousKey {
    /// The domain of the key that verified.
    pub domain: String,
    /// Its key id.
    pub key_id: u32,
    /// The public key (`algorithm/hex`).
    pub public_key: String,
    /// The other domains publishing the same key.
    pub others: Vec<String>,
}

impl TrustedKey {
    /// Whether the key is still trusted at `now`, allowing `grace` past `expires_at`.
    pub fn is_live(&self, now: SystemTime, grace: Duration) -> bool {
        match self.expires_at {
            None => true,
            Some(expires_at) => {
                let deadline = SystemTime::from(expires_at).checked_add(grace);
                deadline.is_none_or(|deadline| now < deadline)
            }
        }
    }

    /// Refuses a key that other domains of the map publish too.
    pub fn unambiguous(&self) -> Result<(), AmbiguousKey> {
        if self.also_published_by.is_empty() {
            return Ok(());
        }
        Err(AmbiguousKey {
            domain: self.domain.to_string(),
            key_id: self.key_id,
            public_key: self.public_key.to_string(),
            others: self
                .also_published_by
                .iter()
                .map(|d| d.to_string())
                .collect(),
        })
    }

    /// The key as a BWKS item, as it is published and stored.
    pub fn to_bwks(&self) -> BiscuitWebKey {
        BiscuitWebKey {
            public_key: self.public_key,
            key_id: self.key_id,
            issuer: self.issuer.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// Why one entry of a key map was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The domain the entry was under.
    pub domain: String,
    /// The index of the item in the domain's array, or `None` for the whole domain.
    pub index: Option<usize>,
    /// What was wrong with it.
    pub reason: String,
}

/// The key map as stored: domain → key set, both in canonical order.
pub type KeySets = BTreeMap<String, Vec<BiscuitWebKey>>;

/// The canonical JSON of a key map, as it is stored: domains sorted, keys
/// sorted by key id, so equal maps have equal bytes.
pub fn canonical_json(key_sets: &KeySets) -> String {
    // Serializing string keys and BWKS items cannot fail.
    serde_json::to_string(&sorted(key_sets)).unwrap_or_default()
}

/// The key sets with each domain's items in key-id order, as stored.
pub fn sorted(key_sets: &KeySets) -> KeySets {
    let mut sorted = key_sets.clone();
    for keys in sorted.values_mut() {
        keys.sort_by_key(|key| key.key_id);
    }
    sorted
}

/// Why a published BWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// The document is not a JSON array.
    #[error("BWKS document is not a JSON array: {0}")]
    NotAnArray(String),
    /// The document lists keys but none is usable.
    #[error("none of the {0} published keys is usable")]
    NoUsableKey(usize),
}

/// Parses BWKS items one by one: the usable keys, and the skipped items with reasons.
pub fn parse_items(domain: &str, items: Vec<Value>) -> (Vec<BiscuitWebKey>, Vec<SkippedEntry>) {
    let mut keys = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<BiscuitWebKey>(item) {
            Ok(key) => keys.push(key),
            Err(error) => skipped.push(SkippedEntry {
                domain: domain.to_owned(),
                index: Some(index),
                reason: error.to_string(),
            }),
        }
    }
    (keys, skipped)
}

/// Validates a domain's published BWKS document as key-sync stores it: a JSON
/// array of BWKS items, each with a supported algorithm and a valid key; a
/// `key_id` already used by an earlier item and keys past `expires_at` at
/// `now` are dropped. A non-empty document with no usable key is refused, so a
/// broken publication cannot empty a domain; a valid empty one empties it.
pub fn validate_published(
    domain: &str,
    document: &[u8],
    now: SystemTime,
) -> Result<(Vec<BiscuitWebKey>, Vec<SkippedEntry>), KeySetError> {
    let items: Vec<Value> =
        serde_json::from_slice(document).map_err(|e| KeySetError::NotAnArray(e.to_string()))?;
    let published = items.len();
    let (keys, mut skipped) = parse_items(domain, items);
    let mut usable: Vec<BiscuitWebKey> = Vec::with_capacity(keys.len());
    for key in keys {
        let reason = if usable.iter().any(|k| k.key_id == key.key_id) {
            Some(format!("duplicate key_id {}", key.key_id))
        } else if key.expires_at.is_some_and(|at| SystemTime::from(at) <= now) {
            Some(format!("key {} expired", key.key_id))
        } else {
            None
        };
        match reason {
            None => usable.push(key),
            Some(reason) => skipped.push(SkippedEntry {
                domain: domain.to_owned(),
                index: None,
                reason,
            }),
        }
    }
    if published > 0 && usable.is_empty() {
        return Err(KeySetError::NoUsableKey(published));
    }
    usable.sort_by_key(|key| key.key_id);
    Ok((usable, skipped))
}

/// A key a domain publishes but may not store: another domain owns it, or
/// several domains claim it and none held it before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConflict {
    /// The key id under which this domain publishes it.
    pub key_id: u32,
    /// The public key.
    pub public_key: PublicKey,
    /// The other domains that publish it.
    pub others: Vec<String>,
    /// The domain it belongs to, if any.
    pub owner: Option<String>,
}

impl fmt::Display for KeyConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (key_id, public_key) = (self.key_id, &self.public_key);
        match &self.owner {
            Some(owner) => write!(f, "key {key_id} ({public_key}) belongs to {owner}"),
            None => write!(
                f,
                "key {key_id} ({public_key}) is also published by {}, none of which held it before; no domain gets it",
                self.others.join(", ")
            ),
        }
    }
}

/// Applies the one-owner rule to the key sets about to be stored. A public
/// key (algorithm and bytes) published by one domain only is kept. A key
/// published by several belongs to the one of them that already holds it in
/// `current`; if none or several of them do, it belongs to no one (a rule like
/// lexical order would let a domain that copies a newly published key in the
/// same round take it over). Every other publisher is refused that key, with a
/// [`KeyConflict`]; its other keys are kept.
pub fn assign_owners(
    current: &KeySets,
    claims: KeySets,
) -> (KeySets, BTreeMap<String, Vec<KeyConflict>>) {
    let mut claimants: HashMap<PublicKey, Vec<&str>> = HashMap::new();
    for (domain, keys) in &claims {
        for key in keys {
            let domains = claimants.entry(key.public_key).or_default();
            if !domains.contains(&domain.as_str()) {
                domains.push(domain);
            }
        }
    }
    let holds = |domain: &str, key: &PublicKey| {
        current
            .get(domain)
            .is_some_and(|keys| keys.iter().any(|k| k.public_key == *key))
    };
    let mut conflicts: BTreeMap<String, Vec<KeyConflict>> = BTreeMap::new();
    let mut owned = KeySets::new();
    for (domain, keys) in &claims {
        let mut kept = Vec::with_capacity(keys.len());
        for key in keys {
            let domains = claimants
                .get(&key.public_key)
                .map_or(&[][..], Vec::as_slice);
            if domains.len() <= 1 {
                kept.push(key.clone());
                continue;
            }
            let holders: Vec<&str> = domains
                .iter()
                .copied()
                .filter(|d| holds(d, &key.public_key))
                .collect();
            let owner = match holders.as_slice() {
                [owner] => Some(*owner),
                _ => None,
            };
            if owner == Some(domain.as_str()) {
                kept.push(key.clone());
            } else {
                conflicts
                    .entry(domain.clone())
                    .or_default()
                    .push(KeyConflict {
                        key_id: key.key_id,
                        public_key: key.public_key,
                        others: domains
                            .iter()
                            .filter(|d| **d != domain.as_str())
                            .map(|d| d.to_string())
                            .collect(),
                        owner: owner.map(str::to_owned),
                    });
            }
        }
        owned.insert(domain.clone(), kept);
    }
    (owned, conflicts)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keymap::{KeyMap, KeyMapError};
    use biscuit_auth::KeyPair;

    /// A BWKS item of `key` as JSON (shared with the key map's tests).
    pub(crate) fn item(key: &KeyPair, key_id: u32, expires_at: Option<&str>) -> Value {
        serde_json::json!({
            "algorithm": "ed25519",
            "key_bytes": key.public().to_bytes_hex(),
            "key_id": key_id,
            "issuer": null,
            "expires_at": expires_at,
        })
    }

    #[test]
    fn bad_items_are_skipped_without_disabling_the_rest() {
        let good = KeyPair::new();
        let document = serde_json::json!({
            "a.example": [
                {"algorithm": "rsa", "key_bytes": "00", "key_id": 1},
                item(&good, 2, None),
                {"algorithm": "ed25519", "key_bytes": "zz", "key_id": 3},
                {"algorithm": "ed25519", "key_bytes": good.public().to_bytes_hex(), "key_id": 4, "expires_at": "yesterday"},
            ],
            "b.example": "not an array",
        });
        let (map, skipped) = KeyMap::parse(document.to_string().as_bytes()).expect("object");
        assert_eq!(map.key_count(), 1);
        assert_eq!(
            map.domain("a.example")
                .expect("domain")
                .with_key_id(2)
                .len(),
            1
        );
        let where_skipped: Vec<_> = skipped
            .iter()
            .map(|s| (s.domain.as_str(), s.index))
            .collect();
        assert_eq!(
            where_skipped,
            [
                ("a.example", Some(0)),
                ("a.example", Some(2)),
                ("a.example", Some(3)),
                ("b.example", None)
            ]
        );
    }

    #[test]
    fn published_documents_drop_duplicates_and_expired_keys() {
        let (k1, k2) = (KeyPair::new(), KeyPair::new());
        let now =
            SystemTime::from(DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").expect("date"));
        let document = serde_json::json!([
            item(&k2, 5, None),
            item(&k1, 5, None),
            item(&k1, 1, Some("2029-01-01T00:00:00Z")),
            item(&k1, 2, Some("2031-01-01T00:00:00Z")),
            {"algorithm": "ed25519", "key_bytes": "00", "key_id": 3},
        ]);
        let (keys, skipped) =
            validate_published("a.example", document.to_string().as_bytes(), now).expect("valid");
        let ids: Vec<_> = keys.iter().map(|k| k.key_id).collect();
        assert_eq!(ids, [2, 5]);
        assert_eq!(
            keys[1].public_key,
            k2.public(),
            "the first item with an id wins"
        );
        assert_eq!(skipped.len(), 3);
        assert_eq!(
            validate_published("a.example", b"[]", now),
            Ok((vec![], vec![]))
        );
        assert!(matches!(
            validate_published("a.example", b"{}", now),
            Err(KeySetError::NotAnArray(_))
        ));
        let broken = serde_json::json!([{"algorithm": "rsa"}]).to_string();
        assert_eq!(
            validate_published("a.example", broken.as_bytes(), now).map(|_| ()),
            Err(KeySetError::NoUsableKey(1))
        );
    }

    #[test]
    fn not_an_object_is_an_error() {
        assert!(matches!(
            KeyMap::parse(b"[]"),
            Err(KeyMapError::NotAnObject)
        ));
        assert!(matches!(KeyMap::parse(b"{"), Err(KeyMapError::NotJson(_))));
    }

    #[test]
    fn keys_with_one_id_are_indexed_across_domains_in_domain_order() {
        let (k1, k2) = (KeyPair::new(), KeyPair::new());
        let document = serde_json::json!({"z.example": [item(&k1, 7, None)], "a.example": [item(&k2, 7, None)]});
        let (map, _) = KeyMap::parse(document.to_string().as_bytes()).expect("valid");
        let keys = map.with_key_id(7);
        let domains: Vec<_> = keys.iter().map(|k| &*k.domain).collect();
        assert_eq!(domains, ["a.example", "z.example"]);
    }

    fn bwk(key: &KeyPair, key_id: u32) -> BiscuitWebKey {
        BiscuitWebKey {
            public_key: key.public(),
            key_id,
            issuer: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_shared_key_belongs_to_its_one_earlier_holder_else_to_no_one() {
        let [k1, k2, k3, k4, k5] = [(); 5].map(|()| KeyPair::new());
        let current = KeySets::from([
            ("a".to_owned(), vec![bwk(&k1, 1)]),
            ("b".to_owned(), vec![bwk(&k2, 1)]),
            ("x".to_owned(), vec![bwk(&k5, 1)]),
            ("y".to_owned(), vec![bwk(&k5, 1)]),
        ]);
        let claims = KeySets::from([
            // a holds k1; k3 is new and also claimed by c.
            ("a".to_owned(), vec![bwk(&k1, 1), bwk(&k3, 2)]),
            // b holds k2 and copies a's k1 under its own id.
            ("b".to_owned(), vec![bwk(&k2, 1), bwk(&k1, 7)]),
            ("c".to_owned(), vec![bwk(&k3, 1), bwk(&k4, 2)]),
            // d copies b's k2.
            ("d".to_owned(), vec![bwk(&k2, 1)]),
            // x and y both held k5 already: neither keeps it.
            ("x".to_owned(), vec![bwk(&k5, 1)]),
            ("y".to_owned(), vec![bwk(&k5, 1)]),
        ]);
        let (owned, conflicts) = assign_owners(&current, claims);
        let ids = |domain: &str| -> Vec<u32> { owned[domain].iter().map(|k| k.key_id).collect() };
        assert_eq!(ids("a"), [1]);
        assert_eq!(ids("b"), [1]);
        assert_eq!(ids("c"), [2]);
        assert_eq!(ids("d"), Vec::<u32>::new());
        assert_eq!(ids("x"), Vec::<u32>::new());
        assert_eq!(ids("y"), Vec::<u32>::new());
        let owners = |domain: &str| -> Vec<(u32, Option<&str>)> {
            conflicts[domain]
                .iter()
                .map(|c| (c.key_id, c.owner.as_deref()))
                .collect()
        };
        assert_eq!(owners("a"), [(2, None)]);
        assert_eq!(owners("b"), [(7, Some("a"))]);
        assert_eq!(owners("c"), [(1, None)]);
        assert_eq!(owners("d"), [(1, Some("b"))]);
        assert_eq!(owners("x"), [(1, None)]);
        assert_eq!(conflicts["b"][0].others, ["a"]);
        assert!(conflicts["b"][0].to_string().contains("belongs to a"));
        assert_eq!(owners("y"), [(1, None)]);
        assert_eq!(conflicts.len(), 6);
    }

    #[test]
    fn a_loaded_key_under_two_domains_refuses_its_tokens_through_the_engine() {
        use crate::engine::{Engine, Settings, Trust};
        use crate::policy::Policy;
        use crate::{envelope, token, Outcome};

        let (b_key, c_key) = (KeyPair::new(), KeyPair::new());
        let document = serde_json::json!({
            "a-evil.example": [item(&b_key, 1, None)],
            "b.example": [item(&b_key, 1, None)],
            "c.example": [item(&c_key, 1, None)],
        });
        let (keys, _) = KeyMap::parse(document.to_string().as_bytes()).expect("valid");
        let trust = Trust {
            keys: crate::store::KeyStore::Whole(keys),
            ..Trust::default()
        };
        let engine = Engine::new(
            Policy::parse("allow if true;").expect("policy"),
            Settings::default(),
        );
        let decide = |key: &KeyPair, domain: Option<&str>| {
            let biscuit = biscuit_auth::Biscuit::builder()
                .code("user(\"u\");")
                .expect("code")
                .root_key_id(1)
                .build(key)
                .expect("token");
            let bytes = biscuit.to_vec().expect("bytes");
            let bytes = envelope::with_domain(&bytes, domain).expect("field 5");
            let event = serde_json::json!({"type": "TOKEN",
                "authorizationToken": format!("Bearer {}", token::encode(&bytes)),
                "methodArn": "arn:aws:execute-api:eu-west-1:1:api/prod/GET/x"});
            let decision = engine
                .evaluate(event, Ok(&trust), SystemTime::now())
                .decision;
            (
                decision.outcome(),
                decision.reason_kind(),
                decision.reason(),
            )
        };
        for domain in [None, Some("a-evil.example"), Some("b.example")] {
            let (outcome, kind, reason) = decide(&b_key, domain);
            assert_eq!(
                (outcome, kind),
                (Outcome::Unauthorized, "ambiguous_key"),
                "{domain:?}"
            );
            assert!(reason.contains("also published by"), "{reason}");
        }
        assert_eq!(
            decide(&c_key, None).0,
            Outcome::Allow,
            "sound keys still work"
        );
    }

    #[test]
    fn expiry_counts_the_grace_period() {
        let key = KeyPair::new();
        let document =
            serde_json::json!({"a.example": [item(&key, 1, Some("2030-01-01T00:00:00Z"))]});
        let (map, _) = KeyMap::parse(document.to_string().as_bytes()).expect("valid");
        let key = &map.with_key_id(1)[0];
        let expiry = SystemTime::from(key.expires_at.expect("has expiry"));
        let grace = Duration::from_secs(300);
        assert!(key.is_live(expiry - Duration::from_secs(1), grace));
        assert!(key.is_live(expiry + Duration::from_secs(299), grace));
        assert!(!key.is_live(expiry + Duration::from_secs(300), grace));
    }
}
