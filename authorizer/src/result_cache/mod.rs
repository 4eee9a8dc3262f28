//! Cache-safe decisions: API Gateway reuses an authorizer's answer for every
//! request with the same identity sources for up to the cache TTL, so an
//! Allow must hold for all of them, for all of that time.
//!
//! With a TTL above 0 an Allow is refused as `cache_unsafe` when the decision
//! read a request fact the cache key does not hold ([`ResultCache::unkeyed`]),
//! or when it would not also be an Allow at every later instant of the window
//! in which it may be reused ([`ResultCache::later_instants`]).
//!
//! - [`key`]: the identity sources, in API Gateway's syntax.
//! - [`reads`]: the header and query names and the dates a program reads.

pub mod key;
pub mod reads;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use self::key::{Api, CacheKey, Source};
use self::reads::{CacheReads, Names};
use crate::event::{EventKind, RequestInfo};
use crate::facts::{Predicates, RequestPredicate};
use crate::metrics::{self, CountEvent, Shape};
use crate::policy::PolicyRefusal;

/// API Gateway's largest authorizer result TTL.
pub const MAX_TTL_SECONDS: u64 = 3600;

/// The metric counting, at start and per policy version, each warning that
/// the policy reads a fact the cache key does not hold.
pub const CACHE_UNSAFE_POLICY_METRIC: &str = "CacheUnsafePolicy";

/// Logs each warning of [`ResultCache::policy_warnings`] and counts it in
/// [`CACHE_UNSAFE_POLICY_METRIC`].
pub fn report(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!(%warning, "result cache");
        metrics::emit(
            Shape::Plain,
            &CountEvent::new(
                CACHE_UNSAFE_POLICY_METRIC,
                "policy reads a fact the result cache key does not hold",
                vec![("warning", warning.clone())],
            ),
        );
    }
}

/// Default for the most evaluations at later instants of the cache window.
pub const DEFAULT_MAX_WINDOW_EVALUATIONS: usize = 8;

/// What the function knows of API Gateway's result cache in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultCache {
    /// How long an answer may be reused (0: no cache, every request is decided).
    pub ttl: Duration,
    /// The identity sources of the authorizers.
    pub key: CacheKey,
    /// Most evaluations at later instants of the window, per decision.
    pub max_window_evaluations: usize,
}

impl Default for ResultCache {
    fn default() -> Self {
        ResultCache {
            ttl: Duration::ZERO,
            key: CacheKey::default(),
            max_window_evaluations: DEFAULT_MAX_WINDOW_EVALUATIONS,
        }
    }
}

/// A request fact a decision read that the cache key does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unkeyed {
    /// The key does not hold the `Authorization` header: answers would be
    /// shared between tokens.
    #[error("the cache key does not hold the Authorization header")]
    Credential,
    /// A request fact no identity source holds.
    #[error("the decision reads {0}, which the cache key does not hold")]
    Fact(&'static str),
    /// A header the key does not hold in full.
    #[error("the decision reads header {0:?}, which the cache key does not hold (every value)")]
    Header(String),
    /// A query parameter the key does not hold in full.
    #[error(
        "the decision reads query parameter {0:?}, which the cache key does not hold (every value)"
    )]
    Query(String),
    /// A body reads `query` with a variable name: no key can hold every name.
    #[error("the decision reads every query parameter (query with a variable name)")]
    AnyQuery,
    /// A keyed header or query parameter with several values, or a comma,
    /// which API Gateway's key cannot tell from other value lists.
    #[error(
        "{what} {name:?} has several values or a comma, which its cache key cannot tell apart"
    )]
    AmbiguousValue {
        /// `header` or `query parameter`.
        what: &'static str,
        /// Its name.
        name: String,
    },
}

/// Why an Allow could not be handed to API Gateway's cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheUnsafe {
    /// The decision read a request fact the cache key does not hold.
    #[error(transparent)]
    Unkeyed(#[from] Unkeyed),
    /// The allow would not hold at a later instant of the cache window.
    #[error("the allow would not hold at {at} (within the cache TTL): {refusal}")]
    NotThroughout {
        /// The instant (RFC 3339).
        at: String,
        /// What the policy answers then.
        refusal: PolicyRefusal,
    },
    /// The verifying key expires within the cache window.
    #[error("the verifying key expires within the cache TTL")]
    KeyExpires,
    /// The token and policy compare time with too many dates within the window.
    #[error("time is compared with dates at {instants} instants within the cache TTL, over the limit of {limit}")]
    TooManyInstants {
        /// Instants that would have to be evaluated.
        instants: usize,
        /// The cap.
        limit: usize,
    },
}

