//! A check on a token's signed content that biscuit-auth does not make: no
//! block may assert the facts the authorizer itself adds about the request
//! ([`RESERVED_PREDICATES`]), so a tenant cannot claim another tenant's domain
//! or another request's path. The one exception is an authority-block fact
//! `domain($d)`, returned as a claim for the caller to compare with the
//! verified domain.
//!
//! It reads the token's decoded blocks ([`TokenBlocks`]), resolving each
//! symbol as biscuit-auth does.

use biscuit_auth::format::schema;

use crate::blocks::TokenBlocks;

/// Predicates the authorizer adds for each request; no token block may assert them.
pub const RESERVED_PREDICATES: &[&str] = &crate::facts::REQUEST_PREDICATES;

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
    let blocks = TokenBlocks::decode(token).map_err(|e| AuditFinding::Unreadable(e.to_string()))?;
    audit_blocks(&blocks)
}

/// Audits a verified token's decoded blocks. Returns the authority block's claims.
pub fn audit_blocks(blocks: &TokenBlocks) -> Result<AuthorityClaims, AuditFinding> {
    use schema::term::Content;
    let mut claims = AuthorityClaims::default();
    for view in blocks.iter() {
        let finding = |predicate: &str| AuditFinding::ReservedFact {
            block: view.index,
            predicate: predicate.to_owned(),
        };
        for fact in &view.block.facts {
            let predicate = &fact.predicate;
            let argument = match predicate.terms.as_slice() {
                [schema::Term {
                    content: Some(Content::String(id)),
                }] => view.symbol(*id),
                _ => None,
            };
            match (view.index, view.symbol(predicate.name), argument) {
                (0, Some("domain"), Some(domain)) => claims.domains.push(domain.to_owned()),
                (0, Some("minter"), Some(key)) => claims.minters.push(key.to_owned()),
                (_, Some(name), _) if RESERVED_PREDICATES.contains(&name) => {
                    return Err(finding(name))
                }
                _ => {}
            }
        }
        let reserved = view
            .block
            .rules
            .iter()
            .filter_map(|rule| view.symbol(rule.head.name))
            .find(|name| RESERVED_PREDICATES.contains(name));
        if let Some(name) = reserved {
            return Err(finding(name));
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::format::schema;
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
    fn a_fact_naming_a_later_blocks_symbol_is_resolved_as_biscuit_does() {
        use prost::Message;
        // Block 1 asserts a fact whose name is a symbol only block 2 defines:
        // biscuit-auth resolves it against the whole first-party table.
        let root = KeyPair::new();
        let token = Biscuit::builder()
            .code("user(\"x\");")
            .expect("code")
            .build(&root)
            .expect("build");
        let mut proto =
            schema::Biscuit::decode(&token.to_vec().expect("serialize")[..]).expect("decode");
        let authority = schema::Block::decode(&proto.authority.block[..]).expect("block");
        let forward = 1024 + authority.symbols.len() as u64;
        let block = |symbols: Vec<String>, facts: Vec<schema::Fact>| schema::SignedBlock {
            block: schema::Block {
                symbols,
                facts,
                version: Some(3),
                ..Default::default()
            }
            .encode_to_vec(),
            ..proto.authority.clone()
        };
        let fact = schema::Fact {
            predicate: schema::Predicate {
                name: forward,
                terms: vec![],
            },
        };
        proto.blocks = vec![
            block(vec![], vec![fact]),
            block(vec!["method".into()], vec![]),
        ];
        assert_eq!(
            audit(&proto.encode_to_vec()).map(|claims| claims.domains),
            Err(AuditFinding::ReservedFact {
                block: 1,
                predicate: "method".into()
            })
        );
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
