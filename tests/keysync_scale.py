"""key-sync at scale: rounds against moto's Secrets Manager and a local HTTPS
server on 127.0.0.1 serving N domains with two keys each, at 100, 1,000 and
10,000 domains: the first round (every shard written), then a round in which
one domain changed (what is written, and the round's time), and the largest
shard as a fraction of the SecretString limit. A measurement for
BENCHMARKS.md, not a test: `.venv/bin/python tests/keysync_scale.py [SIZES...]`."""

import json
import subprocess
import sys
import time

import biscuit_auth

from key_sync_loop import WORK, BwksServer, make_certificates
from support import ROOT, Processes, bwks_item, free_port, secrets_client, start_moto, tool_env

LIMIT = 64 * 1024


def shard_count(domains):
    """The template's KeyMapShardCount an operator would pick: about 150 domains per shard."""
    count = 1
    while domains / count > 150:
        count *= 2
    return count


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 10000]
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "key-sync"], cwd=ROOT, check=True)
    binary = ROOT / "target" / "release" / "key-sync"
    make_certificates()
    server = BwksServer()
    processes = Processes()
    try:
        moto_port = free_port()
        start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        print("| domains | shards | first round | round with one domain changed | written then | statuses then | largest shard |")
        print("|---|---|---|---|---|---|---|")
        for domains in sizes:
            names = [f"tenant-{n:05}.scale{domains}.example" for n in range(domains)]
            for name in names:
                server.publish(name, [bwks_item(biscuit_auth.KeyPair(), 1), bwks_item(biscuit_auth.KeyPair(), 2)])
            shards = shard_count(domains)
            manifest, prefix = f"scale{domains}/keysets", f"scale{domains}/keymap/shard-"
            sm.create_secret(Name=manifest, SecretString="{}")
            for n in range(shards if shards > 1 else 0):
                sm.create_secret(Name=f"{prefix}{n}", SecretString="{}")
            env = tool_env(moto_port, KEYSETS_SECRET_ID=manifest, EXTRA_CA_CERTS=WORK / "ca.pem",
                           KEYMAP_SHARD_COUNT=shards, KEYMAP_SHARD_SECRET_PREFIX=prefix, RUST_LOG="warn",
                           # The local Python HTTPS server, not key-sync, is the bottleneck here.
                           FETCH_TIMEOUT_MS=60000,
                           BWKS_URL_TEMPLATE=f"https://127.0.0.1:{server.port}/{{domain}}/.well-known/biscuit-web-keys")
            timed = []
            for change in (False, True):
                if change:
                    server.publish(names[domains // 2], [bwks_item(biscuit_auth.KeyPair(), 3)])
                started = time.perf_counter()
                code, summary = run_key_sync_binary(binary, env, names)
                timed.append((time.perf_counter() - started, code, summary))
            (first, _, _), (second, code, summary) = timed
            written = summary.get("shards_written", [])
            what = (f"{len(written)} shard(s) + manifest" if shards > 1 else "the map") if summary.get("written") else "nothing"
            sizes_now = ([len(sm.get_secret_value(SecretId=f"{prefix}{n}")["SecretString"]) for n in range(shards)]
                         if shards > 1 else [len(sm.get_secret_value(SecretId=manifest)["SecretString"])])
            largest = max(sizes_now)
            statuses = {}
            for report in summary.get("domains", {}).values():
                statuses[report["status"]] = statuses.get(report["status"], 0) + 1
            print(f"| {domains} | {shards} | {first:.1f} s | {second:.1f} s (exit {code}) | {what} | "
                  f"{', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))} | "
                  f"{largest / 1024:.1f} KiB ({largest / LIMIT:.0%}) |", flush=True)
    finally:
        processes.stop_all()
        server.stop()


def run_key_sync_binary(binary, env, domains):
    """`key-sync once` with the release binary; its exit code and summary."""
    listed = WORK / "trusted-domains.txt"
    listed.write_text("\n".join(domains))
    result = subprocess.run([str(binary), "once"], cwd=ROOT, env=dict(env, TRUSTED_DOMAINS_FILE=str(listed)),
                            capture_output=True, text=True, timeout=1800)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.returncode, {"error": result.stderr.strip()[-500:]}


if __name__ == "__main__":
    main()
