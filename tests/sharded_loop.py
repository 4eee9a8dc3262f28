"""A sharded key map end to end: key-sync writes shards and a manifest to moto's
Secrets Manager from BWKS documents served over HTTPS on 127.0.0.1, and the
authorizer function (under cargo-lambda) loads only the shards its tokens need,
at the versions the manifest names.

Checks: a round where one domain changed writes that domain's shard and the
manifest only; a reader never sees a half-written generation (a shard written
ahead of its manifest is not used); a manifest switch under a concurrent reader
refuses none of its requests; a shard that cannot be read refuses its own
domains only; a token with no domain hint is routed by the manifest's key-id index.

Run by tests/run from the repository root with the project venv's python."""

import calendar
import json
import subprocess
import sys
import threading
import time

import biscuit_auth

from key_sync_loop import WORK, BwksServer, make_certificates, run_key_sync, shard_of
from support import (DEMO, METRICS_NAMESPACE, ROOT, Processes, Results, bwks_item, free_port, invoke, mint, outcome,
                     rest_token_event, save_emf, secrets_client, start_authorizer, start_moto, tool_env)

MANIFEST = "stack/keysets"
PREFIX = "stack/keymap/shard-"
SHARDS = 4
DOMAINS = [f"t{n}.test" for n in range(24)]
TTL_SECONDS = 1


def version_count(sm, secret):
    return len(sm.list_secret_version_ids(SecretId=secret, IncludeDeprecated=True)["Versions"])


