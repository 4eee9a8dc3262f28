//! The authority block's `domain("...")` fact, read from an unverified token
//! as a key-choice hint.
//!
//! The authority block is signed by the root key and every Biscuit library
//! keeps it byte for byte when it attenuates a token (they drop field 5), so
//! its domain fact still routes a token that lost its envelope hint. Read
//! before any signature is checked, it is a hint like field 5: the verified
//! domain is the domain of the key that verifies, and the claim check after
//! verification compares this fact with it.
//!
//! Only a fact `domain($s)` with exactly one term, a string, counts. Symbols
//! resolve as biscuit-auth resolves them: ids below 1024 from biscuit's
//! default table (where `domain` is id 20; biscuit-auth refuses a token that
//! defines a default symbol again, so no other id names the predicate), ids
//! from 1024 on from the table of the authority block's symbols followed by
//! those of each later first-party block. Repeated fields merge as prost
//! merges them (a message given twice is merged, a scalar keeps its last
//! value).
//!
//! Cost: one walk over the authority block; the symbols are walked again
//! only when the block has a domain fact, and later blocks only when a fact
//! names a symbol past the authority block's own. Nothing is allocated but
//! the symbol ids of domain facts and the answer.

use std::ops::ControlFlow;

use prost::DecodeError;

use super::wire::{wrong_type, Fields, Value};
use super::EnvelopeError;

/// biscuit's default symbol id of `domain`.
pub const DOMAIN_SYMBOL: u64 = 20;

/// Where a table's own symbols start; lower ids are biscuit's default symbols.
const SYMBOL_OFFSET: u64 = 1024;

/// Field tags of biscuit's protobuf schema (`schema.proto`) that are read here.
mod tag {
    /// `Biscuit.blocks` (repeated `SignedBlock`).
    pub const BLOCKS: u32 = 3;
    /// `SignedBlock.block` (the serialized `Block`).
    pub const BLOCK: u32 = 1;
    /// `SignedBlock.externalSignature`: present on third-party blocks.
    pub const EXTERNAL_SIGNATURE: u32 = 4;
    /// `Block.symbols` (repeated string).
    pub const SYMBOLS: u32 = 1;
    /// `Block.facts` (repeated `Fact`, the v2 format).
    pub const FACTS: u32 = 4;
    /// `Fact.predicate`.
    pub const PREDICATE: u32 = 1;
    /// `Predicate.name` (a symbol id).
    pub const NAME: u32 = 1;
    /// `Predicate.terms` (repeated `Term`).
    pub const TERMS: u32 = 2;
    /// `Term.string` (a symbol id), one of the `Content` oneof.
    pub const STRING: u32 = 3;
    /// The tags of `Term`'s `Content` oneof.
    pub const CONTENT: std::ops::RangeInclusive<u32> = 1..=10;
}

/// The serialized block of a `SignedBlock` message (the last `block` field
/// wins, as prost merges it) and whether it is a third-party block.
pub fn signed_block(signed: &[u8]) -> Result<(Option<&[u8]>, bool), DecodeError> {
    let (mut block, mut third_party) = (None, false);
    for field in Fields::new(signed) {
        match field? {
            (tag::BLOCK, Value::Bytes(bytes)) => block = Some(bytes),
            (tag::EXTERNAL_SIGNATURE, Value::Bytes(_)) => third_party = true,
            (tag @ (tag::BLOCK | tag::EXTERNAL_SIGNATURE), _) => return Err(wrong_type(tag)),
            _ => {}
        }
    }
    Ok((block, third_party))
}

