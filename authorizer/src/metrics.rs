//! Metrics in CloudWatch's embedded metric format (EMF), formatted by
//! awslabs' `metrique` EMF formatter.
//!
//! One wide event per decision: when metrics are on, the decision's log line
//! *is* the EMF document (the `_aws` block sits in the same JSON object as the
//! outcome, reason and domain), so a decision is still logged exactly once.
//! The other events (cold start, trust refresh outcomes, key-sync rounds) are
//! one EMF line each. Metrics are off unless a namespace is configured
//! (`METRICS_NAMESPACE`); then the decision line is the usual `tracing` line.
//! The functions write EMF to standard output, as Lambda's documentation
//! asks (the `tracing` lines go to standard error; Lambda keeps both).
//!
//! Dimensions: every metric is published without dimensions (what alarms
//! use); decisions are also published by `outcome` and by `outcome` and
//! `reason_kind`. A per-domain dimension, `domain` and `outcome`, only when
//! the operator opts in (`METRICS_PER_DOMAIN`): it is one metric per domain.
//! Only the *verified* domain is ever a dimension, never a hint from the
//! token, so a caller cannot create metrics; a line declares that dimension
//! set only when it carries a verified domain (the EMF specification forbids
//! naming an absent member).
//!
//! Metric lines are never filtered by log level: Lambda's log-level filter
//! (`AWS_LAMBDA_LOG_LEVEL`, with JSON logs) drops lines below the configured
//! level and lines without one, and the metric with them. So every EMF line
//! carries a `level` of at least the configured one.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use metrique::emf::{Emf, MetricDefinition, MetricDirective};
use metrique::unit::{Count, Second};
use metrique::writer::format::Format;
use metrique::writer::{Entry, EntryWriter, MetricValue, Unit, Value};

use crate::decision::Outcome;
use crate::engine::Evaluated;
use crate::policy::PolicyStatus;
use crate::response::Answer;

/// Metric and property names; the template's alarms and dashboard use these.
pub mod names {
    /// One per decision (Count).
    pub const DECISIONS: &str = "Decisions";
    /// Time of one decision, event in to answer out (Milliseconds).
    pub const DECISION_LATENCY: &str = "DecisionLatency";
    /// Time spent in Datalog for one decision (Milliseconds).
    pub const DATALOG_LATENCY: &str = "DatalogLatency";
    /// 1 when the answer was the error `Unauthorized` (a REST 401), which
    /// Lambda counts among the function's `Errors`; else 0.
    pub const UNAUTHORIZED_ANSWERS: &str = "UnauthorizedErrorAnswers";
    /// Seconds since the trust material was last read successfully, per decision.
    pub const TRUST_AGE: &str = "TrustMaterialAgeSeconds";
    /// Seconds since key-sync last confirmed the key map (its `synced_at`), per decision.
    pub const KEYMAP_CONTENT_AGE: &str = "KeyMapContentAgeSeconds";
    /// One per failed refresh of the trust material (Count).
    pub const REFRESH_FAILURES: &str = "TrustRefreshFailures";
    /// One per policy version that does not parse and was refused (Count).
    pub const POLICY_REJECTED: &str = "PolicyVersionsRejected";
    /// One per cold start of a function (Count).
    pub const COLD_STARTS: &str = "ColdStarts";
    /// Per decision, when the policy is read from a secret: 1 while the policy in
    /// force is not the current version (a fallback, or none at all), else 0.
    pub const SERVING_FALLBACK_POLICY: &str = "ServingFallbackPolicy";
    /// One per key map shard that could not be read or parsed (Count).
    pub const SHARD_LOAD_FAILURES: &str = "KeyMapShardLoadFailures";
    /// The dimension naming the outcome (`allow`, `deny`, `unauthorized`).
    pub const OUTCOME: &str = "outcome";
    /// The dimension naming the reason kind.
    pub const REASON_KIND: &str = "reason_kind";
    /// The verified domain (a dimension only when opted in).
    pub const DOMAIN: &str = "domain";
}

