//! Writes to a secret that always land: the `ClientRequestToken` rule shared
//! by key-sync (the key map) and `authz revoke` (the revocation list).

use sha2::{Digest, Sha256};

/// The `ClientRequestToken` of a write: the SHA-256 (hex, 64 characters) of
/// the version it replaces and the new content. A retried call is idempotent;
/// writing earlier content again is a new version, never a swallowed no-op
/// (Secrets Manager ignores a token it has seen with the same content).
pub fn request_token(previous_version: &str, content: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(previous_version.as_bytes());
    hash.update([0]);
    hash.update(content.as_bytes());
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_names_the_write_not_only_the_content() {
        let token = request_token("v1", "{}");
        assert_eq!(token.len(), 64);
        assert_eq!(token, request_token("v1", "{}"), "a retry is idempotent");
        assert_ne!(
            token,
            request_token("v2", "{}"),
            "the same content later is a new write"
        );
        assert_ne!(request_token("v1", "{}x"), request_token("v1{", "}x"));
    }
}
