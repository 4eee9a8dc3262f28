//! Choosing candidate root keys from the hints.
//!
//! The domain comes from field 5, else from the authority block's `domain`
//! fact (the two must agree when both are present); with a domain, its keys
//! (with the token's key id, if it has one) are the candidates; without one,
//! every domain's keys with the token's key id. The hints only narrow the
//! search; whichever candidate verifies decides the domain. Candidates come in
//! a fixed order: publication order within a domain, domains in lexical order.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::envelope::Hints;
use crate::keyset::TrustedKey;
use crate::store::{KeyStore, LookupError};

/// Default cap on the candidate keys tried for one token, whatever its hints.
pub const DEFAULT_MAX_CANDIDATES: usize = 4;

/// Default time a key is still honoured past its `expires_at`.
pub const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(300);

/// How candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChoiceRules {
    /// Most keys tried for one token (each a signature check before any refusal).
    pub max_candidates: usize,
    /// Time a key is still honoured past its `expires_at`.
    pub expiry_grace: Duration,
}

impl Default for KeyChoiceRules {
    fn default() -> Self {
        KeyChoiceRules {
            max_candidates: DEFAULT_MAX_CANDIDATES,
            expiry_grace: DEFAULT_EXPIRY_GRACE,
        }
    }
}

/// Why no key can be tried for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyChoiceError {
    /// The domain hint names a domain that is not in the key map.
    #[error("untrusted domain {0:?}")]
    UntrustedDomain(String),
    /// The token has neither a domain hint nor a root key id.
    #[error("token has neither a domain hint nor a root key id")]
    NoHints,
    /// Field 5 and the authority block's domain fact name different domains.
    #[error("field 5 names domain {field:?} but the authority block states {authority:?}")]
    DomainHintMismatch {
        /// The domain in field 5.
        field: String,
        /// The domain of the authority block's fact.
        authority: String,
    },
    /// No live key matches the hints.
    #[error("no live key for domain {domain:?} and root key id {key_id:?}")]
    NoKey {
        /// The domain hint.
        domain: Option<String>,
        /// The root key id hint.
        key_id: Option<u32>,
    },
    /// A domain hint without a key id names a domain with more live keys than allowed.
    #[error("domain {domain:?} has {count} live keys, over the limit of {limit}: the token must carry a root key id")]
    KeyIdRequired {
        /// The domain hint.
        domain: String,
        /// Live keys of that domain.
        count: usize,
        /// The configured cap.
        limit: usize,
    },
    /// The key map shard holding the domain or key id cannot be read.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// More live keys share the key id than allowed.
    #[error("root key id {key_id} matches {count} keys, over the limit of {limit}")]
    TooManyCandidates {
        /// The root key id hint.
        key_id: u32,
        /// Live keys with that id.
        count: usize,
        /// The configured cap.
        limit: usize,
    },
}

/// The domain a token is routed by: field 5, else the authority block's
/// fact. When both are present they must agree.
pub fn routing_domain(hints: &Hints) -> Result<Option<&str>, KeyChoiceError> {
    match (&hints.domain, &hints.authority_domain) {
        (Some(field), Some(authority)) if field != authority => {
            Err(KeyChoiceError::DomainHintMismatch {
                field: field.clone(),
                authority: authority.clone(),
            })
        }
        (Some(domain), _) | (None, Some(domain)) => Ok(Some(domain)),
        (None, None) => Ok(None),
    }
}