/// Where metrics go, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct MetricsArgs {
    /// CloudWatch namespace of the EMF metrics; metrics are off when unset or empty.
    #[arg(long, env = "METRICS_NAMESPACE")]
    pub metrics_namespace: Option<String>,
    /// Also publish decisions by verified domain (one metric per domain: mind the cost).
    #[arg(long, env = "METRICS_PER_DOMAIN", default_value_t = false)]
    pub metrics_per_domain: bool,
    /// Lambda's application log level; metric lines are written at this level or above.
    #[arg(long, env = "AWS_LAMBDA_LOG_LEVEL", value_parser = LogLevel::parse, default_value = "INFO")]
    pub lambda_log_level: LogLevel,
}

/// A level of Lambda's log-level filter, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// TRACE.
    Trace,
    /// DEBUG.
    Debug,
    /// INFO.
    #[default]
    Info,
    /// WARN.
    Warn,
    /// ERROR.
    Error,
    /// FATAL.
    Fatal,
}

impl LogLevel {
    /// Parses Lambda's names (any case); an unknown name is an error.
    pub fn parse(name: &str) -> Result<LogLevel, String> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "TRACE" => LogLevel::Trace,
            "DEBUG" => LogLevel::Debug,
            "INFO" => LogLevel::Info,
            "WARN" => LogLevel::Warn,
            "ERROR" => LogLevel::Error,
            "FATAL" => LogLevel::Fatal,
            other => return Err(format!("unknown log level {other:?}")),
        })
    }

    /// The name Lambda reads in a JSON line's `level`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
        }
    }
}

/// Which dimension sets an entry's metrics are published under, besides none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Only without dimensions (cold starts, refresh failures, key-sync rounds).
    Plain,
    /// A decision: `Decisions` and `DecisionLatency` also by `outcome` and by
    /// `outcome` and `reason_kind`.
    Decision,
    /// A decision with a verified domain: as [`Shape::Decision`], and
    /// `Decisions` by `domain` and `outcome` when opted in.
    DecisionWithDomain,
    /// key-sync's `Domains` also by `status`.
    ByStatus,
    /// key-sync's `KeysExpiringSoon` also by `domain`.
    ByDomain,
}

/// Formats entries as EMF lines: one formatter per [`Shape`], so an entry
/// only declares dimension sets whose dimensions it carries.
pub struct Metrics {
    plain: Emf,
    decision: Emf,
    decision_with_domain: Emf,
    by_status: Emf,
    by_domain: Emf,
    /// The lowest `level` a line may carry.
    floor: LogLevel,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The formatters, or `None` when metrics are off.
    pub fn new(args: &MetricsArgs) -> Option<Metrics> {
        let namespace = args
            .metrics_namespace
            .as_deref()
            .filter(|n| !n.is_empty())?;
        let count = |name| MetricDefinition {
            name,
            unit: Unit::Count,
            storage_resolution: None,
        };
        let builder = || Emf::builder(namespace.to_owned(), vec![vec![]]);
        let latency = MetricDefinition {
            name: names::DECISION_LATENCY,
            unit: <Duration as Value>::UNIT,
            storage_resolution: None,
        };
        let decision = builder().directive(MetricDirective {
            dimensions: vec![
                vec![names::OUTCOME],
                vec![names::OUTCOME, names::REASON_KIND],
            ],
            metrics: vec![count(names::DECISIONS), latency],
            namespace,
        });
        let decision_with_domain = if args.metrics_per_domain {
            decision.clone().directive(MetricDirective {
                dimensions: vec![vec![names::DOMAIN, names::OUTCOME]],
                metrics: vec![count(names::DECISIONS)],
                namespace,
            })
        } else {
            decision.clone()
        };
        let by = |dimension, metric| {
            builder()
                .directive(MetricDirective {
                    dimensions: vec![vec![dimension]],
                    metrics: vec![count(metric)],
                    namespace,
                })
                .build()
        };
        Some(Metrics {
            plain: builder().build(),
            decision: decision.build(),
            decision_with_domain: decision_with_domain.build(),
            by_status: by(key_sync::STATUS, key_sync::DOMAINS),
            by_domain: by(names::DOMAIN, key_sync::EXPIRING_KEYS),
            floor: args.lambda_log_level,
        })
    }

