//! Reads the envelope hints of one kind of token many times, for counting
//! instructions with callgrind (`BENCHMARKS.md`, "Reading the hints").
//!
//! `cargo run --release -p authorizer --no-default-features --example hints_cost -- KIND N`
//! with KIND one of `field5`, `field5-fact`, `attenuated`, `attenuated-fact`; the
//! instructions of one read are the difference between N = 10000 and N = 0, divided by 10000.

use authorizer::envelope;
use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

fn token(kind: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let (fact, attenuated) = match kind {
        "field5" => (false, false),
        "field5-fact" => (true, false),
        "attenuated" => (false, true),
        "attenuated-fact" => (true, true),
        other => return Err(format!("unknown token kind {other:?}").into()),
    };
    let mut authority = String::from(r#"user("alice"); right("read");"#);
    if fact {
        authority.push_str(r#" domain("tenant-a.example");"#);
    }
    let mut biscuit = Biscuit::builder()
        .code(authority)?
        .root_key_id(1)
        .build(&KeyPair::new())?;
    if attenuated {
        biscuit = biscuit.append(BlockBuilder::new().code(r#"check if method("GET");"#)?)?;
        return Ok(biscuit.to_vec()?);
    }
    Ok(envelope::with_domain(
        &biscuit.to_vec()?,
        Some("tenant-a.example"),
    )?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let kind = args.next().ok_or("usage: hints_cost KIND N")?;
    let reads: u64 = args.next().ok_or("usage: hints_cost KIND N")?.parse()?;
    let bytes = token(&kind)?;
    let mut found = 0u64;
    for _ in 0..reads {
        let hints = envelope::read_hints(std::hint::black_box(&bytes))?;
        found += u64::from(std::hint::black_box(hints).root_key_id.is_some());
    }
    println!("{kind}: {} bytes, {found} reads", bytes.len());
    Ok(())
}
