//! The `authz` commands end to end: keygen → bwks → keymap → mint → attenuate
//! → inspect → replay, and clear one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("authz-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn authz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authz"))
        .args(args)
        .output()
        .expect("run authz")
}

fn ok(args: &[&str]) -> String {
    let output = authz(args);
    assert!(
        output.status.success(),
        "authz {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Replays a TOKEN event for `GET path` with the directory's key map, policy
/// and revocation list; returns the JSON line.
fn replay_token(dir: &Dir, token: &str, path: &str, flags: &[&str]) -> Value {
    let event = json!({"type": "TOKEN", "authorizationToken": token,
                       "methodArn": format!("arn:aws:execute-api:eu-west-1:1:api/prod/GET{path}")});
    std::fs::write(dir.path("event.json"), event.to_string()).expect("write");
    let (keysets, policy, revoked, event) = (
        dir.path("keysets.json"),
        dir.path("policy.datalog"),
        dir.path("revoked.json"),
        dir.path("event.json"),
    );
    let mut args = vec![
        "replay",
        "--keysets",
        s(&keysets),
        "--policy",
        s(&policy),
        "--revoked",
        s(&revoked),
    ];
    args.extend_from_slice(flags);
    args.push(s(&event));
    serde_json::from_str(&ok(&args)).expect("replay line")
}

#[test]
fn keygen_to_replay_round_trip() {
    let dir = Dir::new("round-trip");
    // keygen creates its output directory (private to its owner).
    let keys = dir.path("keys/new");
    let out = s(&keys);
    for (domain, id, algorithm) in [
        ("a.example", "1", "ed25519"),
        ("a.example", "2", "secp256r1"),
        ("b.example", "1", "ed25519"),
    ] {
        let item: Value = serde_json::from_str(&ok(&[
            "keygen",
            "--domain",
            domain,
            "--key-id",
            id,
            "--algorithm",
            algorithm,
            "--out-dir",
            out,
        ]))
        .expect("item JSON");
        assert_eq!(item["algorithm"], algorithm);
        let private = keys.join(format!("{domain}-{id}.private.key"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private)
                .expect("key file")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // keygen never overwrites a private key.
    assert!(!authz(&[
        "keygen",
        "--domain",
        "a.example",
        "--key-id",
        "1",
        "--out-dir",
        out
    ])
    .status
    .success());

    let a_doc = ok(&[
        "bwks",
        s(&keys.join("a.example-1.bwks.json")),
        s(&keys.join("a.example-2.bwks.json")),
    ]);
    std::fs::write(dir.path("a.json"), a_doc).expect("write");
    std::fs::write(
        dir.path("b.json"),
        ok(&["bwks", s(&keys.join("b.example-1.bwks.json"))]),
    )
    .expect("write");
    let a_json = format!("a.example={}", s(&dir.path("a.json")));
    let b_json = format!("b.example={}", s(&dir.path("b.json")));
    let keymap = ok(&["keymap", &a_json, &b_json]);
    // One public key, one domain: b's document republished by another domain is refused.
    let copied = format!("a-evil.example={}", s(&dir.path("b.json")));
    let refused = authz(&["keymap", &a_json, &b_json, &copied]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && refused.stdout.is_empty());
    assert!(
        stderr.starts_with("authz: a-evil.example: key 1 (ed25519/")
            && stderr.contains("also published by b.example"),
        "{stderr}"
    );
    let parsed: Value = serde_json::from_str(&keymap).expect("map JSON");
    assert_eq!(parsed["a.example"].as_array().map(Vec::len), Some(2));
    // With `--out` and one shard, the whole map goes to DIR/keysets.json.
    let written = ok(&["keymap", &a_json, &b_json, "--out", s(&dir.path("whole"))]);
    assert_eq!(written.trim(), s(&dir.path("whole/keysets.json")));
    assert_eq!(
        std::fs::read_to_string(dir.path("whole/keysets.json")).expect("map file"),
        keymap.trim_end()
    );
    std::fs::write(dir.path("keysets.json"), &keymap).expect("write");
    // The same map as a manifest and three shard files, in a directory `--out`
    // creates (with its parent).
    assert!(!dir.path("sharded").exists());
    let sharded = ok(&[
        "keymap",
        &a_json,
        &b_json,
        "--shards",
        "3",
        "--out",
        s(&dir.path("sharded/map")),
    ]);
    assert_eq!(sharded.trim(), s(&dir.path("sharded/map/keysets.json")));
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path("sharded/map/keysets.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["shards"].as_array().map(Vec::len), Some(3));
    for shard in 0..3 {
        assert!(dir
            .path(&format!("sharded/map/shard-{shard}.json"))
            .is_file());
    }
    // A map written by hand with a.example's keys also under another domain.
    let mut shared = parsed.clone();
    shared["a-evil.example"] = parsed["a.example"].clone();
    std::fs::write(dir.path("shared.json"), shared.to_string()).expect("write");
    std::fs::write(dir.path("revoked.json"), "[]").expect("write");

    for (key_id, key_file) in [
        ("1", "a.example-1.private.key"),
        ("2", "a.example-2.private.key"),
    ] {
        let token = ok(&[
            "mint",
            "--domain",
            "a.example",
            "--key-id",
            key_id,
            "--private-key",
            s(&keys.join(key_file)),
            "--code",
            "user(\"alice\"); right(\"read\");",
            "--ttl",
            "1h",
        ]);
        std::fs::write(
            dir.path("policy.datalog"),
            "allow if right(\"read\"), method(\"GET\"); deny if true;",
        )
        .expect("write");
        std::fs::write(
            dir.path("block.datalog"),
            "check if path($p), $p.starts_with(\"/docs\");",
        )
        .expect("write");
        let attenuated = ok(&[
            "attenuate",
            token.trim(),
            "--code-file",
            s(&dir.path("block.datalog")),
        ]);
        std::fs::write(dir.path("token.txt"), &attenuated).expect("write");

        let report: Value = serde_json::from_str(&ok(&[
            "inspect",
            s(&dir.path("token.txt")),
            "--keysets",
            s(&dir.path("keysets.json")),
            "--json",
        ]))
        .expect("inspect JSON");
        assert_eq!(
            report["domain_hint"], "a.example",
            "attenuate keeps field 5"
        );
        assert_eq!(
            report["authority_domain"], "a.example",
            "mint writes the fact"
        );
        assert_eq!(report["root_key_id"], key_id.parse::<u32>().expect("id"));
        assert_eq!(report["blocks"].as_array().map(Vec::len), Some(2));
        assert!(report["blocks"][0]
            .as_str()
            .is_some_and(|b| b.contains("user(\"alice\")") && b.contains("check if time")));
        assert_eq!(report["revocation_ids"].as_array().map(Vec::len), Some(2));
        assert_eq!(report["verification"]["verified"], true);
        assert_eq!(report["verification"]["domain"], "a.example");
        let through_shards: Value = serde_json::from_str(&ok(&[
            "inspect",
            s(&dir.path("token.txt")),
            "--keysets",
            s(&dir.path("sharded/map/keysets.json")),
            "--json",
        ]))
        .expect("inspect JSON");
        assert_eq!(through_shards["verification"], report["verification"]);
        let shared: Value = serde_json::from_str(&ok(&[
            "inspect",
            s(&dir.path("token.txt")),
            "--keysets",
            s(&dir.path("shared.json")),
            "--json",
        ]))
        .expect("inspect JSON");
        assert_eq!(shared["verification"]["verified"], false);
        assert!(shared["verification"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("is also published by a-evil.example")));

        for (path, expected) in [("/docs/1", "allow"), ("/admin", "deny")] {
            let line = replay_token(&dir, attenuated.trim(), path, &[]);
            assert_eq!(line["outcome"], expected, "{path}: {line}");
        }
        // replay reads a manifest's shard files when an event needs them: with
        // every shard file but a.example's gone, its token (on /admin) is still decided.
        for n in 0..3 {
            let shard = dir.path(&format!("sharded/map/shard-{n}.json"));
            let text = std::fs::read_to_string(&shard).unwrap_or_default();
            if !text.contains("\"a.example\"") {
                let _ = std::fs::remove_file(&shard);
            }
        }
        let line: Value = serde_json::from_str(&ok(&[
            "replay",
            "--keysets",
            s(&dir.path("sharded/map/keysets.json")),
            "--policy",
            s(&dir.path("policy.datalog")),
            "--revoked",
            s(&dir.path("revoked.json")),
            s(&dir.path("event.json")),
        ]))
        .expect("replay line");
        assert_eq!(line["outcome"], "deny", "{line}");
    }
}

#[test]
fn delegated_minting_with_third_party_blocks() {
    let dir = Dir::new("third-party");
    let out = s(&dir.0);
    for domain in ["a.example", "minter.a.example", "stranger.example"] {
        ok(&[
            "keygen",
            "--domain",
            domain,
            "--key-id",
            "1",
            "--out-dir",
            out,
        ]);
    }
    let doc = ok(&["bwks", s(&dir.path("a.example-1.bwks.json"))]);
    std::fs::write(dir.path("a.json"), doc).expect("write");
    std::fs::write(
        dir.path("keysets.json"),
        ok(&["keymap", &format!("a.example={}", s(&dir.path("a.json")))]),
    )
    .expect("write");
    std::fs::write(dir.path("revoked.json"), "[]").expect("write");
    std::fs::write(
        dir.path("policy.datalog"),
        "allow if right(\"read\"); deny if true;",
    )
    .expect("write");
    let minter_item: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path("minter.a.example-1.bwks.json")).expect("item"),
    )
    .expect("JSON");
    let minter_key = format!(
        "ed25519/{}",
        minter_item["key_bytes"].as_str().expect("hex")
    );
    let authority = format!("user(\"svc\"); minter(\"{minter_key}\");");
    let token = ok(&[
        "mint",
        "--domain",
        "a.example",
        "--key-id",
        "1",
        "--private-key",
        s(&dir.path("a.example-1.private.key")),
        "--code",
        &authority,
    ]);
    let request = ok(&["third-party-request", token.trim()]);
    for (signer, expected) in [
        ("minter.a.example-1.private.key", "allow"),
        ("stranger.example-1.private.key", "deny"),
    ] {
        let block = ok(&[
            "third-party-block",
            "--request",
            request.trim(),
            "--private-key",
            s(&dir.path(signer)),
            "--code",
            "right(\"read\");",
        ]);
        let delegated = ok(&["append-third-party", token.trim(), "--block", block.trim()]);
        let report: Value =
            serde_json::from_str(&ok(&["inspect", delegated.trim(), "--json"])).expect("JSON");
        assert_eq!(report["domain_hint"], "a.example", "field 5 is kept");
        assert_eq!(report["blocks"].as_array().map(Vec::len), Some(2));
        let line = replay_token(&dir, delegated.trim(), "/x", &["--delegated-minters"]);
        assert_eq!(line["outcome"], expected, "{signer}: {line}");
    }
}

#[test]
fn errors_are_one_clear_line_without_panics() {
    let dir = Dir::new("errors");
    std::fs::write(dir.path("garbage.key"), "not a key").expect("write");
    let garbage_key = s(&dir.path("garbage.key")).to_owned();
    let missing_key = s(&dir.path("missing.key")).to_owned();
    let mint_with = |key: &str| -> Vec<String> {
        [
            "mint",
            "--domain",
            "a",
            "--key-id",
            "1",
            "--private-key",
            key,
            "--code",
            "user(\"x\");",
        ]
        .map(String::from)
        .to_vec()
    };
    let words = |args: &[&str]| -> Vec<String> { args.iter().map(|a| a.to_string()).collect() };
    let cases: Vec<Vec<String>> = vec![
        words(&["inspect", "%%%"]),
        words(&["inspect", "AAAA"]),
        words(&["attenuate", "AAAA", "--code", "check if true;"]),
        mint_with(&garbage_key),
        mint_with(&missing_key),
        words(&["keymap", "no-equals-sign"]),
        words(&["bwks", &garbage_key]),
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = authz(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("authz: "), "{args:?}: {stderr}");
    }
}

#[test]
fn mint_writes_the_domain_fact_unless_told_not_to() {
    let dir = Dir::new("domain-fact");
    ok(&[
        "keygen",
        "--domain",
        "a.example",
        "--key-id",
        "1",
        "--out-dir",
        s(&dir.0),
    ]);
    let key = dir.path("a.example-1.private.key");
    let mint = |code: &str, extra: &[&str]| {
        let mut args = vec![
            "mint",
            "--domain",
            "a.example",
            "--key-id",
            "1",
            "--private-key",
            s(&key),
            "--code",
            code,
        ];
        args.extend_from_slice(extra);
        authz(&args)
    };
    let authority_domain = |output: Output| -> Value {
        assert!(output.status.success(), "{output:?}");
        let token = String::from_utf8(output.stdout).expect("utf-8");
        let report: Value =
            serde_json::from_str(&ok(&["inspect", token.trim(), "--json"])).expect("JSON");
        assert_eq!(report["domain_hint"], "a.example");
        report["authority_domain"].clone()
    };
    assert_eq!(authority_domain(mint("user(\"x\");", &[])), "a.example");
    assert_eq!(
        authority_domain(mint("user(\"x\");", &["--no-domain-fact"])),
        Value::Null
    );
    // The issuer's own fact, if it agrees, is kept.
    assert_eq!(
        authority_domain(mint("domain(\"a.example\");", &["--no-domain-fact"])),
        "a.example"
    );
    // A fact naming another domain would be refused by the authorizer: refused here.
    for extra in [&[][..], &["--no-domain-fact"]] {
        let output = mint("domain(\"b.example\");", extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && output.stdout.is_empty());
        assert!(stderr.contains("b.example"), "{stderr}");
    }
}
