//! The key-map secret (and its shards): read the current map with its
//! version, write a new version that always lands, and check that it did.
//! The layout (whole map or manifest and shards) is [`authorizer::store`]'s.

use std::collections::BTreeMap;

use authorizer::keymap::KeyMap;
use authorizer::keyset::KeySets;
use authorizer::source::{DocumentSource, SecretSource};
use authorizer::store::{Manifest, Stored as Layout};
use authorizer::synced_at::SyncedAt;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::Client;

pub use authorizer::secret_write::{request_token, StoreError};

/// The secret as read: its text, its version, and the map if it parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The SecretString as stored.
    pub text: String,
    /// The VersionId of AWSCURRENT.
    pub version_id: String,
    /// The key sets, or why the stored map is not whole.
    pub map: Result<KeySets, String>,
    /// The manifest, when the secret holds one.
    pub manifest: Option<Manifest>,
    /// The stored stamp of the last round that wrote or confirmed the map.
    pub synced_at: Option<SyncedAt>,
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

/// Reads AWSCURRENT, parsed by the authorizer's own loader; for a manifest,
/// the shards at the versions it names. A map that is not whole (a text that
/// is not a key map, entries the loader skips, a shard that cannot be read or
/// holds a domain of another shard) is returned with `map: Err` (and logged):
/// the caller must not take it for the last good state.
pub async fn read(client: &Client, id: &str) -> Result<Stored, StoreError> {
    let output = get_current(client, id).await?;
    let text = output.secret_string.unwrap_or_default();
    let (map, manifest, synced_at) = match Layout::parse(text.as_bytes()) {
        Ok(Layout::Whole(map)) => (whole(&text), None, map.synced_at()),
        Ok(Layout::Manifest(manifest)) => {
            let synced_at = manifest.synced_at;
            (
                read_shards(client, id, &manifest).await,
                Some(manifest),
                synced_at,
            )
        }
        Err(error) => (Err(error.to_string()), None, None),
    };
    if let Err(error) = &map {
        tracing::error!(%error, secret = id, "the current key map is not a whole key map");
    }
    Ok(Stored {
        text,
        version_id: output.version_id.unwrap_or_default(),
        map,
        manifest,
        synced_at,
    })
}

/// A document's key sets, or why it is not a whole key map.
fn whole(text: &str) -> Result<KeySets, String> {
    let (map, skipped) = KeyMap::parse(text.as_bytes()).map_err(|e| e.to_string())?;
    match skipped.first() {
        None => Ok(map.to_key_sets()),
        Some(first) => Err(format!(
            "{} entries do not parse, the first under {}: {}",
            skipped.len(),
            first.domain,
            first.reason
        )),
    }
}

/// The union of a manifest's shards, each at the version the manifest names.
async fn read_shards(client: &Client, id: &str, manifest: &Manifest) -> Result<KeySets, String> {
    let source = SecretSource::new(client.clone(), id.to_owned());
    let fetched = source.fetch_shards(&manifest.shards).await;
    let mut union = BTreeMap::new();
    for (shard, content) in fetched.into_iter().enumerate() {
        let content = content.map_err(|e| format!("shard {shard}: {e}"))?;
        let text = String::from_utf8(content).map_err(|e| format!("shard {shard}: {e}"))?;
        for (domain, keys) in whole(&text).map_err(|e| format!("shard {shard}: {e}"))? {
            let home = authorizer::store::shard_of(&domain, manifest.shards.len());
            if home != shard {
                return Err(format!(
                    "shard {shard} holds {domain}, which belongs in shard {home}"
                ));
            }
            union.insert(domain, keys);
        }
    }
    Ok(union)
}

/// AWSCURRENT of each shard secret: (VersionId, SecretString).
pub async fn read_current_shards(
    client: &Client,
    ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    authorizer::source::current_secrets(client, ids)
        .await
        .into_iter()
        .zip(ids)
        .map(|(result, id)| {
            let document = result.map_err(|e| StoreError::Read {
                id: id.clone(),
                detail: e.to_string(),
            })?;
            Ok((
                document.version,
                String::from_utf8_lossy(&document.content).into_owned(),
            ))
        })
        .collect()
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
