//! key-sync configuration; every flag is also an environment variable.

use std::path::PathBuf;

use authorizer::store::{MAX_SECRET_BYTES, MAX_SHARDS, SHARD_BUDGET_BYTES};
use authorizer::synced_at;

use crate::quotas::Quotas;

/// The default BWKS location of a domain.
pub const DEFAULT_URL_TEMPLATE: &str = "https://{domain}/.well-known/biscuit-web-keys";

/// Configuration of one sync round.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncConfig {
    /// Trusted issuer domains, comma-separated.
    #[arg(
        long,
        env = "TRUSTED_DOMAINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub trusted_domains: Vec<String>,
    /// A file of more trusted domains, one per line or comma-separated (Lambda's
    /// 4 KB of environment holds about 150 domains; thousands ship as a file
    /// in the deployment package or a layer).
    #[arg(long, env = "TRUSTED_DOMAINS_FILE")]
    pub trusted_domains_file: Option<PathBuf>,
    /// The key-map secret (name or ARN).
    #[arg(long, env = "KEYSETS_SECRET_ID")]
    pub keysets_secret_id: String,
    /// Time allowed for one domain's fetch, in milliseconds.
    #[arg(long, env = "FETCH_TIMEOUT_MS", default_value_t = 3000)]
    pub fetch_timeout_ms: u64,
    /// Largest BWKS document accepted, in bytes.
    #[arg(long, env = "MAX_DOCUMENT_BYTES", default_value_t = 64 * 1024)]
    pub max_document_bytes: usize,
    /// Most keys one domain may store; a domain publishing more is rejected.
    #[arg(long, env = "MAX_KEYS_PER_DOMAIN", default_value_t = 16)]
    pub max_keys_per_domain: usize,
    /// Longest free-text field of a published key (`issuer`), in bytes as
    /// stored (escaped JSON); a domain publishing a longer one is rejected.
    #[arg(long, env = "MAX_ITEM_FIELD_BYTES", default_value_t = 256)]
    pub max_item_field_bytes: usize,
    /// Where a domain's BWKS is fetched; `{domain}` is replaced by the domain.
    #[arg(long, env = "BWKS_URL_TEMPLATE", default_value = DEFAULT_URL_TEMPLATE)]
    pub url_template: String,
    /// Allow a plain `http://` URL template (local tests only).
    #[arg(long, env = "ALLOW_INSECURE_HTTP", default_value_t = false)]
    pub allow_insecure_http: bool,
    /// A PEM file of extra trusted root certificates (a private CA), added to the system roots.
    #[arg(long, env = "EXTRA_CA_CERTS")]
    pub extra_ca_certs: Option<PathBuf>,
    /// Number of shards the key map is split into. 1 keeps the whole map in
    /// the key-map secret; more writes shards and a manifest in the key-map secret.
    #[arg(long, env = "KEYMAP_SHARD_COUNT", default_value_t = 1)]
    pub shard_count: usize,
    /// With several shards: shard N is the secret named this prefix followed by N.
    #[arg(long, env = "KEYMAP_SHARD_SECRET_PREFIX")]
    pub shard_secret_prefix: Option<String>,
}

impl SyncConfig {
    /// The quotas of a round: a whole map is capped at Secrets Manager's
    /// limit less its `synced_at` stamp, each shard at the shard budget
    /// (headroom under that limit).
    pub fn quotas(&self) -> Quotas {
        Quotas {
            max_keys_per_domain: self.max_keys_per_domain,
            max_field_bytes: self.max_item_field_bytes,
            max_map_bytes: match self.shard_count {
                0 | 1 => MAX_SECRET_BYTES - synced_at::STORED_BYTES,
                _ => SHARD_BUDGET_BYTES,
            },
            shards: self.shard_count.max(1),
        }
    }

    /// The shard secrets in shard order; empty for a whole map.
    pub fn shard_secret_ids(&self) -> Result<Vec<String>, BadLayout> {
        match (self.shard_count, &self.shard_secret_prefix) {
            (0, _) => Err(BadLayout("KEYMAP_SHARD_COUNT must be at least 1".into())),
            (1, _) => Ok(Vec::new()),
            (count, _) if count > MAX_SHARDS => Err(BadLayout(format!(
                "KEYMAP_SHARD_COUNT is {count}, over the {MAX_SHARDS} a manifest may name"
            ))),
            (count, Some(prefix)) if !prefix.is_empty() => {
                Ok((0..count).map(|n| format!("{prefix}{n}")).collect())
            }
            (count, _) => Err(BadLayout(format!(
                "KEYMAP_SHARD_COUNT is {count}: set KEYMAP_SHARD_SECRET_PREFIX"
            ))),
        }
    }
}

/// Why the shard layout is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key map shards: {0}")]
pub struct BadLayout(pub String);

/// Why the trusted domains cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadDomain {
    /// A configured name is not a DNS domain name.
    #[error("{0:?} is not a DNS domain name")]
    NotADomain(String),
    /// The domain list file cannot be read.
    #[error("cannot read {path}: {detail}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        detail: String,
    },
}

/// The trusted domains (`TRUSTED_DOMAINS`, then the file's), lowercased,
/// checked to be DNS names, without duplicates, in the order first given.
pub fn trusted_domains(config: &SyncConfig) -> Result<Vec<String>, BadDomain> {
    let file = match &config.trusted_domains_file {
        None => String::new(),
        Some(path) => std::fs::read_to_string(path).map_err(|e| BadDomain::Unreadable {
            path: path.clone(),
            detail: e.to_string(),
        })?,
    };
    let listed = file.split(|c: char| c == ',' || c.is_whitespace());
    let mut seen = std::collections::HashSet::new();
    let mut domains: Vec<String> = Vec::new();
    for domain in config
        .trusted_domains
        .iter()
        .map(String::as_str)
        .chain(listed)
    {
        let domain = domain.trim().to_ascii_lowercase();
        if domain.is_empty() {
            continue;
        }
        if !is_dns_name(&domain) {
            return Err(BadDomain::NotADomain(domain));
        }
        if seen.insert(domain.clone()) {
            domains.push(domain);
        }
    }
    Ok(domains)
}

fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_come_from_the_variable_then_the_file_once_each() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: SyncConfig,
        }
        let dir = std::env::temp_dir().join(format!("key-sync-domains-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("domains.txt");
        std::fs::write(&file, "b.example\nA.example, c.example\n\n").expect("write");
        let parse = |extra: &[&str]| {
            let mut args = vec![
                "key-sync",
                "--keysets-secret-id",
                "s",
                "--trusted-domains",
                "a.example",
            ];
            args.extend_from_slice(extra);
            trusted_domains(&Cli::parse_from(args).config)
        };
        let path = file.to_str().expect("utf-8 path");
        assert_eq!(
            parse(&["--trusted-domains-file", path]),
            Ok(vec![
                "a.example".into(),
                "b.example".into(),
                "c.example".into()
            ])
        );
        std::fs::write(&file, "ok.example\nbad_domain!\n").expect("write");
        assert_eq!(
            parse(&["--trusted-domains-file", path]),
            Err(BadDomain::NotADomain("bad_domain!".into()))
        );
        assert!(matches!(
            parse(&["--trusted-domains-file", "/nonexistent/domains.txt"]),
            Err(BadDomain::Unreadable { .. })
        ));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn domain_names_are_checked() {
        assert!(is_dns_name("tenant-a.example"));
        assert!(is_dns_name("localhost"));
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a/b",
            "a.b:443",
            "a b",
            "ä.example",
            "a.b/../c",
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }
}
