//! API Gateway authorizer events: which kind arrived, the credential it
//! carries, and what it says about the request.
//!
//! Three kinds are told apart from the JSON itself: REST API `TOKEN`, REST API
//! `REQUEST` (also HTTP API payload 1.0 and WebSocket `$connect`, which have the
//! same shape) and HTTP API payload `2.0`. Before anything else the raw JSON is
//! checked against entry caps (see [`MAX_COLLECTION_ENTRIES`]), so no map is
//! built from a hostile number of entries; parsing then goes through the
//! `aws_lambda_events` types, and what those types lose (repeated query names,
//! the WebSocket route key) is read from the raw JSON. So are the headers,
//! with `http`'s rules for names and values but no `HeaderMap`: most are
//! never read, and building the maps was a fifth of a decision with a
//! browser's header set (`BENCHMARKS.md`).

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use serde::Serialize;
use serde_json::Value;

use crate::holder;
use crate::path::hex;

/// Most entries (object members or array items) any one object or array of an
/// event may hold. API Gateway sends at most 10 KB of request line and headers,
/// so a real event has a few hundred entries at the very most; the caps
/// bound the maps aws_lambda_events builds of the rest (and `http`'s
/// `HeaderMap`, which it once built of the headers, panics past 24,576 names).
pub const MAX_COLLECTION_ENTRIES: usize = 4096;

/// Most entries in all of an event's objects and arrays together.
pub const MAX_EVENT_ENTRIES: usize = 16_384;

/// The kind of authorizer event, which also decides the response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// REST API `TOKEN` authorizer.
    RestToken,
    /// REST API `REQUEST` authorizer (and HTTP API payload 1.0, WebSocket `$connect`).
    RestRequest,
    /// HTTP API payload 2.0.
    HttpV2,
}

/// Why an event could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The JSON is not any of the three authorizer event kinds.
    #[error("not an API Gateway authorizer event (no TOKEN, REQUEST or version 2.0 marker)")]
    UnknownKind,
    /// An object or array of the event, or the event in all, has more entries
    /// than the caps allow: refused before any map is built from it.
    #[error("event too large: {location} has {entries} entries, over the limit of {limit}")]
    TooManyEntries {
        /// Where: the top-level field, or `the event` for the total.
        location: String,
        /// How many entries were counted (up to the point of refusal).
        entries: usize,
        /// The cap.
        limit: usize,
    },
    /// The JSON has a kind marker but does not match that kind's shape.
    #[error("malformed {kind:?} event: {detail}")]
    Malformed {
        /// The detected kind.
        kind: EventKind,
        /// What the parser said.
        detail: String,
    },
}

/// Why no credential could be taken from an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No `Authorization` header / `authorizationToken`.
    #[error("no Authorization header or authorization token")]
    Missing,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Ambiguous,
    /// The header is not `Bearer <token>` or not visible ASCII.
    #[error("Authorization header is not a Bearer credential")]
    NotBearer,
}

/// What the authorizer learned about the request, before looking at the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// HTTP method.
    pub method: Option<String>,
    /// Request path.
    pub path: Option<String>,
    /// HTTP API route key or REST resource template.
    pub route: Option<String>,
    /// Deployment stage.
    pub stage: Option<String>,
    /// API id.
    pub api_id: Option<String>,
    /// AWS account id of the API.
    pub account_id: Option<String>,
    /// AWS region of the API.
    pub region: Option<String>,
    /// Caller's source IP.
    pub source_ip: Option<String>,
    /// Path parameters, sorted by name.
    pub path_params: Vec<(String, String)>,
    /// Query parameters (every value of a repeated name), sorted.
    pub query: Vec<(String, String)>,
    /// Headers (lowercase names), every value, sorted; filtered later by the allow-list.
    pub headers: Vec<(String, String)>,
    /// SHA-256 fingerprint (hex) of the mutual TLS client certificate, if one was presented.
    pub client_cert: Option<String>,
    /// API Gateway's id of the request (`requestContext.requestId`), for tracing; never a fact.
    pub request_id: Option<String>,
}

/// One authorizer event, parsed.
#[derive(Debug, Clone)]
pub struct AuthorizerEvent {
    /// The event kind.
    pub kind: EventKind,
    /// The token string, or why there is none.
    pub credential: Result<String, CredentialError>,
    /// The ARN the IAM policy answer is about (`methodArn` or `routeArn`).
    pub resource_arn: Option<String>,
    /// What the event says about the request.
    pub request: RequestInfo,
}

