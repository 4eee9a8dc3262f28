//! `authz revoke`: add a token's blocks (or one revocation id) to the
//! revocation list in its secret, and prune expired entries.

use std::io::Write;

use biscuit_auth::UnverifiedBiscuit;
use chrono::{DateTime, FixedOffset, Utc};

use super::{read_token, CliError};
use crate::revocation::store::{self, Revocation, PENDING_LABEL};
use crate::revocation::CompactId;
use crate::secret_write::SecretsManagerSecret;

/// Arguments of `authz revoke`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["token", "id"])))]
pub struct RevokeArgs {
    /// The token whose blocks to revoke, every block's id (text, a file, or `-`; not verified).
    pub token: Option<String>,
    /// One revocation id instead of a token (hex, as `authz inspect` prints it).
    #[arg(long)]
    pub id: Option<String>,
    /// Keep the entries until this time (RFC 3339), then prune them; at or after the
    /// token's own expiry. Without it they are kept for ever.
    #[arg(long, value_parser = DateTime::parse_from_rfc3339)]
    pub until: Option<DateTime<FixedOffset>>,
    /// The revocation-list secret (name or ARN).
    #[arg(long, env = "REVOKED_SECRET_ID")]
    pub secret_id: String,
}

/// Revokes and prints what changed as one JSON line.
pub fn run(args: &RevokeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let ids = match (&args.token, &args.id) {
        (_, Some(id)) => {
            let bytes = hex::decode(id.trim())
                .map_err(|_| CliError::Input(format!("--id {id:?} is not hex")))?;
            vec![CompactId::of(&bytes)]
        }
        (Some(token), None) => UnverifiedBiscuit::from(read_token(token)?)?
            .revocation_identifiers()
            .iter()
            .map(|id| CompactId::of(id))
            .collect(),
        (None, None) => return Err(CliError::Input("give a token or --id".into())),
    };
    let now = Utc::now().timestamp();
    let expiry = args.until.map(|until| until.timestamp());
    if expiry.is_some_and(|at| at < now) {
        return Err(CliError::Input(
            "--until is in the past: the entry would be pruned at once".into(),
        ));
    }
    let revocation = Revocation { ids, expiry };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let revoked = runtime.block_on(async {
        let client = crate::source::secrets_client().await;
        let secret = SecretsManagerSecret::new(client, args.secret_id.clone(), PENDING_LABEL);
        store::revoke(&secret, &revocation, now).await
    })?;
    let ids: Vec<String> = revocation.ids.iter().map(ToString::to_string).collect();
    let mut summary = serde_json::to_value(&revoked).map_err(|e| CliError::Input(e.to_string()))?;
    summary["ids"] = ids.into();
    writeln!(out, "{summary}")?;
    Ok(())
}