    /// Writes `entry` as one EMF line of `shape` to `out`. A formatting
    /// failure (a bug: the entries here are fixed) is logged and the line is
    /// not written.
    pub fn write(&mut self, shape: Shape, entry: &impl LeveledEntry, out: &mut impl Write) -> bool {
        let emf = match shape {
            Shape::Plain => &mut self.plain,
            Shape::Decision => &mut self.decision,
            Shape::DecisionWithDomain => &mut self.decision_with_domain,
            Shape::ByStatus => &mut self.by_status,
            Shape::ByDomain => &mut self.by_domain,
        };
        let mut line = Vec::with_capacity(512);
        let leveled = Leveled {
            entry,
            floor: self.floor,
        };
        if let Err(error) = emf.format(&leveled, &mut line) {
            tracing::error!(%error, "cannot format an EMF line");
            return false;
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        out.write_all(&line).is_ok()
    }
}

/// An entry with a known log level.
pub trait LeveledEntry: Entry {
    /// The level the entry would have as a log line.
    fn level(&self) -> LogLevel {
        LogLevel::Info
    }
}

/// An entry written with `level`: its own, raised to the configured floor.
struct Leveled<'e, E> {
    entry: &'e E,
    floor: LogLevel,
}

impl<E: LeveledEntry> Entry for Leveled<'_, E> {
    fn write<'a>(&'a self, writer: &mut impl EntryWriter<'a>) {
        writer.value("level", self.entry.level().max(self.floor).name());
        self.entry.write(writer);
    }
}

/// Where a process writes its EMF lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Standard output: where Lambda's documentation says EMF goes (functions).
    Stdout,
    /// Standard error: for commands whose standard output is their result (`key-sync once`).
    Stderr,
}

/// The process's formatters and sink, set once by [`init`].
static GLOBAL: OnceLock<Mutex<(Metrics, Sink)>> = OnceLock::new();

/// Turns metrics on for this process (when `args` name a namespace).
pub fn init(args: &MetricsArgs, sink: Sink) {
    if let Some(metrics) = Metrics::new(args) {
        let _ = GLOBAL.set(Mutex::new((metrics, sink)));
    }
}

/// Writes one entry to the sink if metrics are on; whether it was written.
pub fn emit(shape: Shape, entry: &impl LeveledEntry) -> bool {
    let Some(global) = GLOBAL.get() else {
        return false;
    };
    let mut global = global
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (metrics, sink) = &mut *global;
    match sink {
        Sink::Stdout => metrics.write(shape, entry, &mut std::io::stdout().lock()),
        Sink::Stderr => metrics.write(shape, entry, &mut std::io::stderr().lock()),
    }
}

/// What the function knows about a decision besides the decision itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Time since the trust material was last read successfully.
    pub trust_age: Option<Duration>,
    /// Time since key-sync last confirmed the key map in use (none without a stamp).
    pub keymap_content_age: Option<Duration>,
    /// The Lambda invocation's request id.
    pub invocation_id: Option<String>,
    /// The policy version in force, when the policy is read from a source.
    pub policy: Option<PolicyStatus>,
    /// The key map's (or its manifest's) version.
    pub keymap_version: Option<String>,
}

/// The wide event of one decision: its log fields and its metrics.
#[derive(Debug)]
pub struct DecisionEvent<'a> {
    evaluated: &'a Evaluated,
    observed: Observed,
    /// The refusal's reason (bounded and escaped); `None` for an allow.
    reason: Option<String>,
    principal: Option<String>,
    at: SystemTime,
}

impl<'a> DecisionEvent<'a> {
    /// The event of this decision.
    pub fn new(evaluated: &'a Evaluated, observed: Observed) -> DecisionEvent<'a> {
        let decision = &evaluated.decision;
        DecisionEvent {
            evaluated,
            observed,
            reason: (decision.outcome() != Outcome::Allow).then(|| decision.reason()),
            principal: decision.principal(),
            at: SystemTime::now(),
        }
    }

    /// The shape of its EMF line: with the per-domain set only when the domain is verified.
    pub fn shape(&self) -> Shape {
        match self.evaluated.decision.identity {
            Some(_) => Shape::DecisionWithDomain,
            None => Shape::Decision,
        }
    }
}

impl LeveledEntry for DecisionEvent<'_> {
    fn level(&self) -> LogLevel {
        match self.evaluated.decision.outcome() {
            Outcome::Allow => LogLevel::Info,
            Outcome::Deny | Outcome::Unauthorized => LogLevel::Warn,
        }
    }
}

/// The outcome as its dimension value.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Unauthorized => "unauthorized",
    }
}

