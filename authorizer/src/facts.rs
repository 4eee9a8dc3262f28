//! The facts the authorizer adds about each request: the policy's contract.

use std::time::SystemTime;

use biscuit_auth::builder::{date, fact, int, string, Fact};

use crate::event::RequestInfo;
use crate::verify::VerifiedToken;

/// The request facts for a verified token: the verified domain, the root key
/// id, the time, and what the event says about the request. Headers are
/// limited to `header_allow_list` (lowercase names).
pub fn request_facts(
    request: &RequestInfo,
    token: &VerifiedToken,
    now: SystemTime,
    header_allow_list: &[String],
) -> Vec<Fact> {
    let mut facts = vec![
        fact("domain", &[string(token.domain())]),
        fact("root_key_id", &[int(i64::from(token.key().key_id))]),
        fact("time", &[date(&now)]),
    ];
    let single = [
        ("method", &request.method),
        ("path", &request.path),
        ("route", &request.route),
        ("source_ip", &request.source_ip),
        ("stage", &request.stage),
        ("api_id", &request.api_id),
        ("account_id", &request.account_id),
        ("region", &request.region),
        ("client_cert", &request.client_cert),
    ];
    for (name, value) in single {
        if let Some(value) = value {
            facts.push(fact(name, &[string(value)]));
        }
    }
    let pairs = [
        ("path_param", &request.path_params),
        ("query", &request.query),
    ];
    for (name, pairs) in pairs {
        for (key, value) in pairs {
            facts.push(fact(name, &[string(key), string(value)]));
        }
    }
    for (name, value) in &request.headers {
        if header_allow_list.iter().any(|allowed| allowed == name) {
            facts.push(fact("header", &[string(name), string(value)]));
        }
    }
    facts
}
