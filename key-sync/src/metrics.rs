//! key-sync's metrics, in CloudWatch's embedded metric format (the
//! formatter and names are the authorizer's, [`authorizer::metrics`]).
//!
//! At the end of each round: one line per domain status with the number of
//! domains in it (every status, zeros included, so alarms and charts see a
//! value each round), one line per domain with its keys expiring within the
//! warning window, and one line for the round (secret writes, refused
//! growths, failed round).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use authorizer::metrics::key_sync::{
    DOMAINS, EXPIRING_KEYS, FAILED_ROUNDS, NEEDING_OPERATOR, SECRET_WRITES, STATUS,
};
use authorizer::metrics::names::DOMAIN;
use authorizer::metrics::{Metrics, MetricsArgs, Shape, Sink};
use chrono::{DateTime, FixedOffset};
use metrique::unit::Count;
use metrique::writer::{Entry, EntryWriter, MetricValue};

use crate::merge::Status;
use crate::sync::Summary;

/// Domains whose growth was refused for room this round (key-sync's own
/// metric, on the round line; each such domain is also `rejected`).
pub const GROWTH_REFUSED: &str = "GrowthRefused";

/// Every status, in the order the lines are written.
const STATUSES: [Status; 6] = [
    Status::Fetched,
    Status::Unchanged,
    Status::KeptLastGood,
    Status::Removed,
    Status::Conflict,
    Status::Rejected,
];

/// key-sync's metric settings.
#[derive(Debug, Clone, clap::Args)]
pub struct KeySyncMetricsArgs {
    /// Where metrics go.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Keys expiring within this many days are counted in `KeysExpiringSoon`.
    #[arg(long, env = "EXPIRY_WARNING_DAYS", default_value_t = 14)]
    pub expiry_warning_days: u64,
}

impl KeySyncMetricsArgs {
    /// Turns metrics on for this process, when a namespace is set, writing to `sink`.
    pub fn init(&self, sink: Sink) {
        authorizer::metrics::init(&self.metrics, sink);
    }

    /// What a round reports.
    pub fn reporting(&self) -> Reporting {
        Reporting {
            window: Duration::from_secs(self.expiry_warning_days.saturating_mul(86_400)),
            per_domain: self.metrics.metrics_per_domain,
        }
    }
}

/// What a round reports besides the counts by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporting {
    /// Keys expiring within this window are counted in `KeysExpiringSoon`.
    pub window: Duration,
    /// Also one `KeysExpiringSoon` line per domain (`METRICS_PER_DOMAIN`: one
    /// custom metric per domain); the round's total is always written.
    pub per_domain: bool,
}

/// One EMF line: a few string properties and one counted metric.
#[derive(Debug)]
struct Line {
    shape: Shape,
    message: &'static str,
    properties: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, u64)>,
    at: SystemTime,
}

impl authorizer::metrics::LeveledEntry for Line {}

impl Entry for Line {
    fn write<'a>(&'a self, writer: &mut impl EntryWriter<'a>) {
        writer.timestamp(self.at);
        writer.value("message", self.message);
        for (name, value) in &self.properties {
            writer.value(*name, value.as_str());
        }
        for (name, value) in &self.metrics {
            writer.value(*name, &value.with_unit::<Count>());
        }
    }
}

/// The lines of one round's end: `Ok` the summary, `Err` a failed round.
fn lines(summary: Result<&Summary, &str>, reporting: Reporting, now: SystemTime) -> Vec<Line> {
    let line = |shape, message, properties, metrics| Line {
        shape,
        message,
        properties,
        metrics,
        at: now,
    };
    let summary = match summary {
        Ok(summary) => summary,
        Err(error) => {
            return vec![line(
                Shape::Plain,
                "round failed",
                vec![("error", error.to_owned())],
                vec![
                    (FAILED_ROUNDS, 1),
                    (SECRET_WRITES, 0),
                    (GROWTH_REFUSED, 0),
                    (NEEDING_OPERATOR, 0),
                ],
            )]
        }
    };
    let mut by_status: BTreeMap<&str, u64> = STATUSES.iter().map(|s| (s.as_str(), 0)).collect();
    for report in summary.domains.values() {
        *by_status.entry(report.status.as_str()).or_default() += 1;
    }
    let mut lines: Vec<Line> = STATUSES
        .iter()
        .map(|status| {
            let count = by_status.get(status.as_str()).copied().unwrap_or(0);
            line(
                Shape::ByStatus,
                "domains by status",
                vec![(STATUS, status.as_str().to_owned())],
                vec![(DOMAINS, count)],
            )
        })
        .collect();
    let horizon: DateTime<FixedOffset> =
        DateTime::<chrono::Utc>::from(now + reporting.window).into();
    let mut expiring_in_all = 0;
    for (domain, expiry) in &summary.key_expiry {
        let expiring = expiry.iter().filter(|at| **at <= horizon).count() as u64;
        expiring_in_all += expiring;
        if reporting.per_domain {
            lines.push(line(
                Shape::ByDomain,
                "keys expiring soon",
                vec![(DOMAIN, domain.clone())],
                vec![(EXPIRING_KEYS, expiring)],
            ));
        }
    }
    lines.push(line(
        Shape::Plain,
        "round",
        vec![("version_id", summary.version_id.clone())],
        vec![
            (
                SECRET_WRITES,
                u64::from(summary.written) + summary.shards_written.len() as u64,
            ),
            (GROWTH_REFUSED, summary.growth_refused.len() as u64),
            (NEEDING_OPERATOR, summary.needing_operator().len() as u64),
            (EXPIRING_KEYS, expiring_in_all),
            (FAILED_ROUNDS, 0),
        ],
    ));
    lines
}

