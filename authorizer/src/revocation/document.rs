//! The revocation list document, as stored in its secret or file: one model
//! for the authorizer, which reads it, and `authz revoke`, which writes it.
//!
//! Two formats are read:
//! - the original one, a JSON array of hex revocation ids
//!   (`["a6d6…cb04"]`), each taken as its [`CompactId`] with no expiry;
//! - the compact one, always written:
//!   `{"format":"compact-sha256-64","revoked":{"<16 hex>":<unix seconds>|null}}`,
//!   each entry a [`CompactId`] with the time after which it may be pruned
//!   (`null`: never).

use std::collections::BTreeMap;

use super::CompactId;

/// The `format` of a compact document.
pub const FORMAT: &str = "compact-sha256-64";

/// Secrets Manager's limit on a SecretString: no document is written past it.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Why a revocation list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RevocationListError {
    /// Neither a JSON array of hex strings nor a compact document.
    #[error("revocation list must be a JSON array of hex strings or a {{\"format\": \"{FORMAT}\", \"revoked\": {{...}}}} object: {0}")]
    NotAList(#[from] serde_json::Error),
    /// An entry of the array is not hex.
    #[error("revocation list entry {index} is not hex")]
    NotHex {
        /// Position of the entry.
        index: usize,
    },
    /// A compact document of a format this version does not know.
    #[error("revocation list format {0:?} is not {FORMAT:?}")]
    UnknownFormat(String),
    /// A key of a compact document is not a compact id.
    #[error("revocation list entry: {0}")]
    NotACompactId(#[from] super::NotACompactId),
}

/// When an entry may be pruned: unix seconds, or never.
pub type Expiry = Option<i64>;

/// The compact document as serialized (field order is the output order).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Compact {
    format: String,
    revoked: BTreeMap<String, Expiry>,
}

/// A revocation list with each entry's expiry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RevocationDocument {
    entries: BTreeMap<CompactId, Expiry>,
}

/// What adding an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The id was not in the list.
    New,
    /// The id was there with an earlier expiry, now extended.
    Extended,
    /// The id was there already, for at least as long.
    AlreadyPresent,
}

impl RevocationDocument {
    /// Parses either format. A list with a bad entry is refused whole.
    pub fn parse(json: &[u8]) -> Result<RevocationDocument, RevocationListError> {
        let first = json.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            let compact: Compact = serde_json::from_slice(json)?;
            if compact.format != FORMAT {
                return Err(RevocationListError::UnknownFormat(compact.format));
            }
            let entries = compact
                .revoked
                .into_iter()
                .map(|(id, expiry)| Ok((id.parse()?, expiry)))
                .collect::<Result<_, RevocationListError>>()?;
            return Ok(RevocationDocument { entries });
        }
        let ids: Vec<String> = serde_json::from_slice(json)?;
        let entries = ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                hex::decode(id.trim())
                    .map(|bytes| (CompactId::of(&bytes), None))
                    .map_err(|_| RevocationListError::NotHex { index })
            })
            .collect::<Result<_, _>>()?;
        Ok(RevocationDocument { entries })
    }

    /// The canonical compact JSON (entries in id order).
    pub fn to_json(&self) -> String {
        let compact = Compact {
            format: FORMAT.to_owned(),
            revoked: self
                .entries
                .iter()
                .map(|(id, expiry)| (id.to_string(), *expiry))
                .collect(),
        };
        // A struct of strings and integers always serializes.
        serde_json::to_string(&compact).unwrap_or_default()
    }

    /// Adds `id`, to be kept until `expiry`; an id already listed keeps the later expiry.
    pub fn add(&mut self, id: CompactId, expiry: Expiry) -> Added {
        match self.entries.get_mut(&id) {
            None => {
                self.entries.insert(id, expiry);
                Added::New
            }
            Some(kept) if later(expiry, *kept) => {
                *kept = expiry;
                Added::Extended
            }
            Some(_) => Added::AlreadyPresent,
        }
    }

    /// Removes the entries whose expiry is before `now` (unix seconds); returns how many.
    pub fn prune(&mut self, now: i64) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|_, expiry| expiry.is_none_or(|at| at >= now));
        before - self.entries.len()
    }

    /// Whether `id` is listed until at least `expiry`.
    pub fn covers(&self, id: CompactId, expiry: Expiry) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|kept| !later(expiry, *kept))
    }

    /// The listed ids.
    pub fn ids(&self) -> impl Iterator<Item = CompactId> + '_ {
        self.entries.keys().copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether expiry `a` is later than `b` (never is the latest).
