//! Signature verification: from unverified bytes to a [`VerifiedToken`].
//!
//! [`VerifiedToken`] can only be made here, so holding one means the chain
//! verified under a trusted key, its P-256 signatures are canonical and no
//! block asserts a reserved fact.

use std::sync::Arc;

use biscuit_auth::{Biscuit, PublicKey, UnverifiedBiscuit};

use crate::audit::{self, AuditFinding};
use crate::blocks::TokenBlocks;
use crate::keyset::TrustedKey;

/// A token whose signature chain verified under `key`.
#[derive(Debug)]
pub struct VerifiedToken {
    biscuit: Biscuit,
    blocks: TokenBlocks,
    key: Arc<TrustedKey>,
    domain_claims: Vec<String>,
    minters: Vec<PublicKey>,
}

impl VerifiedToken {
    /// The verified token.
    pub fn biscuit(&self) -> &Biscuit {
        &self.biscuit
    }

    /// Its blocks, decoded once, each with the symbol table biscuit-auth resolves it against.
    pub fn blocks(&self) -> &TokenBlocks {
        &self.blocks
    }

    /// The key that verified it; its domain is the verified domain.
    pub fn key(&self) -> &TrustedKey {
        &self.key
    }

    /// The verified domain: the domain of the key that verified the token.
    pub fn domain(&self) -> &str {
        &self.key.domain
    }

    /// Domains the authority block claims with `domain($d)` facts.
    pub fn domain_claims(&self) -> &[String] {
        &self.domain_claims
    }

    /// Minter keys the authority block names with `minter($public_key)` facts
    /// (entries that are not a public key are left out).
    pub fn minters(&self) -> &[PublicKey] {
        &self.minters
    }
}

/// Why a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not a Biscuit token.
    #[error("not a Biscuit token: {0}")]
    Malformed(String),
    /// No candidate key verifies the signature chain.
    #[error("signature does not verify under any of {tried} candidate key(s): {detail}")]
    BadSignature {
        /// How many keys were tried.
        tried: usize,
        /// biscuit-auth's error for the last key tried.
        detail: String,
    },
    /// The token verified, but its signed content breaks a rule of this authorizer.
    #[error(transparent)]
    Audit(#[from] AuditFinding),
}

/// Verifies `token` against each candidate in order; the first that verifies wins.
pub fn verify(token: &[u8], candidates: &[Arc<TrustedKey>]) -> Result<VerifiedToken, VerifyError> {
    let unverified =
        UnverifiedBiscuit::from(token).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let bad_signature = |detail: String| VerifyError::BadSignature {
        tried: candidates.len(),
        detail,
    };
    let Some((last, others)) = candidates.split_last() else {
        return Err(bad_signature("no candidate key".into()));
    };
    let verified = |biscuit: Biscuit, key: &Arc<TrustedKey>| {
        let blocks = TokenBlocks::decode(token)
            .map_err(|e| VerifyError::Audit(AuditFinding::Unreadable(e.to_string())))?;
        let claims = audit::audit_blocks(&blocks)?;
        let minters = claims
            .minters
            .iter()
            .filter_map(|text| match text.parse::<PublicKey>() {
                Ok(key) => Some(key),
                Err(error) => {
                    tracing::debug!(minter = %text, %error, "authority names a minter that is not a public key");
                    None
                }
            })
            .collect();
        Ok(VerifiedToken {
            biscuit,
            blocks,
            key: key.clone(),
            domain_claims: claims.domains,
            minters,
        })
    };
    // Only the last attempt may consume the parsed token; earlier ones verify a copy.
    for key in others {
        if let Ok(biscuit) = unverified.clone().verify(key.public_key) {
            return verified(biscuit, key);
        }
    }
    match unverified.verify(last.public_key) {
        Ok(biscuit) => verified(biscuit, last),
        Err(error) => Err(bad_signature(error.to_string())),
    }
}
