//! The next key map: this round's results merged into the current map, under
//! the one-owner rule ([`keyset::assign_owners`]) and the per-domain quotas.

use std::collections::BTreeMap;

pub use authorizer::keyset::KeySets;
use authorizer::keyset::{self, KeyConflict};
use biscuit_auth::BiscuitWebKey;
use serde::Serialize;

/// A domain's status after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fetched and validated; the stored key set changed.
    Fetched,
    /// Fetched and validated; the stored key set is the same as before.
    Unchanged,
    /// The fetch or validation failed; the last good key set (if any) is kept.
    KeptLastGood,
    /// No longer trusted: removed from the map.
    Removed,
    /// It publishes a key that belongs to another domain (or that several
    /// domains claim at once); that key is refused, its other keys are stored.
    Conflict,
    /// Over a quota; the last good key set (if any) is kept.
    Rejected,
}

impl Status {
    /// The name used in the summary (`kept_last_good`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fetched => "fetched",
            Status::Unchanged => "unchanged",
            Status::KeptLastGood => "kept_last_good",
            Status::Removed => "removed",
            Status::Conflict => "conflict",
            Status::Rejected => "rejected",
        }
    }

    /// Whether an operator must act (the round then ends in an error).
    pub fn needs_operator(self) -> bool {
        matches!(
            self,
            Status::KeptLastGood | Status::Conflict | Status::Rejected
        )
    }
}

/// What happened to one domain this round, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainReport {
    /// The status.
    pub status: Status,
    /// Keys stored for the domain now.
    pub keys: usize,
    /// Why, in words.
    pub reason: String,
}

/// Why a domain has no usable key set this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The fetch or validation failed: the domain keeps its last good set.
    Failed(String),
    /// The document is over a quota: the domain is rejected and keeps its last good set.
    OverQuota(String),
}

/// Limits that keep one domain from blocking the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Most keys one domain may store.
    pub max_keys_per_domain: usize,
    /// Longest free-text field of a key (`issuer`), in bytes.
    pub max_field_bytes: usize,
    /// Largest stored document (the whole map, or each shard), canonical JSON, in bytes.
    pub max_map_bytes: usize,
    /// Number of shards the map is split into ([`authorizer::store::split`]); 1 for a whole map.
    pub shards: usize,
}

impl Quotas {
    /// Checks one domain's validated key set against the per-domain limits.
    fn check(&self, keys: &[BiscuitWebKey]) -> Result<(), String> {
        if keys.len() > self.max_keys_per_domain {
            return Err(format!(
                "{} keys, over the limit of {} per domain",
                keys.len(),
                self.max_keys_per_domain
            ));
        }
        for key in keys {
            let issuer = key.issuer.as_deref().map_or(0, str::len);
            if issuer > self.max_field_bytes {
                return Err(format!(
                    "key {}: issuer of {issuer} bytes, over the limit of {}",
                    key.key_id, self.max_field_bytes
                ));
            }
        }
        Ok(())
    }
}

/// The map is over the size limit even without this round's growth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key map shard {shard} is {size} bytes even without this round's growth, over the {limit}-byte limit; not written")]
pub struct TooLarge {
    /// The shard over the limit (0 for a whole map).
    pub shard: usize,
    /// Size of its canonical JSON.
    pub size: usize,
    /// The limit.
    pub limit: usize,
}

/// The merged map and what happened to each domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The key sets to store.
    pub next: KeySets,
    /// Their canonical JSON as one document (what a one-shard map stores).
    pub canonical: String,
    /// The canonical JSON of each shard, each within the size limit.
    pub shards: Vec<String>,
    /// Each domain's status and reason (removed domains included).
    pub reports: BTreeMap<String, DomainReport>,
}

impl Merged {
    /// The domains that did not end with a fresh, whole key set (`fetched` or
    /// `unchanged`), as `domain: status: reason`. Over a current map that does
    /// not parse, writing is safe only when this is empty.
    pub fn without_fresh_set(&self) -> Vec<String> {
        self.reports
            .iter()
            .filter(|(_, r)| !matches!(r.status, Status::Fetched | Status::Unchanged))
            .map(|(domain, r)| format!("{domain}: {}: {}", r.status.as_str(), r.reason))
            .collect()
    }
}

