//! The decision engine: one event in, one decision and one answer out.
//!
//! The steps, each in its own module: event → credential → token bytes →
//! envelope hints → candidate keys → verification and audit → domain claim →
//! revocation → request facts → policy → answer.

use std::time::{Instant, SystemTime};

use biscuit_auth::AuthorizerLimits;
use serde_json::Value;

use crate::admission::{self, Caps};
use crate::decision::{Decision, Identity, Refusal};
use crate::envelope::Hints;
use crate::event::{AuthorizerEvent, RequestInfo};
use crate::facts::{Predicates, RequestPredicate};
use crate::key_choice::{self, KeyChoiceRules};
use crate::policy::{self, Evaluation, Grant, Policy, PolicyRefusal};
use crate::probe::Probe;
use crate::response::{self, Answer, HttpApiResponseFormat};
use crate::result_cache::reads::CacheReads;
use crate::result_cache::{CacheUnsafe, ResultCache};
use crate::revocation::RevocationList;
use crate::store::{KeyStore, Route};
use crate::verify::{self, VerifiedToken};
use crate::{envelope, facts, token};

/// Operator settings that do not change between requests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest credential accepted, checked before decoding.
    pub max_token_bytes: usize,
    /// How candidate keys are chosen.
    pub key_choice: KeyChoiceRules,
    /// Datalog limits.
    pub limits: AuthorizerLimits,
    /// Header names (lowercase) given to the policy as `header($name, $value)`.
    pub header_allow_list: Vec<String>,
    /// Least-privilege probes evaluated after an allow (empty: off).
    pub probes: Vec<Probe>,
    /// Enforce `holder_cert` bindings against the client certificate.
    pub holder_binding: bool,
    /// Trust third-party blocks signed by minters the authority block names.
    pub delegated_minters: bool,
    /// How HTTP API answers are written.
    pub http_response: HttpApiResponseFormat,
    /// Caps on token structure and the Datalog work budget.
    pub caps: Caps,
    /// API Gateway's result cache in front of the function (off by default).
    pub result_cache: ResultCache,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_token_bytes: token::DEFAULT_MAX_TOKEN_BYTES,
            key_choice: KeyChoiceRules::default(),
            limits: policy::default_limits(),
            // No header reaches the policy unless configured.
            header_allow_list: Vec::new(),
            probes: Vec::new(),
            holder_binding: false,
            delegated_minters: false,
            http_response: HttpApiResponseFormat::default(),
            caps: Caps::default(),
            result_cache: ResultCache::default(),
        }
    }
}

/// The trust material a decision is made with; replaced as a whole on refresh.
#[derive(Debug, Default)]
pub struct Trust {
    /// Trusted keys by domain.
    pub keys: KeyStore,
    /// Revoked block ids.
    pub revoked: RevocationList,
}

/// A decision with the answer to return and what is worth logging.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The decision.
    pub decision: Decision,
    /// The answer for API Gateway.
    pub answer: Answer,
    /// Total time spent.
    pub elapsed: std::time::Duration,
    /// What identifies the request in API Gateway's own logs.
    pub trace: Trace,
}

/// The request's identity for tracing a decision: never a fact, never the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// API Gateway's request id (`requestContext.requestId`; none in TOKEN events).
    pub request_id: Option<String>,
    /// Route key or resource template.
    pub route: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Request path, as the event gives it.
    pub path: Option<String>,
}

/// Longest trace field logged, in bytes: a path can be kilobytes long, a decision line stays under 4 KB.
const MAX_TRACE_FIELD_BYTES: usize = 400;

impl Trace {
    fn of(request: &RequestInfo) -> Trace {
        let bounded = |field: &Option<String>| {
            field
                .as_deref()
                .map(|text| crate::decision::excerpt(text, MAX_TRACE_FIELD_BYTES))
        };
        Trace {
            request_id: bounded(&request.request_id),
            route: bounded(&request.route),
            method: bounded(&request.method),
            path: bounded(&request.path),
        }
    }
}

/// The policy and settings, built once at start.
#[derive(Debug, Clone)]
pub struct Engine {
    /// `None` when the policy is read with the trust material and passed to
    /// [`Engine::evaluate_under`] (`POLICY_SECRET_ID`).
    policy: Option<Policy>,
    settings: Settings,
}

