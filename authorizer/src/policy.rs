//! The operator's Datalog policy: parsed once at start, evaluated per request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use biscuit_auth::builder::{self, Check, Fact, Rule, Scope, Term};
use biscuit_auth::error::{FailedCheck, Logic, MatchedPolicy, RunLimit, Token as BiscuitError};
use biscuit_auth::{Authorizer, AuthorizerBuilder, AuthorizerLimits, PublicKey};
use serde_json::Value;

use crate::admission::{Program, TooComplex};
use crate::facts::Predicates;
use crate::result_cache::reads::CacheReads;
use crate::verify::VerifiedToken;

/// Default Datalog limits: the crate's facts and iterations, but 10 ms of time
/// (biscuit-auth's 1 ms default times valid tokens out under load).
pub fn default_limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_facts: 1000,
        max_iterations: 100,
        max_time: Duration::from_millis(10),
    }
}

/// Why a policy did not parse.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// biscuit-auth's parser refused it.
    #[error("policy does not parse: {0}")]
    Parse(#[from] BiscuitError),
    /// Its program cannot be read for admission.
    #[error("policy cannot be analysed: {0}")]
    Shape(TooComplex),
    /// Evaluated alone, without any token or request, it already reaches a
    /// Datalog limit: no token would have any budget left.
    #[error("policy alone reaches the Datalog limits ({0}); simplify it or raise MAX_FACTS, MAX_ITERATIONS or MAX_TIME_MS")]
    TooHeavy(RunLimit),
}

/// Which policy version is in force, when the policy is read from a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatus {
    /// The version in force (`None`: no version parses, every request is refused).
    pub version: Option<String>,
    /// True when the version in force is not the source's current one.
    pub fallback: bool,
}

/// Why a verified token was not allowed by the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// A `deny if` policy matched.
    #[error("deny policy #{index} matched")]
    DenyPolicy {
        /// Index of the matching policy.
        index: usize,
    },
    /// Checks failed (whether an allow policy matched or none did).
    #[error("{} check(s) failed, first: {}", checks.len(), first_check(checks))]
    FailedChecks {
        /// Every failed check: its block (or the authorizer), index and text.
        checks: Vec<FailedCheck>,
        /// Index of the `allow if` policy that matched despite them, if one did.
        allow_policy: Option<usize>,
    },
    /// No `allow if` / `deny if` matched.
    #[error("no policy matched")]
    NoMatchingPolicy,
    /// Evaluation went past the configured limits.
    #[error("Datalog limits reached: {0}")]
    LimitReached(String),
    /// Evaluation failed (an expression error, an invalid rule in a block).
    #[error("evaluation failed: {0}")]
    Evaluation(String),
}

impl PolicyRefusal {
    /// Whether the policy reached a verdict (a deny, a failed check, no
    /// matching policy) rather than stopping at a limit or an error.
    pub fn is_verdict(&self) -> bool {
        matches!(
            self,
            PolicyRefusal::DenyPolicy { .. }
                | PolicyRefusal::FailedChecks { .. }
                | PolicyRefusal::NoMatchingPolicy
        )
    }
}

/// How one evaluation runs.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    /// Datalog limits; each step of an evaluation gets the time left before
    /// `deadline` instead of their `max_time`.
    pub limits: AuthorizerLimits,
    /// When the decision's Datalog time runs out, shared by its evaluations
    /// (building the authorizer from the token's blocks included).
    pub deadline: Instant,
    /// Gather `holder_cert` facts from every block into [`Grant::holder_certs`].
    pub collect_holder_certs: bool,
    /// Minter keys whose third-party blocks the policy trusts, besides the authority block.
    pub trusted_minters: &'a [PublicKey],
}

/// What an allowed request carries to API Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// `principal($p)` derived by the policy, if any.
    pub principal: Option<String>,
    /// `context($key, $value)` pairs derived by the policy (flat values only).
    pub context: serde_json::Map<String, Value>,
    /// Every `holder_cert($fingerprint)` fact of any block, when asked for.
    pub holder_certs: Vec<String>,
    /// Index of the `allow if` policy that matched (see [`Policy::policy_texts`]).
    pub allow_policy: usize,
}

/// The parsed operator policy.
#[derive(Clone)]
pub struct Policy {
    builder: AuthorizerBuilder,
    program: Program,
    request_predicates: Predicates,
    cache_reads: CacheReads,
    context_query: Rule,
    principal_query: Rule,
    holder_query: Rule,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").finish_non_exhaustive()
    }
}

