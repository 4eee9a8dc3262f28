//! `authz replay`: runs saved events through the exact code path of the
//! Lambda function and prints one JSON line per event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

use super::CliError;
use crate::config::{self, SettingsArgs};
use crate::engine::{Engine, Trust};
use crate::response::Answer;

/// Arguments of `authz replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The domain-keyed map of BWKS key sets.
    #[arg(long, default_value = "events/demo/keysets.json")]
    pub keysets: PathBuf,
    /// The Datalog policy.
    #[arg(long, default_value = "events/demo/policy.datalog")]
    pub policy: PathBuf,
    /// A JSON array of revoked revocation ids (hex).
    #[arg(long, default_value = "events/demo/revoked.json")]
    pub revoked: PathBuf,
    /// The time of the decision (RFC 3339); now by default.
    #[arg(long)]
    pub now: Option<DateTime<FixedOffset>>,
    /// Decision settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Event files, or directories whose `*.json` files are events.
    #[arg(required = true, value_name = "EVENT_OR_DIR")]
    pub events: Vec<PathBuf>,
}

/// Runs `authz replay`, writing one JSON line per event to `out`.
pub fn run(args: &ReplayArgs, out: &mut impl Write) -> Result<(), CliError> {
    let policy = config::load_policy(&args.policy)?;
    // A manifest's shard files are read when an event first needs them.
    let trust = config::open_trust(&args.keysets, Some(&args.revoked))?;
    let engine = Engine::new(policy, args.settings.settings()?);
    if let Some(policy) = engine.policy() {
        for warning in engine.cache_warnings(policy) {
            eprintln!("warning: {warning}");
        }
    }
    let now = args.now.map_or_else(SystemTime::now, SystemTime::from);
    for path in event_files(&args.events)? {
        let line = replay_one(&engine, &trust, &args.keysets, &path, now);
        serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn replay_one(
    engine: &Engine,
    trust: &Trust,
    keysets: &Path,
    path: &Path,
    now: SystemTime,
) -> Value {
    let event = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()));
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            return json!({"event": path, "outcome": "error", "reason_kind": "unreadable_event", "reason": error, "response": null})
        }
    };
    let incoming = engine.read(event);
    config::load_shard_files(&trust.keys, keysets, incoming.route());
    let evaluated = engine.finish(None, incoming, Ok(trust), now);
    crate::log::decision(&evaluated, crate::metrics::Observed::default());
    let response = match evaluated.answer {
        Answer::Respond(response) => response,
        Answer::Unauthorized => Value::Null,
    };
    json!({
        "event": path,
        "outcome": evaluated.decision.outcome(),
        "reason_kind": evaluated.decision.reason_kind(),
        "reason": evaluated.decision.reason(),
        "response": response,
    })
}

/// The event files named: files as given, directories' `*.json` files sorted.
fn event_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        let listing_error = |source| CliError::Io {
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            let mut in_dir = Vec::new();
            for entry in std::fs::read_dir(path).map_err(listing_error)? {
                let entry = entry.map_err(listing_error)?.path();
                if entry.is_file() && entry.extension().is_some_and(|ext| ext == "json") {
                    in_dir.push(entry);
                }
            }
            in_dir.sort();
            files.extend(in_dir);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(listing_error(std::io::ErrorKind::NotFound.into()));
        }
    }
    Ok(files)
}
