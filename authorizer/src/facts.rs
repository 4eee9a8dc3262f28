//! The facts the authorizer adds about each request: the policy's contract.
//!
//! Only the facts whose predicate some rule, check or policy body mentions,
//! in the operator's policy or in any block of the token, are added: a fact
//! nobody queries cannot change a verdict (no body can match it, whatever the
//! `trusting` scopes), but every fact added costs Datalog work in every
//! evaluation. Admission counts exactly the facts added.

use std::time::SystemTime;

use biscuit_auth::builder::{date, int, string, Fact, Predicate, Term};

use crate::admission::Program;
use crate::blocks::TokenBlocks;
use crate::event::RequestInfo;
use crate::verify::VerifiedToken;

/// One predicate of the request facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPredicate {
    /// `domain($d)`: the verified domain.
    Domain,
    /// `root_key_id($id)`.
    RootKeyId,
    /// `time($t)`.
    Time,
    /// `method($m)`.
    Method,
    /// `path($p)`.
    Path,
    /// `route($r)`.
    Route,
    /// `path_param($name, $value)`.
    PathParam,
    /// `query($name, $value)`.
    Query,
    /// `source_ip($ip)`.
    SourceIp,
    /// `stage($s)`.
    Stage,
    /// `api_id($id)`.
    ApiId,
    /// `account_id($a)`.
    AccountId,
    /// `region($r)`.
    Region,
    /// `header($name, $value)`.
    Header,
    /// `client_cert($sha256)`.
    ClientCert,
}

/// The request predicates' names, in [`RequestPredicate`] order.
pub const REQUEST_PREDICATES: [&str; 15] = [
    "domain",
    "root_key_id",
    "time",
    "method",
    "path",
    "route",
    "path_param",
    "query",
    "source_ip",
    "stage",
    "api_id",
    "account_id",
    "region",
    "header",
    "client_cert",
];

impl RequestPredicate {
    /// Every request predicate, in declaration order.
    pub const ALL: [RequestPredicate; 15] = {
        use RequestPredicate as P;
        [
            P::Domain,
            P::RootKeyId,
            P::Time,
            P::Method,
            P::Path,
            P::Route,
            P::PathParam,
            P::Query,
            P::SourceIp,
            P::Stage,
            P::ApiId,
            P::AccountId,
            P::Region,
            P::Header,
            P::ClientCert,
        ]
    };

    /// Its name.
    pub fn name(self) -> &'static str {
        REQUEST_PREDICATES[self as usize]
    }
}

/// A set of request predicates (one bit each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Predicates(u16);

impl Predicates {
    /// Every request predicate.
    pub const ALL: Predicates = Predicates((1 << REQUEST_PREDICATES.len()) - 1);

    /// Adds `name` if it is a request predicate.
    pub fn mention(&mut self, name: &str) {
        if let Some(index) = REQUEST_PREDICATES.iter().position(|p| *p == name) {
            self.0 |= 1 << index;
        }
    }

    /// Whether `predicate` is in the set.
    pub fn contains(self, predicate: RequestPredicate) -> bool {
        self.0 & (1 << predicate as u16) != 0
    }

    /// Both sets together.
    pub fn union(self, other: Predicates) -> Predicates {
        Predicates(self.0 | other.0)
    }

    /// The request predicates a program's rule, check and policy bodies mention
    /// (computed once for the operator's policy).
    pub fn of_program(program: &Program) -> Predicates {
        let mut used = Predicates::default();
        for name in &program.reads {
            used.mention(name);
        }
        used
    }

    /// The request predicates the rule and check bodies of a token's blocks
    /// mention, third-party blocks included.
    pub fn of_blocks(blocks: &TokenBlocks) -> Predicates {
        let mut used = Predicates::default();
        for view in blocks.iter() {
            let queries = view.block.checks.iter().flat_map(|check| &check.queries);
            for rule in view.block.rules.iter().chain(queries) {
                for predicate in &rule.body {
                    if let Some(name) = view.symbol(predicate.name) {
                        used.mention(name);
                    }
                }
            }
        }
        used
    }
}

