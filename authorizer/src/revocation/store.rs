//! Adding to the revocation list in its secret without losing an entry,
//! however many operators revoke at once (`authz revoke`).
//!
//! `PutSecretValue` is not conditional: two writers that read the same
//! version and both write would leave only the second one's entries. So a
//! write is a compare-and-swap in two steps: the new text is stored as a
//! version labelled [`PENDING_LABEL`] (AWSCURRENT does not move), then
//! `UpdateSecretVersionStage` moves AWSCURRENT to it *from the version it
//! was computed from*, which Secrets Manager refuses when AWSCURRENT has
//! moved on. Every current version is therefore computed from the one before
//! it, and a writer that lost the race reads again, merges again and retries.
//! After its swap the writer reads AWSCURRENT back and checks that its
//! entries are there.
//!
//! The protocol holds only among writers that use it: a plain
//! `PutSecretValue` (a console edit) can still drop entries written meanwhile.

use super::document::{Added, Expiry, RevocationDocument, RevocationListError, MAX_DOCUMENT_BYTES};
use super::CompactId;
use crate::secret_write::{StoreError, VersionedSecret};

/// The staging label of a version written but not yet made current.
pub const PENDING_LABEL: &str = "authz-revoke-pending";

/// How many times a writer reads, merges and tries to swap before giving up.
pub const MAX_ATTEMPTS: u32 = 8;

/// What to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The blocks.
    pub ids: Vec<CompactId>,
    /// When the entries may be pruned (unix seconds; `None`: never).
    pub expiry: Expiry,
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revoked {
    /// Entries added.
    pub added: usize,
    /// Entries whose expiry was extended.
    pub extended: usize,
    /// Entries that were already listed for at least as long.
    pub already_present: usize,
    /// Expired entries removed.
    pub pruned: usize,
    /// Entries in the list now.
    pub entries: usize,
    /// Size of the list now, in bytes (at most [`MAX_DOCUMENT_BYTES`]).
    pub bytes: usize,
    /// Whether a new version was written (nothing is written when nothing changes).
    pub written: bool,
    /// The VersionId now current.
    pub version_id: String,
    /// Read-merge-swap rounds it took.
    pub attempts: u32,
}

/// Why a revocation was not recorded. Nothing was made current in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The secret could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The current list does not parse: it is not overwritten.
    #[error("the current revocation list is unusable, nothing written: {0}")]
    Unreadable(#[from] RevocationListError),
    /// The list would be over the SecretString limit even after pruning.
    #[error("the revocation list would hold {entries} entries in {bytes} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit of a secret; nothing written (entries expire and are pruned only with an --until)")]
    Full {
        /// Entries it would hold.
        entries: usize,
        /// Its size.
        bytes: usize,
    },
    /// Other writers kept changing the secret.
    #[error("the revocation list changed under every one of {0} attempts; nothing of this revocation is current, try again")]
    Contended(u32),
    /// The swap succeeded but AWSCURRENT does not list an entry (a writer not using this protocol?).
    #[error("after writing, the current revocation list (version {version}) does not list {id}")]
    Lost {
        /// The missing entry.
        id: CompactId,
        /// The version read back.
        version: String,
    },
}