impl AuthorizerEvent {
    /// Detects the event kind from the JSON, checks its entry counts and parses it.
    pub fn from_json(mut json: Value) -> Result<AuthorizerEvent, EventError> {
        let kind = detect_kind(&json).ok_or(EventError::UnknownKind)?;
        check_entry_counts(&json)?;
        let bad = |detail: String| EventError::Malformed { kind, detail };
        let malformed = |e: serde_json::Error| bad(e.to_string());
        Ok(match kind {
            EventKind::RestToken => {
                let event: ApiGatewayCustomAuthorizerRequest =
                    serde_json::from_value(json).map_err(malformed)?;
                let credential = match event.authorization_token {
                    None => Err(CredentialError::Missing),
                    Some(value) => bearer_token(&value, false),
                };
                let arn = event.method_arn.as_deref().map(MethodArn::parse);
                let request = arn.map(|arn| arn.request_info()).unwrap_or_default();
                AuthorizerEvent {
                    kind,
                    credential,
                    resource_arn: event.method_arn,
                    request,
                }
            }
            EventKind::RestRequest => {
                // Query parameters come from the raw JSON: `QueryMap::iter` in
                // aws_lambda_events panics on an empty multi-value list. The
                // WebSocket route key is not in aws_lambda_events' REST context.
                let query = query_pairs(&json);
                let route_key = json
                    .pointer("/requestContext/routeKey")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let headers =
                    take_headers(&mut json, &["headers", "multiValueHeaders"]).map_err(bad)?;
                let event: ApiGatewayCustomAuthorizerRequestTypeRequest =
                    serde_json::from_value(json).map_err(malformed)?;
                let arn = MethodArn::of(event.method_arn.as_deref());
                let context = event.request_context;
                // WebSocket `$connect` events carry no account id in their context.
                let request = RequestInfo {
                    request_id: context.request_id.clone(),
                    method: event.http_method.map(|m| m.to_string()),
                    path: event.path,
                    route: event.resource.or(route_key),
                    stage: context.stage.or(owned(arn.stage)),
                    api_id: context.apiid.or(owned(arn.api_id)),
                    account_id: context.account_id.or(owned(arn.account_id)),
                    region: owned(arn.region),
                    client_cert: certificate_fingerprint(
                        context
                            .identity
                            .as_ref()
                            .and_then(|identity| identity.client_cert.as_ref())
                            .and_then(|cert| cert.client_cert_pem.as_deref()),
                    ),
                    source_ip: context.identity.and_then(|identity| identity.source_ip),
                    path_params: sorted(event.path_parameters),
                    query,
                    headers,
                };
                AuthorizerEvent {
                    kind,
                    credential: authorization_header(&request.headers),
                    resource_arn: event.method_arn,
                    request,
                }
            }
            EventKind::HttpV2 => {
                // Repeated query names are joined with commas in
                // `queryStringParameters`; `rawQueryString` keeps every value.
                let query = match json.get("rawQueryString").and_then(Value::as_str) {
                    Some(raw) => raw_query_pairs(raw),
                    None => query_pairs(&json),
                };
                let headers = take_headers(&mut json, &["headers"]).map_err(bad)?;
                let event: ApiGatewayV2CustomAuthorizerV2Request =
                    serde_json::from_value(json).map_err(malformed)?;
                let arn = MethodArn::of(event.route_arn.as_deref());
                let context = event.request_context;
                let request = RequestInfo {
                    request_id: context.request_id.clone(),
                    method: Some(context.http.method.to_string()),
                    path: event.raw_path.or(context.http.path),
                    route: event.route_key.or(context.route_key),
                    stage: context.stage.or(owned(arn.stage)),
                    api_id: context.apiid.or(owned(arn.api_id)),
                    account_id: context.account_id.or(owned(arn.account_id)),
                    region: owned(arn.region),
                    client_cert: certificate_fingerprint(
                        context
                            .authentication
                            .as_ref()
                            .and_then(|authentication| authentication.client_cert.as_ref())
                            .and_then(|cert| cert.client_cert_pem.as_deref()),
                    ),
                    source_ip: context.http.source_ip,
                    path_params: sorted(event.path_parameters),
                    query,
                    headers,
                };
                AuthorizerEvent {
                    kind,
                    credential: authorization_header(&request.headers),
                    resource_arn: event.route_arn,
                    request,
                }
            }
        })
    }
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

/// Refuses an event with an object or array over [`MAX_COLLECTION_ENTRIES`],
/// or more than [`MAX_EVENT_ENTRIES`] entries in all, before any of it is parsed
/// into maps. Iterative, so the nesting depth does not matter.
fn check_entry_counts(json: &Value) -> Result<(), EventError> {
    const WHOLE: &str = "the event";
    // Each value with the top-level field it sits in (none for the event itself), for the message.
    let mut pending: Vec<(Option<&str>, &Value)> = vec![(None, json)];
    let mut total = 0usize;
    while let Some((field, value)) = pending.pop() {
        let entries = match value {
            Value::Object(members) => members.len(),
            Value::Array(items) => items.len(),
            _ => continue,
        };
        total += entries;
        let too_many = |location: &str, entries, limit| EventError::TooManyEntries {
            location: location.to_owned(),
            entries,
            limit,
        };
        if entries > MAX_COLLECTION_ENTRIES {
            let location = field.unwrap_or(WHOLE);
            return Err(too_many(location, entries, MAX_COLLECTION_ENTRIES));
        }
        if total > MAX_EVENT_ENTRIES {
            return Err(too_many(WHOLE, total, MAX_EVENT_ENTRIES));
        }
        match value {
            Value::Object(members) => pending.extend(
                members
                    .iter()
                    .map(|(name, value)| (field.or(Some(name.as_str())), value)),
            ),
            Value::Array(items) => pending.extend(items.iter().map(|value| (field, value))),
            _ => {}
        }
    }
    Ok(())
}

/// The fingerprint of the client certificate API Gateway passed, if any.
fn certificate_fingerprint(pem: Option<&str>) -> Option<String> {
    pem.and_then(holder::fingerprint)
}

fn detect_kind(json: &Value) -> Option<EventKind> {
    let field = |name| json.get(name).and_then(Value::as_str);
    match (field("version"), field("type")) {
        (Some("2.0"), _) => Some(EventKind::HttpV2),
        (_, Some("TOKEN")) => Some(EventKind::RestToken),
        (_, Some("REQUEST")) => Some(EventKind::RestRequest),
        _ => None,
    }
}

/// Takes the token from `Bearer <token>`; the scheme is case-insensitive, and
/// optional unless `scheme_required` (it is not for a TOKEN event's `authorizationToken`).
fn bearer_token(value: &str, scheme_required: bool) -> Result<String, CredentialError> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim_start(),
        Some(_) => return Err(CredentialError::NotBearer),
        None if scheme_required => return Err(CredentialError::NotBearer),
        None => value,
    };
    if token.is_empty() {
        return Err(CredentialError::Missing);
    }
    Ok(token.to_owned())
}

