//! The upstream Biscuit conformance samples through the hint reader, key
//! choice and verification: valid tokens verify, forged ones are refused.

mod common;

use std::path::PathBuf;

use authorizer::admission::{self, Caps};
use authorizer::envelope::{self, Hints};
use authorizer::key_choice::{self, KeyChoiceError, KeyChoiceRules};
use authorizer::keymap::KeyMap;
use authorizer::policy::{self, Policy};
use authorizer::verify::{self, VerifyError};
use serde_json::{json, Value};

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/biscuit-samples")
}

#[test]
fn every_sample_verifies_exactly_when_upstream_says_its_format_is_valid() {
    let dir = samples_dir();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("samples.json")).expect("samples.json"))
            .expect("samples.json is JSON");
    let root = manifest["root_public_key"].as_str().expect("root key");
    let keysets =
        json!({"samples.example": [{"algorithm": "ed25519", "key_bytes": root, "key_id": 0}]});
    let (keys, skipped) = KeyMap::parse(keysets.to_string().as_bytes()).expect("key map");
    assert!(skipped.is_empty());
    let keys = authorizer::store::KeyStore::Whole(keys);
    let cases = manifest["testcases"].as_array().expect("testcases");
    assert!(cases.len() >= 38);
    let (mut verified, mut refused) = (0, 0);
    for case in cases {
        let file = case["filename"].as_str().expect("filename");
        let bytes = std::fs::read(dir.join(file)).expect("sample token");
        let format_error = case["validations"]
            .as_object()
            .expect("validations")
            .values()
            .any(|v| v["result"]["Err"].get("Format").is_some());

        // No sample has a root key id or a domain: without hints there is no key to try.
        let hints = envelope::read_hints(&bytes).expect("hints");
        assert_eq!(hints, Hints::default(), "{file}");
        assert_eq!(
            key_choice::candidates(&keys, &hints, KeyChoiceRules::default(), common::now()).err(),
            Some(KeyChoiceError::NoHints)
        );

        // With field 5 attached, the domain's keys are the candidates.
        let with_domain =
            envelope::with_domain(&bytes, Some("samples.example")).expect("attach field 5");
        let hints = envelope::read_hints(&with_domain).expect("hints");
        let candidates =
            key_choice::candidates(&keys, &hints, KeyChoiceRules::default(), common::now())
                .expect("candidates");
        match verify::verify(&with_domain, &candidates) {
            Ok(token) => {
                assert!(
                    !format_error,
                    "{file} verified but upstream expects a format error"
                );
                assert_eq!(token.domain(), "samples.example");
                admitted(file, &with_domain, case);
                verified += 1;
            }
            Err(VerifyError::BadSignature { .. } | VerifyError::Malformed(_)) => {
                assert!(
                    format_error,
                    "{file} was refused but upstream says it is well-formed"
                );
                refused += 1;
            }
            Err(VerifyError::Audit(finding)) => {
                // A sample asserting a reserved fact verified but is refused by policy.
                assert!(!format_error, "{file}: {finding}");
                verified += 1;
            }
        }
    }
    assert_eq!(refused, 5, "test002 to test006 are the forged samples");
    assert_eq!(verified + refused, cases.len());
}

/// Every sample that verifies passes admission under the default caps, with
/// each of its upstream authorizers as the policy.
fn admitted(file: &str, token: &[u8], case: &Value) {
    let caps = Caps::default();
    admission::check_shape(token, &caps).unwrap_or_else(|e| panic!("{file}: {e}"));
    for (name, validation) in case["validations"].as_object().expect("validations") {
        let code = validation["authorizer_code"].as_str().unwrap_or_default();
        let policy = Policy::parse(code).unwrap_or_else(|e| panic!("{file} {name}: {e}"));
        admission::admit(
            &authorizer::blocks::TokenBlocks::decode(token).expect("blocks"),
            policy.program(),
            &[],
            &policy::default_limits(),
            &caps,
        )
        .unwrap_or_else(|e| panic!("{file} {name}: {e}"));
    }
}
