//! The envelope hint reader and field-5 rewriting on arbitrary bytes.
#![no_main]

use authorizer::envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let hints = envelope::read_hints(data);
    if let Ok(rewritten) = envelope::with_domain(data, Some("fuzz.example")) {
        // A rewritten envelope always reads back with the new domain.
        let reread = envelope::read_hints(&rewritten).expect("a rewritten envelope reads back");
        assert_eq!(reread.domain.as_deref(), Some("fuzz.example"));
        if let Ok(hints) = hints {
            assert_eq!(reread.root_key_id, hints.root_key_id);
        }
    }
    let _ = authorizer::audit::audit(data);
});
