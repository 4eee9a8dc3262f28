//! Where trust documents (the key map or its manifest, key map shards, the
//! revocation list) come from: Secrets Manager in production, files for local runs.
//!
//! A source only fetches; parsing and caching live in [`crate::trust_cache`].
//! Shards are fetched by the version their manifest names, several at once
//! with `BatchGetSecretValue`.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;

use crate::store::ShardRef;

/// Time one Secrets Manager call may take, all retries included.
pub const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Time one attempt of a Secrets Manager call may take.
pub const SECRETS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// The staging label Secrets Manager moves to the version a new AWSCURRENT replaced.
pub const PREVIOUS_STAGE: &str = "AWSPREVIOUS";
/// Most secrets one `BatchGetSecretValue` call may name.
const BATCH_LIMIT: usize = 20;

/// One version of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// An id that changes whenever the content does (a secret's `VersionId`).
    pub version: String,
    /// The content.
    pub content: Vec<u8>,
}

/// Why a document could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The service or file system failed.
    #[error("cannot read {source_name}: {detail}")]
    Unavailable {
        /// The secret id or file.
        source_name: String,
        /// What failed.
        detail: String,
    },
    /// The secret has no `SecretString`.
    #[error("secret {0} has no SecretString")]
    NotAString(String),
    /// The version a manifest names is gone (or a shard file changed since).
    #[error("{source_name}: version {version} named by the manifest is gone: {detail}")]
    VersionGone {
        /// The secret id or file.
        source_name: String,
        /// The version asked for.
        version: String,
        /// What was found instead.
        detail: String,
    },
}

/// Fetches the current version of one document.
pub trait DocumentSource: Send + Sync {
    /// Fetches the current version.
    fn fetch(&self) -> impl Future<Output = Result<Document, SourceError>> + Send;
    /// Fetches key map shards, each at the version its manifest names, in order.
    fn fetch_shards(
        &self,
        shards: &[ShardRef],
    ) -> impl Future<Output = Vec<Result<Vec<u8>, SourceError>>> + Send;
    /// The secret id or file name, for logs.
    fn name(&self) -> &str;
    /// The version before the current one (a secret's `AWSPREVIOUS`), when
    /// the source keeps one: the fallback when the current version is unusable.
    fn fetch_previous(&self) -> impl Future<Output = Result<Option<Document>, SourceError>> + Send {
        async { Ok(None) }
    }
}

/// A Secrets Manager secret holding the document in its `SecretString`.
#[derive(Debug, Clone)]
pub struct SecretSource {
    client: Client,
    secret_id: String,
}

impl SecretSource {
    /// A source reading `secret_id` with `client`.
    pub fn new(client: Client, secret_id: String) -> SecretSource {
        SecretSource { client, secret_id }
    }
}

impl DocumentSource for SecretSource {
    async fn fetch(&self) -> Result<Document, SourceError> {
        get_secret(&self.client, &self.secret_id, None).await
    }

