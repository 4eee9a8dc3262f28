"""The authorizer function in the real loop: moto's Secrets Manager on 127.0.0.1,
the `authorizer` binary under the cargo-lambda runtime emulator, the events in
events/ invoked with `cargo lambda invoke --data-file`; then key rotation in
the secret, and a Secrets Manager outage.

Run by tests/run from the repository root with the project venv's python."""

import json
import subprocess
import sys
import time

import biscuit_auth

from support import (DEMO, EVENTS, ROOT, Processes, Results, free_port, invoke, mint, outcome,
                     rest_token_event, secrets_client, start_authorizer, start_moto, tool_env)

KEYSETS_SECRET = "authorizer/keysets"
REVOKED_SECRET = "authorizer/revoked"
TTL_SECONDS = 2


def expected_outcome(name):
    expected = name.split("-")[2]  # kind-variant-outcome[-detail]
    if name.startswith("http-") and expected != "allow":
        return "deny-or-unauthorized"  # HTTP API simple responses have no 401
    return expected


def main():
    results, processes = Results("lambda loop"), Processes()
    log = open(ROOT / "target" / "lambda-loop.log", "w")
    subprocess.run(["cargo", "build", "--quiet", "--bin", "authorizer"], cwd=ROOT, check=True)
    moto_port, function_port = free_port(), free_port()
    try:
        moto = start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        sm.create_secret(Name=KEYSETS_SECRET, SecretString=(DEMO / "keysets.json").read_text())
        sm.create_secret(Name=REVOKED_SECRET, SecretString=(DEMO / "revoked.json").read_text())
        env = tool_env(moto_port, KEYSETS_SECRET_ID=KEYSETS_SECRET, REVOKED_SECRET_ID=REVOKED_SECRET,
                       POLICY_FILE=DEMO / "policy.datalog", CACHE_TTL_SECONDS=TTL_SECONDS, AWS_LAMBDA_LOG_FORMAT="JSON")
        function = start_authorizer(processes, env, function_port, log)

        # 1. Every demo event gives its documented outcome.
        for path in sorted(EVENTS.glob("*.json")):
            got = outcome(invoke(function_port, path))
            results.check(f"event {path.name}", got == expected_outcome(path.stem), f"got {got}")

        # 1b. The folders of path tricks, WebSocket $connect and request-fact events: every
        # "-deny-" event is refused (never an Allow, never an error), every "-allow-" one allowed.
        for folder in ("paths", "websocket", "request-facts"):
            for path in sorted((EVENTS / folder).glob("*.json")):
                got = outcome(invoke(function_port, path))
                want = ("allow",) if "-allow-" in path.stem else ("deny", "deny-or-unauthorized")
                results.check(f"event {folder}/{path.name}", got in want, f"got {got}")

        # 2. Rotation: tenant A's key 1 is replaced by a new key 2.
        old_token_event = EVENTS / "rest-token-allow.json"
        new_key = biscuit_auth.KeyPair()
        keysets = json.loads((DEMO / "keysets.json").read_text())
        keysets["tenant-a.example"] = [{"algorithm": "ed25519", "key_bytes": bytes(new_key.public_key.to_bytes()).hex(),
                                        "key_id": 2, "issuer": None, "expires_at": None}]
        sm.put_secret_value(SecretId=KEYSETS_SECRET, SecretString=json.dumps(keysets))
        new_token = mint(new_key.private_key, 2, "tenant-a.example", 'user("carol"); right("read");')
        new_event = rest_token_event(new_token, "GET", "/tenants/tenant-a.example/pets")
        results.check("before the TTL, the cached map still accepts the old key",
                      outcome(invoke(function_port, old_token_event)) == "allow")
        time.sleep(TTL_SECONDS + 1)
        results.check("after rotation, a token signed by the new key is accepted",
                      outcome(invoke(function_port, new_event)) == "allow")
        results.check("after rotation, a token signed by the removed key is refused",
                      outcome(invoke(function_port, old_token_event)) == "unauthorized")

        # 3. A secret version that is not JSON: the last good map stays in force.
        sm.put_secret_value(SecretId=KEYSETS_SECRET, SecretString="this is not JSON")
        time.sleep(TTL_SECONDS + 1)
        results.check("a secret that is not JSON: the last good map keeps deciding",
                      outcome(invoke(function_port, new_event)) == "allow")

        # 4. A map with one broken domain: the other domains keep working.
        keysets["tenant-b.example"] = [{"algorithm": "rsa", "key_bytes": "zz", "key_id": 1}]
        sm.put_secret_value(SecretId=KEYSETS_SECRET, SecretString=json.dumps(keysets))
        time.sleep(TTL_SECONDS + 1)
        results.check("one broken domain in the map: the others keep working",
                      outcome(invoke(function_port, new_event)) == "allow")
        results.check("one broken domain in the map: its tokens are refused",
                      outcome(invoke(function_port, EVENTS / "http-v2-allow.json")) == "deny-or-unauthorized")

        # 5. Outage: Secrets Manager goes away.
        Processes.stop(moto)
        time.sleep(TTL_SECONDS + 1)
        results.check("outage: a warm function keeps deciding from the cached map",
                      outcome(invoke(function_port, new_event)) == "allow")
        results.check("outage: and keeps refusing what the cached map refuses",
                      outcome(invoke(function_port, old_token_event)) == "unauthorized")
        Processes.stop(function)
        start_authorizer(processes, env, function_port, log)
        results.check("outage: a fresh process fails closed", outcome(invoke(function_port, new_event)) == "unauthorized")
    finally:
        processes.stop_all()
        log.close()
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
