//! Fetching one domain's BWKS document: HTTPS only, no redirect to another
//! host, a timeout, and a size cap enforced while reading.

use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Certificate, Client, Url};

use crate::config::SyncConfig;

/// Most redirects followed (all on the same host).
const MAX_REDIRECTS: usize = 3;

/// Why a document could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL built from the template is not usable.
    #[error("bad BWKS URL {0}")]
    BadUrl(String),
    /// The URL is not HTTPS and insecure HTTP is not allowed.
    #[error("refusing non-HTTPS URL {0}")]
    NotHttps(String),
    /// The request failed (connection, TLS, timeout, refused redirect).
    #[error("request failed: {0}")]
    Request(String),
    /// The server answered with a non-success status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The document is larger than allowed.
    #[error("document larger than {0} bytes")]
    TooLarge(usize),
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The extra CA file is unreadable or not PEM.
    #[error("extra CA certificates: {0}")]
    ExtraCa(String),
    /// The client could not be built.
    #[error("HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// Fetches BWKS documents as configured.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client,
    url_template: String,
    allow_insecure_http: bool,
    max_bytes: usize,
}

impl Fetcher {
    /// Builds the HTTP client: timeouts, same-host redirects only, extra roots if configured.
    pub fn new(config: &SyncConfig) -> Result<Fetcher, ClientError> {
        let allow_insecure_http = config.allow_insecure_http;
        let redirects = Policy::custom(move |attempt| {
            let Some(first) = attempt.previous().first() else {
                return attempt.stop();
            };
            let url = attempt.url();
            let same_host = url.host_str() == first.host_str()
                && url.port_or_known_default() == first.port_or_known_default();
            let secure = url.scheme() == "https" || allow_insecure_http;
            let host = url.host_str().unwrap_or("?").to_owned();
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !same_host {
                attempt.error(format!("redirect to another host ({host}) refused"))
            } else if !secure {
                attempt.error("redirect to plain HTTP refused")
            } else {
                attempt.follow()
            }
        });
        let timeout = Duration::from_millis(config.fetch_timeout_ms);
        let mut builder = Client::builder()
            .redirect(redirects)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("biscuit-key-sync/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.extra_ca_certs {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::ExtraCa(format!("{}: {e}", path.display())))?;
            let certificates = Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::ExtraCa(e.to_string()))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        Ok(Fetcher {
            client: builder.build()?,
            url_template: config.url_template.clone(),
            allow_insecure_http,
            max_bytes: config.max_document_bytes,
        })
    }

    /// The BWKS URL of a domain.
    pub fn url(&self, domain: &str) -> Result<Url, FetchError> {
        let text = self.url_template.replace("{domain}", domain);
        let url = Url::parse(&text).map_err(|_| FetchError::BadUrl(text.clone()))?;
        match url.scheme() {
            "https" => Ok(url),
            "http" if self.allow_insecure_http => Ok(url),
            _ => Err(FetchError::NotHttps(text)),
        }
    }

    /// Fetches a domain's document, reading at most the configured size.
    pub async fn fetch(&self, domain: &str) -> Result<Vec<u8>, FetchError> {
        let url = self.url(domain)?;
        let request_failed = |e: reqwest::Error| FetchError::Request(error_chain(&e));
        let mut response = self.client.get(url).send().await.map_err(request_failed)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