    async fn fetch_previous(&self) -> Result<Option<Document>, SourceError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(PREVIOUS_STAGE)
            .send()
            .await;
        match output {
            Ok(output) => Ok(output.secret_string.map(|text| Document {
                version: output.version_id.unwrap_or_default(),
                content: text.into_bytes(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|service| service.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(SourceError::Unavailable {
                source_name: self.secret_id.clone(),
                detail: DisplayErrorContext(e).to_string(),
            }),
        }
    }

    async fn fetch_shards(&self, shards: &[ShardRef]) -> Vec<Result<Vec<u8>, SourceError>> {
        let ids: Vec<String> = shards.iter().map(|shard| shard.id.clone()).collect();
        let current = match shards {
            // One shard: read it by version straight away.
            [_] => vec![None],
            _ => batch_current(&self.client, &ids).await,
        };
        let mut results = Vec::with_capacity(shards.len());
        for (shard, current) in shards.iter().zip(current) {
            results.push(match current {
                Some(document) if document.version == shard.version => Ok(document.content),
                _ => get_secret(&self.client, &shard.id, Some(&shard.version))
                    .await
                    .map(|document| document.content),
            });
        }
        results
    }

    fn name(&self) -> &str {
        &self.secret_id
    }
}

/// Reads one secret, at `version` or AWSCURRENT.
async fn get_secret(
    client: &Client,
    id: &str,
    version: Option<&str>,
) -> Result<Document, SourceError> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .map_err(|e| match (version, e.as_service_error()) {
            (Some(version), Some(service)) if service.is_resource_not_found_exception() => {
                SourceError::VersionGone {
                    source_name: id.to_owned(),
                    version: version.to_owned(),
                    detail: service.to_string(),
                }
            }
            _ => SourceError::Unavailable {
                source_name: id.to_owned(),
                detail: DisplayErrorContext(e).to_string(),
            },
        })?;
    let content = output
        .secret_string
        .ok_or_else(|| SourceError::NotAString(id.to_owned()))?
        .into_bytes();
    let version = output.version_id.unwrap_or_default();
    Ok(Document { version, content })
}

/// AWSCURRENT of each secret, read with `BatchGetSecretValue` (20 per call);
/// a secret a call does not return, or every secret of a failed call, is read on its own.
pub async fn current_secrets(
    client: &Client,
    ids: &[String],
) -> Vec<Result<Document, SourceError>> {
    let batch = batch_current(client, ids).await;
    let mut results = Vec::with_capacity(ids.len());
    for (id, found) in ids.iter().zip(batch) {
        results.push(match found {
            Some(document) => Ok(document),
            None => get_secret(client, id, None).await,
        });
    }
    results
}

/// AWSCURRENT of each secret by `BatchGetSecretValue`, `None` where a call did not return it.
async fn batch_current(client: &Client, ids: &[String]) -> Vec<Option<Document>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH_LIMIT) {
        let entries = match client
            .batch_get_secret_value()
            .set_secret_id_list(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(output) => output.secret_values().to_vec(),
            Err(error) => {
                tracing::warn!(error = %DisplayErrorContext(error), "BatchGetSecretValue failed; reading those secrets one by one");
                Vec::new()
            }
        };
        for id in chunk {
            let entry = entries
                .iter()
                .find(|e| e.arn() == Some(id.as_str()) || e.name() == Some(id.as_str()));
            found.push(entry.and_then(|entry| {
                Some(Document {
                    version: entry.version_id()?.to_owned(),
                    content: entry.secret_string()?.as_bytes().to_vec(),
                })
            }));
        }
    }
    found
}

/// A local file; its version is its content, so an unchanged file is not re-parsed.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    name: String,
}

impl FileSource {
    /// A source reading `path`.
    pub fn new(path: PathBuf) -> FileSource {
        let name = path.display().to_string();
        FileSource { path, name }
    }
}

impl DocumentSource for FileSource {
    async fn fetch(&self) -> Result<Document, SourceError> {
        let content = std::fs::read(&self.path).map_err(|e| SourceError::Unavailable {
            source_name: self.name.clone(),
            detail: e.to_string(),
        })?;
        let version = crate::config::file_version(&content);
        Ok(Document { version, content })
    }

    async fn fetch_shards(&self, shards: &[ShardRef]) -> Vec<Result<Vec<u8>, SourceError>> {
        shards
            .iter()
            .map(|shard| {
                crate::config::read_shard_file(&self.path, shard).map_err(|detail| {
                    SourceError::VersionGone {
                        source_name: shard.id.clone(),
                        version: shard.version.clone(),
                        detail,
                    }
                })
            })
            .collect()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Either kind of source, as configured.
#[derive(Debug, Clone)]
pub enum ConfiguredSource {
    /// A Secrets Manager secret.
    Secret(SecretSource),
    /// A local file.
    File(FileSource),
}

impl DocumentSource for ConfiguredSource {
    async fn fetch(&self) -> Result<Document, SourceError> {
        match self {
            ConfiguredSource::Secret(source) => source.fetch().await,
            ConfiguredSource::File(source) => source.fetch().await,
        }
    }

    async fn fetch_shards(&self, shards: &[ShardRef]) -> Vec<Result<Vec<u8>, SourceError>> {
        match self {
            ConfiguredSource::Secret(source) => source.fetch_shards(shards).await,
            ConfiguredSource::File(source) => source.fetch_shards(shards).await,
        }
    }

    fn name(&self) -> &str {
        match self {
            ConfiguredSource::Secret(source) => source.name(),
            ConfiguredSource::File(source) => source.name(),
        }
    }

    async fn fetch_previous(&self) -> Result<Option<Document>, SourceError> {
        match self {
            ConfiguredSource::Secret(source) => source.fetch_previous().await,
            ConfiguredSource::File(source) => source.fetch_previous().await,
        }
    }
}

/// A Secrets Manager client from the standard AWS configuration chain
/// (`AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL` are honoured), with timeouts.
pub async fn secrets_client() -> Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(SECRETS_OPERATION_TIMEOUT)
        .operation_attempt_timeout(SECRETS_ATTEMPT_TIMEOUT)
        .build();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    Client::new(&config)
}