/// Emits the metrics of one round's end (when metrics are on).
pub fn round_end(summary: Result<&Summary, &str>, reporting: Reporting) {
    for line in lines(summary, reporting, SystemTime::now()) {
        authorizer::metrics::emit(line.shape, &line);
    }
}

/// Formats one round's lines with `metrics`, for tests and tools.
pub fn format_round(
    metrics: &mut Metrics,
    summary: Result<&Summary, &str>,
    reporting: Reporting,
    now: SystemTime,
) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines(summary, reporting, now) {
        metrics.write(line.shape, &line, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::DomainReport;
    use serde_json::Value;

    fn summary(now: SystemTime) -> Summary {
        let at = |days: u64| -> DateTime<FixedOffset> {
            DateTime::<chrono::Utc>::from(now + Duration::from_secs(days * 86_400)).into()
        };
        let report = |status| DomainReport {
            status,
            keys: 2,
            reason: String::new(),
        };
        Summary {
            domains: [
                ("a.example".to_owned(), report(Status::Unchanged)),
                ("b.example".to_owned(), report(Status::Conflict)),
            ]
            .into(),
            written: true,
            version_id: "v2".into(),
            shards_written: vec![1, 3],
            generation: Some(2),
            growth_refused: vec!["b.example".into()],
            key_expiry: [
                ("a.example".to_owned(), vec![at(3), at(30)]),
                ("b.example".to_owned(), vec![]),
            ]
            .into(),
        }
    }

    fn parse(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8(bytes.to_vec())
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON line"))
            .collect()
    }

    #[test]
    fn a_round_reports_domains_by_status_expiring_keys_and_writes() {
        let args = MetricsArgs {
            metrics_namespace: Some("KeySync".into()),
            metrics_per_domain: false,
            lambda_log_level: Default::default(),
        };
        let mut metrics = Metrics::new(&args).expect("on");
        let now = SystemTime::now();
        let reporting = |per_domain| Reporting {
            window: Duration::from_secs(14 * 86_400),
            per_domain,
        };
        let without = parse(&format_round(
            &mut metrics,
            Ok(&summary(now)),
            reporting(false),
            now,
        ));
        assert!(
            without.iter().all(|l| l.get("domain").is_none()),
            "no per-domain line unless opted in"
        );
        let round = without.iter().find(|l| l["message"] == "round");
        assert_eq!(round.map(|l| l["KeysExpiringSoon"].clone()), Some(1.into()));
        assert_eq!(
            round.map(|l| l["DomainsNeedingOperator"].clone()),
            Some(1.into())
        );
        let lines = parse(&format_round(
            &mut metrics,
            Ok(&summary(now)),
            reporting(true),
            now,
        ));
        let find = |key: &str, value: &str| {
            lines
                .iter()
                .find(|l| l[key] == value)
                .unwrap_or_else(|| panic!("a line with {key} = {value}"))
        };
        assert_eq!(find("status", "conflict")["Domains"], 1);
        assert_eq!(find("status", "rejected")["Domains"], 0);
        assert_eq!(find("domain", "a.example")["KeysExpiringSoon"], 1);
        assert_eq!(find("domain", "b.example")["KeysExpiringSoon"], 0);
        assert_eq!(
            find("message", "round")["SecretWrites"],
            3,
            "the manifest and two shards"
        );
        assert_eq!(find("message", "round")["GrowthRefused"], 1);
        let declares = |l: &Value, set: &str| l["_aws"].to_string().contains(set);
        assert!(declares(find("status", "conflict"), "[\"status\"]"));
        assert!(declares(find("domain", "a.example"), "[\"domain\"]"));
        assert!(!declares(find("message", "round"), "[\"status\"]"));
    }

    #[test]
    fn a_failed_round_is_counted() {
        let args = MetricsArgs {
            metrics_namespace: Some("KeySync".into()),
            metrics_per_domain: false,
            lambda_log_level: Default::default(),
        };
        let mut metrics = Metrics::new(&args).expect("on");
        let lines = parse(&format_round(
            &mut metrics,
            Err("cannot read the map"),
            Reporting {
                window: Duration::ZERO,
                per_domain: false,
            },
            SystemTime::now(),
        ));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["FailedRounds"], 1);
        assert_eq!(lines[0]["GrowthRefused"], 0);
    }
}
