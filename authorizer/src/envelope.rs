//! The key-choice hints of a serialized Biscuit, read before anything is
//! verified: the unsigned envelope's `rootKeyId` (field 1) and added
//! `optional string domain = 5`, and the signed authority block's
//! `domain("...")` fact ([`authority`]).
//!
//! None of them decides anything. They choose the keys to try; the trusted
//! domain is the one whose key verifies.
//!
//! - [`wire`]: a borrowing walk over protobuf fields, for reading only what is needed.
//! - [`authority`]: the authority block's domain fact.

pub mod authority;
pub mod wire;

use prost::Message;

use wire::{wrong_type, Fields, Value};

/// Tag of the `rootKeyId` field of the `Biscuit` protobuf message.
const ROOT_KEY_ID_FIELD: u32 = 1;

/// Tag of the `authority` field (a `SignedBlock`) of the `Biscuit` protobuf message.
const AUTHORITY_FIELD: u32 = 2;

/// Tag of the added `domain` field of the `Biscuit` protobuf message.
pub const DOMAIN_FIELD: u32 = 5;

/// Longest domain hint accepted (a DNS name has at most 253 characters).
pub const MAX_DOMAIN_LEN: usize = 253;

/// The key-choice hints read from a token, unverified.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hints {
    /// The `rootKeyId` field, if present.
    pub root_key_id: Option<u32>,
    /// The `domain` field (5), if present.
    pub domain: Option<String>,
    /// The authority block's `domain("...")` fact, if it has one.
    pub authority_domain: Option<String>,
}

/// Why an envelope could not be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes are not a protobuf `Biscuit` message.
    #[error("token envelope is not valid protobuf: {0}")]
    Malformed(String),
    /// The domain field or the authority domain fact is empty or too long.
    #[error("domain hint must be 1 to {MAX_DOMAIN_LEN} bytes, got {0}")]
    DomainLength(usize),
    /// The authority block has `domain` facts with different values.
    #[error("authority block states two domains, {first:?} and {second:?}")]
    ConflictingDomainFacts {
        /// One value.
        first: String,
        /// Another value.
        second: String,
    },
}

impl From<prost::DecodeError> for EnvelopeError {
    fn from(error: prost::DecodeError) -> Self {
        EnvelopeError::Malformed(error.to_string())
    }
}

/// `domain` if it has the length of a domain hint.
fn checked_domain(domain: &str) -> Result<&str, EnvelopeError> {
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN {
        return Err(EnvelopeError::DomainLength(domain.len()));
    }
    Ok(domain)
}

/// The whole envelope, blocks kept as opaque bytes, for rewriting field 5.
#[derive(Clone, PartialEq, Message)]
struct Envelope {
    #[prost(uint32, optional, tag = "1")]
    root_key_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "2")]
    authority: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    blocks: Vec<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    proof: Option<Vec<u8>>,
    #[prost(string, optional, tag = "5")]
    domain: Option<String>,
}

/// Reads the hints of a serialized token without verifying anything: one
/// walk over the envelope's fields, then the authority block's facts.
pub fn read_hints(token: &[u8]) -> Result<Hints, EnvelopeError> {
    let (mut root_key_id, mut domain, mut authority) = (None, None, None);
    for field in Fields::new(token) {
        match field? {
            // prost reads a uint32 as a varint cut to 32 bits; so does biscuit-auth.
            (ROOT_KEY_ID_FIELD, Value::Varint(id)) => root_key_id = Some(id as u32),
            (DOMAIN_FIELD, Value::Bytes(bytes)) => {
                domain = Some(std::str::from_utf8(bytes).map_err(|_| {
                    EnvelopeError::Malformed("the domain field is not UTF-8".into())
                })?)
            }
            // A message given twice is merged: the last `block` field wins.
            (AUTHORITY_FIELD, Value::Bytes(signed)) => {
                if let (Some(block), _) = authority::signed_block(signed)? {
                    authority = Some(block);
                }
            }
            (tag @ (ROOT_KEY_ID_FIELD | DOMAIN_FIELD | AUTHORITY_FIELD), _) => {
                return Err(wrong_type(tag).into())
            }
            _ => {}
        }
    }
    let domain = domain.map(checked_domain).transpose()?.map(str::to_owned);
    let authority_domain = match authority {
        Some(block) => authority::domain_claim(token, block)?,
        None => None,
    };
    Ok(Hints {
        root_key_id,
        domain,
        authority_domain,
    })
}

/// Returns the token with its domain field set to `domain` (replacing any
/// earlier value) or removed when `domain` is `None`. Signed content is kept
/// byte for byte; fields other than 1 to 5 are dropped, as biscuit-auth does.
pub fn with_domain(token: &[u8], domain: Option<&str>) -> Result<Vec<u8>, EnvelopeError> {
    domain.map(checked_domain).transpose()?;
    let mut envelope = Envelope::decode(token)?;
    envelope.domain = domain.map(str::to_owned);
    Ok(envelope.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, KeyPair};

    fn token(root_key_id: Option<u32>) -> (KeyPair, Vec<u8>) {
        let root = KeyPair::new();
        let mut builder = Biscuit::builder().fact("user(\"alice\")").expect("fact");
        if let Some(id) = root_key_id {
            builder = builder.root_key_id(id);
        }
        let token = builder
            .build(&root)
            .expect("build")
            .to_vec()
            .expect("serialize");
        (root, token)
    }

    #[test]
    fn hints_of_a_plain_token() {
        let (_, bytes) = token(Some(42));
        assert_eq!(
            read_hints(&bytes),
            Ok(Hints {
                root_key_id: Some(42),
                ..Hints::default()
            })
        );
    }

    #[test]
    fn domain_is_attached_replaced_and_removed_without_breaking_the_signature() {
        let (root, bytes) = token(Some(1));
        let with_a = with_domain(&bytes, Some("a.example")).expect("attach");
        // The protobuf bytes `0x2A, len, domain` that other tools append.
        assert!(with_a.ends_with(b"\x2a\x09a.example"));
        assert_eq!(
            read_hints(&with_a).expect("hints").domain.as_deref(),
            Some("a.example")
        );
        let with_b = with_domain(&with_a, Some("b.example")).expect("replace");
        assert_eq!(
            read_hints(&with_b).expect("hints").domain.as_deref(),
            Some("b.example")
        );
        Biscuit::from(&with_b, root.public()).expect("still verifies");
        assert_eq!(with_domain(&with_b, None).expect("remove"), bytes);
    }

    #[test]
    fn garbage_and_bad_domains_are_errors() {
        assert!(matches!(
            read_hints(b"\xff\xff\xff"),
            Err(EnvelopeError::Malformed(_))
        ));
        let (_, mut bytes) = token(None);
        bytes.extend_from_slice(b"\x2a\x00");
        assert_eq!(read_hints(&bytes), Err(EnvelopeError::DomainLength(0)));
        let (_, mut bytes) = token(None);
        bytes.extend_from_slice(b"\x2a\x02\xff\xfe");
        assert!(matches!(
            read_hints(&bytes),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