/// The domain the authority block `authority` of `token` states with its
/// `domain($s)` facts: `None` without one, an error when two disagree.
pub fn domain_claim<'a>(
    token: &'a [u8],
    authority: &'a [u8],
) -> Result<Option<String>, EnvelopeError> {
    let mut ids = Vec::new();
    for field in Fields::new(authority) {
        match field? {
            (tag::FACTS, Value::Bytes(fact)) => ids.extend(domain_fact(fact)?),
            (tag::SYMBOLS, Value::Bytes(_)) => {}
            (tag @ (tag::FACTS | tag::SYMBOLS), _) => return Err(wrong_type(tag).into()),
            _ => {}
        }
    }
    if ids.is_empty() {
        return Ok(None);
    }
    ids.sort_unstable();
    ids.dedup();
    let mut claim = Claim::default();
    let own = ids.partition_point(|id| *id < SYMBOL_OFFSET);
    for id in &ids[..own] {
        if let Some(symbol) = crate::blocks::symbol(&[], *id) {
            claim.add(symbol.as_bytes())?;
        }
    }
    // One walk over the first-party table resolves the other ids in order.
    let mut wanted = ids[own..].iter().peekable();
    let mut next_id = SYMBOL_OFFSET;
    if wanted.peek().is_some() {
        first_party_symbols(token, authority, |symbol| {
            if wanted.next_if_eq(&&next_id).is_some() {
                claim.add(symbol)?;
            }
            next_id += 1;
            Ok(match wanted.peek() {
                Some(_) => ControlFlow::Continue(()),
                None => ControlFlow::Break(()),
            })
        })?;
    }
    claim.into_domain()
}

/// The string symbol id of a `domain($s)` fact, `None` for any other fact.
fn domain_fact(fact: &[u8]) -> Result<Option<u64>, DecodeError> {
    let (mut name, mut terms, mut term) = (0, 0usize, &[][..]);
    for field in Fields::new(fact) {
        let predicate = match field? {
            (tag::PREDICATE, Value::Bytes(predicate)) => predicate,
            (tag::PREDICATE, _) => return Err(wrong_type(tag::PREDICATE)),
            _ => continue,
        };
        for field in Fields::new(predicate) {
            match field? {
                (tag::NAME, Value::Varint(id)) => name = id,
                (tag::TERMS, Value::Bytes(bytes)) => {
                    terms += 1;
                    term = bytes;
                }
                (tag @ (tag::NAME | tag::TERMS), _) => return Err(wrong_type(tag)),
                _ => {}
            }
        }
    }
    if name != DOMAIN_SYMBOL || terms != 1 {
        return Ok(None);
    }
    string_term(term)
}

/// The symbol id of a string term, `None` for a term of another kind.
fn string_term(term: &[u8]) -> Result<Option<u64>, DecodeError> {
    // The oneof holds the kind of the last content field, as prost merges it.
    let mut content = None;
    for field in Fields::new(term) {
        match field? {
            (tag::STRING, Value::Varint(id)) => content = Some(Some(id)),
            (tag::STRING, _) => return Err(wrong_type(tag::STRING)),
            (tag, _) if tag::CONTENT.contains(&tag) => content = Some(None),
            _ => {}
        }
    }
    Ok(content.flatten())
}

