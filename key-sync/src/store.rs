//! The key-map secret: read the current map with its version, write a new
//! version that always lands, and check that it did.

use authorizer::keyset::{KeyMap, KeySets};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::Client;

pub use authorizer::secret_write::request_token;

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
    /// Writing the new version failed.
    #[error("cannot write secret {id}: {detail}")]
    Write {
        /// The secret id.
        id: String,
        /// What failed.
        detail: String,
    },
    /// After the write, AWSCURRENT is not the version just written.
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

/// The secret as read: its text, its version, and the map if it parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The SecretString as stored.
    pub text: String,
    /// The VersionId of AWSCURRENT.
    pub version_id: String,
    /// The key sets, or why the text is not a whole key map.
    pub map: Result<KeySets, String>,
}

async fn get_current(client: &Client, id: &str) -> Result<GetSecretValueOutput, StoreError> {
    client
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .map_err(|e| StoreError::Read {
            id: id.to_owned(),
            detail: DisplayErrorContext(e).to_string(),
        })
}

/// Reads AWSCURRENT, parsed by the authorizer's own loader. A text that is
/// not a key map, or has entries the loader skips, is returned with
/// `map: Err` (and logged): the caller must not take it for the last good state.
pub async fn read(client: &Client, id: &str) -> Result<Stored, StoreError> {
    let output = get_current(client, id).await?;
    let text = output.secret_string.unwrap_or_default();
    let map = match KeyMap::parse(text.as_bytes()) {
        Ok((map, skipped)) => match skipped.first() {
            None => Ok(map.to_key_sets()),
            Some(first) => Err(format!(
                "{} entries do not parse, the first under {}: {}",
                skipped.len(),
                first.domain,
                first.reason
            )),
        },
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = &map {
        tracing::error!(%error, secret = id, "the current key map is not a whole key map");
    }
    Ok(Stored {
        text,
        version_id: output.version_id.unwrap_or_default(),
        map,
    })
}

/// Writes `canonical` as the version after `previous_version`, then reads
/// AWSCURRENT back and fails unless it is that version with that content.
/// Returns the new VersionId.
pub async fn write(
    client: &Client,
    id: &str,
    previous_version: &str,
    canonical: &str,
) -> Result<String, StoreError> {
    let token = request_token(previous_version, canonical);
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
    let current = get_current(client, id).await?;
    let same_content = current.secret_string.as_deref() == Some(canonical);
    let current = current.version_id.unwrap_or_default();
    if current != token || !same_content {
        return Err(StoreError::NotCurrent {
            id: id.to_owned(),
            written: token,
            current,
            same_content,
        });
    }
    Ok(token)
}
