//! Logging: one line per decision, never the token.

use crate::decision::Outcome;
use crate::engine::Evaluated;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::metrics::{self, DecisionEvent, LogLevel, Observed};

/// Starts logging to stderr: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, else
/// text; the level from `RUST_LOG`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`,
/// else `info`. The runtime's own ERROR line for every `Unauthorized` answer
/// (an ordinary 401, already logged as a decision) is left out.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .ok()
            .and_then(|name| LogLevel::parse(&name).ok())
            .unwrap_or_default();
        tracing_subscriber::EnvFilter::new(directive(level))
    });
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time();
    let layer = if json {
        layer.json().flatten_event(true).boxed()
    } else {
        layer.boxed()
    };
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(
            layer
                .with_filter(filter)
                .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                    !is_handler_error_echo(metadata)
                })),
        )
        .try_init();
}

/// The `tracing` directive for a Lambda log level (FATAL has no `tracing` level: errors only).
fn directive(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error | LogLevel::Fatal => "error",
    }
}

/// The runtime's echo of a handler's `Err` (`error!("{error:?}")` in
/// lambda_runtime's panic layer, a message and no other field); its report of
/// a panic carries an `error` field and is kept. The handler's only error is
/// `Unauthorized`, each one logged as a decision already.
fn is_handler_error_echo(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() == "lambda_runtime::layers::panic"
        && metadata.is_event()
        && metadata.fields().field("error").is_none()
}

/// Logs one decision: outcome, reason, verified domain, key id and timings.
/// With metrics on, the line is the decision's EMF wide event (see
/// [`crate::metrics`]); otherwise a `tracing` line. Either way, one line.
pub fn decision(evaluated: &Evaluated, observed: Observed) {
    let event = DecisionEvent::new(evaluated, observed.clone());
    if metrics::emit(event.shape(), &event) {
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
    let trace = &evaluated.trace;
    let principal = decision.principal();
    let policy_version = observed.policy.as_ref().and_then(|p| p.version.as_deref());
    // A refusal's reason; `None` (an allow) records no field.
    let reason = (outcome != Outcome::Allow).then(|| decision.reason());
    // One field list for both levels (`tracing` levels are per call site).
    macro_rules! decision_line {
        ($level:ident) => {
            tracing::$level!(
                ?outcome,
                reason_kind,
                reason = reason.as_deref().map(tracing::field::display),
                domain,
                key_id,
                principal,
                request_id = observed.invocation_id,
                apigw_request_id = trace.request_id,
                route = trace.route,
                method = trace.method,
                path = trace.path,
                policy_version,
                keymap_version = observed.keymap_version,
                evaluation_us,
                total_us,
                "decision"
            )
        };
    }
    if outcome == Outcome::Allow {
        decision_line!(info);
    } else {
        decision_line!(warn);
    }
}
