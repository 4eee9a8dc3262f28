//! The next key map: this round's results merged into the current map, under
//! the per-domain quotas ([`crate::quotas`]), the fair admission of growth
//! into each stored document ([`crate::growth`]) and the one-owner rule
//! ([`keyset::assign_owners`]).
//!
//! Withdrawals always apply: a domain whose new key set is not admitted (over
//! a quota, or growth refused for room) stores its last good set less every
//! key it no longer publishes and every key past `expires_at`. That set is a
//! subset of what it stored, so it always fits, and nothing another domain
//! publishes can change it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

pub use authorizer::keyset::KeySets;
use authorizer::keyset::{self, KeyConflict};
use biscuit_auth::BiscuitWebKey;
use serde::Serialize;

use crate::growth;
pub use crate::quotas::Quotas;

/// A domain's status after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fetched and validated; the stored key set changed.
    Fetched,
    /// Fetched and validated; the stored key set is the same as before.
    Unchanged,
    /// The fetch or validation failed; the last good key set (if any) is
    /// kept, less its expired keys.
    KeptLastGood,
    /// No longer trusted: removed from the map.
    Removed,
    /// It publishes a key that belongs to another domain (or that several
    /// domains claim at once); that key is refused, its other keys are stored.
    Conflict,
    /// Over a quota, or its growth did not fit: the last good key set (if any)
    /// is kept, less the keys no longer published and the expired ones.
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
    /// The document is over a quota (too large to read): the domain is
    /// rejected and keeps its last good set.
    OverQuota(String),
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
    /// The domains whose growth was refused for room this round.
    pub growth_refused: BTreeSet<String>,
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
    /// What it publishes, when within the per-domain quotas: what it asks to store.
    fresh: Option<Vec<BiscuitWebKey>>,
    /// What it stores when `fresh` is not admitted: its last good set less
    /// the keys it no longer publishes and the expired ones (`None`: it has
    /// no last good set and is left out of the map).
    fallback: Option<Vec<BiscuitWebKey>>,
    /// `Fetched` while `fresh` is admitted (unchanged is told apart later), else why not.
    status: Status,
    reason: String,
}

impl Plan {
    fn new(
        last_good: Option<&Vec<BiscuitWebKey>>,
        result: Result<Vec<BiscuitWebKey>, Failure>,
        quotas: &Quotas,
        now: SystemTime,
    ) -> Plan {
        let (fresh, published, status, reason) = match result {
            Ok(keys) => match quotas.check(&keys) {
                Ok(()) => (Some(keys), None, Status::Fetched, String::new()),
                Err(error) => (None, Some(keys), Status::Rejected, error.to_string()),
            },
            Err(Failure::Failed(error)) => (None, None, Status::KeptLastGood, error),
            Err(Failure::OverQuota(error)) => (None, None, Status::Rejected, error),
        };
        let published = fresh.as_deref().or(published.as_deref());
        Plan {
            fallback: still_published(last_good, published, now),
            fresh,
            status,
            reason,
        }
    }

    /// The key set it asks to store now.
    fn keys(&self) -> Option<&Vec<BiscuitWebKey>> {
        match self.status {
            Status::Fetched => self.fresh.as_ref(),
            _ => self.fallback.as_ref(),
        }
    }
}

/// The keys of `last_good` still published (same key id and public key) and
/// not past `expires_at` at `now`; with nothing published known (a failed
/// fetch), the unexpired keys of `last_good`.
fn still_published(
    last_good: Option<&Vec<BiscuitWebKey>>,
    published: Option<&[BiscuitWebKey]>,
    now: SystemTime,
) -> Option<Vec<BiscuitWebKey>> {
    let kept = |key: &&BiscuitWebKey| {
        let expired = key.expires_at.is_some_and(|at| SystemTime::from(at) <= now);
        let published = published.is_none_or(|published| {
            published
                .iter()
                .any(|p| p.key_id == key.key_id && p.public_key == key.public_key)
        });
        !expired && published
    };
    last_good.map(|keys| keys.iter().filter(kept).cloned().collect())
}

