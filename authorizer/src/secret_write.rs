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
    /// After a write that should land (key-sync's), AWSCURRENT is not the version just written.
    #[error("wrote version {written} of secret {id}, but AWSCURRENT is version {current} with {} content", if *.same_content { "the same" } else { "other" })]
    NotCurrent {
        /// The secret id.
        id: String,
        /// The version written.
        written: String,
        /// The version AWSCURRENT names.
        current: String,
        /// Whether AWSCURRENT holds what was written.
        same_content: bool,
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

/// An in-memory [`VersionedSecret`] for the tests of its writers.
#[cfg(test)]
pub(crate) mod memory {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    use super::{request_token, StoreError, Version, VersionedSecret};

    /// Another writer's move, run just before a swap: given the current
    /// text, the text it makes current (as version `other-N` at the Nth swap).
    pub(crate) type Interference = Box<dyn FnOnce(&str) -> String>;

    /// Versions by id, AWSCURRENT and AWSPREVIOUS, with Secrets Manager's
    /// conditional swap, and faults on cue.
    pub(crate) struct MemorySecret {
        pub versions: RefCell<HashMap<String, String>>,
        pub current: RefCell<String>,
        pub previous: RefCell<Option<String>>,
        /// Swaps attempted.
        pub swaps: Cell<u32>,
        /// Interferences to run before the next swaps, last first.
        pub before_swap: RefCell<Vec<Interference>>,
        /// The swap happens but its answer is lost.
        pub swap_answer_lost: Cell<bool>,
    }

    impl MemorySecret {
        /// A secret whose current version `v0` holds `text`.
        pub fn holding(text: &str) -> MemorySecret {
            MemorySecret {
                versions: RefCell::new(HashMap::from([("v0".to_owned(), text.to_owned())])),
                current: RefCell::new("v0".to_owned()),
                previous: RefCell::new(None),
                swaps: Cell::new(0),
                before_swap: RefCell::new(Vec::new()),
                swap_answer_lost: Cell::new(false),
            }
        }

        /// The text of the current version.
        pub fn current_text(&self) -> String {
            self.versions.borrow()[&*self.current.borrow()].clone()
        }

        fn make_current(&self, version: &str) {
            let old = self.current.replace(version.to_owned());
            *self.previous.borrow_mut() = Some(old);
        }
    }

    impl VersionedSecret for MemorySecret {
        async fn current(&self) -> Result<Version, StoreError> {
            Ok(Version {
                version_id: self.current.borrow().clone(),
                text: self.current_text(),
            })
        }

        async fn stage(&self, previous: &str, text: &str) -> Result<String, StoreError> {
            let token = request_token(previous, text);
            self.versions
                .borrow_mut()
                .insert(token.clone(), text.into());
            Ok(token)
        }

        async fn swap(&self, previous: &str, staged: &str) -> Result<(), StoreError> {
            self.swaps.set(self.swaps.get() + 1);
            let refused = |detail: &str| StoreError::Swap {
                id: "memory".into(),
                version: staged.into(),
                detail: detail.into(),
            };
            let interference = self.before_swap.borrow_mut().pop();
            if let Some(interfere) = interference {
                let text = interfere(&self.current_text());
                let version = format!("other-{}", self.swaps.get());
                self.versions.borrow_mut().insert(version.clone(), text);
                self.make_current(&version);
            }
            if *self.current.borrow() != previous {
                return Err(refused("AWSCURRENT is not on RemoveFromVersionId"));
            }
            self.make_current(staged);
            if self.swap_answer_lost.get() {
                return Err(refused("timed out"));
            }
            Ok(())
        }
    }

    /// Runs a writer's future to its end.
    pub(crate) fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
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