impl Entry for DecisionEvent<'_> {
    fn write<'a>(&'a self, writer: &mut impl EntryWriter<'a>) {
        let decision = &self.evaluated.decision;
        let outcome = decision.outcome();
        writer.timestamp(self.at);
        writer.value("message", "decision");
        writer.value(names::OUTCOME, outcome_name(outcome));
        writer.value(names::REASON_KIND, decision.reason_kind());
        if let Some(reason) = &self.reason {
            writer.value("reason", reason);
        }
        if let Some(identity) = &decision.identity {
            writer.value(names::DOMAIN, identity.domain.as_str());
            writer.value("key_id", &identity.key_id.to_string());
        }
        if let Some(principal) = &self.principal {
            writer.value("principal", principal);
        }
        let trace = &self.evaluated.trace;
        let observed = &self.observed;
        for (name, value) in [
            ("request_id", &observed.invocation_id),
            ("apigw_request_id", &trace.request_id),
            ("route", &trace.route),
            ("method", &trace.method),
            ("path", &trace.path),
            ("keymap_version", &observed.keymap_version),
        ] {
            if let Some(value) = value {
                writer.value(name, value.as_str());
            }
        }
        if let Some(policy) = &observed.policy {
            if let Some(version) = &policy.version {
                writer.value("policy_version", version.as_str());
            }
            writer.value(
                names::SERVING_FALLBACK_POLICY,
                &u64::from(policy.fallback).with_unit::<Count>(),
            );
        }
        writer.value(names::DECISIONS, &1u64.with_unit::<Count>());
        let error_answer = matches!(self.evaluated.answer, Answer::Unauthorized);
        writer.value(
            names::UNAUTHORIZED_ANSWERS,
            &u64::from(error_answer).with_unit::<Count>(),
        );
        writer.value(names::DECISION_LATENCY, &self.evaluated.elapsed);
        if let Some(datalog) = decision.evaluation_time {
            writer.value(names::DATALOG_LATENCY, &datalog);
        }
        if let Some(age) = self.observed.trust_age {
            writer.value(names::TRUST_AGE, &age.as_secs().with_unit::<Second>());
        }
        if let Some(age) = self.observed.keymap_content_age {
            writer.value(
                names::KEYMAP_CONTENT_AGE,
                &age.as_secs().with_unit::<Second>(),
            );
        }
    }
}

/// A one-metric event with a few properties (cold start, refresh failure,
/// refused policy version).
#[derive(Debug)]
pub struct CountEvent {
    metric: &'static str,
    message: &'static str,
    properties: Vec<(&'static str, String)>,
    at: SystemTime,
}

impl CountEvent {
    /// One occurrence of `metric`, logged with `message` and `properties`.
    pub fn new(
        metric: &'static str,
        message: &'static str,
        properties: Vec<(&'static str, String)>,
    ) -> CountEvent {
        CountEvent {
            metric,
            message,
            properties,
            at: SystemTime::now(),
        }
    }
}

impl LeveledEntry for CountEvent {}

impl Entry for CountEvent {
    fn write<'a>(&'a self, writer: &mut impl EntryWriter<'a>) {
        writer.timestamp(self.at);
        writer.value("message", self.message);
        for (name, value) in &self.properties {
            writer.value(Cow::Borrowed(*name), value.as_str());
        }
        writer.value(self.metric, &1u64.with_unit::<Count>());
    }
}

/// Counts a cold start of `function`.
pub fn cold_start(function: &str) {
    emit(
        Shape::Plain,
        &CountEvent::new(
            names::COLD_STARTS,
            "cold start",
            vec![("function", function.to_owned())],
        ),
    );
}

/// Counts a failed refresh of the trust material.
pub fn refresh_failed(error: &str) {
    emit(
        Shape::Plain,
        &CountEvent::new(
            names::REFRESH_FAILURES,
            "trust refresh failed",
            vec![("error", error.to_owned())],
        ),
    );
}

/// Counts a key map shard that could not be loaded.
pub fn shard_load_failed(shard: usize, error: &str) {
    emit(
        Shape::Plain,
        &CountEvent::new(
            names::SHARD_LOAD_FAILURES,
            "key map shard load failed",
            vec![("shard", shard.to_string()), ("error", error.to_owned())],
        ),
    );
}

/// Counts a policy version that did not parse and was refused.
pub fn policy_rejected(version: &str, error: &str) {
    emit(
        Shape::Plain,
        &CountEvent::new(
            names::POLICY_REJECTED,
            "policy version refused",
            vec![("version", version.to_owned()), ("error", error.to_owned())],
        ),
    );
}

/// key-sync's metric and dimension names (its events are in the key-sync crate).
pub mod key_sync {
    /// Domains of a round, by `status` (Count).
    pub const DOMAINS: &str = "Domains";
    /// Keys of a domain that expire within the warning window (Count).
    pub const EXPIRING_KEYS: &str = "KeysExpiringSoon";
    /// Secret writes of a round (Count).
    pub const SECRET_WRITES: &str = "SecretWrites";
    /// Rounds that failed as a whole (Count).
    pub const FAILED_ROUNDS: &str = "FailedRounds";
    /// Domains of a round whose status needs an operator (Count).
    pub const NEEDING_OPERATOR: &str = "DomainsNeedingOperator";
    /// The dimension naming a domain's status in a round.
    pub const STATUS: &str = "status";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Trust};
    use crate::policy::Policy;
    use serde_json::Value;