impl Policy {
    /// Parses the policy text (facts, rules, checks, `allow if` / `deny if`)
    /// and checks it leaves tokens a budget under the default limits.
    pub fn parse(source: &str) -> Result<Policy, PolicyError> {
        Policy::parse_within(source, &default_limits())
    }

    /// Parses the policy text and checks that, evaluated alone (no token, no
    /// request facts), it stays within `limits`.
    pub fn parse_within(source: &str, limits: &AuthorizerLimits) -> Result<Policy, PolicyError> {
        let builder = parameter_free_builder(source)?;
        let program = Program::from_policy(&builder).map_err(PolicyError::Shape)?;
        if let Some(limit) = limit_reached_alone(&builder, &program, limits) {
            return Err(PolicyError::TooHeavy(limit));
        }
        let query = |text: &str| {
            Rule::try_from(text)
                .map(without_empty_parameters)
                .map_err(PolicyError::Parse)
        };
        Ok(Policy {
            cache_reads: CacheReads::of_policy(&builder)?,
            builder,
            request_predicates: Predicates::of_program(&program),
            program,
            context_query: query("context($key, $value) <- context($key, $value)")?,
            principal_query: query("principal($p) <- principal($p)")?,
            holder_query: query("holder_cert($h) <- holder_cert($h)")?,
        })
    }

    /// The policy's program, as admission reads it.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The text of each `allow if` / `deny if` policy, by the index decisions
    /// name ([`Grant::allow_policy`], [`PolicyRefusal::DenyPolicy`]); for
    /// explanations, not for the request path.
    pub fn policy_texts(&self) -> Vec<String> {
        match self.builder.clone().build_unauthenticated() {
            Ok(authorizer) => authorizer
                .dump()
                .3
                .iter()
                .map(ToString::to_string)
                .collect(),
            // It built when parsed; without a token nothing else can fail.
            Err(_) => Vec::new(),
        }
    }

    /// The limits one evaluation runs with: the configured ones, with the
    /// facts the policy and the request assert added to the fact limit (so
    /// `max_facts` is the token's and the rules' share alone; the policy's
    /// is counted once, here, when it loads).
    pub fn limits_for(
        &self,
        configured: &AuthorizerLimits,
        request_facts: usize,
    ) -> AuthorizerLimits {
        AuthorizerLimits {
            max_facts: configured
                .max_facts
                .saturating_add(self.program.facts)
                .saturating_add(request_facts as u64),
            ..configured.clone()
        }
    }

    /// The request predicates its rule, check and policy bodies mention. (Its
    /// queries for the grant read `principal`, `context` and `holder_cert`,
    /// none of which is a request predicate.)
    pub fn request_predicates(&self) -> Predicates {
        self.request_predicates
    }

    /// The header and query names its bodies read and the dates it holds.
    pub fn cache_reads(&self) -> &CacheReads {
        &self.cache_reads
    }

    /// Evaluates the policy for a verified token plus the request's facts,
    /// and gathers what an allowed request carries to API Gateway.
    pub fn evaluate(
        &self,
        token: &VerifiedToken,
        request_facts: Vec<Fact>,
        options: &Evaluation<'_>,
    ) -> Result<Grant, PolicyRefusal> {
        let (mut authorizer, allow_policy) = self.authorized(token, request_facts, options)?;
        self.grant(&mut authorizer, allow_policy, options)
    }

    /// Whether the policy allows the token for these facts, or why not;
    /// nothing is gathered.
    pub fn allows(
        &self,
        token: &VerifiedToken,
        request_facts: Vec<Fact>,
        options: &Evaluation<'_>,
    ) -> Result<(), PolicyRefusal> {
        self.authorized(token, request_facts, options).map(drop)
    }

    /// Builds the authorizer for the token and facts and runs the policy;
    /// with the index of the allow policy that matched. Building (converting
    /// the token's blocks) counts against the time limit: the fact generation,
    /// then the checks and policies, get what is left of it.
    fn authorized(
        &self,
        token: &VerifiedToken,
        request_facts: Vec<Fact>,
        options: &Evaluation<'_>,
    ) -> Result<(Authorizer, usize), PolicyRefusal> {
        let mut builder = self.builder.clone().set_limits(options.limits.clone());
        if !options.trusted_minters.is_empty() {
            // The policy trusts the authority block and the named minters' blocks.
            builder = builder.scope(Scope::Authority);
            for minter in options.trusted_minters {
                builder = builder.scope(Scope::PublicKey(*minter));
            }
        }
        for fact in request_facts {
            builder = builder.fact(fact).map_err(refusal)?;
        }
        let mut authorizer = builder.build(token.biscuit()).map_err(refusal)?;
        authorizer
            .run_with_limits(options.time_left()?)
            .map_err(refusal)?;
        let allow_policy = authorizer
            .authorize_with_limits(options.time_left()?)
            .map_err(refusal)?;
        Ok((authorizer, allow_policy))
    }

