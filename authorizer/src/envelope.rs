//! The unsigned envelope of a serialized Biscuit: the `rootKeyId` (field 1)
//! and the added `optional string domain = 5` of the `Biscuit` message.
//!
//! Neither field is covered by a signature. They are hints for choosing a
//! key, nothing more: the trusted domain is the one whose key verifies.

use prost::Message;

/// Tag of the added `domain` field of the `Biscuit` protobuf message.
pub const DOMAIN_FIELD: u32 = 5;

/// Longest domain hint accepted (a DNS name has at most 253 characters).
pub const MAX_DOMAIN_LEN: usize = 253;

/// The key-choice hints read from a token's envelope, unverified.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hints {
    /// The `rootKeyId` field, if present.
    pub root_key_id: Option<u32>,
    /// The `domain` field (5), if present.
    pub domain: Option<String>,
}

/// Why an envelope could not be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes are not a protobuf `Biscuit` message.
    #[error("token envelope is not valid protobuf: {0}")]
    Malformed(String),
    /// The domain field is empty or too long.
    #[error("domain hint must be 1 to {MAX_DOMAIN_LEN} bytes, got {0}")]
    DomainLength(usize),
}

/// Only the two hint fields; prost skips every other field while decoding.
#[derive(Clone, PartialEq, Message)]
struct HintFields {
    #[prost(uint32, optional, tag = "1")]
    root_key_id: Option<u32>,
    #[prost(string, optional, tag = "5")]
    domain: Option<String>,
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

/// Reads the hints of a serialized token without verifying anything.
pub fn read_hints(token: &[u8]) -> Result<Hints, EnvelopeError> {
    let fields = HintFields::decode(token).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let domain = match fields.domain {
        Some(domain) if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN => {
            return Err(EnvelopeError::DomainLength(domain.len()))
        }
        domain => domain,
    };
    Ok(Hints {
        root_key_id: fields.root_key_id,
        domain,
    })
}

/// Returns the token with its domain field set to `domain` (replacing any
/// earlier value) or removed when `domain` is `None`. Signed content is kept
/// byte for byte; fields other than 1 to 5 are dropped, as biscuit-auth does.
pub fn with_domain(token: &[u8], domain: Option<&str>) -> Result<Vec<u8>, EnvelopeError> {
    if let Some(domain) = domain {
        if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN {
            return Err(EnvelopeError::DomainLength(domain.len()));
        }
    }
    let mut envelope =
        Envelope::decode(token).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
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
                domain: None
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
