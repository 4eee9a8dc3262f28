//! What API Gateway is told, in the format each event kind expects.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::{Map, Value};

use crate::decision::{Decision, Outcome};
use crate::event::EventKind;

/// How HTTP API (payload 2.0) answers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HttpApiResponseFormat {
    /// `{"isAuthorized": bool, "context": {...}}` (SAM `EnableSimpleResponses: true`).
    #[default]
    Simple,
    /// An IAM policy document, as for REST APIs.
    Iam,
}

/// The function's answer: a response document, or the `Unauthorized` error.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Return this JSON.
    Respond(Value),
    /// Fail the invocation with the error `Unauthorized` (REST: 401).
    Unauthorized,
}

/// Writes the answer for a decision about an event of `kind`, whose policy
/// resource is `resource_arn`. HTTP API simple responses cannot express 401,
/// so every refusal there is `isAuthorized: false` (403).
pub fn answer(
    decision: &Decision,
    kind: Option<EventKind>,
    resource_arn: Option<&str>,
    http_format: HttpApiResponseFormat,
) -> Answer {
    let outcome = decision.outcome();
    let simple = kind == Some(EventKind::HttpV2) && http_format == HttpApiResponseFormat::Simple;
    if simple {
        let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
        response.is_authorized = outcome == Outcome::Allow;
        response.context = Value::Object(context(decision));
        return Answer::Respond(to_json(&response));
    }
    if outcome == Outcome::Unauthorized || kind.is_none() {
        return Answer::Unauthorized;
    }
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    // Without an ARN there is nothing to allow: a Deny on everything is the safe answer.
    let allow = outcome == Outcome::Allow && resource_arn.is_some();
    statement.effect = if allow {
        IamPolicyEffect::Allow
    } else {
        IamPolicyEffect::Deny
    };
    statement.resource = vec![resource_arn.unwrap_or("*").to_owned()];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::<Value>::default();
    response.principal_id = Some(principal(decision));
    response.policy_document = policy;
    response.context = Value::Object(context(decision));
    let mut json = to_json(&response);
    // aws_lambda_events writes `usageIdentifierKey: null`; API Gateway wants it absent.
    if let Value::Object(fields) = &mut json {
        fields.retain(|_, value| !value.is_null());
    }
    Answer::Respond(json)
}

fn principal(decision: &Decision) -> String {
    decision
        .principal()
        .unwrap_or_else(|| "anonymous".to_owned())
}

fn context(decision: &Decision) -> Map<String, Value> {
    let Ok(grant) = &decision.verdict else {
        return Map::new();
    };
    let mut context = grant.context.clone();
    if let Some(identity) = &decision.identity {
        context.insert("domain".into(), Value::from(identity.domain.as_str()));
        context.insert("root_key_id".into(), Value::from(identity.key_id));
    }
    context
}

fn to_json<T: serde::Serialize>(response: &T) -> Value {
    // Serializing these plain structs (strings, vectors, JSON values) cannot fail.
    serde_json::to_value(response).unwrap_or(Value::Null)
}
