//! API Gateway authorizer events: which kind arrived, the credential it
//! carries, and what it says about the request.
//!
//! Three kinds are told apart from the JSON itself: REST API `TOKEN`, REST API
//! `REQUEST` (also HTTP API payload 1.0, which has the same shape) and HTTP
//! API payload `2.0`. Parsing goes through the `aws_lambda_events` types.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::http::{header::AUTHORIZATION, HeaderMap};
use serde::Serialize;
use serde_json::Value;

use crate::holder;

/// The kind of authorizer event, which also decides the response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// REST API `TOKEN` authorizer.
    RestToken,
    /// REST API `REQUEST` authorizer (and HTTP API payload 1.0).
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
    /// Detects the event kind from the JSON and parses it.
    pub fn from_json(json: Value) -> Result<AuthorizerEvent, EventError> {
        let kind = detect_kind(&json).ok_or(EventError::UnknownKind)?;
        let malformed = |e: serde_json::Error| EventError::Malformed {
            kind,
            detail: e.to_string(),
        };
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
                // aws_lambda_events panics on an empty multi-value list.
                let query = query_pairs(&json);
                let event: ApiGatewayCustomAuthorizerRequestTypeRequest =
                    serde_json::from_value(json).map_err(malformed)?;
                let arn = event.method_arn.as_deref().map(MethodArn::parse);
                let context = event.request_context;
                // REST events repeat headers in both maps; only the multi-value one keeps repeats.
                let headers = if event.multi_value_headers.is_empty() {
                    &event.headers
                } else {
                    &event.multi_value_headers
                };
                let request = RequestInfo {
                    method: event.http_method.map(|m| m.to_string()),
                    path: event.path,
                    route: event.resource,
                    stage: context.stage,
                    api_id: context.apiid,
                    account_id: context.account_id,
                    region: arn.and_then(|arn| arn.region.map(str::to_owned)),
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
                    headers: header_pairs(headers),
                };
                AuthorizerEvent {
                    kind,
                    credential: authorization_header(headers),
                    resource_arn: event.method_arn,
                    request,
                }
            }
            EventKind::HttpV2 => {
                let event: ApiGatewayV2CustomAuthorizerV2Request =
                    serde_json::from_value(json).map_err(malformed)?;
                let arn = event.route_arn.as_deref().map(MethodArn::parse);
                let context = event.request_context;
                let request = RequestInfo {
                    method: Some(context.http.method.to_string()),
                    path: event.raw_path.or(context.http.path),
                    route: event.route_key.or(context.route_key),
                    stage: context.stage,
                    api_id: context.apiid,
                    account_id: context.account_id,
                    region: arn.and_then(|arn| arn.region.map(str::to_owned)),
                    client_cert: certificate_fingerprint(
                        context
                            .authentication
                            .as_ref()
                            .and_then(|authentication| authentication.client_cert.as_ref())
                            .and_then(|cert| cert.client_cert_pem.as_deref()),
                    ),
                    source_ip: context.http.source_ip,
                    path_params: sorted(event.path_parameters),
                    query: sorted(event.query_string_parameters),
                    headers: header_pairs(&event.headers),
                };
                AuthorizerEvent {
                    kind,
                    credential: authorization_header(&event.headers),
                    resource_arn: event.route_arn,
                    request,
                }
            }
        })
    }
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

fn authorization_header(headers: &HeaderMap) -> Result<String, CredentialError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(CredentialError::Missing)?;
    if values.next().is_some() {
        return Err(CredentialError::Ambiguous);
    }
    let value = value.to_str().map_err(|_| CredentialError::NotBearer)?;
    bearer_token(value, true)
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    pairs.sort();
    pairs
}

fn query_pairs(json: &Value) -> Vec<(String, String)> {
    let source = ["multiValueQueryStringParameters", "queryStringParameters"]
        .iter()
        .find_map(|name| json.get(name).and_then(Value::as_object));
    let mut pairs = Vec::new();
    for (name, values) in source.into_iter().flatten() {
        let values = match values {
            Value::Array(values) => values.as_slice(),
            value => std::slice::from_ref(value),
        };
        for value in values.iter().filter_map(Value::as_str) {
            pairs.push((name.clone(), value.to_owned()));
        }
    }
    pairs.sort();
    pairs
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
        let owned = |s: Option<&str>| s.map(str::to_owned);
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