    fn args(per_domain: bool) -> MetricsArgs {
        MetricsArgs {
            metrics_namespace: Some("Test".into()),
            metrics_per_domain: per_domain,
            lambda_log_level: Default::default(),
        }
    }

    fn line(metrics: &mut Metrics, shape: Shape, entry: &impl LeveledEntry) -> Value {
        let mut out = Vec::new();
        assert!(metrics.write(shape, entry, &mut out));
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        serde_json::from_str(&text).expect("one JSON object")
    }

    fn refused() -> Evaluated {
        let engine = Engine::new(
            Policy::parse("allow if true;").expect("policy"),
            Default::default(),
        );
        engine.evaluate(
            serde_json::json!({"type": "TOKEN", "authorizationToken": "Bearer !!", "methodArn": "arn:aws:execute-api:us-east-1:1:a/s/GET/x"}),
            Ok(&Trust::default()),
            SystemTime::now(),
        )
    }

    #[test]
    fn off_without_a_namespace() {
        let off = MetricsArgs {
            metrics_namespace: Some(String::new()),
            metrics_per_domain: false,
            lambda_log_level: Default::default(),
        };
        assert!(Metrics::new(&off).is_none());
    }

    #[test]
    fn a_decision_is_one_object_with_its_log_fields_and_its_emf_block() {
        let mut metrics = Metrics::new(&args(false)).expect("on");
        let evaluated = refused();
        let observed = Observed {
            trust_age: Some(Duration::from_secs(42)),
            keymap_content_age: Some(Duration::from_secs(4000)),
            ..Observed::default()
        };
        let doc = line(
            &mut metrics,
            Shape::Decision,
            &DecisionEvent::new(&evaluated, observed),
        );
        assert_eq!(doc["KeyMapContentAgeSeconds"], 4000);
        let unstamped = line(
            &mut metrics,
            Shape::Decision,
            &DecisionEvent::new(&evaluated, Observed::default()),
        );
        assert!(unstamped.get("KeyMapContentAgeSeconds").is_none());
        assert_eq!(doc["outcome"], "unauthorized");
        assert_eq!(doc["reason_kind"], "token_not_base64");
        assert_eq!(doc["message"], "decision");
        assert_eq!(doc["Decisions"], 1);
        assert_eq!(doc["TrustMaterialAgeSeconds"], 42);
        let directives = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives");
        let by_outcome = directives
            .iter()
            .find(|d| d["Dimensions"][0] == serde_json::json!(["outcome"]))
            .expect("decisions by outcome");
        assert_eq!(by_outcome["Metrics"][0]["Name"], "Decisions");
        assert!(
            !doc.to_string().contains("\"domain\""),
            "no domain dimension unless opted in, and none for a refused token"
        );
    }

