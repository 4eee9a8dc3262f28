//! A borrowing walk over the fields of one protobuf message.
//!
//! The hint readers decode only the few fields they need, straight from the
//! token's bytes: no copy of a block, no string per symbol. What they read
//! follows prost's rules (which biscuit-auth decodes with): a field of the
//! wrong wire type is an error, unknown fields are skipped (groups to prost's
//! nesting limit), a length that runs past the buffer is an error.

use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
use prost::DecodeError;

/// The value of one field, as far as the readers need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A varint (integers, booleans, enums).
    Varint(u64),
    /// A length-delimited value (strings, bytes, embedded messages), borrowed.
    Bytes(&'a [u8]),
    /// A fixed-width value or a group, skipped.
    Other,
}

/// The fields of one message, in wire order; stops at the first error.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields of the message encoded in `message`.
    #[inline]
    pub fn new(message: &'a [u8]) -> Fields<'a> {
        Fields { rest: message }
    }

    #[inline]
    fn read(&mut self) -> Result<(u32, Value<'a>), DecodeError> {
        let (tag, wire_type) = decode_key(&mut self.rest)?;
        let value = match wire_type {
            WireType::Varint => Value::Varint(decode_varint(&mut self.rest)?),
            WireType::LengthDelimited => {
                let len = decode_varint(&mut self.rest)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|len| *len <= self.rest.len())
                    .ok_or_else(|| DecodeError::new("buffer underflow"))?;
                let (value, rest) = self.rest.split_at(len);
                self.rest = rest;
                Value::Bytes(value)
            }
            other => {
                skip_field(other, tag, &mut self.rest, DecodeContext::default())?;
                Value::Other
            }
        };
        Ok((tag, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = self.read();
        if field.is_err() {
            self.rest = &[];
        }
        Some(field)
    }
}

/// The error for a known field of the wrong wire type (prost refuses it too).
pub fn wrong_type(tag: u32) -> DecodeError {
    DecodeError::new(format!("field {tag} has the wrong wire type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Vec<Result<(u32, Value<'_>), DecodeError>> {
        Fields::new(bytes).collect()
    }

    #[test]
    fn reads_varints_and_borrows_length_delimited_values() {
        // field 1 = 150, field 2 = "ab", field 3 fixed32, field 4 an empty group.
        let bytes = b"\x08\x96\x01\x12\x02ab\x1d\x01\x02\x03\x04\x23\x24";
        let read: Vec<_> = fields(bytes)
            .into_iter()
            .map(|f| f.expect("field"))
            .collect();
        assert_eq!(
            read,
            [
                (1, Value::Varint(150)),
                (2, Value::Bytes(b"ab")),
                (3, Value::Other),
                (4, Value::Other),
            ]
        );
    }

    #[test]
    fn truncated_and_invalid_input_is_an_error_then_stops() {
        for bytes in [
            &b"\x12\x05ab"[..],                                  // length past the end
            b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",     // huge length
            b"\x00\x01",                                         // tag 0
            b"\x0f",                                             // wire type 7
            b"\x24",                                             // end group without a start
            b"\x08",                                             // varint missing
            b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", // varint too long
        ] {
            let read = fields(bytes);
            assert_eq!(read.len(), 1, "{bytes:?}");
            assert!(read[0].is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn deep_groups_are_refused_not_recursed_without_bound() {
        // 10,000 nested start groups of field 1: prost's nesting limit applies.
        let bytes = b"\x0b".repeat(10_000);
        let read = fields(&bytes);
        assert_eq!(read.len(), 1);
        assert!(read[0].is_err());
    }
}