/// Merges one round at `now`. Each trusted domain gets its fresh key set when
/// it is within the quotas and its growth fits, else its last good set less
/// what it withdrew and what expired (`kept_last_good` for a failure,
/// `rejected` over a quota or out of room); domains no longer trusted are
/// removed; the one-owner rule refuses shared keys (`conflict`). Fails only
/// when a document is over `max_map_bytes` even without any growth.
pub fn merge(
    current: &KeySets,
    results: BTreeMap<String, Result<Vec<BiscuitWebKey>, Failure>>,
    quotas: Quotas,
    now: SystemTime,
) -> Result<Merged, TooLarge> {
    let mut plans: BTreeMap<String, Plan> = results
        .into_iter()
        .map(|(domain, result)| {
            let plan = Plan::new(current.get(&domain), result, &quotas, now);
            (domain, plan)
        })
        .collect();
    let growth_refused = admit_growth(current, &mut plans, quotas)?;
    let merged = settle(current, &plans, quotas.shards, growth_refused);
    // Settling only removes keys, so every document still fits; checked anyway.
    let limit = quotas.max_map_bytes;
    let over = merged
        .shards
        .iter()
        .enumerate()
        .find(|(_, s)| s.len() > limit);
    match over {
        Some((shard, document)) => Err(TooLarge {
            shard,
            size: document.len(),
            limit,
        }),
        None => Ok(merged),
    }
}

/// Admits each document's growth fairly ([`growth::refused`]): a domain whose
/// stored entry would grow asks for the difference over its fallback, from the
/// room the document has with every other domain at its floor (its fresh set
/// if it does not grow, else its fallback). Refused domains become
/// `rejected`; their names are returned.
fn admit_growth(
    current: &KeySets,
    plans: &mut BTreeMap<String, Plan>,
    quotas: Quotas,
) -> Result<BTreeSet<String>, TooLarge> {
    let shards = quotas.shards.max(1);
    let limit = quotas.max_map_bytes;
    let mut floors = vec![0usize; shards];
    let mut requests: Vec<Vec<(&str, usize)>> = vec![Vec::new(); shards];
    for (domain, plan) in plans.iter() {
        let shard = authorizer::store::shard_of(domain, shards);
        let fresh = cost(domain, plan.fresh.as_ref());
        let grows = plan.status == Status::Fetched && fresh > cost(domain, current.get(domain));
        if grows {
            let fallback = cost(domain, plan.fallback.as_ref());
            floors[shard] += fallback;
            requests[shard].push((domain, fresh.saturating_sub(fallback)));
        } else {
            floors[shard] += cost(domain, plan.keys());
        }
    }
    let mut refused = Vec::new();
    for (shard, (floor, requests)) in floors.into_iter().zip(&requests).enumerate() {
        // `{` + every entry with its comma, the last comma being the `}`; `{}` when empty.
        let size = (1 + floor).max(2);
        let free = limit
            .checked_sub(size)
            .ok_or(TooLarge { shard, size, limit })?;
        for (domain, why) in growth::refused(free, requests) {
            refused.push((domain.to_owned(), shard, why));
        }
    }
    let mut names = BTreeSet::new();
    for (domain, shard, why) in refused {
        if let Some(plan) = plans.get_mut(&domain) {
            plan.status = Status::Rejected;
            plan.reason = growth_reason(&why, shard, shards);
        }
        names.insert(domain);
    }
    Ok(names)
}

fn growth_reason(why: &growth::Refused, shard: usize, shards: usize) -> String {
    let document = match shards {
        1 => "the key map".to_owned(),
        _ => format!("key map shard {shard}"),
    };
    format!(
        "its key set would grow by {} bytes, over its fair share of {} bytes ({} bytes free in {document} for {} growing domains); its new keys wait, its withdrawn and expired keys are removed",
        why.request, why.share, why.free, why.growers
    )
}

/// Bytes a domain's entry takes in a stored document, its comma included (0 when absent).
fn cost(domain: &str, keys: Option<&Vec<BiscuitWebKey>>) -> usize {
    let Some(keys) = keys else { return 0 };
    // Strings and BWKS items always serialize.
    let name = serde_json::to_string(domain).map_or(0, |json| json.len());
    let keys = serde_json::to_string(keys).map_or(0, |json| json.len());
    name + 1 + keys + 1
}

/// Applies the one-owner rule to the plans and reports each domain.
fn settle(
    current: &KeySets,
    plans: &BTreeMap<String, Plan>,
    shards: usize,
    growth_refused: BTreeSet<String>,
) -> Merged {
    let claims: KeySets = plans
        .iter()
        .filter_map(|(domain, plan)| Some((domain.clone(), plan.keys()?.clone())))
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
        growth_refused,
    }
}

