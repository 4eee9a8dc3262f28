//! The suite format of `authz test`: YAML read with `serde_norway`, turned
//! into API Gateway events and tokens.
//!
//! ```yaml
//! now: 2030-01-01T00:00:00Z        # optional: the decision time
//! cases:
//!   - name: tenant A reads its own path
//!     request: {kind: http, method: GET, path: /tenants/a.example/pets}
//!     token:
//!       domain: a.example
//!       authority: 'user("alice"); right("read");'
//!       blocks: ['check if method("GET");']      # optional attenuation
//!     expect: {outcome: allow, context: {user: alice}}
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// A suite: cases and, optionally, the time they are decided at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Decision time (RFC 3339); now when absent.
    #[serde(default)]
    pub now: Option<DateTime<FixedOffset>>,
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One request, its token and what the policy must answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the table.
    pub name: String,
    /// The request.
    pub request: Request,
    /// The token, if the request carries one.
    #[serde(default)]
    pub token: Option<TokenSpec>,
    /// The expected answer.
    pub expect: Expect,
}

/// Which API Gateway event carries the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// HTTP API payload 2.0.
    Http,
    /// REST API `REQUEST` authorizer.
    Rest,
    /// REST API `TOKEN` authorizer (method and path from the `methodArn`).
    Token,
    /// WebSocket `$connect`.
    Websocket,
}

/// The request of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The event kind.
    pub kind: EventKind,
    /// HTTP method (not used by WebSocket).
    #[serde(default = "default_method")]
    pub method: String,
    /// Request path (not used by WebSocket).
    #[serde(default = "default_path")]
    pub path: String,
    /// Headers (the token is added as `Authorization: Bearer`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters; a name may repeat.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Source IP.
    #[serde(default = "default_source_ip")]
    pub source_ip: String,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_source_ip() -> String {
    "192.0.2.1".to_owned()
}

/// A token: minted from Datalog with a throwaway key of its domain, or given.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum TokenSpec {
    /// Minted on the fly.
    Minted {
        /// The issuer domain (field 5; its throwaway key signs).
        domain: String,
        /// The authority block's Datalog.
        authority: String,
        /// Attenuation blocks' Datalog, appended in order.
        #[serde(default)]
        blocks: Vec<String>,
        /// Leave field 5 out (as attenuating libraries do).
        #[serde(default)]
        without_domain_hint: bool,
    },
    /// A token as given, verified with the key map of `--keysets`.
    Given {
        /// URL-safe base64.
        given: String,
    },
}

/// What a case expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `allow`, `deny` or `unauthorized`.
    pub outcome: String,
    /// The reason kind, when it matters.
    #[serde(default)]
    pub reason_kind: Option<String>,
    /// The principal the policy derives.
    #[serde(default)]
    pub principal: Option<String>,
    /// Context values the policy must derive (others may exist).
    #[serde(default)]
    pub context: Map<String, Value>,
}

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:apiid1234";

/// The API Gateway event of `request` with `authorization` (a full header value).
pub fn event(request: &Request, authorization: Option<&str>) -> Value {
    let method = request.method.as_str();
    let path = request.path.as_str();
    let mut headers: Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    if let Some(authorization) = authorization {
        headers.insert("authorization".into(), json!(authorization));
    }
    let mut multi: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in &request.query {
        multi.entry(name).or_default().push(value);
    }
    let single: Map<String, Value> = multi
        .iter()
        .map(|(name, values)| (name.to_string(), json!(values.last())))
        .collect();
    let context = json!({"accountId": "123456789012", "apiId": "apiid1234", "stage": "prod",
                         "identity": {"sourceIp": request.source_ip}});
    match request.kind {
        EventKind::Token => json!({
            "type": "TOKEN",
            "authorizationToken": authorization.unwrap_or_default(),
            "methodArn": format!("{ARN}/prod/{method}{path}"),
        }),
        EventKind::Rest => json!({
            "type": "REQUEST", "methodArn": format!("{ARN}/prod/{method}{path}"),
            "resource": path, "path": path, "httpMethod": method, "headers": headers,
            "queryStringParameters": single, "multiValueQueryStringParameters": multi,
            "requestContext": context,
        }),
        EventKind::Websocket => json!({
            "type": "REQUEST", "methodArn": format!("{ARN}/prod/$connect"),
            "headers": headers, "queryStringParameters": single,
            "multiValueQueryStringParameters": multi,
            "requestContext": {"apiId": "apiid1234", "stage": "prod", "routeKey": "$connect",
                               "eventType": "CONNECT", "identity": {"sourceIp": request.source_ip}},
        }),
        EventKind::Http => {
            let raw_query = request
                .query
                .iter()
                .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
                .collect::<Vec<_>>()
                .join("&");
            json!({
                "version": "2.0", "type": "REQUEST",
                "routeArn": format!("{ARN}/$default/{method}{path}"),
                "routeKey": "$default", "rawPath": path, "rawQueryString": raw_query,
                "headers": headers,
                "requestContext": {"accountId": "123456789012", "apiId": "apiid1234", "stage": "$default",
                                   "http": {"method": method, "path": path, "sourceIp": request.source_ip}},
            })
        }
    }
}

/// Percent-encodes everything but unreserved characters.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suite_reads_from_yaml_and_refuses_unknown_fields() {
        let suite: Suite = serde_norway::from_str(
            "cases:\n- name: one\n  request: {kind: http, method: GET, path: /x}\n  token: {domain: a.example, authority: 'right(\"read\");'}\n  expect: {outcome: allow}\n",
        )
        .expect("suite");
        assert_eq!(suite.cases.len(), 1);
        assert!(matches!(
            suite.cases[0].token,
            Some(TokenSpec::Minted { .. })
        ));
        let typo = serde_norway::from_str::<Suite>(
            "cases:\n- name: one\n  request: {kind: http}\n  expect: {outcom: allow}\n",
        );
        assert!(typo.is_err(), "a misspelt field is an error, not ignored");
    }

    #[test]
    fn every_kind_of_event_is_one_the_authorizer_reads() {
        for kind in [
            EventKind::Http,
            EventKind::Rest,
            EventKind::Token,
            EventKind::Websocket,
        ] {
            let request = Request {
                kind,
                method: "GET".into(),
                path: "/a b".into(),
                headers: BTreeMap::new(),
                query: vec![("tenant".into(), "a&b".into())],
                source_ip: default_source_ip(),
            };
            let parsed =
                crate::event::AuthorizerEvent::from_json(event(&request, Some("Bearer x")));
            assert!(parsed.is_ok(), "{kind:?}: {parsed:?}");
        }
    }
}
