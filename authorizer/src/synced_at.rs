//! When key-sync last confirmed a stored key map: the `synced_at` member of
//! a whole map or a manifest, an RFC 3339 time in UTC to the second.
//!
//! key-sync stamps the map when a round writes it, and again when the stamp
//! is older than [`REFRESH`] even if nothing changed, so the stamp's age is
//! the age of the key map's content as key-sync last saw it, whatever the
//! authorizer's own reads do. A map written by hand or by `authz keymap`
//! has no stamp: its age is unknown, never zero.

use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The member holding the stamp, in a whole map and in a manifest.
pub const MEMBER: &str = "synced_at";

/// What the stamp adds to a whole map as stored: `"synced_at":"…Z",`.
pub const STORED_BYTES: usize = r#""synced_at":"2026-12-07T16:00:00Z","#.len();

/// key-sync writes a fresh stamp at least this often, changes or not.
pub const REFRESH: Duration = Duration::from_secs(3600);

/// A `synced_at` stamp: a time to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncedAt(DateTime<Utc>);

/// A `synced_at` value that is not an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("synced_at is not an RFC 3339 time: {0}")]
pub struct BadSyncedAt(String);

impl BadSyncedAt {
    /// The error for `text`, kept short.
    pub(crate) fn of(text: &str) -> BadSyncedAt {
        BadSyncedAt(crate::decision::excerpt(text, 64))
    }
}

impl SyncedAt {
    /// The stamp for `at`, cut to the second.
    pub fn at(at: SystemTime) -> SyncedAt {
        let time = DateTime::<Utc>::from(at);
        SyncedAt(DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time))
    }

    /// Reads a stamp.
    pub fn parse(text: &str) -> Result<SyncedAt, BadSyncedAt> {
        DateTime::parse_from_rfc3339(text)
            .map(|time| SyncedAt(time.with_timezone(&Utc)))
            .map_err(|_| BadSyncedAt::of(text))
    }

    /// How old the stamp is at `now`; zero for a stamp in the future.
    pub fn age(self, now: SystemTime) -> Duration {
        now.duration_since(SystemTime::from(self.0))
            .unwrap_or_default()
    }

    /// Whether key-sync should write a fresh stamp at `now`: the stamp is
    /// [`REFRESH`] old, or in the future (a clock gone wrong, or a stamp
    /// written by hand, which would otherwise hide the map's age for good).
    pub fn is_due(self, now: SystemTime) -> bool {
        now.duration_since(SystemTime::from(self.0))
            .map_or(true, |age| age >= REFRESH)
    }
}

impl fmt::Display for SyncedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

impl Serialize for SyncedAt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SyncedAt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SyncedAt, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        SyncedAt::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_round_trips_to_the_second_and_ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_900);
        let stamp = SyncedAt::at(now);
        assert_eq!(stamp.to_string(), "2026-11-30T00:53:20Z");
        assert_eq!(SyncedAt::parse(&stamp.to_string()), Ok(stamp));
        assert_eq!(stamp.age(now), Duration::from_millis(900));
        assert!(!stamp.is_due(now + Duration::from_secs(3599)));
        assert!(stamp.is_due(now + REFRESH));
        assert_eq!(stamp.age(now - Duration::from_secs(60)), Duration::ZERO);
        assert!(
            stamp.is_due(now - Duration::from_secs(60)),
            "a stamp in the future is replaced"
        );
    }

    #[test]
    fn other_offsets_are_read_and_garbage_is_refused() {
        let stamp = SyncedAt::parse("2026-11-30T01:53:20+01:00").expect("offset");
        assert_eq!(stamp.to_string(), "2026-11-30T00:53:20Z");
        assert!(SyncedAt::parse("yesterday").is_err());
        assert!(serde_json::from_str::<SyncedAt>("12").is_err());
        assert_eq!(
            serde_json::from_str::<SyncedAt>("\"2026-11-30T00:53:20Z\"").expect("json"),
            stamp
        );
    }
}
