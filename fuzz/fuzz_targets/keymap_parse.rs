//! The key map and BWKS document parsers on arbitrary bytes.
#![no_main]

use std::time::SystemTime;

use authorizer::keyset::{self, KeyMap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((map, _)) = KeyMap::parse(data) {
        // What parses round-trips through the stored form.
        let stored = keyset::canonical_json(&map.to_key_sets());
        let (again, skipped) = KeyMap::parse(stored.as_bytes()).expect("the stored form parses");
        assert!(skipped.is_empty());
        assert_eq!(again.key_count(), map.key_count());
    }
    let _ = keyset::validate_published("fuzz.example", data, SystemTime::now());
});
