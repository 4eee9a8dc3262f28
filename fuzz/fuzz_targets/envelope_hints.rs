//! The hint reader (envelope fields and the authority block's domain fact)
//! and field-5 rewriting on arbitrary bytes.
#![no_main]

use authorizer::envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let hints = envelope::read_hints(data);
    if let Ok(rewritten) = envelope::with_domain(data, Some("fuzz.example")) {
        let reread = envelope::read_hints(&rewritten);
        if let Ok(reread) = &reread {
            // A rewritten envelope reads back with the new domain.
            assert_eq!(reread.domain.as_deref(), Some("fuzz.example"));
        }
        if let Ok(hints) = hints {
            // A readable token stays readable, with the same key id.
            let reread = reread.expect("a rewritten envelope reads back");
            assert_eq!(reread.root_key_id, hints.root_key_id);
        }
    }
    let _ = authorizer::audit::audit(data);
});