impl Engine {
    /// An engine for this policy and these settings.
    pub fn new(policy: Policy, settings: Settings) -> Engine {
        Engine {
            policy: Some(policy),
            settings,
        }
    }

    /// An engine whose policy comes with each call to [`Engine::evaluate_under`];
    /// without one, every request is refused.
    pub fn without_policy(settings: Settings) -> Engine {
        Engine {
            policy: None,
            settings,
        }
    }

    /// The engine's own policy (`None` when it comes with the trust material).
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// What the operator should hear about `policy` under the result cache:
    /// for each kind of API whose key does not hold a fact the policy itself
    /// reads, one warning (every Allow there is refused as `cache_unsafe`).
    pub fn cache_warnings(&self, policy: &Policy) -> Vec<String> {
        self.settings.result_cache.policy_warnings(
            policy.request_predicates(),
            policy.cache_reads(),
            &self.settings.header_allow_list,
        )
    }

    /// Decides one raw event and writes the answer. `trust` is `Err` with a
    /// reason when no trust material is available: every answer is then a refusal.
    pub fn evaluate(
        &self,
        event: Value,
        trust: Result<&Trust, &str>,
        now: SystemTime,
    ) -> Evaluated {
        self.finish(None, self.read(event), trust, now)
    }

    /// [`Engine::evaluate`] under `policy` (a policy read with the trust
    /// material) instead of the engine's own.
    pub fn evaluate_under(
        &self,
        policy: Option<&Policy>,
        event: Value,
        trust: Result<&Trust, &str>,
        now: SystemTime,
    ) -> Evaluated {
        self.finish(policy, self.read(event), trust, now)
    }

    /// The first half of [`Engine::evaluate`]: the event parsed up to its
    /// key-choice hints, so the caller can load the key map shards its
    /// [`Incoming::route`] needs before [`Engine::finish`].
    pub fn read(&self, event: Value) -> Incoming {
        let started = Instant::now();
        let read = AuthorizerEvent::from_json(event)
            .map_err(Refusal::from)
            .map(|event| {
                let routed = self.routed(&event);
                (event, routed)
            });
        Incoming { started, read }
    }

    /// The second half of [`Engine::evaluate`]: decides under `policy` (the
    /// engine's own when `None`) and writes the answer.
    pub fn finish(
        &self,
        policy: Option<&Policy>,
        incoming: Incoming,
        trust: Result<&Trust, &str>,
        now: SystemTime,
    ) -> Evaluated {
        let Incoming { started, read } = incoming;
        let policy = policy.or(self.policy.as_ref());
        let (decision, kind, resource_arn, trace) = match read {
            Ok((event, routed)) => {
                let trace = Trace::of(&event.request);
                let decision = match (trust, policy, routed) {
                    (Ok(trust), Some(policy), Ok(routed)) => {
                        self.decide_routed(&event, routed, policy, trust, now)
                    }
                    (Err(reason), _, _) => {
                        Decision::refused(Refusal::KeysUnavailable(reason.to_owned()))
                    }
                    (Ok(_), None, _) => Decision::refused(Refusal::PolicyUnavailable(
                        "no policy version parses".to_owned(),
                    )),
                    (Ok(_), Some(_), Err(refusal)) => Decision::refused(refusal),
                };
                (decision, Some(event.kind), event.resource_arn, trace)
            }
            Err(refusal) => (Decision::refused(refusal), None, None, Trace::default()),
        };
        let answer = response::answer(
            &decision,
            kind,
            resource_arn.as_deref(),
            self.settings.http_response,
        );
        Evaluated {
            decision,
            answer,
            elapsed: started.elapsed(),
            trace,
        }
    }

    /// Decides one parsed event under `policy`.
    pub fn decide(
        &self,
        event: &AuthorizerEvent,
        policy: &Policy,
        trust: &Trust,
        now: SystemTime,
    ) -> Decision {
        match self.routed(event) {
            Ok(routed) => self.decide_routed(event, routed, policy, trust, now),
            Err(refusal) => Decision::refused(refusal),
        }
    }