/// The live keys to try for a token with these hints, in a fixed order.
/// Without a domain, the live publishers of the key id are counted against
/// the cap before any of their keys is decoded.
pub fn candidates(
    keys: &KeyStore,
    hints: &Hints,
    rules: KeyChoiceRules,
    now: SystemTime,
) -> Result<Vec<Arc<TrustedKey>>, KeyChoiceError> {
    let live = |key: &Arc<TrustedKey>| key.is_live(now, rules.expiry_grace);
    let domain = routing_domain(hints)?;
    let chosen: Vec<_> = match (domain, hints.root_key_id) {
        (Some(domain), key_id) => {
            let domain_keys = keys
                .domain(domain)?
                .ok_or_else(|| KeyChoiceError::UntrustedDomain(domain.to_owned()))?;
            let keys = match key_id {
                Some(key_id) => domain_keys.with_key_id(key_id),
                None => domain_keys.all().to_vec(),
            };
            keys.into_iter().filter(live).collect()
        }
        (None, Some(key_id)) => {
            let publishers: Vec<_> = keys
                .publishers(key_id)?
                .into_iter()
                .filter(|p| {
                    p.expires_at.is_none_or(|at| {
                        at.checked_add(rules.expiry_grace)
                            .is_none_or(|deadline| now < deadline)
                    })
                })
                .collect();
            if publishers.len() > rules.max_candidates {
                return Err(KeyChoiceError::TooManyCandidates {
                    key_id,
                    count: publishers.len(),
                    limit: rules.max_candidates,
                });
            }
            let mut chosen = Vec::with_capacity(publishers.len());
            for publisher in publishers {
                if let Some(domain_keys) = keys.domain(&publisher.domain)? {
                    chosen.extend(domain_keys.with_key_id(key_id).into_iter().filter(live));
                }
            }
            chosen
        }
        (None, None) => return Err(KeyChoiceError::NoHints),
    };
    if chosen.len() > rules.max_candidates {
        return Err(match (domain, hints.root_key_id) {
            (_, Some(key_id)) => KeyChoiceError::TooManyCandidates {
                key_id,
                count: chosen.len(),
                limit: rules.max_candidates,
            },
            (Some(domain), None) => KeyChoiceError::KeyIdRequired {
                domain: domain.to_owned(),
                count: chosen.len(),
                limit: rules.max_candidates,
            },
            (None, None) => KeyChoiceError::NoHints,
        });
    }
    if chosen.is_empty() {
        return Err(KeyChoiceError::NoKey {
            domain: domain.map(str::to_owned),
            key_id: hints.root_key_id,
        });
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::KeyMap;
    use biscuit_auth::KeyPair;

    fn map() -> KeyStore {
        let item = |id: u32, expires: &str| serde_json::json!({"algorithm": "ed25519", "key_bytes": KeyPair::new().public().to_bytes_hex(), "key_id": id, "expires_at": expires});
        let document = serde_json::json!({
            "a.example": [item(1, "2030-01-01T00:00:00Z"), item(2, "2020-01-01T00:00:00Z")],
            "b.example": [item(1, "2030-01-01T00:00:00Z")],
            "c.example": [item(1, "2030-01-01T00:00:00Z")],
        });
        KeyStore::Whole(KeyMap::load(document.to_string().as_bytes()).expect("valid"))
    }

    fn hints(domain: Option<&str>, root_key_id: Option<u32>) -> Hints {
        Hints {
            domain: domain.map(str::to_owned),
            root_key_id,
            authority_domain: None,
        }
    }

    fn domains(
        result: Result<Vec<Arc<TrustedKey>>, KeyChoiceError>,
    ) -> Result<Vec<String>, KeyChoiceError> {
        result.map(|keys| {
            keys.iter()
                .map(|k| format!("{}#{}", k.domain, k.key_id))
                .collect()
        })
    }

    #[test]
    fn domain_hint_narrows_to_that_domain() {
        let map = map();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let rules = KeyChoiceRules::default();
        assert_eq!(
            domains(candidates(
                &map,
                &hints(Some("b.example"), Some(1)),
                rules,
                now
            )),
            Ok(vec!["b.example#1".into()])
        );
        assert_eq!(
            domains(candidates(
                &map,
                &hints(Some("a.example"), None),
                rules,
                now
            )),
            Ok(vec!["a.example#1".into()])
        );
        assert_eq!(
            candidates(&map, &hints(Some("z.example"), Some(1)), rules, now).err(),
            Some(KeyChoiceError::UntrustedDomain("z.example".into()))
        );
        // Key 2 of a.example expired long ago.
        assert!(matches!(
            candidates(&map, &hints(Some("a.example"), Some(2)), rules, now),
            Err(KeyChoiceError::NoKey { .. })
        ));
    }

    #[test]
    fn without_a_domain_every_domain_with_the_id_is_a_candidate_up_to_the_cap() {
        let map = map();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let rules = KeyChoiceRules::default();
        assert_eq!(
            domains(candidates(&map, &hints(None, Some(1)), rules, now)),
            Ok(vec![
                "a.example#1".into(),
                "b.example#1".into(),
                "c.example#1".into()
            ])
        );
        let tight = KeyChoiceRules {
            max_candidates: 2,
            ..rules
        };
        assert_eq!(
            candidates(&map, &hints(None, Some(1)), tight, now).err(),
            Some(KeyChoiceError::TooManyCandidates {
                key_id: 1,
                count: 3,
                limit: 2
            })
        );
        assert_eq!(
            candidates(&map, &hints(None, None), rules, now).err(),
            Some(KeyChoiceError::NoHints)
        );
    }

    fn routed(field: Option<&str>, authority: Option<&str>, root_key_id: Option<u32>) -> Hints {
        Hints {
            authority_domain: authority.map(str::to_owned),
            ..hints(field, root_key_id)
        }
    }

    #[test]
    fn the_authority_fact_routes_a_token_without_field_5() {
        let map = map();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // With a cap of 2, key id 1 alone matches too many domains ...
        let tight = KeyChoiceRules {
            max_candidates: 2,
            ..KeyChoiceRules::default()
        };
        assert!(matches!(
            candidates(&map, &hints(None, Some(1)), tight, now),
            Err(KeyChoiceError::TooManyCandidates { count: 3, .. })
        ));
        // ... the authority fact narrows it to its domain, with or without a key id.
        assert_eq!(
            domains(candidates(
                &map,
                &routed(None, Some("c.example"), Some(1)),
                tight,
                now
            )),
            Ok(vec!["c.example#1".into()])
        );
        assert_eq!(
            domains(candidates(
                &map,
                &routed(None, Some("a.example"), None),
                tight,
                now
            )),
            Ok(vec!["a.example#1".into()])
        );
        assert_eq!(
            candidates(&map, &routed(None, Some("z.example"), Some(1)), tight, now).err(),
            Some(KeyChoiceError::UntrustedDomain("z.example".into()))
        );
    }

    #[test]
    fn field_5_and_the_authority_fact_must_agree() {
        let map = map();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let rules = KeyChoiceRules::default();
        assert_eq!(
            domains(candidates(
                &map,
                &routed(Some("b.example"), Some("b.example"), Some(1)),
                rules,
                now
            )),
            Ok(vec!["b.example#1".into()])
        );
        assert_eq!(
            candidates(
                &map,
                &routed(Some("b.example"), Some("c.example"), Some(1)),
                rules,
                now
            )
            .err(),
            Some(KeyChoiceError::DomainHintMismatch {
                field: "b.example".into(),
                authority: "c.example".into()
            })
        );
    }
}