impl ResultCache {
    /// Whether API Gateway caches answers at all.
    pub fn is_on(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The last instant an answer decided at `now` may be reused at: the TTL
    /// later, plus a second for the decision's own time (the `time` fact is
    /// in whole seconds).
    pub fn window_end(&self, now: SystemTime) -> SystemTime {
        now + self.ttl + Duration::from_secs(1)
    }

    /// Every instant after `now` within the window at which a decision that
    /// reads `time` must also be an Allow for the Allow at `now` to hold
    /// throughout: the end of the window, and each of `dates` (the program's
    /// dates) within it together with the second after it. `time` is only
    /// ever compared with dates (biscuit-auth offers nothing else on dates),
    /// so a verdict only changes at those dates; between two of them it is
    /// the same at every instant, and these instants visit every stretch.
    pub fn later_instants(
        &self,
        now: SystemTime,
        dates: &BTreeSet<u64>,
    ) -> Result<Vec<SystemTime>, CacheUnsafe> {
        let seconds = |at: SystemTime| at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let start = seconds(now);
        let end = seconds(self.window_end(now));
        let mut instants = BTreeSet::from([end]);
        for &date in dates.range(start..end) {
            instants.extend([date, date + 1]);
        }
        instants.retain(|&at| at > start && at <= end);
        if instants.len() > self.max_window_evaluations {
            return Err(CacheUnsafe::TooManyInstants {
                instants: instants.len(),
                limit: self.max_window_evaluations,
            });
        }
        Ok(instants
            .into_iter()
            .map(|at| UNIX_EPOCH + Duration::from_secs(at))
            .collect())
    }

    /// The first request fact a decision about an event of `kind` reads
    /// (`used`, `reads`, and the client certificate when a holder binding was
    /// enforced) that the cache key does not hold, judged on the program
    /// alone: what holds for every request.
    pub fn unkeyed(
        &self,
        kind: EventKind,
        used: Predicates,
        reads: &CacheReads,
        header_allow_list: &[String],
    ) -> Result<(), Unkeyed> {
        use RequestPredicate as P;
        let sources = match kind {
            // A TOKEN authorizer's key is the token; its facts come from the
            // method ARN, which the answer's resource pins (below).
            EventKind::RestToken => return Ok(()),
            EventKind::RestRequest => self.key.sources(Api::Rest),
            EventKind::HttpV2 => self.key.sources(Api::Http),
        };
        if !sources.iter().any(Source::holds_credential) {
            return Err(Unkeyed::Credential);
        }
        let has = |source: Source| sources.contains(&source);
        // REST answers are IAM policies on the request's exact method ARN:
        // API Gateway applies a cached one to another method, path or stage
        // as a Deny.
        let pinned = kind == EventKind::RestRequest;
        let routed = has(Source::Route) || (has(Source::Method) && has(Source::Path));
        for predicate in RequestPredicate::ALL {
            if !used.contains(predicate) {
                continue;
            }
            let keyed = match predicate {
                // The token is in the key; `time` is judged by the window; one
                // authorizer serves one API of one account and region.
                P::Domain | P::RootKeyId | P::Time | P::ApiId | P::AccountId | P::Region => true,
                P::Method => pinned || has(Source::Method),
                P::Path => pinned || has(Source::Path),
                P::Route => pinned || routed,
                P::PathParam => pinned || (has(Source::Path) && routed),
                P::Stage => pinned || has(Source::Stage),
                P::SourceIp => has(Source::SourceIp),
                P::ClientCert => has(Source::ClientCert),
                P::Header => {
                    let mut read = header_names(&reads.headers, header_allow_list);
                    if let Some(name) = read.find(|n| !has(Source::Header(n.clone()))) {
                        return Err(Unkeyed::Header(name));
                    }
                    true
                }
                P::Query => {
                    if reads.queries.any {
                        return Err(Unkeyed::AnyQuery);
                    }
                    if let Some(name) = reads
                        .queries
                        .names
                        .iter()
                        .find(|n| !has(Source::Query((*n).clone())))
                    {
                        return Err(Unkeyed::Query(name.clone()));
                    }
                    true
                }
            };
            if !keyed {
                return Err(Unkeyed::Fact(predicate.name()));
            }
        }
        Ok(())
    }

    /// [`ResultCache::unkeyed`] for this request: also refuses a keyed header
    /// or query parameter the request gives other than as one value without a
    /// comma. API Gateway joins repeated values with commas in the key (HTTP
    /// APIs), so `a,b` could be one value or two: only a single value without
    /// a comma stands for exactly one set of facts.
    pub fn unkeyed_request(
        &self,
        kind: EventKind,
        used: Predicates,
        reads: &CacheReads,
        request: &RequestInfo,
        header_allow_list: &[String],
    ) -> Result<(), Unkeyed> {
        self.unkeyed(kind, used, reads, header_allow_list)?;
        if kind == EventKind::RestToken {
            return Ok(());
        }
        let single = |pairs: &[(String, String)], name: &str| {
            let mut values = pairs.iter().filter(|(n, _)| n == name);
            matches!((values.next(), values.next()), (Some((_, v)), None) if !v.contains(','))
        };
        if used.contains(RequestPredicate::Header) {
            let mut read = header_names(&reads.headers, header_allow_list);
            if let Some(name) = read.find(|n| !single(&request.headers, n)) {
                return Err(Unkeyed::AmbiguousValue {
                    what: "header",
                    name,
                });
            }
        }
        if used.contains(RequestPredicate::Query) {
            if let Some(name) = reads
                .queries
                .names
                .iter()
                .find(|n| !single(&request.query, n))
            {
                return Err(Unkeyed::AmbiguousValue {
                    what: "query parameter",
                    name: name.clone(),
                });
            }
        }
        Ok(())
    }

    /// What the operator should hear at start: the kinds of API for which
    /// the policy alone reads a fact the key does not hold (every Allow of
    /// that API is then refused), or a key that holds no source at all.
    pub fn policy_warnings(
        &self,
        used: Predicates,
        reads: &CacheReads,
        header_allow_list: &[String],
    ) -> Vec<String> {
        if !self.is_on() {
            return Vec::new();
        }
        let apis = [
            (Api::Rest, EventKind::RestRequest, "REST API"),
            (Api::Http, EventKind::HttpV2, "HTTP API"),
        ];
        let keyed: Vec<_> = apis
            .iter()
            .filter(|(api, _, _)| !self.key.sources(*api).is_empty())
            .collect();
        if keyed.is_empty() {
            return vec![format!(
                "result cache TTL is {} s but RESULT_CACHE_KEY names no identity source: every REQUEST and HTTP API decision is refused as cache_unsafe",
                self.ttl.as_secs()
            )];
        }
        keyed
            .into_iter()
            .filter_map(|(_, kind, label)| {
                let unkeyed = self.unkeyed(*kind, used, reads, header_allow_list).err()?;
                Some(format!(
                    "result cache TTL is {} s and the policy itself reads a fact the {label} cache key does not hold ({unkeyed}): every {label} decision that reaches an Allow is refused as cache_unsafe; add its identity source or turn caching off",
                    self.ttl.as_secs()
                ))
            })
            .collect()
    }
}

/// The allow-listed header names bodies read (lowercase): only those become facts.
fn header_names<'a>(
    read: &'a Names,
    header_allow_list: &'a [String],
) -> impl Iterator<Item = String> + 'a {
    header_allow_list
        .iter()
        .filter(move |allowed| {
            read.any || read.names.iter().any(|n| n.eq_ignore_ascii_case(allowed))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn seconds(instants: &[SystemTime]) -> Vec<u64> {
        instants
            .iter()
            .map(|i| i.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
            .collect()
    }

    fn cache(ttl: u64) -> ResultCache {
        ResultCache {
            ttl: Duration::from_secs(ttl),
            ..ResultCache::default()
        }
    }

    #[test]
    fn the_window_is_visited_at_its_end_and_around_each_date_in_it() {
        let dates = BTreeSet::from([500, 1_000, 1_050, 1_100, 1_302, 5_000]);
        // now = 1000.4 s: the time fact says 1000; reuse until 1300.4 s, so 1301.
        let now = at(1_000) + Duration::from_millis(400);
        let instants = cache(300).later_instants(now, &dates).expect("instants");
        assert_eq!(
            seconds(&instants),
            [1_001, 1_050, 1_051, 1_100, 1_101, 1_301]
        );
        // Without dates in the window, the end alone.
        let instants = cache(300)
            .later_instants(at(2_000), &dates)
            .expect("instants");
        assert_eq!(seconds(&instants), [2_301]);
    }

    #[test]
    fn more_instants_than_the_cap_are_refused() {
        let dates: BTreeSet<u64> = (1..=10).map(|i| 1_000 + i * 10).collect();
        let capped = cache(300).later_instants(at(1_000), &dates);
        assert_eq!(
            capped,
            Err(CacheUnsafe::TooManyInstants {
                instants: 21,
                limit: DEFAULT_MAX_WINDOW_EVALUATIONS
            })
        );
    }
}
