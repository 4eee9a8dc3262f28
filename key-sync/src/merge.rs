//! The next key map: this round's results merged into the current map.

use std::collections::BTreeMap;

pub use authorizer::keyset::KeySets;
use biscuit_auth::BiscuitWebKey;
use serde::Serialize;

/// What happened to one domain this round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DomainReport {
    /// Fetched and validated; the key set changed.
    Fetched {
        /// Keys now stored.
        keys: usize,
    },
    /// Fetched and validated; the key set is the same as before.
    Unchanged {
        /// Keys stored.
        keys: usize,
    },
    /// The fetch or validation failed; the last good key set is kept (if any).
    KeptLastGood {
        /// Keys kept.
        keys: usize,
        /// What failed.
        error: String,
    },
    /// No longer trusted: removed from the map.
    Removed,
}

impl DomainReport {
    /// Whether this domain failed this round.
    pub fn failed(&self) -> bool {
        matches!(self, DomainReport::KeptLastGood { .. })
    }
}

/// Merges one round: each trusted domain gets its fresh key set, or keeps its
/// last good one when its result is an error; domains no longer trusted are
/// removed. A failure never empties a domain.
pub fn merge(
    current: &KeySets,
    results: BTreeMap<String, Result<Vec<BiscuitWebKey>, String>>,
) -> (KeySets, BTreeMap<String, DomainReport>) {
    let mut next = KeySets::new();
    let mut reports = BTreeMap::new();
    for (domain, result) in results {
        let previous = current.get(&domain);
        let report = match result {
            Ok(keys) => {
                let report = if previous == Some(&keys) {
                    DomainReport::Unchanged { keys: keys.len() }
                } else {
                    DomainReport::Fetched { keys: keys.len() }
                };
                next.insert(domain.clone(), keys);
                report
            }
            Err(error) => {
                let kept = previous.cloned().unwrap_or_default();
                let report = DomainReport::KeptLastGood {
                    keys: kept.len(),
                    error,
                };
                if previous.is_some() {
                    next.insert(domain.clone(), kept);
                }
                report
            }
        };
        reports.insert(domain, report);
    }
    for domain in current.keys() {
        reports
            .entry(domain.clone())
            .or_insert(DomainReport::Removed);
    }
    (next, reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::KeyPair;

    fn key(id: u32) -> BiscuitWebKey {
        BiscuitWebKey {
            public_key: KeyPair::new().public(),
            key_id: id,
            issuer: None,
            expires_at: None,
        }
    }

    #[test]
    fn failures_keep_the_last_good_set_and_untrusted_domains_go() {
        let (a1, b1, c1, a2) = (key(1), key(1), key(1), key(2));
        let current = KeySets::from([
            ("a".to_owned(), vec![a1.clone()]),
            ("b".to_owned(), vec![b1.clone()]),
            ("c".to_owned(), vec![c1]),
        ]);
        let results = BTreeMap::from([
            ("a".to_owned(), Ok(vec![a1.clone(), a2.clone()])),
            ("b".to_owned(), Err("down".to_owned())),
            ("d".to_owned(), Err("down".to_owned())),
            ("e".to_owned(), Ok(vec![])),
        ]);
        let (next, reports) = merge(&current, results);
        assert_eq!(next.get("a"), Some(&vec![a1, a2]));
        assert_eq!(next.get("b"), Some(&vec![b1]));
        assert_eq!(next.get("c"), None);
        assert_eq!(next.get("d"), None);
        assert_eq!(next.get("e"), Some(&vec![]));
        assert_eq!(reports["a"], DomainReport::Fetched { keys: 2 });
        assert_eq!(
            reports["b"],
            DomainReport::KeptLastGood {
                keys: 1,
                error: "down".into()
            }
        );
        assert_eq!(reports["c"], DomainReport::Removed);
        assert!(reports["d"].failed());
    }

    #[test]
    fn the_same_keys_are_unchanged() {
        let a1 = key(1);
        let current = KeySets::from([("a".to_owned(), vec![a1.clone()])]);
        let (next, reports) = merge(&current, BTreeMap::from([("a".to_owned(), Ok(vec![a1]))]));
        assert_eq!(next, current);
        assert_eq!(reports["a"], DomainReport::Unchanged { keys: 1 });
    }
}
