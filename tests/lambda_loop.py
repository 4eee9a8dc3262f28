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

from support import (DEMO, EVENTS, METRICS_NAMESPACE, ROOT, Processes, Results, free_port, invoke, mint,
                     outcome, rest_token_event, save_emf, secrets_client, start_authorizer, start_moto,
                     tool_env)

KEYSETS_SECRET = "authorizer/keysets"
REVOKED_SECRET = "authorizer/revoked"
POLICY_SECRET = "authorizer/policy"
TTL_SECONDS = 2
# The template's identity sources of both authorizers (infra/template.yaml, RESULT_CACHE_KEY).
TEMPLATE_CACHE_KEY = ("method.request.header.Authorization,context.httpMethod,context.path,"
                      "$request.header.Authorization,$context.http.method,$context.http.path")


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
        demo_policy = (DEMO / "policy.datalog").read_text()
        sm.create_secret(Name=POLICY_SECRET, SecretString=demo_policy)
        env = tool_env(moto_port, KEYSETS_SECRET_ID=KEYSETS_SECRET, REVOKED_SECRET_ID=REVOKED_SECRET,
                       POLICY_SECRET_ID=POLICY_SECRET, CACHE_TTL_SECONDS=TTL_SECONDS, AWS_LAMBDA_LOG_FORMAT="JSON",
                       METRICS_NAMESPACE=METRICS_NAMESPACE)
        function = start_authorizer(processes, env, function_port, log)

        # 0. Result caching: a second function told the template's TTL and key. The demo policy
        # reads query("tenant", ...), which that key does not hold: a warning and a metric at start,
        # and every REQUEST and HTTP API Allow refused; a TOKEN authorizer is keyed by the token.
        cache_log_path = ROOT / "target" / "lambda-loop-cache.log"
        with open(cache_log_path, "w") as cache_log:
            cache_port = free_port()
            cache_env = dict(env, RESULT_CACHE_TTL_SECONDS="300", RESULT_CACHE_KEY=TEMPLATE_CACHE_KEY)
            cached = start_authorizer(processes, cache_env, cache_port, cache_log)
            results.check("result cache: a TOKEN event is still allowed",
                          outcome(invoke(cache_port, EVENTS / "rest-token-allow.json")) == "allow")
            results.check("result cache: a REST REQUEST Allow that read an unkeyed query is refused",
                          outcome(invoke(cache_port, EVENTS / "rest-request-allow.json")) == "deny")
            results.check("result cache: so is an HTTP API one",
                          outcome(invoke(cache_port, EVENTS / "http-v2-allow.json")) == "deny-or-unauthorized")
            Processes.stop(cached)
        text = cache_log_path.read_text()
        # cargo lambda may start more than one instance: each warns once per API at its cold start.
        emitted = save_emf("lambda-loop-cache", text)
        starts = len([d for d in emitted if "ColdStarts" in d])
        warned = [line for line in text.splitlines() if "result cache" in line and "tenant" in line and "_aws" not in line]
        results.check("result cache: at each cold start the function warns (REST and HTTP API) that the policy reads an unkeyed fact",
                      starts > 0 and len(warned) == 2 * starts, f"{starts} cold starts: {warned}")
        counted = [d for d in emitted if "CacheUnsafePolicy" in d]
        results.check("result cache: and counts CacheUnsafePolicy (EMF), once per warning", len(counted) == len(warned), counted)
        refused = [line for line in text.splitlines() if "reason_kind" in line and '"cache_unsafe"' in line]
        results.check("result cache: the refusals are logged as cache_unsafe", len(refused) == 2, refused)

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

        # 5. Policy as data: a version that does not parse is refused (the last good policy keeps
        # serving); a good one takes effect within the TTL, operator facts included.
        grant_token = mint(new_key.private_key, 2, "tenant-a.example", 'user("carol"); right("read"); grant("g-loop");')
        grant_event = rest_token_event(grant_token, "GET", "/tenants/tenant-a.example/pets")
        results.check("policy: a token of grant g-loop is allowed before the grant is revoked",
                      outcome(invoke(function_port, grant_event)) == "allow")
        sm.put_secret_value(SecretId=POLICY_SECRET, SecretString="allow if this does not parse (")
        time.sleep(TTL_SECONDS + 1)
        results.check("policy: a version that does not parse leaves the last good policy serving",
                      outcome(invoke(function_port, grant_event)) == "allow")
        read_only = mint(new_key.private_key, 2, "tenant-a.example", 'user("carol"); right("read");')
        delete_event = rest_token_event(read_only, "DELETE", "/tenants/tenant-a.example/pets")
        results.check("policy: and the last good policy still refuses what it refuses",
                      outcome(invoke(function_port, delete_event)) == "deny")
        sm.put_secret_value(SecretId=POLICY_SECRET, SecretString=demo_policy + '\nrevoked_grant("g-loop");\n')
        time.sleep(TTL_SECONDS + 1)
        results.check("policy: revoked_grant in a new policy version refuses every token of the grant",
                      outcome(invoke(function_port, grant_event)) == "deny")
        results.check("policy: tokens of other grants (or none) are unaffected",
                      outcome(invoke(function_port, new_event)) == "allow")
        log.flush()
        emitted = save_emf("lambda-loop", (ROOT / "target" / "lambda-loop.log").read_text())
        names = {name for document in emitted for directive in document["_aws"]["CloudWatchMetrics"]
                 for name in [m["Name"] for m in directive["Metrics"]]}
        results.check("metrics: decisions, trust age, cold start and refused policy versions are emitted as EMF",
                      {"Decisions", "TrustMaterialAgeSeconds", "ColdStarts", "PolicyVersionsRejected"} <= names,
                      f"got {sorted(names)}")
        decisions = [d for d in emitted if d.get("message") == "decision"]
        results.check("metrics: each decision is one log line carrying its EMF block",
                      decisions and all("outcome" in d and "Decisions" in d for d in decisions)
                      and not any('"message":"decision"' in line and "_aws" not in line
                                  for line in (ROOT / "target" / "lambda-loop.log").read_text().splitlines()))

        # 6. Outage: Secrets Manager goes away.
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
    save_emf("lambda-loop", (ROOT / "target" / "lambda-loop.log").read_text())
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