    /// The principal, context and (if asked) holder bindings of an allowed request.
    fn grant(
        &self,
        authorizer: &mut Authorizer,
        allow_policy: usize,
        options: &Evaluation<'_>,
    ) -> Result<Grant, PolicyRefusal> {
        let principal = authorizer
            .query_with_limits::<_, Fact, _>(self.principal_query.clone(), options.time_left()?)
            .map_err(refusal)?
            .into_iter()
            .find_map(|fact| match fact.predicate.terms.as_slice() {
                [Term::Str(principal)] => Some(principal.clone()),
                _ => None,
            });
        let mut context = serde_json::Map::new();
        let pairs: Vec<Fact> = authorizer
            .query_with_limits(self.context_query.clone(), options.time_left()?)
            .map_err(refusal)?;
        for fact in pairs {
            let [Term::Str(key), value] = fact.predicate.terms.as_slice() else {
                continue;
            };
            let value = match value {
                Term::Str(s) => Value::from(s.as_str()),
                Term::Integer(i) => Value::from(*i),
                Term::Bool(b) => Value::from(*b),
                other => {
                    tracing::debug!(key = %key, value = %other, "context value is not a string, integer or boolean; left out");
                    continue;
                }
            };
            context.insert(key.clone(), value);
        }
        let holder_certs = if options.collect_holder_certs {
            let facts: Vec<Fact> = authorizer
                .query_all_with_limits(self.holder_query.clone(), options.time_left()?)
                .map_err(refusal)?;
            facts
                .into_iter()
                .map(|fact| match fact.predicate.terms.as_slice() {
                    [Term::Str(fingerprint)] => fingerprint.to_ascii_lowercase(),
                    // Not a fingerprint string: a binding nothing can match.
                    other => format!("{other:?}"),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Grant {
            principal,
            context,
            holder_certs,
            allow_policy,
        })
    }
}

impl Evaluation<'_> {
    /// The limits for the next step of an evaluation: the time left before
    /// the deadline, or a timeout when none is.
    fn time_left(&self) -> Result<AuthorizerLimits, PolicyRefusal> {
        limits_until(self.deadline, &self.limits).map_err(refusal)
    }
}

/// `limits` with the time left before `deadline` as their `max_time`, or a
/// timeout when none is.
fn limits_until(
    deadline: Instant,
    limits: &AuthorizerLimits,
) -> Result<AuthorizerLimits, BiscuitError> {
    let max_time = deadline.saturating_duration_since(Instant::now());
    if max_time.is_zero() {
        return Err(BiscuitError::RunLimit(RunLimit::Timeout));
    }
    Ok(AuthorizerLimits {
        max_time,
        ..limits.clone()
    })
}

/// The builder `AuthorizerBuilder::code` makes of `source` (same items, same
/// order, same errors), with every empty parameter map left out.
///
/// biscuit-auth converts each item of the builder at every `build` and query:
/// it clones the item and, when it has a parameter map, rebuilds each of its
/// term lists to substitute them. The parser gives every item a map, empty
/// when the text has no `{parameter}`; without one the conversion skips that
/// work (about 1.5 k instructions per rule, per decision).
fn parameter_free_builder(source: &str) -> Result<AuthorizerBuilder, BiscuitError> {
    let parsed = biscuit_auth::parser::parse_source(source)
        .map_err(|errors| BiscuitError::Language(errors.into()))?;
    let mut builder = AuthorizerBuilder::new();
    for (_, fact) in parsed.facts {
        let mut fact: Fact = fact.into();
        if fact.parameters.as_ref().is_some_and(HashMap::is_empty) {
            fact.parameters = None;
        }
        builder = builder.fact(fact)?;
    }
    for (_, rule) in parsed.rules {
        builder = builder.rule(without_empty_parameters(rule.into()))?;
    }
    for (_, check) in parsed.checks {
        let mut check: Check = check.into();
        check.queries = all_without_empty_parameters(check.queries);
        builder = builder.check(check)?;
    }
    for (_, policy) in parsed.policies {
        let mut policy: builder::Policy = policy.into();
        policy.queries = all_without_empty_parameters(policy.queries);
        builder = builder.policy(policy)?;
    }
    Ok(builder)
}

/// The queries of a check or policy, [`without_empty_parameters`].
fn all_without_empty_parameters(queries: Vec<Rule>) -> Vec<Rule> {
    queries.into_iter().map(without_empty_parameters).collect()
}

/// `rule` without its parameter maps when they are empty (a map with
/// parameters stays, so unbound ones are still refused).
fn without_empty_parameters(mut rule: Rule) -> Rule {
    if rule.parameters.as_ref().is_some_and(HashMap::is_empty) {
        rule.parameters = None;
    }
    if rule
        .scope_parameters
        .as_ref()
        .is_some_and(HashMap::is_empty)
    {
        rule.scope_parameters = None;
    }
    rule
}

/// Attempts at evaluating a policy alone before a timeout refuses it: a
/// process descheduled once (a cold start, a busy machine) is not a heavy policy.
const ALONE_ATTEMPTS: usize = 3;

/// The limit the policy reaches evaluated alone (no token, no request facts),
/// with its own facts counted as they are per request, and its time counted
/// from the start of the build, as a request's is.
fn limit_reached_alone(
    builder: &AuthorizerBuilder,
    program: &Program,
    limits: &AuthorizerLimits,
) -> Option<RunLimit> {
    let limits = AuthorizerLimits {
        max_facts: limits.max_facts.saturating_add(program.facts),
        ..limits.clone()
    };
    let mut reached = None;
    for _ in 0..ALONE_ATTEMPTS {
        let deadline = Instant::now() + limits.max_time;
        let alone = builder
            .clone()
            .set_limits(limits.clone())
            .build_unauthenticated()
            .and_then(|mut authorizer| {
                authorizer.authorize_with_limits(limits_until(deadline, &limits)?)
            });
        match alone {
            Err(BiscuitError::RunLimit(RunLimit::Timeout)) => reached = Some(RunLimit::Timeout),
            Err(BiscuitError::RunLimit(limit)) => return Some(limit),
            _ => return None,
        }
    }
    reached
}

fn refusal(error: BiscuitError) -> PolicyRefusal {
    match error {
        BiscuitError::FailedLogic(Logic::Unauthorized {
            policy: MatchedPolicy::Deny(index),
            ..
        }) => PolicyRefusal::DenyPolicy { index },
        BiscuitError::FailedLogic(Logic::Unauthorized {
            policy: MatchedPolicy::Allow(index),
            checks,
        }) => PolicyRefusal::FailedChecks {
            checks,
            allow_policy: Some(index),
        },
        BiscuitError::FailedLogic(Logic::NoMatchingPolicy { checks }) if !checks.is_empty() => {
            PolicyRefusal::FailedChecks {
                checks,
                allow_policy: None,
            }
        }
        BiscuitError::FailedLogic(Logic::NoMatchingPolicy { .. }) => {
            PolicyRefusal::NoMatchingPolicy
        }
        BiscuitError::RunLimit(limit) => PolicyRefusal::LimitReached(limit.to_string()),
        other => PolicyRefusal::Evaluation(other.to_string()),
    }
}

/// The first failed check, printed, bounded and escaped (none: an empty string):
/// its text is the token's.
fn first_check(checks: &[FailedCheck]) -> String {
    checks
        .first()
        .map(|check| {
            crate::decision::excerpt(&check.to_string(), crate::decision::MAX_REASON_BYTES)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
        operator("o");
        action("read") <- method($m), ["GET", "HEAD"].contains($m);
        check if operator($o), $o.length() > 0 or time($t);
        deny if revoked(true);
        allow if action("read");
    "#;

    #[test]
    fn the_parameter_free_builder_holds_what_code_makes() {
        let expected = AuthorizerBuilder::new().code(SOURCE).expect("parses");
        let built = parameter_free_builder(SOURCE).expect("parses");
        assert_eq!(built.dump_code(), expected.dump_code());
        let printed = |builder: AuthorizerBuilder| {
            let (facts, rules, checks, policies) =
                builder.build_unauthenticated().expect("builds").dump();
            let strings = |items: Vec<String>| items.join("\n");
            (
                strings(facts.iter().map(ToString::to_string).collect()),
                strings(rules.iter().map(ToString::to_string).collect()),
                strings(checks.iter().map(ToString::to_string).collect()),
                strings(policies.iter().map(ToString::to_string).collect()),
            )
        };
        assert_eq!(printed(built), printed(expected));
    }

    #[test]
    fn the_parameter_free_builder_refuses_what_code_refuses() {
        for source in [
            "allow if user({who});",
            "allow if",
            "check if f($x) trusting {key};",
        ] {
            let expected = AuthorizerBuilder::new().code(source).map(drop);
            let built = parameter_free_builder(source).map(drop);
            assert!(expected.is_err(), "{source}");
            assert_eq!(
                built.map_err(|e| e.to_string()),
                expected.map_err(|e| e.to_string()),
                "{source}"
            );
        }
    }
}
