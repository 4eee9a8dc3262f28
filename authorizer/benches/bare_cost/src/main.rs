//! N bare biscuit-auth decisions (verify, add the request facts, authorize)
//! on the `decision` bench fixture's token and policy
//! (`authorizer/benches/fixture/mod.rs`, whose bare side this repeats without
//! the authorizer crate), for callgrind:
//!
//! ```sh
//! bare-cost BLOCKS N
//! ```
//!
//! Built once against the published biscuit-auth 6.0.0 and once against the
//! patched copy, it measures what the patch adds; against the library's
//! `decision_cost`, what the authorizer adds.

use std::hint::black_box;
use std::time::Duration;

use biscuit_auth::builder::{fact, string};
use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::{
    AuthorizerBuilder, AuthorizerLimits, Biscuit, BlockBuilder, KeyPair, PrivateKey,
};

const POLICY: &str = r#"
    action("read") <- method($m), ["GET", "HEAD"].contains($m);
    principal($u) <- user($u);
    context("user", $u) <- user($u);
    allow if domain($d), path($p), $p.starts_with("/tenants/" + $d + "/"), action($a), right($a);
    deny if true;
"#;
const DOMAIN: &str = "tenant-a.example";
const PATH: &str = "/tenants/tenant-a.example/pets";

#[inline(never)]
fn run_bare(policy: &AuthorizerBuilder, bytes: &[u8], root: &KeyPair, n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        let biscuit = Biscuit::from(bytes, root.public()).expect("verify");
        let mut builder = policy.clone();
        for f in [
            fact("domain", &[string(DOMAIN)]),
            fact("method", &[string("GET")]),
            fact("path", &[string(PATH)]),
        ] {
            builder = builder.fact(f).expect("fact");
        }
        let mut authorizer = builder.build(&biscuit).expect("build");
        allowed += usize::from(black_box(authorizer.authorize().expect("allowed")) == 0);
    }
    allowed
}

/// The Ed25519 key pair whose private key is 32 bytes of `seed` (as the fixture's).
fn fixed_key_pair(seed: u8) -> KeyPair {
    KeyPair::from(
        &PrivateKey::from_bytes(&[seed; 32], biscuit_auth::Algorithm::Ed25519).expect("key"),
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let [blocks, n] = args[..] else {
        eprintln!("usage: bare-cost BLOCKS N");
        std::process::exit(2);
    };
    let root = fixed_key_pair(7);
    let mut biscuit = Biscuit::builder()
        .code(r#"user("alice"); right("read");"#)
        .and_then(|b| {
            b.root_key_id(1)
                .build_with_key_pair(&root, SymbolTable::new(), &fixed_key_pair(100))
        })
        .expect("authority");
    for i in 1..blocks {
        let check =
            format!(r#"check if method("GET"), path($p), $p.starts_with("/tenants/"), {i} > 0;"#);
        biscuit = biscuit
            .append_with_keypair(
                &fixed_key_pair(100 + i as u8),
                BlockBuilder::new().code(&check).expect("block"),
            )
            .expect("append");
    }
    // Field 5 (the domain hint), as the fixture's token carries it.
    let mut bytes = biscuit.to_vec().expect("serialize");
    bytes.extend([0x2A, DOMAIN.len() as u8]);
    bytes.extend(DOMAIN.as_bytes());
    let limits = AuthorizerLimits {
        max_time: Duration::from_secs(10),
        max_facts: 1000,
        max_iterations: 100,
    };
    let policy = AuthorizerBuilder::new()
        .code(POLICY)
        .expect("policy")
        .set_limits(limits);
    assert_eq!(
        run_bare(&policy, &bytes, &root, n),
        n,
        "every decision must allow"
    );
}
