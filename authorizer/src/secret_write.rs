//! Writes to a secret that always land: the `ClientRequestToken` rule shared
//! by key-sync (the key map) and `authz revoke` (the revocation list), and
//! the conditional replacement of a secret's current version used by
//! `authz revoke` and `authz policy publish`: a version is staged under a
//! label (AWSCURRENT does not move), then `UpdateSecretVersionStage` moves
//! AWSCURRENT to it *from the version read*, which Secrets Manager refuses
//! when another writer moved AWSCURRENT meanwhile.

use std::future::Future;

#[cfg(feature = "lambda")]
use aws_sdk_secretsmanager::{error::DisplayErrorContext, Client};
use sha2::{Digest, Sha256};

/// The `ClientRequestToken` of a write: the SHA-256 (hex, 64 characters) of
/// the version it replaces and the new content. A retried call is idempotent;
/// writing earlier content again is a new version, never a swallowed no-op
/// (Secrets Manager ignores a token it has seen with the same content).
pub fn request_token(previous_version: &str, content: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(previous_version.as_bytes());
    hash.update([0]);
    hash.update(content.as_bytes());
    hex::encode(hash.finalize())
}

/// One version of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Its VersionId.
    pub version_id: String,
    /// Its SecretString.
    pub text: String,
}

/// Why the secret could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Reading AWSCURRENT failed.
    #[error("cannot read secret {id}: {detail}")]
    Read {
        /// The secret id.
        id: String,
        /// What failed.
        detail: String,
    },
    /// Storing the pending version failed.
    #[error("cannot write secret {id}: {detail}")]
    Write {
        /// The secret id.
        id: String,
        /// What failed.
        detail: String,
    },
    /// Moving AWSCURRENT failed (for example because another writer moved it first).
    #[error("cannot make version {version} of secret {id} current: {detail}")]
    Swap {
        /// The secret id.
        id: String,
        /// The version that was to become current.
        version: String,
        /// What failed.
        detail: String,
    },
}

/// A secret whose current version can be replaced conditionally.
pub trait VersionedSecret {
    /// Reads AWSCURRENT.
    fn current(&self) -> impl Future<Output = Result<Version, StoreError>>;
    /// Stores `text` as a new version that is not current; returns its VersionId.
    fn stage(&self, previous: &str, text: &str)
        -> impl Future<Output = Result<String, StoreError>>;
    /// Makes `staged` current if `previous` still is; fails otherwise.
    fn swap(&self, previous: &str, staged: &str) -> impl Future<Output = Result<(), StoreError>>;
}

/// A Secrets Manager secret whose staged versions carry `pending_label`.
#[cfg(feature = "lambda")]
#[derive(Debug, Clone)]
pub struct SecretsManagerSecret {
    client: Client,
    id: String,
    pending_label: &'static str,
}

#[cfg(feature = "lambda")]
impl SecretsManagerSecret {
    /// The secret `id`, read and written with `client`; versions are staged
    /// with the label `pending_label`.
    pub fn new(client: Client, id: String, pending_label: &'static str) -> SecretsManagerSecret {
        SecretsManagerSecret {
            client,
            id,
            pending_label,
        }
    }
}

#[cfg(feature = "lambda")]
impl VersionedSecret for SecretsManagerSecret {
    async fn current(&self) -> Result<Version, StoreError> {
        let read_error = |detail: String| StoreError::Read {
            id: self.id.clone(),
            detail,
        };
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| read_error(DisplayErrorContext(e).to_string()))?;
        let text = output
            .secret_string
            .ok_or_else(|| read_error("no SecretString".into()))?;
        let version_id = output
            .version_id
            .ok_or_else(|| read_error("no VersionId".into()))?;
        Ok(Version { version_id, text })
    }

    async fn stage(&self, previous: &str, text: &str) -> Result<String, StoreError> {
        let token = request_token(previous, text);
        self.client
            .put_secret_value()
            .secret_id(&self.id)
            .secret_string(text)
            .client_request_token(&token)
            .version_stages(self.pending_label)
            .send()
            .await
            .map_err(|e| StoreError::Write {
                id: self.id.clone(),
                detail: DisplayErrorContext(e).to_string(),
            })?;
        Ok(token)
    }

    async fn swap(&self, previous: &str, staged: &str) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.id)
            .version_stage("AWSCURRENT")
            .remove_from_version_id(previous)
            .move_to_version_id(staged)
            .send()
            .await
            .map_err(|e| StoreError::Swap {
                id: self.id.clone(),
                version: staged.to_owned(),
                detail: DisplayErrorContext(e).to_string(),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_names_the_write_not_only_the_content() {
        let token = request_token("v1", "{}");
        assert_eq!(token.len(), 64);
        assert_eq!(token, request_token("v1", "{}"), "a retry is idempotent");
        assert_ne!(
            token,
            request_token("v2", "{}"),
            "the same content later is a new write"
        );
        assert_ne!(request_token("v1", "{}x"), request_token("v1{", "}x"));
    }
}
