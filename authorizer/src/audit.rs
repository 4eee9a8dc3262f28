//! A check on a token's signed content that biscuit-auth does not make: no
//! block may assert the facts the authorizer itself adds about the request
//! ([`RESERVED_PREDICATES`]), so a tenant cannot claim another tenant's domain
//! or another request's path. The one exception is an authority-block fact
//! `domain($d)`, returned as a claim for the caller to compare with the
//! verified domain.
//!
//! It reads biscuit-auth's own protobuf schema, decoded from the token bytes.

use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::format::schema::{self, term::Content};
use prost::Message;

/// Predicates the authorizer adds for each request; no token block may assert them.
pub const RESERVED_PREDICATES: &[&str] = &[
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
];

/// What an audit found wrong with a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditFinding {
    /// A block asserts a reserved predicate as a fact or rule head.
    #[error("block {block} asserts the reserved predicate `{predicate}`")]
    ReservedFact {
        /// Index of the block (0 is the authority block).
        block: usize,
        /// The reserved predicate's name.
        predicate: String,
    },
    /// The signed content cannot be decoded (biscuit-auth accepted it, so this should not happen).
    #[error("signed content is unreadable: {0}")]
    Unreadable(String),
}

/// What the authority block says about the issuer's own domain: the string
/// arguments of its `domain($d)` facts.
pub type DomainClaims = Vec<String>;

/// Audits a token that already verified. Returns the domain claims.
pub fn audit(token: &[u8]) -> Result<DomainClaims, AuditFinding> {
    let token =
        schema::Biscuit::decode(token).map_err(|e| AuditFinding::Unreadable(e.to_string()))?;
    reserved_facts(token)
}

fn reserved_facts(token: schema::Biscuit) -> Result<DomainClaims, AuditFinding> {
    let unreadable = |e: &dyn std::fmt::Display| AuditFinding::Unreadable(e.to_string());
    // Symbols of the authority block and of first-party blocks accumulate in one
    // table; a third-party block (external signature) has a table of its own.
    let mut shared = SymbolTable::new();
    let mut claims = DomainClaims::new();
    let blocks = std::iter::once(token.authority).chain(token.blocks);
    for (index, signed) in blocks.enumerate() {
        let mut block = schema::Block::decode(&signed.block[..]).map_err(|e| unreadable(&e))?;
        let own =
            SymbolTable::from(std::mem::take(&mut block.symbols)).map_err(|e| unreadable(&e))?;
        let third_party;
        let symbols = if signed.external_signature.is_some() {
            third_party = own;
            &third_party
        } else {
            shared.extend(&own).map_err(|e| unreadable(&e))?;
            &shared
        };
        let reserved = |name: u64| {
            symbols
                .get_symbol(name)
                .filter(|name| RESERVED_PREDICATES.contains(name))
        };
        for fact in &block.facts {
            let Some(predicate) = reserved(fact.predicate.name) else {
                continue;
            };
            match (index, predicate, fact.predicate.terms.as_slice()) {
                (
                    0,
                    "domain",
                    [schema::Term {
                        content: Some(Content::String(claimed)),
                    }],
                ) => {
                    let claimed = symbols
                        .get_symbol(*claimed)
                        .ok_or_else(|| unreadable(&"unknown symbol"))?;
                    claims.push(claimed.to_owned());
                }
                _ => {
                    return Err(AuditFinding::ReservedFact {
                        block: index,
                        predicate: predicate.to_owned(),
                    })
                }
            }
        }
        if let Some(predicate) = block.rules.iter().find_map(|rule| reserved(rule.head.name)) {
            return Err(AuditFinding::ReservedFact {
                block: index,
                predicate: predicate.to_owned(),
            });
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

    fn audited(authority: &str, attenuation: Option<&str>) -> Result<DomainClaims, AuditFinding> {
        let root = KeyPair::new();
        let mut token = Biscuit::builder()
            .code(authority)
            .expect("authority")
            .build(&root)
            .expect("build");
        if let Some(code) = attenuation {
            token = token
                .append(BlockBuilder::new().code(code).expect("block"))
                .expect("append");
        }
        audit(&token.to_vec().expect("serialize"))
    }

    #[test]
    fn ordinary_tokens_pass() {
        let claims = audited(
            "user(\"alice\"); right($p) <- user($u), resource($p); check if time($t), $t < 2100-01-01T00:00:00Z;",
            Some("check if path($p), $p.starts_with(\"/a\");"),
        );
        assert_eq!(claims, Ok(vec![]));
    }

    #[test]
    fn authority_domain_fact_is_a_claim() {
        assert_eq!(
            audited("domain(\"a.example\");", None),
            Ok(vec!["a.example".to_owned()])
        );
    }

    #[test]
    fn reserved_facts_and_rule_heads_are_findings() {
        let finding = |block, predicate: &str| {
            Err(AuditFinding::ReservedFact {
                block,
                predicate: predicate.to_owned(),
            })
        };
        assert_eq!(audited("path(\"/admin\");", None), finding(0, "path"));
        assert_eq!(
            audited("source_ip(\"10.0.0.1\");", None),
            finding(0, "source_ip")
        );
        assert_eq!(
            audited("method($m) <- user($m);", None),
            finding(0, "method")
        );
        assert_eq!(
            audited("domain(\"a\") <- user(\"x\");", None),
            finding(0, "domain")
        );
        assert_eq!(audited("domain(1);", None), finding(0, "domain"));
        assert_eq!(
            audited("user(\"x\");", Some("domain(\"a.example\");")),
            finding(1, "domain")
        );
        assert_eq!(
            audited("user(\"x\");", Some("header(\"x-tenant\", \"b\");")),
            finding(1, "header")
        );
    }
}