/// The one `Authorization` value of the headers (a value in both maps counts once).
fn authorization_header(headers: &[(String, String)]) -> Result<String, CredentialError> {
    let mut values = headers
        .iter()
        .filter(|(name, _)| name == "authorization")
        .map(|(_, value)| value);
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(CredentialError::Missing),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(CredentialError::Ambiguous),
    };
    // As `http`'s `HeaderValue::to_str`: visible ASCII and tabs only.
    if !every_byte(value.as_bytes(), |b| {
        b == b'\t' || (b' '..=b'~').contains(&b)
    }) {
        return Err(CredentialError::NotBearer);
    }
    bearer_token(value, true)
}

/// Takes the header maps `fields` out of the raw JSON (so the typed parse
/// that follows builds no `HeaderMap` of them): every (lowercase name,
/// value), sorted, each pair once. A field may be absent or null; a value is
/// a string, or (in `multiValueHeaders`) an array of strings. Names and
/// values follow `http`'s rules, which `aws_lambda_events` applies: an
/// invalid one makes the event malformed.
fn take_headers(json: &mut Value, fields: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for field in fields {
        let members = match json.as_object_mut().and_then(|event| event.remove(*field)) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(members)) => members,
            Some(_) => return Err(format!("{field} is not an object")),
        };
        for (mut name, value) in members {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(format!("{field}: invalid header name {name:?}"));
            }
            name.make_ascii_lowercase();
            let values = match value {
                Value::Array(values) => values,
                value => vec![value],
            };
            for value in values {
                let Value::String(value) = value else {
                    return Err(format!("{field}: {name} has a value that is not a string"));
                };
                if !every_byte(value.as_bytes(), is_header_value_byte) {
                    return Err(format!("{field}: {name} has an invalid value"));
                }
                pairs.push((name.clone(), value));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    Ok(pairs)
}