fn conflict_reason(conflicts: &[KeyConflict], plan: &Plan) -> String {
    let mut parts: Vec<String> = conflicts.iter().map(|c| format!("refused {c}")).collect();
    if plan.status.needs_operator() {
        parts.push(plan.reason.clone());
    }
    parts.join("; ")
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

    fn now() -> SystemTime {
        SystemTime::now()
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
        let merged = merge(&current, results, QUOTAS, now()).expect("fits");
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
        let merged = merge(&empty, all_up, QUOTAS, now()).expect("fits");
        assert_eq!(merged.without_fresh_set(), Vec::<String>::new());
        let one_down = BTreeMap::from([
            ("a".to_owned(), Ok(vec![key(1)])),
            ("b".to_owned(), failed("HTTP status 503")),
        ]);
        let merged = merge(&empty, one_down, QUOTAS, now()).expect("fits");
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
        let merged = merge(&current, results, QUOTAS, now()).expect("fits");
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
        let merged = merge(&current, results, QUOTAS, now()).expect("fits");
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
        let merged = merge(&current, results, QUOTAS, now()).expect("fits");
        assert_eq!(merged.next["a"], vec![a1]);
        assert_eq!(merged.next["b"], vec![b1], "b's withdrawal lands");
        assert!(!merged.next.contains_key("c") && !merged.next.contains_key("d"));
        for (domain, reason) in [
            (
                "a",
                "key 2: issuer of 257 bytes as stored (escaped JSON), over the limit of 256",
            ),
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
        let merged = merge(&current, results, quotas, now()).expect("fits without the growth");
        assert_eq!(merged.next["a"], vec![a1]);
        assert_eq!(merged.next["b"], vec![b1], "b's withdrawal lands");
        assert!(!merged.next.contains_key("new"));
        for domain in ["a", "new"] {
            let report = &merged.reports[domain];
            assert_eq!(report.status, Status::Rejected);
            assert!(
                report.reason.contains("fair share") && report.reason.contains("the key map"),
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
            merge(&current, results, tiny, now()),
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
        let merged =
            merge(&current, results, quotas, now()).expect("fits without shard 0's growth");
        assert_eq!(merged.shards.len(), 2);
        assert!(merged
            .shards
            .iter()
            .all(|s| s.len() <= quotas.max_map_bytes));
        for domain in &crowded {
            assert_eq!(status(&merged, domain), Status::Rejected, "{domain}");
            assert!(merged.reports[domain].reason.contains("key map shard 0"));
        }
        assert_eq!(
            status(&merged, &roomy[0]),
            Status::Fetched,
            "shard 1 had room"
        );
        assert_eq!(merged.next[&roomy[0]].len(), 2);
    }

    fn with_issuer(id: u32, issuer: &str) -> BiscuitWebKey {
        BiscuitWebKey {
            issuer: Some(issuer.to_owned()),
            ..key(id)
        }
    }

    fn republished(current: &KeySets) -> BTreeMap<String, Result<Vec<BiscuitWebKey>, Failure>> {
        current
            .iter()
            .map(|(domain, keys)| (domain.clone(), Ok(keys.clone())))
            .collect()
    }

    #[test]
    fn a_neighbour_s_growth_never_delays_a_withdrawal() {
        // 120 ordinary domains; v replaces its leaked key 9 with key 10 while
        // e, in the same document, grows past the limit round after round.
        let mut start: KeySets = (0..120)
            .map(|n| (format!("d{n:03}.example"), vec![key(1), key(2)]))
            .collect();
        let (v1, v9, v10, e1) = (key(1), key(9), key(10), key(1));
        start.insert("v.example".into(), vec![v1.clone(), v9.clone()]);
        start.insert("e.example".into(), vec![e1.clone()]);
        let size = keyset::canonical_json(&start).len();
        // With room for v's new key, and with none at all.
        for (margin, v_admitted) in [(300, true), (0, false)] {
            let quotas = Quotas {
                max_map_bytes: size + margin,
                ..QUOTAS
            };
            let mut current = start.clone();
            for round in 0..3 {
                let mut results = republished(&current);
                results.insert("v.example".into(), Ok(vec![v1.clone(), v10.clone()]));
                let growth = (2..=16).map(|id| with_issuer(id, &format!("{round}").repeat(256)));
                results.insert(
                    "e.example".into(),
                    Ok(std::iter::once(e1.clone()).chain(growth).collect()),
                );
                let merged = merge(&current, results, quotas, now()).expect("fits");
                let v = &merged.next["v.example"];
                assert!(
                    !v.contains(&v9),
                    "margin {margin}, round {round}: key 9 is gone"
                );
                assert_eq!(
                    v.contains(&v10),
                    v_admitted,
                    "margin {margin}, round {round}"
                );
                assert_eq!(merged.next["e.example"], vec![e1.clone()]);
                assert_eq!(status(&merged, "e.example"), Status::Rejected);
                assert!(merged.growth_refused.contains("e.example"));
                assert_eq!(merged.growth_refused.contains("v.example"), !v_admitted);
                assert!(merged.canonical.len() <= quotas.max_map_bytes);
                for n in 0..120 {
                    let domain = format!("d{n:03}.example");
                    assert_eq!(merged.next[&domain], start[&domain]);
                    assert_eq!(status(&merged, &domain), Status::Unchanged);
                }
                current = merged.next;
            }
        }
    }

    #[test]
    fn two_growing_neighbours_get_at_most_a_fair_share_and_the_others_are_untouched() {
        let current: KeySets = ["large", "small", "still"]
            .map(|d| (format!("{d}.example"), vec![key(1)]))
            .into();
        let free = 1000;
        let quotas = Quotas {
            max_map_bytes: keyset::canonical_json(&current).len() + free,
            ..QUOTAS
        };
        let grown = |domain: &str, added: u32| {
            let extra = (2..2 + added).map(|id| with_issuer(id, &"i".repeat(200)));
            let keys: Vec<_> = current[domain].iter().cloned().chain(extra).collect();
            (domain.to_owned(), Ok(keys))
        };
        let mut results = republished(&current);
        results.extend([grown("small.example", 1), grown("large.example", 3)]);
        let merged = merge(&current, results, quotas, now()).expect("fits");
        let growth = |domain: &str| {
            cost(domain, merged.next.get(domain)) - cost(domain, current.get(domain))
        };
        assert_eq!(merged.next["small.example"].len(), 2);
        assert!(growth("small.example") <= free / 2, "within an equal share");
        assert_eq!(merged.next["large.example"], current["large.example"]);
        let report = &merged.reports["large.example"];
        assert_eq!(report.status, Status::Rejected);
        assert!(
            report.reason.starts_with("its key set would grow by ")
                && report.reason.contains(&format!(
                    "({free} bytes free in the key map for 2 growing domains)"
                )),
            "{}",
            report.reason
        );
        assert_eq!(
            merged.growth_refused,
            BTreeSet::from(["large.example".to_owned()])
        );
        assert_eq!(merged.next["still.example"], current["still.example"]);
        assert_eq!(status(&merged, "still.example"), Status::Unchanged);
        assert!(merged.canonical.len() <= quotas.max_map_bytes);
    }

    #[test]
    fn a_set_not_admitted_loses_its_withdrawn_and_expired_keys() {
        let past = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z").ok();
        let expired = |id| BiscuitWebKey {
            expires_at: past,
            ..key(id)
        };
        let [a1, a2, b1, b2, c1, c2] = [key(1), expired(2), key(1), expired(2), key(1), key(2)];
        let current = KeySets::from([
            ("a".to_owned(), vec![a1.clone(), a2]),
            ("b".to_owned(), vec![b1.clone(), b2.clone()]),
            ("c".to_owned(), vec![c1.clone(), c2]),
        ]);
        let results = BTreeMap::from([
            ("a".to_owned(), failed("down")),
            // b still publishes its expired key, and an issuer with a control character.
            (
                "b".to_owned(),
                Ok(vec![b1.clone(), b2, with_issuer(3, "x\u{1}")]),
            ),
            // c withdraws key 2 and publishes 17 keys.
            (
                "c".to_owned(),
                Ok(std::iter::once(c1.clone())
                    .chain((3..=18).map(key))
                    .collect()),
            ),
        ]);
        let merged = merge(&current, results, QUOTAS, now()).expect("fits");
        assert_eq!(merged.next["a"], vec![a1]);
        assert_eq!(status(&merged, "a"), Status::KeptLastGood);
        assert_eq!(merged.next["b"], vec![b1]);
        assert_eq!(
            merged.reports["b"],
            DomainReport {
                status: Status::Rejected,
                keys: 1,
                reason: "key 3: issuer holds the control character U+0001 at character 1".into()
            }
        );
        assert_eq!(merged.next["c"], vec![c1]);
        assert_eq!(status(&merged, "c"), Status::Rejected);
        assert!(merged.growth_refused.is_empty(), "quotas are not growth");
    }

    #[test]
    fn a_map_over_the_limit_without_growth_is_not_written() {
        let current = KeySets::from([("a".to_owned(), vec![key(1)])]);
        let tiny = Quotas {
            max_map_bytes: 10,
            ..QUOTAS
        };
        let size = keyset::canonical_json(&current).len();
        assert_eq!(
            merge(&current, republished(&current), tiny, now()),
            Err(TooLarge {
                shard: 0,
                size,
                limit: 10
            }),
            "the floor is measured exactly"
        );
        let exact = Quotas {
            max_map_bytes: size,
            ..QUOTAS
        };
        assert!(merge(&current, republished(&current), exact, now()).is_ok());
        assert!(merge(&KeySets::new(), BTreeMap::new(), tiny, now()).is_ok());
    }
}
