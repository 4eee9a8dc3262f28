//! The key-map secret: read the current map, write a new one only when it
//! changed, idempotently and within the SecretString size limit.

use authorizer::keyset::{KeyMap, KeySets};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use sha2::{Digest, Sha256};

/// Secrets Manager's limit on a SecretString.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Why the secret could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Reading the current secret failed.
    #[error("cannot read secret {id}: {detail}")]
    Read {
        /// The secret id.
        id: String,
        /// What failed.
        detail: String,
    },
    /// The new map is over the SecretString limit.
    #[error("key map is {size} bytes, over Secrets Manager's {MAX_SECRET_BYTES}-byte limit; not written")]
    TooLarge {
        /// Size of the canonical JSON.
        size: usize,
    },
    /// Writing the new version failed.
    #[error("cannot write secret {id}: {detail}")]
    Write {
        /// The secret id.
        id: String,
        /// What failed.
        detail: String,
    },
}

/// The `ClientRequestToken` for a content: its SHA-256 in hex (64 characters),
/// so a retried write of the same content is idempotent.
pub fn request_token(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Reads the current key map, parsed by the authorizer's own loader. A
/// secret that does not parse counts as empty (and is logged): the next write
/// replaces it.
pub async fn read(client: &Client, id: &str) -> Result<KeySets, StoreError> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| StoreError::Read {
            id: id.to_owned(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    let text = output.secret_string.unwrap_or_default();
    match KeyMap::parse(text.as_bytes()) {
        Ok((map, _)) => Ok(map.to_key_sets()),
        Err(error) => {
            tracing::warn!(%error, secret = id, "current key map does not parse; treating it as empty");
            Ok(KeySets::new())
        }
    }
}

/// Writes `canonical` as a new version; refuses content over the size limit.
pub async fn write(client: &Client, id: &str, canonical: &str) -> Result<String, StoreError> {
    if canonical.len() > MAX_SECRET_BYTES {
        return Err(StoreError::TooLarge {
            size: canonical.len(),
        });
    }
    let token = request_token(canonical);
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(canonical)
        .client_request_token(&token)
        .send()
        .await
        .map_err(|e| StoreError::Write {
            id: id.to_owned(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    Ok(token)
}
