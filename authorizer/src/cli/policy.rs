//! `authz policy publish`: the gate a policy version passes before it goes
//! live. The version must parse and pass its suites (the code `authz test`
//! runs); only then is it written, as AWSPENDING, and moved to AWSCURRENT
//! from the version read, so a concurrent publish is detected rather than
//! overwritten. Secrets Manager moves AWSPREVIOUS to the version replaced.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::policy_test::{self, report, DecisionArgs};
use super::{read_text, CliError};
use crate::policy::Policy;
use crate::secret_write::{SecretsManagerSecret, StoreError, VersionedSecret};

/// The staging label of a version written but not yet current.
pub const PENDING_LABEL: &str = "AWSPENDING";

/// The most a `SecretString` may hold.
pub const MAX_SECRET_BYTES: usize = 65_536;

/// `authz policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Test a policy version with its suites and, only if every case passes,
    /// make it the policy secret's AWSCURRENT (via AWSPENDING); one JSON line.
    Publish(Box<PublishArgs>),
}

/// Arguments of `authz policy publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The policy secret (name or ARN).
    #[arg(long, env = "POLICY_SECRET_ID")]
    pub secret_id: String,
    /// The policy version to publish (Datalog).
    #[arg(long)]
    pub policy: PathBuf,
    /// A suite every case of which must pass (YAML); repeat for more.
    #[arg(long = "suite", required = true, value_name = "SUITE")]
    pub suites: Vec<PathBuf>,
    /// What the cases are decided with.
    #[command(flatten)]
    pub decision: DecisionArgs,
}

/// Why a tested version was not made current. In every case AWSCURRENT is
/// not this version.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The secret could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The policy is larger than a secret may hold.
    #[error("the policy is {bytes} bytes, over the {MAX_SECRET_BYTES}-byte limit of a secret; nothing written")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// Another writer moved AWSCURRENT between the read and the swap.
    #[error("AWSCURRENT moved from {read} to {current} while publishing; this version ({staged}) stays {PENDING_LABEL}, not current: review the other change, then publish again")]
    Moved {
        /// The version read.
        read: String,
        /// The version current now.
        current: String,
        /// This version.
        staged: String,
    },
    /// After the swap, AWSCURRENT is not this version's text.
    #[error("after publishing, AWSCURRENT is version {current}, not {staged} with this text")]
    NotCurrent {
        /// This version.
        staged: String,
        /// The version read back.
        current: String,
    },
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// Whether a version was written (not when the text is already current).
    pub written: bool,
    /// The version now AWSCURRENT.
    pub version_id: String,
    /// The version it replaced, now AWSPREVIOUS (when written).
    pub previous_version_id: Option<String>,
}

/// The one JSON line `authz policy publish` prints.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    published: bool,
    secret_id: &'a str,
    #[serde(flatten)]
    publish: Option<Published>,
    suites: usize,
    cases: usize,
    failed: usize,
    bytes: usize,
}

/// Runs the gate and, if it passes, publishes; prints the summary line. A
/// failed case prints its table (with explanations) on stderr and ends in
/// [`CliError::CasesFailed`] with nothing written.
pub fn run(args: &PublishArgs, out: &mut impl Write) -> Result<(), CliError> {
    let text = read_text(&args.policy)?;
    if text.len() > MAX_SECRET_BYTES {
        return Err(PublishError::TooLarge { bytes: text.len() }.into());
    }
    let policy = Policy::parse(&text).map_err(|source| crate::config::ConfigError::Policy {
        path: args.policy.clone(),
        source,
    })?;
    let reports = policy_test::run_suites(&policy, &args.suites, &args.decision, None)?;
    let (cases, failed) = report::totals(&reports);
    let mut summary = Summary {
        published: false,
        secret_id: &args.secret_id,
        publish: None,
        suites: reports.len(),
        cases,
        failed,
        bytes: text.len(),
    };
    if failed > 0 {
        report::text(&mut std::io::stderr().lock(), &reports, true)?;
        writeln!(out, "{}", json_line(&summary)?)?;
        return policy_test::outcome(&reports);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let published = runtime.block_on(async {
        let client = crate::source::secrets_client().await;
        let secret = SecretsManagerSecret::new(client, args.secret_id.clone(), PENDING_LABEL);
        publish(&secret, &text).await
    })?;
    summary.published = true;
    summary.publish = Some(published);
    writeln!(out, "{}", json_line(&summary)?)?;
    Ok(())
}

fn json_line(summary: &Summary<'_>) -> Result<String, CliError> {
    serde_json::to_string(summary).map_err(|e| CliError::Input(e.to_string()))
}

/// Makes `text` (already tested) the current version of `secret`: staged,
/// swapped in from the version read, read back.
pub async fn publish(secret: &impl VersionedSecret, text: &str) -> Result<Published, PublishError> {
    let read = secret.current().await?;
    if read.text == text {
        return Ok(Published {
            written: false,
            version_id: read.version_id,
            previous_version_id: None,
        });
    }
    let staged = secret.stage(&read.version_id, text).await?;
    if let Err(error) = secret.swap(&read.version_id, &staged).await {
        // A swap whose answer was lost may still have happened.
        let current = secret.current().await?.version_id;
        if current == read.version_id {
            return Err(error.into());
        }
        if current != staged {
            return Err(PublishError::Moved {
                read: read.version_id,
                current,
                staged,
            });
        }
    }
    let back = secret.current().await?;
    if back.version_id != staged || back.text != text {
        return Err(PublishError::NotCurrent {
            staged,
            current: back.version_id,
        });
    }
    Ok(Published {
        written: true,
        version_id: staged,
        previous_version_id: Some(read.version_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_write::memory::{run, MemorySecret};
    use crate::secret_write::request_token;

    #[test]
    fn a_version_becomes_current_and_the_one_it_replaces_previous() {
        let secret = MemorySecret::holding("allow if true;");
        let published = run(publish(&secret, "deny if true;")).expect("published");
        assert!(published.written);
        assert_eq!(published.previous_version_id.as_deref(), Some("v0"));
        assert_eq!(*secret.current.borrow(), published.version_id);
        assert_eq!(secret.previous.borrow().as_deref(), Some("v0"));
        assert_eq!(
            published.version_id,
            request_token("v0", "deny if true;"),
            "the request token names the version read and the content"
        );
    }

    #[test]
    fn the_text_already_current_is_not_written_again() {
        let secret = MemorySecret::holding("allow if true;");
        let published = run(publish(&secret, "allow if true;")).expect("published");
        assert!(!published.written);
        assert_eq!(published.version_id, "v0");
        assert_eq!(secret.versions.borrow().len(), 1);
    }

    #[test]
    fn a_concurrent_publish_is_detected_not_overwritten() {
        let secret = MemorySecret::holding("allow if true;");
        secret
            .before_swap
            .borrow_mut()
            .push(Box::new(|_| "allow if other;".to_owned()));
        let result = run(publish(&secret, "deny if true;"));
        assert!(
            matches!(&result, Err(PublishError::Moved { read, current, .. }) if read == "v0" && current == "other-1"),
            "{result:?}"
        );
        assert_eq!(
            *secret.current.borrow(),
            "other-1",
            "the other version stays current"
        );
    }

    #[test]
    fn a_swap_whose_answer_was_lost_is_checked_by_reading_back() {
        let secret = MemorySecret::holding("allow if true;");
        secret.swap_answer_lost.set(true);
        let published = run(publish(&secret, "deny if true;")).expect("published");
        assert!(published.written);
        assert_eq!(*secret.current.borrow(), published.version_id);
    }
}
