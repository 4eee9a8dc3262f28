//! From the credential string to token bytes: size cap first, then base64.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// Default cap on the credential's length, checked before decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// URL-safe base64, padded or not.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a credential is not a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The credential is longer than the configured cap.
    #[error("token is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Length of the credential.
        size: usize,
        /// The configured cap.
        limit: usize,
    },
    /// The credential is not URL-safe base64.
    #[error("token is not URL-safe base64")]
    NotBase64,
}

/// Decodes a credential into token bytes, refusing anything over `limit` bytes.
pub fn decode(credential: &str, limit: usize) -> Result<Vec<u8>, TokenError> {
    if credential.len() > limit {
        return Err(TokenError::TooLarge {
            size: credential.len(),
            limit,
        });
    }
    URL_SAFE_ANY_PADDING
        .decode(credential)
        .map_err(|_| TokenError::NotBase64)
}

/// Encodes token bytes as URL-safe base64 with padding, as biscuit-auth does.
pub fn encode(token: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_and_unpadded_decode_alike() {
        assert_eq!(decode("YWJjZA==", 100), Ok(b"abcd".to_vec()));
        assert_eq!(decode("YWJjZA", 100), Ok(b"abcd".to_vec()));
        assert_eq!(encode(b"abcd"), "YWJjZA==");
    }

    #[test]
    fn oversized_and_garbage_are_refused() {
        assert_eq!(
            decode("YWJjZA", 5),
            Err(TokenError::TooLarge { size: 6, limit: 5 })
        );
        assert_eq!(decode("a+b/", 100), Err(TokenError::NotBase64));
        assert_eq!(decode("!!!!", 100), Err(TokenError::NotBase64));
    }
}
