//! Logging: one line per decision, never the token.

use crate::decision::Outcome;
use crate::engine::Evaluated;
use crate::metrics::{self, DecisionEvent, Observed, Shape};

/// Starts logging to stderr: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, else
/// text; the level from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).without_time().try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// Logs one decision: outcome, reason, verified domain, key id and timings.
/// With metrics on, the line is the decision's EMF wide event (see
/// [`crate::metrics`]); otherwise a `tracing` line. Either way, one line.
pub fn decision(evaluated: &Evaluated, observed: Observed) {
    if metrics::emit(Shape::Decision, &DecisionEvent::new(evaluated, observed)) {
        return;
    }
    let decision = &evaluated.decision;
    let identity = decision.identity.as_ref();
    let domain = identity.map(|i| i.domain.as_str());
    let key_id = identity.map(|i| i.key_id);
    let evaluation_us = decision.evaluation_time.map(|t| t.as_micros() as u64);
    let total_us = evaluated.elapsed.as_micros() as u64;
    let outcome = decision.outcome();
    let reason_kind = decision.reason_kind();
    let reason = decision.reason();
    if outcome == Outcome::Allow {
        tracing::info!(
            ?outcome,
            reason_kind,
            domain,
            key_id,
            evaluation_us,
            total_us,
            "decision"
        );
    } else {
        tracing::warn!(?outcome, reason_kind, %reason, domain, key_id, evaluation_us, total_us, "decision");
    }
}
