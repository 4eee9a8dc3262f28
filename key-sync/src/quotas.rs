//! The per-domain quotas, measured on what is stored: a key's free-text
//! field counts its bytes as escaped JSON, and a control character in it is
//! refused outright (it would take 6 bytes as stored, and no issuer needs one).

use biscuit_auth::BiscuitWebKey;

/// Limits that keep one domain from crowding out the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Most keys one domain may store.
    pub max_keys_per_domain: usize,
    /// Longest free-text field of a key (`issuer`), in bytes as stored (escaped JSON, without the quotes).
    pub max_field_bytes: usize,
    /// Largest stored document (the whole map, or each shard), canonical JSON, in bytes.
    pub max_map_bytes: usize,
    /// Number of shards the map is split into ([`authorizer::store::split`]); 1 for a whole map.
    pub shards: usize,
}

/// Why a domain's published key set is over a quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// More keys than a domain may store.
    #[error("{keys} keys, over the limit of {limit} per domain")]
    TooManyKeys {
        /// Keys published (and usable).
        keys: usize,
        /// The limit.
        limit: usize,
    },
    /// A free-text field holds a control character.
    #[error(
        "key {key_id}: {field} holds the control character U+{code:04X} at character {position}"
    )]
    ControlCharacter {
        /// The key.
        key_id: u32,
        /// The field (`issuer`).
        field: &'static str,
        /// The character's code point.
        code: u32,
        /// Its position among the field's characters (0-based).
        position: usize,
    },
    /// A free-text field is longer than allowed, as stored.
    #[error("key {key_id}: {field} of {stored} bytes as stored (escaped JSON), over the limit of {limit}")]
    FieldTooLong {
        /// The key.
        key_id: u32,
        /// The field (`issuer`).
        field: &'static str,
        /// Its length as stored, in bytes.
        stored: usize,
        /// The limit.
        limit: usize,
    },
}

impl Quotas {
    /// Checks one domain's validated key set against the per-domain limits.
    pub fn check(&self, keys: &[BiscuitWebKey]) -> Result<(), QuotaError> {
        if keys.len() > self.max_keys_per_domain {
            return Err(QuotaError::TooManyKeys {
                keys: keys.len(),
                limit: self.max_keys_per_domain,
            });
        }
        for key in keys {
            // `issuer` is the one free-text field of a BWKS item: the others
            // are parsed (algorithm, key bytes, key id, date) and re-serialized.
            if let Some(issuer) = &key.issuer {
                self.check_field(key.key_id, "issuer", issuer)?;
            }
        }
        Ok(())
    }

    fn check_field(&self, key_id: u32, field: &'static str, text: &str) -> Result<(), QuotaError> {
        if let Some((position, c)) = text.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(QuotaError::ControlCharacter {
                key_id,
                field,
                code: u32::from(c),
                position,
            });
        }
        let stored = stored_len(text);
        if stored > self.max_field_bytes {
            return Err(QuotaError::FieldTooLong {
                key_id,
                field,
                stored,
                limit: self.max_field_bytes,
            });
        }
        Ok(())
    }
}

/// Length of a string as stored in the map's JSON, escapes included, quotes excluded.
pub fn stored_len(text: &str) -> usize {
    // Serializing a string cannot fail.
    serde_json::to_string(text).map_or(usize::MAX, |json| json.len().saturating_sub(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::KeyPair;

    const QUOTAS: Quotas = Quotas {
        max_keys_per_domain: 2,
        max_field_bytes: 256,
        max_map_bytes: 64 * 1024,
        shards: 1,
    };

    fn with_issuer(issuer: &str) -> BiscuitWebKey {
        BiscuitWebKey {
            public_key: KeyPair::new().public(),
            key_id: 7,
            issuer: Some(issuer.to_owned()),
            expires_at: None,
        }
    }

    #[test]
    fn the_field_quota_counts_escaped_bytes_exactly() {
        // A quote is stored as two bytes: 128 of them are exactly 256 bytes.
        let at_quota = "\"".repeat(128);
        assert_eq!(stored_len(&at_quota), 256);
        assert_eq!(QUOTAS.check(&[with_issuer(&at_quota)]), Ok(()));
        let over = format!("{at_quota}x");
        assert_eq!(
            QUOTAS.check(&[with_issuer(&over)]),
            Err(QuotaError::FieldTooLong {
                key_id: 7,
                field: "issuer",
                stored: 257,
                limit: 256
            })
        );
        // Non-ASCII text is stored as UTF-8, unescaped: its bytes count.
        assert_eq!(stored_len("é"), 2);
        assert!(QUOTAS.check(&[with_issuer(&"é".repeat(128))]).is_ok());
        assert!(QUOTAS.check(&[with_issuer(&"é".repeat(129))]).is_err());
    }

    #[test]
    fn control_characters_are_refused_whatever_the_length() {
        for text in ["\u{1}", "ok\u{7f}", "tab\there", "line\u{85}"] {
            match QUOTAS.check(&[with_issuer(text)]) {
                Err(QuotaError::ControlCharacter { key_id: 7, .. }) => {}
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let error = QUOTAS
            .check(&[with_issuer(&"\u{1}".repeat(256))])
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "key 7: issuer holds the control character U+0001 at character 0"
        );
    }

    #[test]
    fn too_many_keys_are_refused() {
        let key = with_issuer("ok");
        assert!(QUOTAS.check(&[key.clone(), key.clone()]).is_ok());
        assert_eq!(
            QUOTAS
                .check(&[key.clone(), key.clone(), key])
                .map_err(|e| e.to_string()),
            Err("3 keys, over the limit of 2 per domain".to_owned())
        );
    }
}