def main():
    results, processes = Results("sharded key map"), Processes()
    subprocess.run(["cargo", "build", "--quiet", "--bin", "key-sync", "--bin", "authorizer"], cwd=ROOT, check=True)
    make_certificates()
    server = BwksServer()
    moto_port = free_port()
    log = open(ROOT / "target" / "sharded-loop.log", "w")
    try:
        start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        # As the template does: the key-map secret and SHARDS shard secrets exist before key-sync runs.
        sm.create_secret(Name=MANIFEST, SecretString="{}")
        shard_ids = [f"{PREFIX}{n}" for n in range(SHARDS)]
        for secret in shard_ids:
            sm.create_secret(Name=secret, SecretString="{}")
        env = tool_env(moto_port, KEYSETS_SECRET_ID=MANIFEST, EXTRA_CA_CERTS=WORK / "ca.pem",
                       KEYMAP_SHARD_COUNT=SHARDS, KEYMAP_SHARD_SECRET_PREFIX=PREFIX,
                       BWKS_URL_TEMPLATE=f"https://127.0.0.1:{server.port}/{{domain}}/.well-known/biscuit-web-keys")
        keys = {domain: biscuit_auth.KeyPair() for domain in DOMAINS}
        for n, domain in enumerate(DOMAINS):
            # Key id 1 for all (crowded in the index), plus a key id of its own.
            server.publish(domain, [bwks_item(keys[domain], 1), bwks_item(biscuit_auth.KeyPair(), 100 + n)])

        code, summary = run_key_sync(env, DOMAINS)
        manifest = json.loads(sm.get_secret_value(SecretId=MANIFEST)["SecretString"])
        used = sorted({shard_of(d, SHARDS) for d in DOMAINS})
        results.check("first round: every shard holding a domain is written, then the manifest (generation 1)",
                      code == 0 and summary.get("written") and summary.get("shards_written") == used
                      and manifest.get("generation") == 1 and len(manifest.get("shards", [])) == SHARDS, summary)
        placed = all(json.loads(sm.get_secret_value(SecretId=shard_ids[n])["SecretString"]).keys()
                     == {d for d in DOMAINS if shard_of(d, SHARDS) == n} for n in range(SHARDS))
        results.check("each domain is stored in the shard its hash names", placed)
        results.check("the manifest carries the round's synced_at stamp; shards carry none",
                      0 <= time.time() - calendar.timegm(time.strptime(manifest.get("synced_at", "0"), "%Y-%m-%dT%H:%M:%SZ")) < 300
                      and not any("synced_at" in json.loads(sm.get_secret_value(SecretId=i)["SecretString"])
                                  for i in shard_ids), manifest.get("synced_at"))
        results.check("the manifest names each shard's current version",
                      all(ref["version"] == sm.get_secret_value(SecretId=ref["id"])["VersionId"] for ref in manifest["shards"]),
                      manifest["shards"])
        results.check("the key-id index lists crowded key id 1 as crowded and each own key id by shard",
                      1 in manifest.get("crowded_key_ids", []) and manifest["key_ids"].get("105") == [shard_of(DOMAINS[5], SHARDS)],
                      manifest.get("key_ids"))

        code, summary = run_key_sync(env, DOMAINS)
        results.check("unchanged round: no shard and no manifest written",
                      code == 0 and summary.get("written") is False and summary.get("shards_written") == [], summary)

        changed = DOMAINS[7]
        before = {secret: version_count(sm, secret) for secret in shard_ids}
        server.publish(changed, [bwks_item(keys[changed], 1), bwks_item(biscuit_auth.KeyPair(), 2)])
        started = time.perf_counter()
        code, summary = run_key_sync(env, DOMAINS)
        round_ms = (time.perf_counter() - started) * 1000
        after = {secret: version_count(sm, secret) for secret in shard_ids}
        grown = [n for n, secret in enumerate(shard_ids) if after[secret] != before[secret]]
        results.check(f"one domain changed: exactly its shard ({shard_of(changed, SHARDS)}) and the manifest written "
                      f"(round {round_ms:.0f} ms, {len(DOMAINS)} domains)",
                      code == 0 and summary.get("written") and summary.get("shards_written") == [shard_of(changed, SHARDS)]
                      and grown == [shard_of(changed, SHARDS)] and summary.get("generation") == 2, (summary, grown))

        function_env = tool_env(moto_port, KEYSETS_SECRET_ID=MANIFEST, POLICY_FILE=DEMO / "policy.datalog",
                                CACHE_TTL_SECONDS=TTL_SECONDS, METRICS_NAMESPACE=METRICS_NAMESPACE)
        port = free_port()
        start_authorizer(processes, function_env, port, log)

        def decide(domain, key_pair, key_id, hint, at=None):
            token = mint(key_pair.private_key, key_id, hint, 'user("dana"); right("read");')
            return outcome(invoke(at or port, rest_token_event(token, "GET", f"/tenants/{domain}/x")))

        a, b = DOMAINS[0], next(d for d in DOMAINS if shard_of(d, SHARDS) != shard_of(DOMAINS[0], SHARDS))
        results.check("a token of each of two shards' domains is allowed",
                      decide(a, keys[a], 1, a) == "allow" and decide(b, keys[b], 1, b) == "allow")

        # No domain hint: routed by the manifest's key-id index to the one shard holding key id 109.
        own = biscuit_auth.KeyPair()
        server.publish(DOMAINS[9], [bwks_item(keys[DOMAINS[9]], 1), bwks_item(own, 109)])
        code, summary = run_key_sync(env, DOMAINS)
        time.sleep(TTL_SECONDS + 0.5)
        results.check("no domain hint: a unique key id is routed through the key-id index",
                      code == 0 and decide(DOMAINS[9], own, 109, None) == "allow", summary)
        d = DOMAINS[11]
        by_fact = mint(keys[d].private_key, 1, None, f'domain("{d}"); user("dana"); right("read");')
        results.check("no field 5: the authority domain fact routes the token to its shard",
                      outcome(invoke(port, rest_token_event(by_fact, "GET", f"/tenants/{d}/x"))) == "allow")
        results.check("no domain hint: a crowded key id is refused (too many candidates)",
                      decide(a, keys[a], 1, None) == "unauthorized")

        # A generation half written: a shard written ahead of its manifest is not used by a
        # reader that loads that shard now (a fresh process), whose manifest names the old version.
        c = next(d for d in DOMAINS if shard_of(d, SHARDS) not in (shard_of(a, SHARDS), shard_of(b, SHARDS)))
        shard_c = shard_ids[shard_of(c, SHARDS)]
        intruder = biscuit_auth.KeyPair()
        original = sm.get_secret_value(SecretId=shard_c)["SecretString"]
        ahead = json.loads(original)
        ahead[c] = [bwks_item(intruder, 1)]
        sm.put_secret_value(SecretId=shard_c, SecretString=json.dumps(ahead))
        fresh = free_port()
        start_authorizer(processes, function_env, fresh, log)
        results.check("half-written generation: the shard version ahead of the manifest is not used",
                      decide(c, intruder, 1, c, fresh) == "unauthorized" and decide(c, keys[c], 1, c, fresh) == "allow")

        # The manifest switch under a concurrent reader: a keeps its key while key-sync writes
        # two generations; every decision of a's token during the switch is allowed.
        sm.put_secret_value(SecretId=shard_c, SecretString=original)
        seen, stop = [], threading.Event()

        def reader():
            while not stop.is_set():
                seen.append(decide(a, keys[a], 1, a))

        thread = threading.Thread(target=reader)
        thread.start()
        rounds = []
        for step in range(2):
            for domain in DOMAINS[1:]:
                server.publish(domain, [bwks_item(keys[domain], 1), bwks_item(biscuit_auth.KeyPair(), 200 + step)])
            rounds.append(run_key_sync(env, DOMAINS))
            time.sleep(TTL_SECONDS + 0.2)
        stop.set()
        thread.join(60)
        results.check(f"manifest switch under a concurrent reader: {len(seen)} decisions during two generations, all allowed",
                      len(seen) >= 4 and set(seen) == {"allow"} and all(code == 0 for code, _ in rounds),
                      (seen, [s.get("generation") for _, s in rounds]))
        d = DOMAINS[3]
        results.check("after the switch: the new generation's keys verify",
                      decide(d, keys[d], 1, d) == "allow")

        # A shard that cannot be read: the manifest names a version that does not parse.
        broken = shard_of(b, SHARDS)
        manifest = json.loads(sm.get_secret_value(SecretId=MANIFEST)["SecretString"])
        good_manifest = json.dumps(manifest)
        put = sm.put_secret_value(SecretId=shard_ids[broken], SecretString="this is not a key map")
        manifest["shards"][broken]["version"] = put["VersionId"]
        manifest["generation"] += 1
        sm.put_secret_value(SecretId=MANIFEST, SecretString=json.dumps(manifest))
        time.sleep(TTL_SECONDS + 0.5)
        others = [d for d in DOMAINS if shard_of(d, SHARDS) != broken][:3]
        results.check("an unreadable shard: its domains' tokens are refused",
                      decide(b, keys[b], 1, b) == "unauthorized")
        results.check("an unreadable shard: every other shard's domains are still decided",
                      all(decide(d, keys[d], 1, d) == "allow" for d in others))
        log.flush()
        log_text = (ROOT / "target" / "sharded-loop.log").read_text()
        results.check("an unreadable shard: logged, with the refusal reason keys_unavailable",
                      "cannot load key map shard" in log_text and '"keys_unavailable"' in log_text)
        emitted = save_emf("sharded-loop", log_text)
        failures = [d for d in emitted if d.get("KeyMapShardLoadFailures")]
        results.check("an unreadable shard: counted in KeyMapShardLoadFailures, once per load attempt (not per decision)",
                      len(failures) == 1 and failures[0].get("shard") == str(broken), failures)
        sm.put_secret_value(SecretId=MANIFEST, SecretString=good_manifest)
    finally:
        processes.stop_all()
        server.stop()
        log.close()
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
