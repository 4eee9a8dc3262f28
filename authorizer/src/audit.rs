//! A check on a token's signed content that biscuit-auth does not make: no
//! block may assert the facts the authorizer itself adds about the request
//! ([`RESERVED_PREDICATES`]), so a tenant cannot claim another tenant's domain
//! or another request's path. The one exception is an authority-block fact
//! `domain($d)`, returned as a claim for the caller to compare with the
//! verified domain.
//!
//! It reads the block heads from the token's protobuf bytes (only the fields
//! it needs; biscuit-auth has already decoded and verified the whole token).

use std::sync::LazyLock;

use biscuit_auth::datalog::SymbolTable;
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
    "client_cert",
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

/// What the authority block states about its issuer, for the caller to act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorityClaims {
    /// The string arguments of its `domain($d)` facts.
    pub domains: Vec<String>,
    /// The string arguments of its `minter($public_key)` facts (delegated minters).
    pub minters: Vec<String>,
}

/// Audits a token that already verified. Returns the authority block's claims.
pub fn audit(token: &[u8]) -> Result<AuthorityClaims, AuditFinding> {
    let unreadable = |e: prost::DecodeError| AuditFinding::Unreadable(e.to_string());
    let token = wire::Token::decode(token).map_err(unreadable)?;
    // Symbols of the authority block and of first-party blocks accumulate in one
    // table; a third-party block (external signature) has a table of its own.
    let mut shared: Vec<String> = Vec::new();
    let mut claims = AuthorityClaims::default();
    for (index, signed) in token.authority.iter().chain(&token.blocks).enumerate() {
        let block = wire::BlockHeads::decode(&signed.block[..]).map_err(unreadable)?;
        let symbols = if signed.external_signature.is_some() {
            block.symbols
        } else {
            shared.extend(block.symbols);
            std::mem::take(&mut shared)
        };
        let resolve = |id: u64| symbol(&symbols, id);
        let reserved = |name: u64| resolve(name).filter(|name| RESERVED_PREDICATES.contains(name));
        let finding = |predicate: &str| AuditFinding::ReservedFact {
            block: index,
            predicate: predicate.to_owned(),
        };
        for predicate in block
            .facts
            .iter()
            .filter_map(|fact| fact.predicate.as_ref())
        {
            let argument = match predicate.terms.as_slice() {
                [wire::Term { string: Some(id) }] => resolve(*id),
                _ => None,
            };
            match (index, resolve(predicate.name), argument) {
                (0, Some("domain"), Some(domain)) => claims.domains.push(domain.to_owned()),
                (0, Some("minter"), Some(key)) => claims.minters.push(key.to_owned()),
                (_, Some(name), _) if RESERVED_PREDICATES.contains(&name) => {
                    return Err(finding(name))
                }
                _ => {}
            }
        }
        let heads = block.rules.iter().filter_map(|rule| rule.head.as_ref());
        if let Some(name) = heads.filter_map(|head| reserved(head.name)).next() {
            return Err(finding(name));
        }
        if signed.external_signature.is_none() {
            shared = symbols;
        }
    }
    Ok(claims)
}

/// Symbol `id`: below 1024 from biscuit's default table, above from `table`.
pub(crate) fn symbol(table: &[String], id: u64) -> Option<&str> {
    static DEFAULTS: LazyLock<SymbolTable> = LazyLock::new(SymbolTable::new);
    match id.checked_sub(SYMBOL_OFFSET) {
        None => DEFAULTS.get_symbol(id),
        Some(index) => table.get(usize::try_from(index).ok()?).map(String::as_str),
    }
}

/// Where a token's own symbols start; lower ids are biscuit's default symbols.
const SYMBOL_OFFSET: u64 = 1024;

/// The parts of biscuit's protobuf schema the audit reads; prost skips the rest
/// (checks, expressions, rule bodies, signatures) without decoding it.
mod wire {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub struct Token {
        #[prost(message, optional, tag = "2")]
        pub authority: Option<SignedBlock>,
        #[prost(message, repeated, tag = "3")]
        pub blocks: Vec<SignedBlock>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct SignedBlock {
        #[prost(bytes = "vec", tag = "1")]
        pub block: Vec<u8>,
        /// Only its presence matters: a third-party block.
        #[prost(bytes = "vec", optional, tag = "4")]
        pub external_signature: Option<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct BlockHeads {
        #[prost(string, repeated, tag = "1")]
        pub symbols: Vec<String>,
        #[prost(message, repeated, tag = "4")]
        pub facts: Vec<Fact>,
        #[prost(message, repeated, tag = "5")]
        pub rules: Vec<Rule>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Fact {
        #[prost(message, optional, tag = "1")]
        pub predicate: Option<Predicate>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Rule {
        #[prost(message, optional, tag = "1")]
        pub head: Option<Predicate>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Predicate {
        #[prost(uint64, tag = "1")]
        pub name: u64,
        #[prost(message, repeated, tag = "2")]
        pub terms: Vec<Term>,
    }

    /// A term; only the string variant (a symbol id) is read.
    #[derive(Clone, PartialEq, Message)]
    pub struct Term {
        #[prost(uint64, optional, tag = "3")]
        pub string: Option<u64>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

    fn audited(authority: &str, attenuation: Option<&str>) -> Result<Vec<String>, AuditFinding> {
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
        audit(&token.to_vec().expect("serialize")).map(|claims| claims.domains)
    }

    #[test]
    fn authority_minter_facts_are_claims_elsewhere_ignored() {
        let root = KeyPair::new();
        let token = Biscuit::builder()
            .code(r#"minter("ed25519/00"); user("x");"#)
            .expect("code")
            .build(&root)
            .expect("build");
        let token = token
            .append(
                BlockBuilder::new()
                    .code(r#"minter("ed25519/11");"#)
                    .expect("block"),
            )
            .expect("append");
        let claims = audit(&token.to_vec().expect("serialize")).expect("audit");
        assert_eq!(claims.minters, ["ed25519/00"]);
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
