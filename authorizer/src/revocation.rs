//! The revocation list: revocation ids (hex) of blocks that must not be honoured.
//!
//! A block's revocation id is its signature. An ECDSA P-256 signature `(r, s)`
//! has a twin `(r, n - s)` that verifies as well, so a holder could give a
//! revoked block a second id. Ids are therefore compared in canonical form
//! (low S) on both sides: revoking either twin revokes both. Rejecting high-S
//! signatures instead would refuse valid tokens: biscuit-auth signs with
//! either S, and the upstream P-256 conformance sample carries a high-S one.

use std::collections::HashSet;

/// Why a revocation list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RevocationListError {
    /// Not a JSON array of strings.
    #[error("revocation list must be a JSON array of hex strings: {0}")]
    NotAnArray(#[from] serde_json::Error),
    /// An entry is not hex.
    #[error("revocation list entry {index} is not hex")]
    NotHex {
        /// Position of the entry.
        index: usize,
    },
}

/// A set of revoked block revocation ids, kept in canonical form.
#[derive(Debug, Default, Clone)]
pub struct RevocationList {
    revoked: HashSet<Vec<u8>>,
}

impl RevocationList {
    /// Parses a JSON array of hex revocation ids. A list with a bad entry is
    /// refused whole: it is an operator's document, and half of it is a surprise.
    pub fn parse(json: &[u8]) -> Result<RevocationList, RevocationListError> {
        let entries: Vec<String> = serde_json::from_slice(json)?;
        let revoked = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                hex::decode(entry.trim())
                    .map(canonical)
                    .map_err(|_| RevocationListError::NotHex { index })
            })
            .collect::<Result<_, _>>()?;
        Ok(RevocationList { revoked })
    }

    /// The index of the first block whose id is revoked, if any.
    pub fn first_revoked(&self, revocation_ids: &[Vec<u8>]) -> Option<usize> {
        if self.revoked.is_empty() {
            return None;
        }
        revocation_ids
            .iter()
            .position(|id| self.revoked.contains(&canonical(id.clone())))
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
fn canonical(id: Vec<u8>) -> Vec<u8> {
    match p256::ecdsa::Signature::from_der(&id).map(|signature| signature.normalize_s()) {
        Ok(Some(low_s)) => low_s.to_der().as_bytes().to_vec(),
        _ => id,
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
    fn bad_lists_are_refused() {
        assert!(matches!(
            RevocationList::parse(b"{}"),
            Err(RevocationListError::NotAnArray(_))
        ));
        assert!(matches!(
            RevocationList::parse(br#"["zz"]"#),
            Err(RevocationListError::NotHex { index: 0 })
        ));
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