/// A byte of an HTTP header name (RFC 9110 `tchar`), as `http::HeaderName` accepts it.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A byte of an HTTP header value, as `http::HeaderValue` accepts it: no
/// control character but the tab.
fn is_header_value_byte(byte: u8) -> bool {
    byte == b'\t' || (byte >= 0x20 && byte != 0x7f)
}

/// Whether `allowed` holds for every byte of `value`. It reads every byte,
/// with no early exit, so the compiler checks many at once: a header value
/// can be a whole token.
fn every_byte(value: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    value.iter().fold(true, |all, &byte| all & allowed(byte))
}

/// Every (name, value) of `queryStringParameters` and
/// `multiValueQueryStringParameters` in the raw JSON, sorted, each pair once.
fn query_pairs(json: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for field in ["multiValueQueryStringParameters", "queryStringParameters"] {
        let members = json.get(field).and_then(Value::as_object);
        for (name, values) in members.into_iter().flatten() {
            let values = match values {
                Value::Array(values) => values.as_slice(),
                value => std::slice::from_ref(value),
            };
            for value in values.iter().filter_map(Value::as_str) {
                pairs.push((name.clone(), value.to_owned()));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Every (name, value) of a raw query string (`a=1&a=2&b`), decoded as a form
/// (`+` is a space, `%XX` a byte; a `%` without two hex digits stays as it is,
/// bytes that are not UTF-8 become U+FFFD), sorted, each pair once.
fn raw_query_pairs(raw: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = raw
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let escaped = match (byte, bytes.get(at + 1..at + 3)) {
            (b'%', Some(&[high, low])) => hex(high).zip(hex(low)),
            _ => None,
        };
        match (byte, escaped) {
            (_, Some((high, low))) => {
                decoded.push(high << 4 | low);
                at += 3;
                continue;
            }
            (b'+', None) => decoded.push(b' '),
            (byte, None) => decoded.push(byte),
        }
        at += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn sorted(map: HashMap<String, String>) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = map.into_iter().collect();
    pairs.sort();
    pairs
}

/// The parts of `arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH`.
#[derive(Debug, Default, PartialEq, Eq)]
struct MethodArn<'a> {
    region: Option<&'a str>,
    account_id: Option<&'a str>,
    api_id: Option<&'a str>,
    stage: Option<&'a str>,
    method: Option<&'a str>,
    path: Option<&'a str>,
}

impl<'a> MethodArn<'a> {
    /// The parts of `arn`, none without one.
    fn of(arn: Option<&'a str>) -> MethodArn<'a> {
        arn.map(MethodArn::parse).unwrap_or_default()
    }

    fn parse(arn: &'a str) -> MethodArn<'a> {
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some("execute-api")) =
            (parts.next(), parts.next(), parts.next())
        else {
            return MethodArn::default();
        };
        let region = parts.next().and_then(non_empty);
        let account_id = parts.next().and_then(non_empty);
        let mut resource = parts.next().unwrap_or_default().splitn(4, '/');
        let api_id = resource.next().and_then(non_empty);
        let stage = resource.next().and_then(non_empty);
        let method = resource.next().and_then(non_empty);
        // The path keeps its leading slash; `GET/` is the root path.
        let path = method.map(|_| match resource.next() {
            Some(rest) => &arn[arn.len() - rest.len() - 1..],
            None => "/",
        });
        MethodArn {
            region,
            account_id,
            api_id,
            stage,
            method,
            path,
        }
    }

    fn request_info(&self) -> RequestInfo {
        RequestInfo {
            method: owned(self.method),
            path: owned(self.path),
            stage: owned(self.stage),
            api_id: owned(self.api_id),
            account_id: owned(self.account_id),
            region: owned(self.region),
            ..RequestInfo::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn method_arn_parts() {
        let arn =
            MethodArn::parse("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/pets/7");
        assert_eq!(
            arn,
            MethodArn {
                region: Some("eu-west-1"),
                account_id: Some("123456789012"),
                api_id: Some("abc123"),
                stage: Some("prod"),
                method: Some("GET"),
                path: Some("/pets/7"),
            }
        );
        assert_eq!(
            MethodArn::parse("arn:aws:execute-api:r:a:api/s/GET/").path,
            Some("/")
        );
        assert_eq!(
            MethodArn::parse("arn:aws:execute-api:r:a:api/s/GET").path,
            Some("/")
        );
        assert_eq!(MethodArn::parse("not an arn"), MethodArn::default());
        assert_eq!(
            MethodArn::parse("arn:aws:execute-api:r:a:api/s").method,
            None
        );
    }

    #[test]
    fn bearer_credentials() {
        assert_eq!(bearer_token("Bearer abc", true), Ok("abc".into()));
        assert_eq!(bearer_token("bearer   abc", true), Ok("abc".into()));
        assert_eq!(bearer_token("abc", false), Ok("abc".into()));
        assert_eq!(bearer_token("abc", true), Err(CredentialError::NotBearer));
        assert_eq!(
            bearer_token("Basic abc", false),
            Err(CredentialError::NotBearer)
        );
        assert_eq!(
            bearer_token("Bearer ", true),
            Err(CredentialError::NotBearer)
        );
        assert_eq!(bearer_token("  ", false), Err(CredentialError::Missing));
    }

    #[test]
    fn kinds_are_detected_from_the_json() {
        let token = json!({"type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": "arn:aws:execute-api:r:1:api/s/GET/x"});
        let event = AuthorizerEvent::from_json(token).expect("token event");
        assert_eq!(event.kind, EventKind::RestToken);
        assert_eq!(event.credential, Ok("t".into()));
        assert_eq!(event.request.path.as_deref(), Some("/x"));
        assert_eq!(
            AuthorizerEvent::from_json(json!({"foo": 1})).err(),
            Some(EventError::UnknownKind)
        );
        assert_eq!(
            AuthorizerEvent::from_json(json!(null)).err(),
            Some(EventError::UnknownKind)
        );
    }

    #[test]
    fn empty_and_null_fields_do_not_break_request_events() {
        let event = json!({
            "type": "REQUEST", "methodArn": null, "headers": null, "path": null,
            "queryStringParameters": null, "multiValueQueryStringParameters": {"a": [], "b": ["1", "2"]},
            "pathParameters": null, "requestContext": {"identity": null}
        });
        let event = AuthorizerEvent::from_json(event).expect("request event");
        assert_eq!(event.credential, Err(CredentialError::Missing));
        assert_eq!(
            event.request.query,
            [
                ("b".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
    }

    /// A WebSocket `$connect` REQUEST event, in the shape AWS documents.
    fn websocket_connect() -> Value {
        json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:ws0api/live/$connect",
            "headers": {"Authorization": "Bearer t", "Connection": "upgrade", "Host": "ws0api.execute-api.eu-west-1.amazonaws.com",
                        "Sec-WebSocket-Version": "13", "Upgrade": "websocket"},
            "multiValueHeaders": {"Authorization": ["Bearer t"], "Connection": ["upgrade"], "Host": ["ws0api.execute-api.eu-west-1.amazonaws.com"],
                                  "Sec-WebSocket-Version": ["13"], "Upgrade": ["websocket"]},
            "queryStringParameters": {"room": "blue"},
            "multiValueQueryStringParameters": {"room": ["blue"]},
            "stageVariables": {},
            "requestContext": {
                "routeKey": "$connect", "eventType": "CONNECT", "extendedRequestId": "Xyz=", "requestTime": "01/Dec/2026:10:00:00 +0000",
                "messageDirection": "IN", "stage": "live", "connectedAt": 1_796_032_800_000_i64, "requestTimeEpoch": 1_796_032_800_001_i64,
                "identity": {"sourceIp": "192.0.2.10"}, "requestId": "Xyz=", "domainName": "ws0api.execute-api.eu-west-1.amazonaws.com",
                "connectionId": "Abc=", "apiId": "ws0api"
            }
        })
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn websocket_connect_takes_account_and_region_from_the_method_arn() {
        let event = AuthorizerEvent::from_json(websocket_connect()).expect("websocket event");
        assert_eq!(event.kind, EventKind::RestRequest);
        assert_eq!(event.credential, Ok("t".into()));
        let request = event.request;
        assert_eq!(request.account_id.as_deref(), Some("123456789012"));
        assert_eq!(request.region.as_deref(), Some("eu-west-1"));
        assert_eq!(request.stage.as_deref(), Some("live"));
        assert_eq!(request.api_id.as_deref(), Some("ws0api"));
        assert_eq!(request.route.as_deref(), Some("$connect"));
        assert_eq!(request.source_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!((request.method, request.path), (None, None));
        assert_eq!(request.query, pairs(&[("room", "blue")]));
        // Both maps name the same headers: each appears once.
        assert_eq!(request.headers.len(), 5, "{:?}", request.headers);
    }

    #[test]
    fn headers_are_the_union_of_both_maps() {
        let event = json!({
            "type": "REQUEST", "requestContext": {},
            "headers": {"Authorization": "Bearer t", "X-Only-Single": "s", "X-Both": "2"},
            "multiValueHeaders": {"X-Both": ["1", "2"], "X-Only-Multi": ["m"]}
        });
        let event = AuthorizerEvent::from_json(event).expect("request event");
        assert_eq!(event.credential, Ok("t".into()));
        assert_eq!(
            event.request.headers,
            pairs(&[
                ("authorization", "Bearer t"),
                ("x-both", "1"),
                ("x-both", "2"),
                ("x-only-multi", "m"),
                ("x-only-single", "s"),
            ])
        );
        // The same credential in both maps is one credential; two different ones are not.
        let same = json!({"type": "REQUEST", "requestContext": {},
            "headers": {"authorization": "Bearer t"}, "multiValueHeaders": {"Authorization": ["Bearer t"]}});
        let same = AuthorizerEvent::from_json(same).expect("request event");
        assert_eq!(same.credential, Ok("t".into()));
        let differ = json!({"type": "REQUEST", "requestContext": {},
            "headers": {"Authorization": "Bearer t"}, "multiValueHeaders": {"Authorization": ["Bearer u"]}});
        let differ = AuthorizerEvent::from_json(differ).expect("request event");
        assert_eq!(differ.credential, Err(CredentialError::Ambiguous));
    }

    #[test]
    fn headers_follow_https_rules_for_names_and_values() {
        let rest = |headers: Value| {
            AuthorizerEvent::from_json(
                json!({"type": "REQUEST", "requestContext": {}, "headers": headers}),
            )
        };
        let http = |headers: Value| {
            AuthorizerEvent::from_json(json!({"version": "2.0", "type": "REQUEST",
                "requestContext": {"http": {"method": "GET"}}, "headers": headers}))
        };
        for bad in [
            json!({"bad name": "x"}),
            json!({"x-control": "a\u{1}b"}),
            json!({"x-number": 1}),
            json!({"x-null-in-list": [null]}),
            json!(["not", "a", "map"]),
        ] {
            for event in [rest(bad.clone()), http(bad.clone())] {
                assert!(
                    matches!(event, Err(EventError::Malformed { .. })),
                    "{bad}: {event:?}"
                );
            }
        }
        let absent = rest(Value::Null).expect("null headers are none");
        assert_eq!(absent.credential, Err(CredentialError::Missing));
        // Tabs and non-ASCII text are valid header values, but not in a credential.
        let text = http(json!({"x-note": "caf\u{e9}\tau lait", "authorization": "Bearer t\u{e9}"}))
            .expect("valid values");
        assert_eq!(text.credential, Err(CredentialError::NotBearer));
        assert_eq!(
            text.request.headers[1],
            ("x-note".into(), "caf\u{e9}\tau lait".into())
        );
    }

    #[test]
    fn header_bytes_are_judged_as_http_judges_them() {
        use aws_lambda_events::http::{HeaderName, HeaderValue};
        for byte in 0..=u8::MAX {
            let name = [b'x', byte, b'y'];
            assert_eq!(
                is_token_byte(byte),
                HeaderName::from_bytes(&name).is_ok(),
                "name byte {byte:#04x}"
            );
            let value = [b'a', byte, b'c'];
            assert_eq!(
                is_header_value_byte(byte),
                HeaderValue::from_bytes(&value).is_ok(),
                "value byte {byte:#04x}"
            );
        }
    }

    #[test]
    fn rest_query_is_the_union_of_both_maps() {
        let event = json!({"type": "REQUEST", "requestContext": {},
            "queryStringParameters": {"a": "2", "single": "s"},
            "multiValueQueryStringParameters": {"a": ["1", "2"]}});
        let event = AuthorizerEvent::from_json(event).expect("request event");
        assert_eq!(
            event.request.query,
            pairs(&[("a", "1"), ("a", "2"), ("single", "s")])
        );
    }

    #[test]
    fn http_v2_query_comes_from_the_raw_query_string() {
        let event = json!({"version": "2.0", "type": "REQUEST",
            "rawQueryString": "tag=a&tag=b&tag=a&q=caf%C3%A9+au+lait&flag&&=x&odd=100%&bin=%ff&sum=1%2B1",
            "queryStringParameters": {"tag": "a,b,a"},
            "requestContext": {"http": {"method": "GET"}}});
        let event = AuthorizerEvent::from_json(event).expect("2.0 event");
        assert_eq!(
            event.request.query,
            pairs(&[
                ("", "x"),
                ("bin", "\u{fffd}"),
                ("flag", ""),
                ("odd", "100%"),
                ("q", "caf\u{e9} au lait"),
                ("sum", "1+1"),
                ("tag", "a"),
                ("tag", "b"),
            ])
        );
        // Without a raw query string, the parameters are what there is.
        let event = json!({"version": "2.0", "type": "REQUEST",
            "queryStringParameters": {"tag": "a,b"}, "requestContext": {"http": {"method": "GET"}}});
        let event = AuthorizerEvent::from_json(event).expect("2.0 event");
        assert_eq!(event.request.query, pairs(&[("tag", "a,b")]));
    }

    #[test]
    fn entry_caps_refuse_before_any_map_is_built() {
        let many = |n: usize| -> serde_json::Map<String, Value> {
            (0..n).map(|i| (format!("x-h{i}"), json!("v"))).collect()
        };
        let cap = MAX_COLLECTION_ENTRIES;
        // At the cap, the event parses (and aws_lambda_events builds its maps).
        let at_cap = json!({"type": "REQUEST", "requestContext": {}, "headers": many(cap)});
        let event = AuthorizerEvent::from_json(at_cap).expect("at the cap");
        assert_eq!(event.request.headers.len(), cap);
        // 25,000 headers made `HeaderMap::with_capacity` panic: now a refusal.
        for kind in [json!({"type": "REQUEST"}), json!({"version": "2.0"})] {
            let mut event = kind;
            event["headers"] = Value::Object(many(25_000));
            assert_eq!(
                AuthorizerEvent::from_json(event).err(),
                Some(EventError::TooManyEntries {
                    location: "headers".into(),
                    entries: 25_000,
                    limit: cap
                })
            );
        }
        // One name with too many values, and many small lists that add up.
        let values = json!({"type": "REQUEST", "multiValueHeaders": {"x": vec!["v"; cap + 1]}});
        assert!(matches!(
            AuthorizerEvent::from_json(values),
            Err(EventError::TooManyEntries { location, .. }) if location == "multiValueHeaders"
        ));
        let lists: serde_json::Map<String, Value> = (0..cap)
            .map(|i| (format!("x-h{i}"), json!(["1", "2", "3", "4"])))
            .collect();
        let spread = json!({"type": "REQUEST", "multiValueHeaders": lists});
        assert!(matches!(
            AuthorizerEvent::from_json(spread),
            Err(EventError::TooManyEntries { location, entries, limit })
                if location == "the event" && entries > limit && limit == MAX_EVENT_ENTRIES
        ));
    }

    #[test]
    fn two_authorization_headers_are_ambiguous() {
        let event = json!({
            "type": "REQUEST", "requestContext": {},
            "multiValueHeaders": {"Authorization": ["Bearer a", "Bearer b"]}
        });
        let event = AuthorizerEvent::from_json(event).expect("request event");
        assert_eq!(event.credential, Err(CredentialError::Ambiguous));
    }
}