    fn decide_routed(
        &self,
        event: &AuthorizerEvent,
        routed: Routed,
        policy: &Policy,
        trust: &Trust,
        now: SystemTime,
    ) -> Decision {
        let verified = match self.verified_token(routed, trust, now) {
            Ok(verified) => verified,
            Err(refusal) => return Decision::refused(refusal),
        };
        let identity = Identity {
            domain: verified.domain().to_owned(),
            key_id: verified.key().key_id,
        };
        let revocation_ids = verified.biscuit().revocation_identifiers();
        let token_id = revocation_ids.first().and_then(|id| token_id(id));
        let started = Instant::now();
        let verdict = self.allowed(event, policy, &verified, &revocation_ids, trust, now);
        Decision {
            verdict,
            identity: Some(identity),
            token_id,
            evaluation_time: Some(started.elapsed()),
        }
    }

    /// The token bytes and their key-choice hints.
    fn routed(&self, event: &AuthorizerEvent) -> Result<Routed, Refusal> {
        let credential = event.credential.as_ref().map_err(|e| e.clone())?;
        let bytes = token::decode(credential, self.settings.max_token_bytes)?;
        let hints = envelope::read_hints(&bytes)?;
        Ok(Routed { bytes, hints })
    }

    fn verified_token(
        &self,
        routed: Routed,
        trust: &Trust,
        now: SystemTime,
    ) -> Result<VerifiedToken, Refusal> {
        let Routed { bytes, hints } = routed;
        let candidates =
            key_choice::candidates(&trust.keys, &hints, self.settings.key_choice, now)?;
        admission::check_shape(&bytes, &self.settings.caps).map_err(Refusal::Shape)?;
        let verified = verify::verify(&bytes, &candidates)?;
        verified.key().unambiguous()?;
        Ok(verified)
    }

    fn allowed(
        &self,
        event: &AuthorizerEvent,
        policy: &Policy,
        token: &VerifiedToken,
        revocation_ids: &[Vec<u8>],
        trust: &Trust,
        now: SystemTime,
    ) -> Result<Grant, Refusal> {
        if let Some(claimed) = token
            .domain_claims()
            .iter()
            .find(|claimed| *claimed != token.domain())
        {
            return Err(Refusal::DomainClaimMismatch {
                claimed: claimed.clone(),
                verified: token.domain().to_owned(),
            });
        }
        if let Some(block) = trust.revoked.first_revoked(revocation_ids) {
            return Err(Refusal::Revoked { block });
        }
        if let Some(path) = &event.request.path {
            crate::path::check(path)?;
        }
        let settings = &self.settings;
        let trusted_minters = if settings.delegated_minters {
            token.minters()
        } else {
            &[]
        };
        // Only the request facts some body of the policy or the token reads;
        // the probes evaluate the same policy and token, so need no others.
        let used = policy
            .request_predicates()
            .union(facts::Predicates::of_blocks(token.blocks()));
        let facts_at = |request: &RequestInfo, at: SystemTime| {
            facts::request_facts(request, token, at, &settings.header_allow_list, used)
        };
        let request_facts = facts_at(&event.request, now);
        let window = self.cache_window(policy, token, used, now)?;
        admission::admit(
            token.blocks(),
            policy.program(),
            &request_facts,
            &settings.limits,
            &settings.caps,
        )
        .map_err(Refusal::TooComplex)?;
        // One time limit for the decision, its cache window and its probes together.
        let deadline = Instant::now() + settings.limits.max_time;
        let options = |request_facts: usize| Evaluation {
            limits: policy.limits_for(&settings.limits, request_facts),
            deadline,
            collect_holder_certs: settings.holder_binding,
            trusted_minters,
        };
        let evaluation = options(request_facts.len());
        let grant = policy.evaluate(token, request_facts, &evaluation)?;
        if settings.holder_binding {
            let presented = event.request.client_cert.as_deref();
            if grant
                .holder_certs
                .iter()
                .any(|bound| Some(bound.as_str()) != presented)
            {
                return Err(Refusal::HolderMismatch);
            }
        }
        if let Some(window) = &window {
            let mut used = used;
            if !grant.holder_certs.is_empty() {
                // The binding was enforced against the presented certificate.
                used.mention(RequestPredicate::ClientCert.name());
            }
            let cache = &settings.result_cache;
            cache
                .unkeyed_request(
                    event.kind,
                    used,
                    &window.reads,
                    &event.request,
                    &settings.header_allow_list,
                )
                .map_err(CacheUnsafe::from)?;
            for &at in &window.later {
                let later_facts = facts_at(&event.request, at);
                let evaluation = options(later_facts.len());
                policy
                    .allows(token, later_facts, &evaluation)
                    .map_err(|refusal| CacheUnsafe::NotThroughout {
                        at: chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339(),
                        refusal,
                    })?;
            }
        }
        let mut rng = rand::thread_rng();
        for probe in &settings.probes {
            for probe_request in probe.derive(&event.request, &mut rng) {
                // A probe only needs the verdict: no principal, context or
                // bindings. One that cannot be decided (a limit, an error)
                // counts as allowed: fail closed.
                let probe_facts = facts_at(&probe_request, now);
                let evaluation = options(probe_facts.len());
                let refused = policy
                    .allows(token, probe_facts, &evaluation)
                    .err()
                    .filter(PolicyRefusal::is_verdict);
                if refused.is_none() {
                    return Err(Refusal::TokenBroaderThanRequest {
                        probe: probe.to_string(),
                    });
                }
            }
        }
        Ok(grant)
    }

