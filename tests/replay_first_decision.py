"""First decision of a fresh `authz replay` process: the key map of 10,000 issuer domains (two
distinct keys each, the demo domains among them) as the manifest and 128 shard files that
`authz keymap --shards 128 --out DIR` writes, as the one whole file `authz keymap` prints, and
the demo map, runs interleaved in one run. Each run replays the REST request demo event (its
token names its domain in field 5) and must answer `allow`. A measurement (for BENCHMARKS.md), not a test:
`cargo build --release --bin authz && .venv/bin/python tests/replay_first_decision.py [RUNS [PROFILE]]`
(PROFILE: the target directory of the `authz` binary, `release` by default)."""

import json
import statistics
import subprocess
import sys
import time

import biscuit_auth

from support import DEMO, EVENTS, ROOT, bwks_item

AUTHZ = ROOT / "target" / (sys.argv[2] if len(sys.argv) > 2 else "release") / "authz"
WORK = ROOT / "target" / "replay-first-decision"  # inputs kept across runs
DOMAINS = 10_000
SHARDS = 128
EVENT = EVENTS / "rest-request-allow.json"


def documents():
    """Each domain's BWKS document in WORK/docs: the demo domains' and generated ones."""
    docs = WORK / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    published = json.loads((DEMO / "keysets.json").read_text())
    for n in range(DOMAINS - len(published)):
        published[f"tenant-{n:05}.generated.example"] = [
            bwks_item(biscuit_auth.KeyPair(), k, "2036-01-01T00:00:00Z") for k in (1, 2)]
    for domain, items in published.items():
        (docs / f"{domain}.json").write_text(json.dumps(items))
    return docs, sorted(published)


def key_maps():
    """The whole map and the sharded one, written by `authz keymap` (once; kept in WORK)."""
    whole, manifest = WORK / "whole.json", WORK / "sharded" / "keysets.json"
    if not (whole.exists() and manifest.exists()):
        docs, domains = documents()
        arguments = [f"{domain}={domain}.json" for domain in domains]
        with open(whole, "w") as out:
            subprocess.run([str(AUTHZ), "keymap", *arguments], cwd=docs, stdout=out, check=True)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(AUTHZ), "keymap", *arguments, "--shards", str(SHARDS), "--out", str(manifest.parent)],
                       cwd=docs, stdout=subprocess.DEVNULL, check=True)
    return whole, manifest


def first_decision(keysets):
    """Wall time of one fresh `authz replay` process deciding EVENT, in ms, and its outcome."""
    started = time.perf_counter()
    result = subprocess.run([str(AUTHZ), "replay", "--keysets", str(keysets), str(EVENT)],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, json.loads(result.stdout.splitlines()[-1])["outcome"]


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    whole, manifest = key_maps()
    maps = {"demo map (2 domains)": DEMO / "keysets.json",
            f"{DOMAINS:,} domains, {SHARDS} shard files": manifest,
            f"{DOMAINS:,} domains, one whole file": whole}
    times = {name: [] for name in maps}
    for _ in range(runs):
        for name, path in maps.items():
            elapsed, outcome = first_decision(path)
            if outcome != "allow":
                raise SystemExit(f"{name}: outcome {outcome}, expected allow")
            times[name].append(elapsed)
    baseline = statistics.median(times["demo map (2 domains)"])
    sizes = {name: path.stat().st_size for name, path in maps.items()}
    print(f"{AUTHZ.relative_to(ROOT)}, {runs} runs of each map, interleaved")
    print(f"| key map | file read at start | first decision, median (min–max), {runs} runs | vs demo map |")
    print("|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {sizes[name]:,} bytes | {median:.1f} ms ({min(samples):.1f}–{max(samples):.1f}) "
              f"| {median / baseline:.2f}× |")


if __name__ == "__main__":
    main()