/// The request facts for a verified token whose predicates are in `used`:
/// the verified domain, the root key id, the time, and what the event says
/// about the request. Headers are limited to `header_allow_list` (lowercase names).
pub fn request_facts(
    request: &RequestInfo,
    token: &VerifiedToken,
    now: SystemTime,
    header_allow_list: &[String],
    used: Predicates,
) -> Vec<Fact> {
    use RequestPredicate as P;
    let mut facts = Vec::new();
    let mut add = |predicate: P, terms: Vec<Term>| {
        // No parameter map: biscuit-auth skips substituting parameters when
        // it converts the fact (these terms hold none).
        facts.push(Fact {
            predicate: Predicate::new(predicate.name().to_owned(), terms),
            parameters: None,
        });
    };
    if used.contains(P::Domain) {
        add(P::Domain, vec![string(token.domain())]);
    }
    if used.contains(P::RootKeyId) {
        add(P::RootKeyId, vec![int(i64::from(token.key().key_id))]);
    }
    if used.contains(P::Time) {
        add(P::Time, vec![date(&now)]);
    }
    let single = [
        (P::Method, &request.method),
        (P::Path, &request.path),
        (P::Route, &request.route),
        (P::SourceIp, &request.source_ip),
        (P::Stage, &request.stage),
        (P::ApiId, &request.api_id),
        (P::AccountId, &request.account_id),
        (P::Region, &request.region),
        (P::ClientCert, &request.client_cert),
    ];
    for (predicate, value) in single {
        if let Some(value) = value.as_deref().filter(|_| used.contains(predicate)) {
            add(predicate, vec![string(value)]);
        }
    }
    let pairs = [
        (P::PathParam, &request.path_params),
        (P::Query, &request.query),
    ];
    for (predicate, pairs) in pairs {
        if used.contains(predicate) {
            for (key, value) in pairs {
                add(predicate, vec![string(key), string(value)]);
            }
        }
    }
    if used.contains(P::Header) {
        for (name, value) in &request.headers {
            if header_allow_list.iter().any(|allowed| allowed == name) {
                add(P::Header, vec![string(name), string(value)]);
            }
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

    #[test]
    fn names_follow_the_enum() {
        assert_eq!(RequestPredicate::Domain.name(), "domain");
        assert_eq!(RequestPredicate::ClientCert.name(), "client_cert");
        assert_eq!(RequestPredicate::Header.name(), "header");
        for (index, predicate) in RequestPredicate::ALL.into_iter().enumerate() {
            assert_eq!(predicate as usize, index);
        }
        let mut all = Predicates::default();
        for name in REQUEST_PREDICATES {
            all.mention(name);
        }
        assert_eq!(all, Predicates::ALL);
    }

    #[test]
    fn a_policy_mentions_the_predicates_of_its_bodies_only() {
        let policy = crate::policy::Policy::parse(
            r#"route("x");
               action("read") <- method($m), ["GET"].contains($m);
               check if time($t), $t > 2020-01-01T00:00:00Z;
               allow if domain($d), action("read");
               deny if query("debug", $v);"#,
        )
        .expect("policy");
        let used = policy.request_predicates();
        for (predicate, expected) in [
            (RequestPredicate::Method, true),
            (RequestPredicate::Time, true),
            (RequestPredicate::Domain, true),
            (RequestPredicate::Query, true),
            // Asserted as a fact, but no body reads it.
            (RequestPredicate::Route, false),
            (RequestPredicate::Path, false),
            (RequestPredicate::Header, false),
        ] {
            assert_eq!(used.contains(predicate), expected, "{predicate:?}");
        }
    }

    #[test]
    fn a_token_mentions_the_predicates_of_every_block_rule_and_check() {
        let token = Biscuit::builder()
            .code(r#"right("read"); ok($p) <- path($p);"#)
            .expect("authority")
            .build(&KeyPair::new())
            .expect("build")
            .append(
                BlockBuilder::new()
                    .code(r#"check if source_ip($ip) or header("x", $v);"#)
                    .expect("block"),
            )
            .expect("append");
        let blocks = TokenBlocks::decode(&token.to_vec().expect("bytes")).expect("blocks");
        let used = Predicates::of_blocks(&blocks);
        for (predicate, expected) in [
            (RequestPredicate::Path, true),
            (RequestPredicate::SourceIp, true),
            (RequestPredicate::Header, true),
            (RequestPredicate::Method, false),
            (RequestPredicate::Domain, false),
        ] {
            assert_eq!(used.contains(predicate), expected, "{predicate:?}");
        }
    }
}
