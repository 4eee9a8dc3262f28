//! Where trust documents (the key map, the revocation list) come from: a
//! Secrets Manager secret in production, a file for local runs.
//!
//! A source only fetches; parsing and caching live in [`crate::trust_cache`].

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use sha2::{Digest, Sha256};

/// Time one Secrets Manager call may take, all retries included.
pub const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Time one attempt of a Secrets Manager call may take.
pub const SECRETS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

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
}

/// Fetches the current version of one document.
pub trait DocumentSource: Send + Sync {
    /// Fetches the current version.
    fn fetch(&self) -> impl Future<Output = Result<Document, SourceError>> + Send;
    /// The secret id or file name, for logs.
    fn name(&self) -> &str;
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
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SourceError::Unavailable {
                source_name: self.secret_id.clone(),
                detail: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        let content = output
            .secret_string
            .ok_or_else(|| SourceError::NotAString(self.secret_id.clone()))?
            .into_bytes();
        let version = output.version_id.unwrap_or_default();
        Ok(Document { version, content })
    }

    fn name(&self) -> &str {
        &self.secret_id
    }
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
        let version = hex::encode(Sha256::digest(&content));
        Ok(Document { version, content })
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

    fn name(&self) -> &str {
        match self {
            ConfiguredSource::Secret(source) => source.name(),
            ConfiguredSource::File(source) => source.name(),
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
