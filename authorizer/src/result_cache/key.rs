//! The identity sources API Gateway keys its authorizer result cache by, as
//! the operator lists them in `RESULT_CACHE_KEY`, in API Gateway's own syntax:
//! `method.request.…` and `context.…` for REST (and `route.request.…` for
//! WebSocket) authorizers, `$request.…` and `$context.…` for HTTP API ones.

use std::str::FromStr;

/// Which kind of API an identity source belongs to (its syntax says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// REST API `REQUEST` authorizers, and WebSocket `$connect`.
    Rest,
    /// HTTP API authorizers.
    Http,
}

/// What one identity source puts in the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Every value of a header (REST `multivalueheader`, HTTP API
    /// `$request.header`, which joins repeated values with commas); lowercase name.
    Header(String),
    /// One value of a header (REST `method.request.header`, WebSocket
    /// `route.request.header`): enough for the credential, which must be a
    /// single value, but not for `header` facts, one per value.
    SingleHeader(String),
    /// Every value of a query parameter (REST `multivaluequerystring`, HTTP API
    /// `$request.querystring`, which joins repeated values with commas).
    Query(String),
    /// One value of a query parameter (REST `querystring`, WebSocket
    /// `route.request.querystring`): not enough for `query` facts.
    SingleQuery(String),
    /// The HTTP method.
    Method,
    /// The request path.
    Path,
    /// The route key or resource template.
    Route,
    /// The caller's address.
    SourceIp,
    /// The mutual TLS client certificate.
    ClientCert,
    /// The stage.
    Stage,
    /// Another context variable or a stage variable: it narrows the key but
    /// holds no request fact.
    Other,
}

impl Source {
    /// Whether this source holds the credential (the `Authorization` header).
    pub fn holds_credential(&self) -> bool {
        matches!(self, Source::Header(name) | Source::SingleHeader(name) if name == "authorization")
    }
}

/// One identity source, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySource {
    /// The kind of API whose authorizer it keys.
    pub api: Api,
    /// What it puts in the key.
    pub source: Source,
}

/// Why an identity source was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an API Gateway identity source (method.request.…, route.request.…, context.…, stageVariables.…, $request.…, $context.…, $stageVariables.…)")]
pub struct UnknownSource(pub String);

impl FromStr for IdentitySource {
    type Err = UnknownSource;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let named = |prefix: &str, make: fn(String) -> Source| {
            text.strip_prefix(prefix)
                .filter(|name| !name.is_empty())
                .map(|name| make(name.to_ascii_lowercase()))
        };
        let query = |prefix: &str, make: fn(String) -> Source| {
            text.strip_prefix(prefix)
                .filter(|name| !name.is_empty())
                .map(|name| make(name.to_owned()))
        };
        let rest = named("method.request.multivalueheader.", Source::Header)
            .or_else(|| named("method.request.header.", Source::SingleHeader))
            .or_else(|| named("route.request.header.", Source::SingleHeader))
            .or_else(|| query("method.request.multivaluequerystring.", Source::Query))
            .or_else(|| query("method.request.querystring.", Source::SingleQuery))
            .or_else(|| query("route.request.querystring.", Source::SingleQuery))
            .or_else(|| {
                Some(match text.strip_prefix("context.")? {
                    "httpMethod" => Source::Method,
                    "path" => Source::Path,
                    "resourcePath" | "routeKey" => Source::Route,
                    "identity.sourceIp" => Source::SourceIp,
                    "identity.clientCert.clientCertPem" => Source::ClientCert,
                    "stage" => Source::Stage,
                    "" => return None,
                    _ => Source::Other,
                })
            })
            .or_else(|| named("stageVariables.", |_| Source::Other));
        if let Some(source) = rest {
            return Ok(IdentitySource {
                api: Api::Rest,
                source,
            });
        }
        let http = named("$request.header.", Source::Header)
            .or_else(|| query("$request.querystring.", Source::Query))
            .or_else(|| {
                Some(match text.strip_prefix("$context.")? {
                    "http.method" | "httpMethod" => Source::Method,
                    "http.path" | "path" => Source::Path,
                    "routeKey" => Source::Route,
                    "identity.sourceIp" | "http.sourceIp" => Source::SourceIp,
                    "identity.clientCert.clientCertPem" => Source::ClientCert,
                    "stage" => Source::Stage,
                    "" => return None,
                    _ => Source::Other,
                })
            })
            .or_else(|| named("$stageVariables.", |_| Source::Other));
        match http {
            Some(source) => Ok(IdentitySource {
                api: Api::Http,
                source,
            }),
            None => Err(UnknownSource(text.to_owned())),
        }
    }
}