fn later(a: Expiry, b: Expiry) -> bool {
    match (a, b) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a > b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> CompactId {
        CompactId::of(&[n; 64])
    }

    #[test]
    fn the_original_format_is_read_as_entries_without_expiry() {
        let document = RevocationDocument::parse(br#" ["0a0b", "ff"]"#).expect("valid");
        assert_eq!(document.len(), 2);
        assert!(document.covers(CompactId::of(&[0xff]), None));
        assert!(matches!(
            RevocationDocument::parse(br#"["zz"]"#),
            Err(RevocationListError::NotHex { index: 0 })
        ));
    }

    #[test]
    fn the_compact_format_round_trips() {
        let mut document = RevocationDocument::default();
        assert_eq!(document.add(id(1), Some(1_800_000_000)), Added::New);
        assert_eq!(document.add(id(2), None), Added::New);
        let json = document.to_json();
        assert!(json.starts_with(r#"{"format":"compact-sha256-64","revoked":{"#));
        assert_eq!(
            RevocationDocument::parse(json.as_bytes()).expect("parse"),
            document
        );
    }

    #[test]
    fn bad_documents_are_refused_whole() {
        for (text, what) in [
            (&b"{}"[..], "no format"),
            (br#"{"format": "compact-sha256-64"}"#, "no entries"),
            (
                br#"{"format": "compact-sha256-64", "revoked": {}, "x": 1}"#,
                "unknown field",
            ),
            (
                br#"{"format": "compact-sha256-64", "revoked": {"0123": null}}"#,
                "short id",
            ),
            (
                br#"{"format": "compact-sha256-64", "revoked": {"0123456789abcdef": "soon"}}"#,
                "expiry not a number",
            ),
            (b"\"abc\"", "a string"),
        ] {
            assert!(RevocationDocument::parse(text).is_err(), "{what}");
        }
        assert!(matches!(
            RevocationDocument::parse(br#"{"format": "sharded-v9", "revoked": {}}"#),
            Err(RevocationListError::UnknownFormat(_))
        ));
    }

    #[test]
    fn an_entry_keeps_its_latest_expiry() {
        let mut document = RevocationDocument::default();
        document.add(id(1), Some(100));
        assert_eq!(document.add(id(1), Some(50)), Added::AlreadyPresent);
        assert!(document.covers(id(1), Some(100)));
        assert_eq!(document.add(id(1), Some(200)), Added::Extended);
        assert_eq!(document.add(id(1), None), Added::Extended);
        assert_eq!(document.add(id(1), Some(300)), Added::AlreadyPresent);
        assert!(document.covers(id(1), None));
    }

    #[test]
    fn pruning_removes_only_expired_entries() {
        let mut document = RevocationDocument::default();
        document.add(id(1), Some(99));
        document.add(id(2), Some(100));
        document.add(id(3), None);
        assert_eq!(document.prune(100), 1);
        assert!(!document.covers(id(1), Some(99)));
        assert!(document.covers(id(2), Some(100)));
        assert!(document.covers(id(3), None));
    }

    #[test]
    fn capacity_of_one_secret() {
        // Every entry with a 10-digit expiry (the longest until the year 2286).
        let filled = |n: u32| {
            let mut document = RevocationDocument::default();
            for i in 0..n {
                document.add(CompactId::of(&i.to_be_bytes()), Some(9_999_999_999));
            }
            document.to_json().len()
        };
        // The README's capacity figure: 2,183 entries fit, one more does not.
        assert!(filled(2_183) <= MAX_DOCUMENT_BYTES);
        assert!(filled(2_184) > MAX_DOCUMENT_BYTES);
    }
}
