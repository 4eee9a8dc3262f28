//! The key map, manifest and BWKS document parsers on arbitrary bytes.
#![no_main]

use std::time::SystemTime;

use authorizer::keymap::KeyMap;
use authorizer::keyset;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((map, _)) = KeyMap::parse(data) {
        // What parses round-trips through the stored form.
        let stored = keyset::canonical_json(&map.to_key_sets());
        let (again, skipped) = KeyMap::parse(stored.as_bytes()).expect("the stored form parses");
        assert!(skipped.is_empty());
        assert_eq!(again.key_count(), map.key_count());
    }
    // The stored-layout reader (map or manifest) and the light index never panic.
    if let Ok(authorizer::store::Stored::Whole(map)) = authorizer::store::Stored::parse(data) {
        let _ = map.with_key_id(1);
    }
    let _ = keyset::validate_published("fuzz.example", data, SystemTime::now());
});