    fn allowed() -> Evaluated {
        use crate::decision::{Decision, Identity};
        use crate::engine::Trace;
        Evaluated {
            decision: Decision {
                verdict: Ok(crate::policy::Grant {
                    principal: Some("alice".into()),
                    context: Default::default(),
                    holder_certs: Vec::new(),
                    allow_policy: 0,
                }),
                identity: Some(Identity {
                    domain: "a.example".into(),
                    key_id: 1,
                }),
                token_id: Some("biscuit:00".into()),
                evaluation_time: Some(Duration::from_micros(30)),
            },
            answer: Answer::Respond(Value::Null),
            elapsed: Duration::from_micros(90),
            trace: Trace {
                request_id: Some("apigw-1".into()),
                route: Some("GET /pets/{id}".into()),
                method: Some("GET".into()),
                path: Some("/pets/7".into()),
            },
        }
    }

    #[test]
    fn the_per_domain_dimension_is_declared_only_when_opted_in_and_the_domain_is_there() {
        let declared = |evaluated: &Evaluated, per_domain| {
            let mut metrics = Metrics::new(&args(per_domain)).expect("on");
            let event = DecisionEvent::new(evaluated, Observed::default());
            let doc = line(&mut metrics, event.shape(), &event);
            let declared = doc["_aws"].to_string().contains("[\"domain\",\"outcome\"]");
            // The EMF specification: every member a dimension set names is present.
            if declared {
                assert_eq!(doc["domain"], "a.example");
            }
            declared
        };
        assert!(!declared(&allowed(), false));
        assert!(declared(&allowed(), true));
        assert!(
            !declared(&refused(), true),
            "no verified domain: no such set"
        );
    }

    #[test]
    fn a_decision_line_carries_what_traces_it() {
        let mut metrics = Metrics::new(&args(false)).expect("on");
        let evaluated = allowed();
        let observed = Observed {
            invocation_id: Some("lambda-1".into()),
            policy: Some(PolicyStatus {
                version: Some("p1".into()),
                fallback: true,
            }),
            keymap_version: Some("k1".into()),
            ..Observed::default()
        };
        let event = DecisionEvent::new(&evaluated, observed);
        let doc = line(&mut metrics, event.shape(), &event);
        for (field, value) in [
            ("request_id", "lambda-1"),
            ("apigw_request_id", "apigw-1"),
            ("route", "GET /pets/{id}"),
            ("method", "GET"),
            ("path", "/pets/7"),
            ("principal", "alice"),
            ("policy_version", "p1"),
            ("keymap_version", "k1"),
            ("level", "INFO"),
        ] {
            assert_eq!(doc[field], value, "{field} in {doc}");
        }
        assert_eq!(doc["ServingFallbackPolicy"], 1);
    }

    #[test]
    fn metric_lines_are_never_below_lambdas_log_level() {
        let floor = |level: &str, entry: &dyn Fn(&mut Metrics) -> Value| {
            let mut metrics = Metrics::new(&MetricsArgs {
                lambda_log_level: LogLevel::parse(level).expect("level"),
                ..args(false)
            })
            .expect("on");
            entry(&mut metrics)["level"].as_str().map(str::to_owned)
        };
        let allowed = allowed();
        let decision = |m: &mut Metrics| {
            let event = DecisionEvent::new(&allowed, Observed::default());
            line(m, event.shape(), &event)
        };
        let count = |m: &mut Metrics| {
            line(
                m,
                Shape::Plain,
                &CountEvent::new(names::COLD_STARTS, "cold start", vec![]),
            )
        };
        assert_eq!(floor("info", &decision).as_deref(), Some("INFO"));
        assert_eq!(floor("WARN", &decision).as_deref(), Some("WARN"));
        assert_eq!(floor("ERROR", &count).as_deref(), Some("ERROR"));
        assert_eq!(floor("DEBUG", &count).as_deref(), Some("INFO"));
        assert!(LogLevel::parse("LOUD").is_err());
    }

    #[test]
    fn a_count_event_carries_its_metric_and_properties() {
        let mut metrics = Metrics::new(&args(false)).expect("on");
        let doc = line(
            &mut metrics,
            Shape::Plain,
            &CountEvent::new(
                names::REFRESH_FAILURES,
                "trust refresh failed",
                vec![("error", "down".into())],
            ),
        );
        assert_eq!(doc["TrustRefreshFailures"], 1);
        assert_eq!(doc["error"], "down");
        let directives = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives");
        assert_eq!(directives.len(), 1, "no decision dimension sets: {doc}");
        assert_eq!(directives[0]["Metrics"][0]["Name"], "TrustRefreshFailures");
    }
}
