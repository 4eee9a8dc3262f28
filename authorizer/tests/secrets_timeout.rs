//! The real Secrets Manager client against a server on 127.0.0.1 that accepts
//! connections and never answers: the fetch fails within the configured
//! timeouts instead of hanging the authorizer.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use authorizer::source::{secrets_client, DocumentSource, SecretSource, SECRETS_OPERATION_TIMEOUT};

#[tokio::test]
async fn a_silent_endpoint_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    // Accept and hold connections without answering, until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            held.push(stream);
        }
    });
    // The only test in this binary, so no other thread reads the environment.
    std::env::set_var(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        format!("http://{address}"),
    );
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let source = SecretSource::new(secrets_client().await, "keysets".into());
    let started = Instant::now();
    let result = source.fetch().await;
    let elapsed = started.elapsed();
    assert!(result.is_err(), "a silent server gives no document");
    assert!(
        elapsed < SECRETS_OPERATION_TIMEOUT + Duration::from_secs(2),
        "took {elapsed:?}"
    );
}