/// One domain's intended key set, before the one-owner rule.
struct Plan {
    /// `None`: the domain is left out of the map (it has no last good set).
    keys: Option<Vec<BiscuitWebKey>>,
    /// `Fetched` for a fresh set (unchanged is told apart later), else why not.
    status: Status,
    reason: String,
}

/// Merges one round. Each trusted domain gets its fresh key set when it is
/// within the quotas, else keeps its last good one (`kept_last_good` for a
/// failure, `rejected` over a quota); domains no longer trusted are removed;
/// the one-owner rule refuses shared keys (`conflict`). If the map is then
/// over `max_map_bytes`, every domain whose set grew this round keeps its last
/// good set instead (`rejected`); if it is still over, nothing can be written.
pub fn merge(
    current: &KeySets,
    results: BTreeMap<String, Result<Vec<BiscuitWebKey>, Failure>>,
    quotas: Quotas,
) -> Result<Merged, TooLarge> {
    let last_good = |domain: &str, status: Status, reason: String| Plan {
        keys: current.get(domain).cloned(),
        status,
        reason,
    };
    let mut plans: BTreeMap<String, Plan> = results
        .into_iter()
        .map(|(domain, result)| {
            let checked = result.and_then(|keys| {
                quotas
                    .check(&keys)
                    .map(|()| keys)
                    .map_err(Failure::OverQuota)
            });
            let plan = match checked {
                Ok(keys) => Plan {
                    keys: Some(keys),
                    status: Status::Fetched,
                    reason: String::new(),
                },
                Err(Failure::Failed(error)) => last_good(&domain, Status::KeptLastGood, error),
                Err(Failure::OverQuota(error)) => last_good(&domain, Status::Rejected, error),
            };
            (domain, plan)
        })
        .collect();
    let merged = settle(current, &plans, quotas.shards);
    let limit = quotas.max_map_bytes;
    let over: Vec<usize> = oversized(&merged, limit).map(|(shard, _)| shard).collect();
    if over.is_empty() {
        return Ok(merged);
    }
    for (domain, plan) in &mut plans {
        let shard = authorizer::store::shard_of(domain, quotas.shards);
        if over.contains(&shard)
            && plan.status == Status::Fetched
            && json_len(merged.next.get(domain)) > json_len(current.get(domain))
        {
            let size = merged.shards[shard].len();
            let reason = format!(
                "its key set grew, and its key map shard ({shard}) would be {size} bytes, over the {limit}-byte limit"
            );
            *plan = last_good(domain, Status::Rejected, reason);
        }
    }
    let merged = settle(current, &plans, quotas.shards);
    let first_over = oversized(&merged, limit).next();
    match first_over {
        Some((shard, size)) => Err(TooLarge { shard, size, limit }),
        None => Ok(merged),
    }
}

/// The shards over `limit`, with their sizes.
fn oversized(merged: &Merged, limit: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    merged
        .shards
        .iter()
        .map(String::len)
        .enumerate()
        .filter(move |(_, size)| *size > limit)
}

/// Applies the one-owner rule to the plans and reports each domain.
fn settle(current: &KeySets, plans: &BTreeMap<String, Plan>, shards: usize) -> Merged {
    let claims: KeySets = plans
        .iter()
        .filter_map(|(domain, plan)| Some((domain.clone(), plan.keys.clone()?)))
        .collect();
    let (next, conflicts) = keyset::assign_owners(current, claims);
    let mut reports = BTreeMap::new();
    for (domain, plan) in plans {
        let stored = next.get(domain);
        let keys = stored.map_or(0, Vec::len);
        let previous = current.get(domain);
        let (status, reason) = match conflicts.get(domain) {
            Some(found) => (Status::Conflict, conflict_reason(found, plan)),
            None if plan.status != Status::Fetched => (plan.status, plan.reason.clone()),
            None if stored == previous => {
                (Status::Unchanged, "published key set unchanged".to_owned())
            }
            None => (
                Status::Fetched,
                format!(
                    "published key set changed ({} keys before)",
                    previous.map_or(0, Vec::len)
                ),
            ),
        };
        reports.insert(
            domain.clone(),
            DomainReport {
                status,
                keys,
                reason,
            },
        );
    }
    for domain in current.keys() {
        reports
            .entry(domain.clone())
            .or_insert_with(|| DomainReport {
                status: Status::Removed,
                keys: 0,
                reason: "no longer a trusted domain".to_owned(),
            });
    }
    let canonical = keyset::canonical_json(&next);
    let shards = match shards {
        0 | 1 => vec![canonical.clone()],
        count => authorizer::store::shard_documents(&authorizer::store::split(&next, count)),
    };
    Merged {
        next,
        canonical,
        shards,
        reports,
    }
}