/// The cache key of each kind of API: the identity sources of its authorizer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheKey {
    rest: Vec<Source>,
    http: Vec<Source>,
}

impl CacheKey {
    /// The key made of these identity sources (both APIs' in one list).
    pub fn new(sources: impl IntoIterator<Item = IdentitySource>) -> CacheKey {
        let mut key = CacheKey::default();
        for IdentitySource { api, source } in sources {
            match api {
                Api::Rest => key.rest.push(source),
                Api::Http => key.http.push(source),
            }
        }
        key
    }

    /// The sources of one kind of API's authorizer.
    pub fn sources(&self, api: Api) -> &[Source] {
        match api {
            Api::Rest => &self.rest,
            Api::Http => &self.http,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Api, Source) {
        let parsed: IdentitySource = text.parse().expect(text);
        (parsed.api, parsed.source)
    }

    #[test]
    fn api_gateway_syntax_of_both_apis() {
        let header = |n: &str| Source::Header(n.into());
        for (text, api, source) in [
            (
                "method.request.header.Authorization",
                Api::Rest,
                Source::SingleHeader("authorization".into()),
            ),
            (
                "method.request.multivalueheader.X-Client",
                Api::Rest,
                header("x-client"),
            ),
            (
                "route.request.header.Authorization",
                Api::Rest,
                Source::SingleHeader("authorization".into()),
            ),
            (
                "method.request.querystring.tenant",
                Api::Rest,
                Source::SingleQuery("tenant".into()),
            ),
            (
                "method.request.multivaluequerystring.Tenant",
                Api::Rest,
                Source::Query("Tenant".into()),
            ),
            ("context.httpMethod", Api::Rest, Source::Method),
            ("context.path", Api::Rest, Source::Path),
            ("context.resourcePath", Api::Rest, Source::Route),
            ("context.identity.sourceIp", Api::Rest, Source::SourceIp),
            (
                "context.identity.clientCert.clientCertPem",
                Api::Rest,
                Source::ClientCert,
            ),
            ("context.requestTimeEpoch", Api::Rest, Source::Other),
            ("stageVariables.v", Api::Rest, Source::Other),
            (
                "$request.header.Authorization",
                Api::Http,
                header("authorization"),
            ),
            (
                "$request.querystring.tenant",
                Api::Http,
                Source::Query("tenant".into()),
            ),
            (" $context.http.method", Api::Http, Source::Method),
            ("$context.http.path", Api::Http, Source::Path),
            ("$context.routeKey", Api::Http, Source::Route),
            ("$context.identity.sourceIp", Api::Http, Source::SourceIp),
            ("$context.stage", Api::Http, Source::Stage),
        ] {
            assert_eq!(parse(text), (api, source), "{text}");
        }
        for bad in [
            "Authorization",
            "header.x",
            "context.",
            "$request.header.",
            "sourceIp",
        ] {
            assert!(bad.parse::<IdentitySource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_credential_is_held_by_the_authorization_header_only() {
        assert!(Source::SingleHeader("authorization".into()).holds_credential());
        assert!(Source::Header("authorization".into()).holds_credential());
        assert!(!Source::Header("x-authorization".into()).holds_credential());
        assert!(!Source::Method.holds_credential());
    }
}
