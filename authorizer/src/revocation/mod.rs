//! The revocation list: blocks that must not be honoured, named by their
//! revocation ids.
//!
//! A block's revocation id is its signature. An ECDSA P-256 signature `(r, s)`
//! has a twin `(r, n - s)` that verifies as well, so a holder could give a
//! revoked block a second id. Ids are therefore compared in canonical form
//! (low S) on both sides: revoking either twin revokes both. Rejecting high-S
//! signatures instead would refuse valid tokens: biscuit-auth signs with
//! either S, and the upstream P-256 conformance sample carries a high-S one.
//!
//! The list holds [`CompactId`]s, 64-bit digests of canonical ids, so that
//! about 2,000 entries fit in one Secrets Manager secret (a full Ed25519 id
//! takes 131 bytes of JSON, a compact entry with its expiry 30). A digest
//! collision can only refuse a token nobody revoked; a revoked block's
//! digest is always in the list. The document format, old and new, is in
//! [`document`]; the conditional writer `authz revoke` uses is in [`store`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

pub mod document;
#[cfg(feature = "lambda")]
pub mod store;

pub use document::{RevocationDocument, RevocationListError};

/// A revoked block as the list names it: the first 8 bytes of the SHA-256
/// of its canonical revocation id, written as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompactId(u64);

impl CompactId {
    /// The compact id of a block's revocation id (as biscuit-auth gives it:
    /// a P-256 id is put in low-S form first).
    pub fn of(revocation_id: &[u8]) -> CompactId {
        let digest = Sha256::digest(canonical(revocation_id));
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        CompactId(u64::from_be_bytes(first))
    }
}

impl fmt::Display for CompactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why a text is not a compact id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a compact revocation id (16 hex digits)")]
pub struct NotACompactId(pub String);

impl FromStr for CompactId {
    type Err = NotACompactId;

    fn from_str(text: &str) -> Result<CompactId, NotACompactId> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NotACompactId(text.to_owned()));
        }
        u64::from_str_radix(text, 16)
            .map(CompactId)
            .map_err(|_| NotACompactId(text.to_owned()))
    }
}

/// The set of revoked blocks the authorizer checks each token against.
/// Every entry is honoured, whatever its expiry: pruning expired entries is
/// the writer's job (`authz revoke`), and an entry kept too long costs only space.
#[derive(Debug, Default, Clone)]
pub struct RevocationList {
    revoked: HashSet<CompactId>,
}

impl RevocationList {
    /// Parses a revocation list document (either format, see [`document`]).
    /// A list with a bad entry is refused whole: it is an operator's
    /// document, and half of it is a surprise.
    pub fn parse(json: &[u8]) -> Result<RevocationList, RevocationListError> {
        Ok(RevocationList {
            revoked: RevocationDocument::parse(json)?.ids().collect(),
        })
    }

    /// The index of the first block whose id is revoked, if any: one
    /// digest and one hash-set lookup per block.
    pub fn first_revoked(&self, revocation_ids: &[Vec<u8>]) -> Option<usize> {
        if self.revoked.is_empty() {
            return None;
        }
        revocation_ids
            .iter()
            .position(|id| self.revoked.contains(&CompactId::of(id)))
    }

    /// Number of revoked ids.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// The low-S DER form of an id that is a DER ECDSA P-256 signature; any other
/// id (Ed25519 signatures are 64 raw bytes) as it is.
fn canonical(id: &[u8]) -> Cow<'_, [u8]> {
    match p256::ecdsa::Signature::from_der(id).map(|signature| signature.normalize_s()) {
        Ok(Some(low_s)) => Cow::Owned(low_s.to_der().as_bytes().to_vec()),
        _ => Cow::Borrowed(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Algorithm, Biscuit, KeyPair};
    use prost::Message;

    #[test]
    fn finds_the_first_revoked_block() {
        let list = RevocationList::parse(br#"["0a0b", "ff"]"#).expect("valid");
        assert_eq!(list.len(), 2);
        assert_eq!(list.first_revoked(&[vec![1], vec![0xff]]), Some(1));
        assert_eq!(list.first_revoked(&[vec![1]]), None);
    }

    #[test]
    fn both_formats_name_the_same_blocks() {
        let id = vec![7u8; 64];
        let legacy = RevocationList::parse(format!("[\"{}\"]", hex::encode(&id)).as_bytes())
            .expect("legacy");
        let compact = RevocationList::parse(
            format!(
                r#"{{"format": "{}", "revoked": {{"{}": null}}}}"#,
                document::FORMAT,
                CompactId::of(&id)
            )
            .as_bytes(),
        )
        .expect("compact");
        for list in [legacy, compact] {
            assert_eq!(list.first_revoked(&[vec![1u8; 64], id.clone()]), Some(1));
            assert_eq!(list.first_revoked(&[vec![1u8; 64]]), None);
        }
    }

    #[test]
    fn compact_ids_are_sixteen_hex_digits() {
        let id = CompactId::of(b"some signature");
        let text = id.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(text.parse::<CompactId>(), Ok(id));
        for bad in [
            "",
            "0123",
            "0123456789abcdeg",
            "+123456789abcdef",
            "0123456789abcdef0",
        ] {
            assert!(bad.parse::<CompactId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_malleated_twin_of_a_revoked_p256_block_is_revoked_too() {
        let root = KeyPair::new_with_algorithm(Algorithm::Secp256r1);
        let token = Biscuit::builder()
            .fact("user(\"a\")")
            .expect("fact")
            .build(&root)
            .expect("build");
        let original_id = token.revocation_identifiers()[0].clone();
        let mut proto = token.container().to_proto();
        let signature = p256::ecdsa::Signature::from_der(&proto.authority.signature).expect("der");
        let (r, s) = signature.split_scalars();
        let twin = p256::ecdsa::Signature::from_scalars(r, -*s).expect("scalars");
        proto.authority.signature = twin.to_der().as_bytes().to_vec();
        let twin_token =
            Biscuit::from(proto.encode_to_vec(), root.public()).expect("the twin verifies");
        let twin_id = twin_token.revocation_identifiers()[0].clone();
        assert_ne!(twin_id, original_id);

        let list = RevocationList::parse(format!("[\"{}\"]", hex::encode(&original_id)).as_bytes())
            .expect("valid");
        assert_eq!(list.first_revoked(std::slice::from_ref(&twin_id)), Some(0));
        let list = RevocationList::parse(format!("[\"{}\"]", hex::encode(&twin_id)).as_bytes())
            .expect("valid");
        assert_eq!(list.first_revoked(&[original_id]), Some(0));
    }
}