    /// With result caching on, what an Allow at `now` must also hold for:
    /// refused at once when the verifying key expires within the window, or
    /// when `time` is compared with too many dates within it.
    fn cache_window(
        &self,
        policy: &Policy,
        token: &VerifiedToken,
        used: Predicates,
        now: SystemTime,
    ) -> Result<Option<CacheWindow>, CacheUnsafe> {
        let cache = &self.settings.result_cache;
        if !cache.is_on() {
            return Ok(None);
        }
        let grace = self.settings.key_choice.expiry_grace;
        if !token.key().is_live(cache.window_end(now), grace) {
            return Err(CacheUnsafe::KeyExpires);
        }
        let reads = policy
            .cache_reads()
            .union(&CacheReads::of_blocks(token.blocks()));
        let later = if used.contains(RequestPredicate::Time) {
            cache.later_instants(now, &reads.dates)?
        } else {
            Vec::new()
        };
        Ok(Some(CacheWindow { reads, later }))
    }
}

/// What a decision's Allow must hold for while API Gateway may reuse it.
#[derive(Debug)]
struct CacheWindow {
    /// The header and query names and the dates the policy and token read.
    reads: CacheReads,
    /// Later instants at which the policy must allow too.
    later: Vec<SystemTime>,
}

/// An event read up to its key-choice hints (see [`Engine::read`]).
#[derive(Debug)]
pub struct Incoming {
    started: Instant,
    /// The parsed event with its token's bytes and hints, or why it did not parse.
    read: Result<(AuthorizerEvent, Result<Routed, Refusal>), Refusal>,
}

impl Incoming {
    /// What the decision will look keys up by; empty when there is no token to route.
    pub fn route(&self) -> Route<'_> {
        match &self.read {
            Ok((_, Ok(routed))) => match key_choice::routing_domain(&routed.hints) {
                Ok(domain) => Route {
                    domain,
                    key_id: routed.hints.root_key_id,
                },
                // Hints that disagree are refused before any key is looked up.
                Err(_) => Route::default(),
            },
            _ => Route::default(),
        }
    }
}

/// A token's bytes with the hints read from its envelope.
#[derive(Debug)]
struct Routed {
    bytes: Vec<u8>,
    hints: Hints,
}

impl Decision {
    fn refused(refusal: Refusal) -> Decision {
        Decision {
            verdict: Err(refusal),
            identity: None,
            token_id: None,
            evaluation_time: None,
        }
    }
}

/// `biscuit:` and the hex of the authority block's revocation id: the token
/// id of decision lines. (`hex::encode` goes through an iterator of chars,
/// about four times the instructions of writing the bytes.)
fn token_id(revocation_id: &[u8]) -> Option<String> {
    const PREFIX: &[u8] = b"biscuit:";
    let mut out = vec![0; PREFIX.len() + 2 * revocation_id.len()];
    let (prefix, digits) = out.split_at_mut(PREFIX.len());
    prefix.copy_from_slice(PREFIX);
    hex::encode_to_slice(revocation_id, digits).ok()?;
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_id_is_the_prefixed_lowercase_hex_of_the_revocation_id() {
        let id = [0x00, 0x9f, 0xa0, 0xff];
        assert_eq!(token_id(&id).as_deref(), Some("biscuit:009fa0ff"));
        assert_eq!(token_id(&id), Some(format!("biscuit:{}", hex::encode(id))));
    }
}
