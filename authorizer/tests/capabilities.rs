//! The opt-in capability features: least-privilege probes, holder binding and
//! delegated minters (third-party blocks).

mod common;

use authorizer::engine::{Engine, Settings};
use authorizer::policy::Policy;
use authorizer::probe::Probe;
use biscuit_auth::{BlockBuilder, KeyPair};
use common::*;
use serde_json::{json, Value};

const POLICY: &str = r#"
    action("read") <- method($m), ["GET", "HEAD"].contains($m);
    action("write") <- method($m), ["POST", "PUT", "PATCH", "DELETE"].contains($m);
    allow if action($a), right($a);
    deny if true;
"#;

fn engine_with(settings: Settings) -> Engine {
    Engine::new(Policy::parse(POLICY).expect("policy"), settings)
}

fn setup() -> (Issuer, authorizer::Trust) {
    let a = Issuer::new("a.example", 1);
    let trust = trust(json!({"a.example": [a.bwks(None)]}), &[]);
    (a, trust)
}

fn demo_pem() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/demo/client-cert.demo-only.pem"
    ))
    .expect("demo cert")
}

/// The client certificate as API Gateway's mutual TLS passes it.
fn client_cert(pem: &str) -> Value {
    json!({"clientCertPem": pem, "subjectDN": "CN=client", "issuerDN": "CN=client", "serialNumber": "1",
           "validity": {"notBefore": "May 28 12:30:02 2019 GMT", "notAfter": "Aug  5 09:36:04 2041 GMT"}})
}

fn with_rest_cert(mut event: Value, pem: &str) -> Value {
    event["requestContext"]["identity"]["clientCert"] = client_cert(pem);
    event
}