/// Calls `visit` with each symbol of the first-party table in order (the
/// authority block's, then each later first-party block's) until it breaks.
fn first_party_symbols<'a>(
    token: &'a [u8],
    authority: &'a [u8],
    mut visit: impl FnMut(&'a [u8]) -> Result<ControlFlow<()>, EnvelopeError>,
) -> Result<(), EnvelopeError> {
    let mut symbols_of = |block: &'a [u8]| -> Result<ControlFlow<()>, EnvelopeError> {
        for field in Fields::new(block) {
            match field? {
                (tag::SYMBOLS, Value::Bytes(symbol)) if visit(symbol)?.is_break() => {
                    return Ok(ControlFlow::Break(()));
                }
                (tag::SYMBOLS, Value::Bytes(_)) => {}
                (tag::SYMBOLS, _) => return Err(wrong_type(tag::SYMBOLS).into()),
                _ => {}
            }
        }
        Ok(ControlFlow::Continue(()))
    };
    if symbols_of(authority)?.is_break() {
        return Ok(());
    }
    for field in Fields::new(token) {
        let signed = match field? {
            (tag::BLOCKS, Value::Bytes(signed)) => signed,
            (tag::BLOCKS, _) => return Err(wrong_type(tag::BLOCKS).into()),
            _ => continue,
        };
        if let (Some(block), false) = signed_block(signed)? {
            if symbols_of(block)?.is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The one value the domain facts agree on, so far.
#[derive(Debug, Default)]
struct Claim<'a> {
    domain: Option<&'a str>,
}

impl<'a> Claim<'a> {
    fn add(&mut self, symbol: &'a [u8]) -> Result<(), EnvelopeError> {
        let text = std::str::from_utf8(symbol)
            .map_err(|_| EnvelopeError::Malformed("a domain symbol is not UTF-8".into()))?;
        match self.domain {
            None => self.domain = Some(text),
            Some(first) if first == text => {}
            Some(first) => {
                return Err(EnvelopeError::ConflictingDomainFacts {
                    first: first.to_owned(),
                    second: text.to_owned(),
                })
            }
        }
        Ok(())
    }

    fn into_domain(self) -> Result<Option<String>, EnvelopeError> {
        self.domain
            .map(|domain| super::checked_domain(domain).map(str::to_owned))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::TokenBlocks;
    use crate::envelope::read_hints;
    use biscuit_auth::datalog::SymbolTable;
    use biscuit_auth::format::schema;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair, UnverifiedBiscuit};
    use prost::Message;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn minted(authority: &str) -> Vec<u8> {
        Biscuit::builder()
            .code(authority)
            .expect("code")
            .root_key_id(1)
            .build(&KeyPair::new())
            .expect("build")
            .to_vec()
            .expect("serialize")
    }

    fn claim(token: &[u8]) -> Result<Option<String>, EnvelopeError> {
        read_hints(token).map(|hints| hints.authority_domain)
    }

    /// The token with its authority block replaced by `symbols` and `facts`
    /// (signatures no longer match; nothing here verifies).
    fn with_authority(token: &[u8], symbols: &[&str], facts: Vec<schema::Fact>) -> Vec<u8> {
        let mut proto = schema::Biscuit::decode(token).expect("decode");
        proto.authority.block = schema::Block {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            facts,
            version: Some(3),
            ..Default::default()
        }
        .encode_to_vec();
        proto.encode_to_vec()
    }

    fn fact(name: u64, terms: Vec<schema::term::Content>) -> schema::Fact {
        schema::Fact {
            predicate: schema::Predicate {
                name,
                terms: terms
                    .into_iter()
                    .map(|content| schema::Term {
                        content: Some(content),
                    })
                    .collect(),
            },
        }
    }

    /// The authority block's domain claims as the claim check after
    /// verification reads them, from the whole decoded schema.
    fn reference(token: &[u8]) -> Option<Vec<String>> {
        use schema::term::Content;
        let blocks = TokenBlocks::decode(token).ok()?;
        let authority = blocks.iter().next()?;
        Some(
            authority
                .block
                .facts
                .iter()
                .filter(|fact| authority.symbol(fact.predicate.name) == Some("domain"))
                .filter_map(|fact| match fact.predicate.terms.as_slice() {
                    [schema::Term {
                        content: Some(Content::String(id)),
                    }] => authority.symbol(*id).map(str::to_owned),
                    _ => None,
                })
                .collect(),
        )
    }

    #[test]
    fn domain_is_biscuits_default_symbol_20() {
        assert_eq!(SymbolTable::new().get("domain"), Some(DOMAIN_SYMBOL));
    }

    #[test]
    fn the_fact_is_read_when_present_and_none_when_absent() {
        assert_eq!(
            claim(&minted(
                r#"user("alice"); domain("a.example"); right("read");"#
            )),
            Ok(Some("a.example".into()))
        );
        assert_eq!(claim(&minted(r#"user("alice");"#)), Ok(None));
        // The same value twice is one claim.
        assert_eq!(
            claim(&minted(r#"domain("a.example"); domain("a.example");"#)),
            Ok(Some("a.example".into()))
        );
        // A default symbol as the value resolves from the default table.
        assert_eq!(
            claim(&minted(r#"domain("read");"#)),
            Ok(Some("read".into()))
        );
    }

    #[test]
    fn it_survives_attenuation_that_drops_field_5() {
        let token = Biscuit::builder()
            .code(r#"domain("a.example"); right("read");"#)
            .expect("code")
            .build(&KeyPair::new())
            .expect("build")
            .append(
                BlockBuilder::new()
                    .code(r#"check if right("read"); other("b.example");"#)
                    .expect("block"),
            )
            .expect("append")
            .to_vec()
            .expect("serialize");
        let hints = read_hints(&token).expect("hints");
        assert_eq!(hints.domain, None);
        assert_eq!(hints.authority_domain.as_deref(), Some("a.example"));
    }

    #[test]
    fn other_terms_and_arities_are_not_a_domain() {
        for code in [
            "domain(1);",
            "domain(true);",
            r#"domain(["a.example"]);"#,
            r#"domain("a.example", "b.example");"#,
            "domain(hex:00);",
            r#"domains("a.example");"#,
        ] {
            assert_eq!(claim(&minted(code)), Ok(None), "{code}");
        }
        // A `domain` fact in a later block is not the authority's.
        let token = Biscuit::builder()
            .code(r#"user("x");"#)
            .expect("code")
            .build(&KeyPair::new())
            .expect("build");
        let mut proto =
            schema::Biscuit::decode(&token.to_vec().expect("serialize")[..]).expect("d");
        let mut later = proto.authority.clone();
        later.block = schema::Block {
            symbols: vec!["b.example".into()],
            facts: vec![fact(
                DOMAIN_SYMBOL,
                vec![schema::term::Content::String(1025)],
            )],
            version: Some(3),
            ..Default::default()
        }
        .encode_to_vec();
        proto.blocks.push(later);
        assert_eq!(claim(&proto.encode_to_vec()), Ok(None));
    }

    #[test]
    fn a_custom_symbol_spelled_domain_is_not_the_predicate() {
        use schema::term::Content;
        let token = with_authority(
            &minted(r#"user("x");"#),
            &["domain", "a.example"],
            vec![fact(1024, vec![Content::String(1025)])],
        );
        assert_eq!(claim(&token), Ok(None));
        // biscuit-auth refuses a token that redefines a default symbol.
        assert!(UnverifiedBiscuit::from(&token).is_err());
    }

    #[test]
    fn two_different_domains_are_refused() {
        assert_eq!(
            claim(&minted(r#"domain("a.example"); domain("b.example");"#)),
            Err(EnvelopeError::ConflictingDomainFacts {
                first: "a.example".into(),
                second: "b.example".into()
            })
        );
        // Two ids spelling the same string (a table with a repeated symbol) agree.
        use schema::term::Content;
        let token = with_authority(
            &minted(r#"user("x");"#),
            &["a.example", "a.example"],
            vec![
                fact(DOMAIN_SYMBOL, vec![Content::String(1024)]),
                fact(DOMAIN_SYMBOL, vec![Content::String(1025)]),
            ],
        );
        assert_eq!(claim(&token), Ok(Some("a.example".into())));
    }

    #[test]
    fn a_symbol_of_a_later_first_party_block_resolves_as_biscuit_does() {
        use schema::term::Content;
        let base = minted(r#"user("x");"#);
        let authority_only = with_authority(
            &base,
            &["x"],
            vec![fact(DOMAIN_SYMBOL, vec![Content::String(1025)])],
        );
        // Past the authority block's own symbols and no later block: no claim.
        assert_eq!(claim(&authority_only), Ok(None));
        let mut proto = schema::Biscuit::decode(&authority_only[..]).expect("decode");
        let mut later = proto.authority.clone();
        later.block = schema::Block {
            symbols: vec!["b.example".into()],
            version: Some(3),
            ..Default::default()
        }
        .encode_to_vec();
        proto.blocks.push(later.clone());
        let first_party = proto.encode_to_vec();
        assert_eq!(claim(&first_party), Ok(Some("b.example".into())));
        assert_eq!(reference(&first_party), Some(vec!["b.example".into()]));
        // A third-party block's symbols are its own.
        later.external_signature = Some(schema::ExternalSignature {
            signature: vec![0; 64],
            public_key: later.next_key.clone(),
        });
        proto.blocks = vec![later];
        let third_party = proto.encode_to_vec();
        assert_eq!(claim(&third_party), Ok(None));
        assert_eq!(reference(&third_party), Some(vec![]));
    }

    #[test]
    fn a_repeated_authority_field_merges_as_prost_does() {
        let token = minted(r#"domain("a.example");"#);
        // A second `authority` field holding only a `block`: its block wins.
        let other = with_authority(
            &token,
            &["b.example"],
            vec![fact(
                DOMAIN_SYMBOL,
                vec![schema::term::Content::String(1024)],
            )],
        );
        let block = schema::Biscuit::decode(&other[..])
            .expect("decode")
            .authority
            .block;
        let signed = schema::SignedBlock {
            block,
            ..Default::default()
        };
        let mut merged = token.clone();
        let mut field = Vec::new();
        prost::encoding::message::encode(2, &signed, &mut field);
        merged.extend_from_slice(&field);
        assert_eq!(reference(&merged), Some(vec!["b.example".into()]));
        assert_eq!(claim(&merged), Ok(Some("b.example".into())));
    }

    /// `value` as length-delimited field `tag`.
    fn field(tag: u32, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::bytes::encode(tag, &value.to_vec(), &mut out);
        out
    }

    #[test]
    fn garbage_is_an_error_or_no_claim_never_a_panic() {
        let authority = |block: &[u8]| field(2, &field(1, block));
        // Field 2 as a varint, a block longer than its message.
        assert!(matches!(
            read_hints(b"\x10\x01"),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            read_hints(b"\x12\x03\x0a\x05ab"),
            Err(EnvelopeError::Malformed(_))
        ));
        // An empty block, an empty symbol, an empty fact: no claim.
        assert_eq!(claim(&authority(b"")), Ok(None));
        assert_eq!(claim(&authority(&field(1, b""))), Ok(None));
        assert_eq!(claim(&authority(&field(4, b""))), Ok(None));
        // Facts and symbols of the wrong wire type, a fact that is not a message.
        assert!(claim(&authority(b"\x20\x01")).is_err());
        assert!(claim(&authority(b"\x08\x01")).is_err());
        assert!(claim(&authority(&field(4, b"\x08\x14"))).is_err());
        // 20,000 nested groups are refused at prost's nesting limit.
        assert!(claim(&authority(&b"\x0b".repeat(20_000))).is_err());
        // A domain fact whose value is not UTF-8.
        let fact = field(1, &[&b"\x08\x14"[..], &field(2, b"\x18\x80\x08")].concat());
        let block = [field(1, b"\xff\xfe"), field(4, &fact)].concat();
        assert!(matches!(
            claim(&authority(&block)),
            Err(EnvelopeError::Malformed(_))
        ));
        // The same fact with a valid value reads, so the encoding above is right.
        let block = [field(1, b"a.example"), field(4, &fact)].concat();
        assert_eq!(claim(&authority(&block)), Ok(Some("a.example".into())));
        // 4,000 domain facts naming 4,000 different symbols of one value: one walk.
        let mut block = field(1, b"a.example").repeat(4_000);
        for id in 0..4_000u64 {
            let mut term = vec![0x18];
            prost::encoding::encode_varint(1024 + id, &mut term);
            let predicate = [&b"\x08\x14"[..], &field(2, &term)].concat();
            block.extend(field(4, &field(1, &predicate)));
        }
        assert_eq!(claim(&authority(&block)), Ok(Some("a.example".into())));
    }

    #[test]
    fn mutated_tokens_read_as_the_decoded_schema_says() {
        let seeds = [
            minted(r#"user("alice"); domain("a.example"); right("read");"#),
            minted(r#"domain("a.example"); domain("b.example");"#),
            minted(r#"domain("a.example"); domain("a.example"); domain(1);"#),
            minted(r#"user("bob");"#),
        ];
        let mut rng = StdRng::seed_from_u64(16);
        let mut compared = 0;
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..4) {
                    0 => bytes[at] = rng.gen(),
                    1 => bytes[at] ^= 1 << rng.gen_range(0..8),
                    2 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, rng.gen()),
                }
            }
            let read = claim(&bytes);
            // Only tokens biscuit-auth parses matter; for them the hint is the
            // claim. (A field 5 made by a mutation is judged on its own.)
            let field_5 = Fields::new(&bytes).any(|f| matches!(f, Ok((5, _))));
            if field_5 || UnverifiedBiscuit::from(&bytes).is_err() {
                continue;
            }
            let claims = reference(&bytes).expect("biscuit-auth decoded it");
            let expected = match claims.split_first() {
                None => Ok(None),
                Some((first, rest)) => match rest.iter().find(|other| *other != first) {
                    Some(second) => Err(EnvelopeError::ConflictingDomainFacts {
                        first: first.clone(),
                        second: second.clone(),
                    }),
                    None => super::super::checked_domain(first).map(|d| Some(d.to_owned())),
                },
            };
            match (&read, &expected) {
                (
                    Err(EnvelopeError::ConflictingDomainFacts { .. }),
                    Err(EnvelopeError::ConflictingDomainFacts { .. }),
                ) => {}
                _ => assert_eq!(read, expected, "round {round}: {bytes:?}"),
            }
            compared += 1;
        }
        assert!(compared > 1_000, "only {compared} mutations parsed");
    }
}
