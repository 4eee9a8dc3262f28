//! Arbitrary event JSON (each kind) → event parsing, request facts and the
//! decision. No token here is signed by a trusted key: nothing is allowed.
#![no_main]

use std::sync::LazyLock;
use std::time::SystemTime;

use authorizer::engine::{Engine, Settings, Trust};
use authorizer::policy::Policy;
use libfuzzer_sys::fuzz_target;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let settings = Settings { header_allow_list: vec!["x-tenant".into(), "host".into()], ..Settings::default() };
    Engine::new(Policy::parse("allow if true;").expect("policy"), settings)
});

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice(data) else { return };
    let trust = Trust::default();
    let evaluated = ENGINE.evaluate(event, Ok(&trust), SystemTime::now());
    assert!(evaluated.decision.verdict.is_err(), "allowed without any trusted key");
});