#[test]
fn a_token_broader_than_the_request_is_denied_and_the_probe_is_named() {
    let (a, trust) = setup();
    let probes: Vec<Probe> = ["write-method", "sibling-path"]
        .iter()
        .map(|p| p.parse().expect("probe"))
        .collect();
    let probing = engine_with(Settings {
        probes,
        ..Settings::default()
    });
    let broad = encode(
        &a.mint(r#"right("read"); right("write");"#),
        Some("a.example"),
    );
    let event = request_event(Some(&format!("Bearer {broad}")), "GET", "/docs/7");
    let (outcome, kind, evaluated) = decide(&probing, &trust, event.clone());
    assert_eq!(
        (outcome.as_str(), kind),
        ("deny", "token_broader_than_request")
    );
    assert!(
        evaluated.decision.reason().contains("write-method"),
        "{}",
        evaluated.decision.reason()
    );
    // Without probes the same request is allowed.
    let (outcome, _, _) = decide(&engine_with(Settings::default()), &trust, event);
    assert_eq!(outcome, "allow");

    // A read-only token for this one document passes every probe.
    let narrow = encode(
        &a.mint(r#"right("read"); check if path("/docs/7");"#),
        Some("a.example"),
    );
    let (outcome, kind, _) = decide(
        &probing,
        &trust,
        request_event(Some(&format!("Bearer {narrow}")), "GET", "/docs/7"),
    );
    assert_eq!((outcome.as_str(), kind), ("allow", "allowed"));

    // A read-only token for the whole collection is broader than one document.
    let collection = encode(&a.mint(r#"right("read");"#), Some("a.example"));
    let (outcome, _, evaluated) = decide(
        &probing,
        &trust,
        request_event(Some(&format!("Bearer {collection}")), "GET", "/docs/7"),
    );
    assert_eq!(outcome, "deny");
    assert!(evaluated.decision.reason().contains("sibling-path"));
}

/// A holder who knows the probes tries to make a broad token look narrow.
#[test]
fn probes_cannot_be_recognised_or_failed_open() {
    let (a, trust) = setup();
    let probing = engine_with(Settings {
        probes: ["write-method", "sibling-path"]
            .iter()
            .map(|p| p.parse().expect("probe"))
            .collect(),
        ..Settings::default()
    });
    let verdict = |token: &str| {
        let event = request_event(Some(&format!("Bearer {token}")), "GET", "/docs/7");
        let (outcome, kind, _) = decide(&probing, &trust, event);
        (outcome, kind)
    };
    let broad = a.mint(r#"right("read"); right("write");"#);
    let denied = ("deny".to_owned(), "token_broader_than_request");
    for evasion in [
        // The old fixed sibling segment, and the one write method the old probe tried.
        r#"check if path($p), !$p.ends_with("__least_privilege_probe__");"#,
        r#"check if method($m), $m != "DELETE";"#,
        // Exclude every write method but one: that one is still probed.
        r#"check if method($m), !["POST", "PUT", "DELETE"].contains($m);"#,
    ] {
        let attenuated = encode(&attenuate(&broad, evasion), Some("a.example"));
        assert_eq!(verdict(&attenuated), denied, "{evasion}");
    }
    // A probe whose evaluation errors counts as allowed: the token only
    // divides by zero when the method is not GET, so every write probe errors.
    let erroring = encode(
        &a.mint(r#"right("read"); right("write"); check if method($m), $m == "GET" || 1 / 0 == 1; check if path("/docs/7");"#),
        Some("a.example"),
    );
    assert_eq!(verdict(&erroring), denied);
    // Without probes it is allowed: the error only shows on the probes.
    let event = request_event(Some(&format!("Bearer {erroring}")), "GET", "/docs/7");
    assert_eq!(
        decide(&engine_with(Settings::default()), &trust, event).0,
        "allow"
    );
    // Truly narrow tokens still pass.
    let narrow = encode(
        &a.mint(r#"right("read"); check if path("/docs/7"), method("GET");"#),
        Some("a.example"),
    );
    assert_eq!(verdict(&narrow), ("allow".to_owned(), "allowed"));
}

#[test]
fn more_probes_than_the_cap_is_a_configuration_error() {
    use clap::Parser;
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        settings: authorizer::config::SettingsArgs,
    }
    let args = Args::parse_from([
        "x",
        "--least-privilege-probes",
        "write-method,sibling-path,collection-root,method:PUT",
    ]);
    assert!(args.settings.settings().is_err());
    let args = Args::parse_from(["x", "--least-privilege-probes", "everything"]);
    assert!(args.settings.settings().is_err());
    let args = Args::parse_from([
        "x",
        "--least-privilege-probes",
        "write-method,collection-root",
    ]);
    assert_eq!(args.settings.settings().expect("valid").probes.len(), 2);
}

#[test]
fn holder_bound_tokens_need_the_client_certificate() {
    let (a, trust) = setup();
    let pem = demo_pem();
    let fingerprint = authorizer::holder::fingerprint(&pem).expect("PEM");
    let engine = engine_with(Settings::default());
    // The token's own check enforces the binding through the client_cert fact.
    let bound = encode(
        &a.mint(&format!(r#"right("read"); holder_cert("{fingerprint}"); check if client_cert($f), holder_cert($f);"#)),
        Some("a.example"),
    );
    let rest = request_event(Some(&format!("Bearer {bound}")), "GET", "/x");
    assert_eq!(
        decide(&engine, &trust, with_rest_cert(rest.clone(), &pem)).0,
        "allow"
    );
    assert_eq!(decide(&engine, &trust, rest).1, "failed_checks");
    let mut http = http_event(Some(&format!("Bearer {bound}")), "GET", "/x");
    http["requestContext"]["authentication"] = json!({ "clientCert": client_cert(&pem) });
    assert_eq!(decide(&engine, &trust, http).0, "allow");
    let other_cert = "-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----";
    let wrong = with_rest_cert(
        request_event(Some(&format!("Bearer {bound}")), "GET", "/x"),
        other_cert,
    );
    assert_eq!(decide(&engine, &trust, wrong).1, "failed_checks");
    // Unbound tokens are unaffected by a certificate, or by its absence.
    let unbound = encode(&a.mint(r#"right("read");"#), Some("a.example"));
    let event = request_event(Some(&format!("Bearer {unbound}")), "GET", "/x");
    assert_eq!(
        decide(&engine, &trust, with_rest_cert(event.clone(), &pem)).0,
        "allow"
    );
    assert_eq!(decide(&engine, &trust, event).0, "allow");
    // A token cannot claim the request's certificate itself.
    let forged = encode(
        &a.mint(&format!(r#"right("read"); client_cert("{fingerprint}");"#)),
        Some("a.example"),
    );
    assert_eq!(
        decide(
            &engine,
            &trust,
            request_event(Some(&format!("Bearer {forged}")), "GET", "/x")
        )
        .1,
        "reserved_fact"
    );
}

#[test]
fn enforced_holder_binding_covers_bindings_added_by_any_block() {
    let (a, trust) = setup();
    let pem = demo_pem();
    let fingerprint = authorizer::holder::fingerprint(&pem).expect("PEM");
    // The holder binds the token to its certificate in an attenuation block, without a check.
    let bound = encode(
        &attenuate(
            &a.mint(r#"right("read");"#),
            &format!(r#"holder_cert("{fingerprint}");"#),
        ),
        Some("a.example"),
    );
    let event = request_event(Some(&format!("Bearer {bound}")), "GET", "/x");
    let enforcing = engine_with(Settings {
        holder_binding: true,
        ..Settings::default()
    });
    assert_eq!(
        decide(&enforcing, &trust, event.clone()).1,
        "holder_binding_mismatch"
    );
    assert_eq!(
        decide(&enforcing, &trust, with_rest_cert(event.clone(), &pem)).0,
        "allow"
    );
    // Without enforcement, such a binding is just a fact.
    assert_eq!(
        decide(&engine_with(Settings::default()), &trust, event).0,
        "allow"
    );
}

/// `token` with a third-party block `right("read")` signed by `signer`.
fn granted_by(token: &biscuit_auth::Biscuit, signer: &KeyPair) -> biscuit_auth::Biscuit {
    let grant = BlockBuilder::new()
        .code(r#"right("read");"#)
        .expect("grant");
    let block = token
        .third_party_request()
        .expect("request")
        .create_block(&signer.private(), grant)
        .expect("block");
    token
        .append_third_party(signer.public(), block)
        .expect("append")
}

#[test]
fn delegated_minters_named_by_the_authority_block() {
    let (a, trust) = setup();
    let delegating = engine_with(Settings {
        delegated_minters: true,
        ..Settings::default()
    });
    let (minter, stranger) = (KeyPair::new(), KeyPair::new());
    let get = |biscuit: &biscuit_auth::Biscuit| {
        request_event(
            Some(&format!("Bearer {}", encode(biscuit, Some("a.example")))),
            "GET",
            "/x",
        )
    };
    let token = a.mint(&format!(r#"minter("{}");"#, minter.public()));
    assert_eq!(
        decide(&delegating, &trust, get(&granted_by(&token, &minter))).0,
        "allow"
    );
    assert_eq!(
        decide(&delegating, &trust, get(&granted_by(&token, &stranger))).0,
        "deny",
        "a grant from a key the authority does not name"
    );
    // Off (the default), third-party grants are not trusted at all.
    let plain = engine_with(Settings::default());
    assert_eq!(
        decide(&plain, &trust, get(&granted_by(&token, &minter))).0,
        "deny"
    );
    // A minter named in an attenuation block is not trusted.
    let appended = attenuate(
        &a.mint(r#"user("x");"#),
        &format!(r#"minter("{}");"#, minter.public()),
    );
    assert_eq!(
        decide(&delegating, &trust, get(&granted_by(&appended, &minter))).0,
        "deny"
    );
}