fn conflict_reason(conflicts: &[KeyConflict], plan: &Plan) -> String {
    let mut parts: Vec<String> = conflicts.iter().map(|c| format!("refused {c}")).collect();
    if plan.status.needs_operator() {
        parts.push(plan.reason.clone());
    }
    parts.join("; ")
}

/// Size of one domain's key set as JSON (0 when absent).
fn json_len(keys: Option<&Vec<BiscuitWebKey>>) -> usize {
    keys.and_then(|keys| serde_json::to_string(keys).ok())
        .map_or(0, |json| json.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::KeyPair;

    const QUOTAS: Quotas = Quotas {
        max_keys_per_domain: 16,
        max_field_bytes: 256,
        max_map_bytes: 64 * 1024,
        shards: 1,
    };

    fn key(id: u32) -> BiscuitWebKey {
        BiscuitWebKey {
            public_key: KeyPair::new().public(),
            key_id: id,
            issuer: None,
            expires_at: None,
        }
    }

    fn failed(error: &str) -> Result<Vec<BiscuitWebKey>, Failure> {
        Err(Failure::Failed(error.to_owned()))
    }

    fn status(merged: &Merged, domain: &str) -> Status {
        merged.reports[domain].status
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
            ("b".to_owned(), failed("down")),
            ("d".to_owned(), failed("down")),
            ("e".to_owned(), Ok(vec![])),
        ]);
        let merged = merge(&current, results, QUOTAS).expect("fits");
        assert_eq!(merged.next.get("a"), Some(&vec![a1, a2]));
        assert_eq!(merged.next.get("b"), Some(&vec![b1]));
        assert_eq!(merged.next.get("c"), None);
        assert_eq!(merged.next.get("d"), None);
        assert_eq!(merged.next.get("e"), Some(&vec![]));
        assert_eq!(
            merged.reports["a"],
            DomainReport {
                status: Status::Fetched,
                keys: 2,
                reason: "published key set changed (1 keys before)".into()
            }
        );
        assert_eq!(
            merged.reports["b"],
            DomainReport {
                status: Status::KeptLastGood,
                keys: 1,
                reason: "down".into()
            }
        );
        assert_eq!(status(&merged, "c"), Status::Removed);
        assert_eq!(status(&merged, "d"), Status::KeptLastGood);
        assert_eq!(merged.canonical, keyset::canonical_json(&merged.next));
    }

    #[test]
    fn over_an_unreadable_map_only_fresh_whole_sets_may_be_written() {
        let empty = KeySets::new();
        let all_up = BTreeMap::from([
            ("a".to_owned(), Ok(vec![key(1)])),
            ("b".to_owned(), Ok(vec![key(1)])),
        ]);
        let merged = merge(&empty, all_up, QUOTAS).expect("fits");
        assert_eq!(merged.without_fresh_set(), Vec::<String>::new());
        let one_down = BTreeMap::from([
            ("a".to_owned(), Ok(vec![key(1)])),
            ("b".to_owned(), failed("HTTP status 503")),
        ]);
        let merged = merge(&empty, one_down, QUOTAS).expect("fits");
        assert_eq!(
            merged.without_fresh_set(),
            ["b: kept_last_good: HTTP status 503"]
        );
    }

    #[test]
    fn the_same_keys_are_unchanged() {
        let a1 = key(1);
        let current = KeySets::from([("a".to_owned(), vec![a1.clone()])]);
        let results = BTreeMap::from([("a".to_owned(), Ok(vec![a1]))]);
        let merged = merge(&current, results, QUOTAS).expect("fits");
        assert_eq!(merged.next, current);
        assert_eq!(status(&merged, "a"), Status::Unchanged);
        assert!(!status(&merged, "a").needs_operator());
    }

    #[test]
    fn a_copied_key_is_refused_and_the_copier_keeps_its_own_keys() {
        let (b1, evil1, evil2) = (key(1), key(1), key(2));
        let current = KeySets::from([
            ("a-evil".to_owned(), vec![evil1.clone()]),
            ("b".to_owned(), vec![b1.clone()]),
        ]);
        let copy = BiscuitWebKey {
            key_id: 3,
            ..b1.clone()
        };
        let results = BTreeMap::from([
            (
                "a-evil".to_owned(),
                Ok(vec![evil1.clone(), evil2.clone(), copy]),
            ),
            ("b".to_owned(), Ok(vec![b1.clone()])),
        ]);
        let merged = merge(&current, results, QUOTAS).expect("fits");
        assert_eq!(merged.next["a-evil"], vec![evil1, evil2]);
        assert_eq!(merged.next["b"], vec![b1]);
        let report = &merged.reports["a-evil"];
        assert_eq!((report.status, report.keys), (Status::Conflict, 2));
        assert!(
            report.reason.starts_with("refused key 3 (ed25519/")
                && report.reason.ends_with("belongs to b"),
            "{}",
            report.reason
        );
        assert!(report.status.needs_operator());
        assert_eq!(status(&merged, "b"), Status::Unchanged);
    }

    #[test]
    fn over_quota_domains_keep_their_last_good_set_while_others_change() {
        let (a1, b1, b2) = (key(1), key(1), key(2));
        let current = KeySets::from([
            ("a".to_owned(), vec![a1.clone()]),
            ("b".to_owned(), vec![b1.clone(), b2]),
        ]);
        let long_issuer = BiscuitWebKey {
            issuer: Some("x".repeat(257)),
            ..key(2)
        };
        let results = BTreeMap::from([
            ("a".to_owned(), Ok(vec![a1.clone(), long_issuer])),
            ("b".to_owned(), Ok(vec![b1.clone()])),
            ("c".to_owned(), Ok((1..=17).map(key).collect())),
            (
                "d".to_owned(),
                Err(Failure::OverQuota("document larger than 10 bytes".into())),
            ),
        ]);
        let merged = merge(&current, results, QUOTAS).expect("fits");
        assert_eq!(merged.next["a"], vec![a1]);
        assert_eq!(merged.next["b"], vec![b1], "b's withdrawal lands");
        assert!(!merged.next.contains_key("c") && !merged.next.contains_key("d"));
        for (domain, reason) in [
            ("a", "key 2: issuer of 257 bytes, over the limit of 256"),
            ("c", "17 keys, over the limit of 16 per domain"),
            ("d", "document larger than 10 bytes"),
        ] {
            assert_eq!(
                merged.reports[domain],
                DomainReport {
                    status: Status::Rejected,
                    keys: usize::from(domain == "a"),
                    reason: reason.into()
                }
            );
        }
        assert_eq!(status(&merged, "b"), Status::Fetched);
    }

    #[test]
    fn over_the_map_limit_only_the_growth_is_dropped() {
        let (a1, b1, b2) = (key(1), key(1), key(2));
        let current = KeySets::from([
            ("a".to_owned(), vec![a1.clone()]),
            ("b".to_owned(), vec![b1.clone(), b2]),
        ]);
        let quotas = Quotas {
            max_map_bytes: keyset::canonical_json(&current).len() + 100,
            ..QUOTAS
        };
        let results = BTreeMap::from([
            ("a".to_owned(), Ok(vec![a1.clone(), key(2), key(3)])),
            ("b".to_owned(), Ok(vec![b1.clone()])),
            ("new".to_owned(), Ok(vec![key(1), key(2)])),
        ]);
        let merged = merge(&current, results, quotas).expect("fits without the growth");
        assert_eq!(merged.next["a"], vec![a1]);
        assert_eq!(merged.next["b"], vec![b1], "b's withdrawal lands");
        assert!(!merged.next.contains_key("new"));
        for domain in ["a", "new"] {
            let report = &merged.reports[domain];
            assert_eq!(report.status, Status::Rejected);
            assert!(
                report.reason.contains("grew") && report.reason.contains("-byte limit"),
                "{}",
                report.reason
            );
        }
        assert_eq!(status(&merged, "b"), Status::Fetched);
        assert!(merged.canonical.len() <= quotas.max_map_bytes);

        let tiny = Quotas {
            max_map_bytes: 10,
            ..QUOTAS
        };
        let results = BTreeMap::from([("a".to_owned(), failed("down"))]);
        assert!(matches!(
            merge(&current, results, tiny),
            Err(TooLarge { limit: 10, .. })
        ));
    }

    #[test]
    fn with_shards_the_limit_is_per_shard_and_only_that_shard_s_growth_is_dropped() {
        use authorizer::store::shard_of;
        let names: Vec<String> = (0..64).map(|i| format!("d{i}.example")).collect();
        let in_shard = |shard: usize| {
            names
                .iter()
                .filter(move |d| shard_of(d, 2) == shard)
                .cloned()
        };
        let (crowded, roomy): (Vec<_>, Vec<_>) =
            (in_shard(0).take(2).collect(), in_shard(1).take(1).collect());
        let current: KeySets = crowded
            .iter()
            .chain(&roomy)
            .map(|d| (d.clone(), vec![key(1)]))
            .collect();
        let shard_zero = keyset::canonical_json(
            &current
                .iter()
                .filter(|(d, _)| shard_of(d, 2) == 0)
                .map(|(d, k)| (d.clone(), k.clone()))
                .collect(),
        );
        let quotas = Quotas {
            max_map_bytes: shard_zero.len() + 100,
            shards: 2,
            ..QUOTAS
        };
        let grow = |domain: &String| (domain.clone(), Ok(vec![current[domain][0].clone(), key(2)]));
        let results: BTreeMap<_, _> = crowded.iter().chain(&roomy).map(grow).collect();
        let merged = merge(&current, results, quotas).expect("fits without shard 0's growth");
        assert_eq!(merged.shards.len(), 2);
        assert!(merged
            .shards
            .iter()
            .all(|s| s.len() <= quotas.max_map_bytes));
        for domain in &crowded {
            assert_eq!(status(&merged, domain), Status::Rejected, "{domain}");
            assert!(merged.reports[domain].reason.contains("shard (0)"));
        }
        assert_eq!(
            status(&merged, &roomy[0]),
            Status::Fetched,
            "shard 1 had room"
        );
        assert_eq!(merged.next[&roomy[0]].len(), 2);
    }

    #[test]
    fn reverting_growth_restores_ownership_of_a_withdrawn_key() {
        // a withdraws k and grows; c, shrinking, claims k. Over the limit a's
        // growth is dropped, a holds k again, so c is refused k.
        let (k, c_old) = (key(1), key(1));
        let current = KeySets::from([
            ("a".to_owned(), vec![k.clone()]),
            (
                "c".to_owned(),
                vec![BiscuitWebKey {
                    issuer: Some("o".repeat(150)),
                    ..c_old
                }],
            ),
        ]);
        let quotas = Quotas {
            max_field_bytes: 1000,
            max_map_bytes: keyset::canonical_json(&current).len() + 150,
            ..QUOTAS
        };
        let big = BiscuitWebKey {
            issuer: Some("i".repeat(500)),
            ..key(2)
        };
        let c_copy = BiscuitWebKey {
            key_id: 9,
            ..k.clone()
        };
        let results = BTreeMap::from([
            ("a".to_owned(), Ok(vec![big])),
            ("c".to_owned(), Ok(vec![c_copy])),
        ]);
        let merged = merge(&current, results, quotas).expect("fits");
        assert_eq!(merged.next["a"], vec![k]);
        assert_eq!(merged.next["c"], vec![]);
        assert_eq!(status(&merged, "a"), Status::Rejected);
        assert_eq!(status(&merged, "c"), Status::Conflict);
    }
}
