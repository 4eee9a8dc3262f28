//! Holder binding: a token bound to a client certificate with `holder_cert($sha256_hex)`
//! is honoured only when the request presents that certificate (API Gateway mutual TLS).

use base64::Engine;
use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint (lowercase hex) of a PEM certificate's DER bytes,
/// or `None` when the text is not one PEM certificate.
pub fn fingerprint(pem: &str) -> Option<String> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .strip_suffix("-----END CERTIFICATE-----")?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .ok()?;
    (!der.is_empty()).then(|| hex::encode(Sha256::digest(&der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_the_der_bytes() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(
            fingerprint(pem),
            Some(hex::encode(Sha256::digest([0u8, 1, 2, 3])))
        );
        assert_eq!(fingerprint("not a certificate"), None);
        assert_eq!(
            fingerprint("-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----"),
            None
        );
        assert_eq!(
            fingerprint("-----BEGIN CERTIFICATE----------END CERTIFICATE-----"),
            None
        );
    }
}