/// Adds `revocation` to the list in `secret` and prunes the entries expired
/// at `now` (unix seconds), by conditional read-merge-swap rounds.
pub async fn revoke(
    secret: &impl VersionedSecret,
    revocation: &Revocation,
    now: i64,
) -> Result<Revoked, RevokeError> {
    for attempt in 1..=MAX_ATTEMPTS {
        let current = secret.current().await?;
        let mut document = RevocationDocument::parse(current.text.as_bytes())?;
        let pruned = document.prune(now);
        let mut revoked = Revoked {
            added: 0,
            extended: 0,
            already_present: 0,
            pruned,
            entries: 0,
            bytes: 0,
            written: false,
            version_id: current.version_id.clone(),
            attempts: attempt,
        };
        for id in &revocation.ids {
            match document.add(*id, revocation.expiry) {
                Added::New => revoked.added += 1,
                Added::Extended => revoked.extended += 1,
                Added::AlreadyPresent => revoked.already_present += 1,
            }
        }
        let text = document.to_json();
        revoked.entries = document.len();
        revoked.bytes = text.len();
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(RevokeError::Full {
                entries: document.len(),
                bytes: text.len(),
            });
        }
        if text == current.text {
            return Ok(revoked);
        }
        let staged = secret.stage(&current.version_id, &text).await?;
        if let Err(error) = secret.swap(&current.version_id, &staged).await {
            if secret.current().await?.version_id != current.version_id {
                tracing::info!(
                    attempt,
                    "the revocation list changed meanwhile; merging again"
                );
                continue;
            }
            return Err(error.into());
        }
        let back = secret.current().await?;
        let listed = RevocationDocument::parse(back.text.as_bytes())?;
        if let Some(id) = revocation
            .ids
            .iter()
            .find(|id| !listed.covers(**id, revocation.expiry))
        {
            return Err(RevokeError::Lost {
                id: *id,
                version: back.version_id,
            });
        }
        revoked.written = true;
        revoked.version_id = staged;
        return Ok(revoked);
    }
    Err(RevokeError::Contended(MAX_ATTEMPTS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_write::memory::{run, MemorySecret};

    /// The revocation document now current.
    fn current_document(secret: &MemorySecret) -> RevocationDocument {
        RevocationDocument::parse(secret.current_text().as_bytes()).expect("current parses")
    }

    /// Another operator's revocation of `id`, landing just before a swap.
    fn concurrent_revocation(secret: &MemorySecret, id: String) {
        secret
            .before_swap
            .borrow_mut()
            .push(Box::new(move |current| {
                let mut document = RevocationDocument::parse(current.as_bytes()).expect("parses");
                document.add(CompactId::of(id.as_bytes()), None);
                document.to_json()
            }));
    }

    fn block(n: u8) -> CompactId {
        CompactId::of(&[n; 64])
    }

    #[test]
    fn a_concurrent_revocation_is_merged_not_lost() {
        let secret = MemorySecret::holding("[]");
        concurrent_revocation(&secret, "other".into());
        let revocation = Revocation {
            ids: vec![block(1), block(2)],
            expiry: Some(2_000),
        };
        let revoked = run(revoke(&secret, &revocation, 1_000)).expect("revoked");
        assert_eq!(revoked.attempts, 2, "the first swap lost the race");
        assert!(revoked.written);
        assert_eq!(revoked.added, 2);
        let document = current_document(&secret);
        assert!(document.covers(block(1), Some(2_000)));
        assert!(document.covers(block(2), Some(2_000)));
        assert!(document.covers(CompactId::of(b"other"), None));
        assert_eq!(*secret.current.borrow(), revoked.version_id);
    }

    #[test]
    fn expired_entries_are_pruned_and_the_original_format_is_converted() {
        let legacy = format!("[\"{}\"]", hex::encode([9u8; 64]));
        let secret = MemorySecret::holding(&legacy);
        let mut old = RevocationDocument::parse(legacy.as_bytes()).expect("legacy");
        old.add(block(3), Some(500));
        *secret.versions.borrow_mut().get_mut("v0").expect("v0") = old.to_json();
        let revocation = Revocation {
            ids: vec![block(1)],
            expiry: None,
        };
        let revoked = run(revoke(&secret, &revocation, 1_000)).expect("revoked");
        assert_eq!((revoked.added, revoked.pruned, revoked.entries), (1, 1, 2));
        let document = current_document(&secret);
        assert!(document.covers(CompactId::of(&[9u8; 64]), None));
        assert!(!document.covers(block(3), Some(500)));
    }

    #[test]
    fn nothing_is_written_when_nothing_changes() {
        let mut document = RevocationDocument::default();
        document.add(block(1), None);
        let secret = MemorySecret::holding(&document.to_json());
        let revocation = Revocation {
            ids: vec![block(1)],
            expiry: Some(5_000),
        };
        let revoked = run(revoke(&secret, &revocation, 1_000)).expect("revoked");
        assert!(!revoked.written);
        assert_eq!(revoked.already_present, 1);
        assert_eq!(secret.swaps.get(), 0);
        assert_eq!(*secret.current.borrow(), "v0");
    }

    #[test]
    fn a_full_list_or_an_unreadable_one_is_not_written() {
        let mut full = RevocationDocument::default();
        for i in 0..2_183u32 {
            full.add(CompactId::of(&i.to_be_bytes()), Some(9_999_999_999));
        }
        let unreadable = "{\"format\": \"compact-sha256-64\"}".to_owned();
        for (text, what) in [(full.to_json(), "full"), (unreadable, "unreadable")] {
            let secret = MemorySecret::holding(&text);
            let revocation = Revocation {
                ids: vec![block(1)],
                expiry: Some(9_999_999_999),
            };
            let result = run(revoke(&secret, &revocation, 1_000));
            match what {
                "full" => assert!(
                    matches!(result, Err(RevokeError::Full { entries: 2_184, .. })),
                    "{result:?}"
                ),
                _ => assert!(
                    matches!(result, Err(RevokeError::Unreadable(_))),
                    "{result:?}"
                ),
            }
            assert_eq!(secret.swaps.get(), 0, "{what}");
            assert_eq!(*secret.current.borrow(), "v0", "{what}");
        }
    }

    #[test]
    fn a_writer_that_always_loses_gives_up_without_making_anything_current() {
        let secret = MemorySecret::holding("[]");
        for n in 0..MAX_ATTEMPTS {
            concurrent_revocation(&secret, format!("other {n}"));
        }
        let revocation = Revocation {
            ids: vec![block(1)],
            expiry: None,
        };
        let result = run(revoke(&secret, &revocation, 1_000));
        assert!(
            matches!(result, Err(RevokeError::Contended(MAX_ATTEMPTS))),
            "{result:?}"
        );
        let document = current_document(&secret);
        assert_eq!(document.len(), MAX_ATTEMPTS as usize);
        assert!(!document.covers(block(1), None));
    }
}
