"""Cold start of the release `authorizer` binary: time from process start to
its first decision, and peak RSS, with the key map from a file and from moto's
Secrets Manager, at 1, 100, 1,000 and 10,000 issuer domains with two keys each
(the demo domain plus generated ones). Maps too large for one secret are
sharded as key-sync shards them: a manifest and shards of at most 48 KB. A
minimal Lambda runtime API on 127.0.0.1 hands the function one event and
records when the answer arrives. A measurement (for BENCHMARKS.md), not a
test: `.venv/bin/python tests/coldstart.py [RUNS]`."""

import hashlib
import json
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support import DEMO, EVENTS, ROOT, Processes, free_port, secrets_client, start_moto, tool_env

BINARY = ROOT / "target" / "release" / "authorizer"
WORK = ROOT / "target" / "coldstart"
SIZES = [1, 100, 1000, 10000]
SHARD_TARGET_BYTES = 48 * 1024


def key_map(domains):
    """The demo key map plus generated domains with two keys each (random key bytes: never
    decoded unless a token names the domain), `domains` in all."""
    keys = json.loads((DEMO / "keysets.json").read_text())
    for n in range(domains - len(keys)):
        keys[f"tenant-{n:05}.generated.example"] = [
            {"algorithm": "ed25519", "expires_at": "2036-01-01T00:00:00Z", "issuer": None,
             "key_bytes": hashlib.sha256(f"{n}/{k}".encode()).hexdigest(), "key_id": k} for k in (1, 2)]
    return keys


def shard_of(domain, count):
    return int.from_bytes(hashlib.sha256(domain.encode()).digest()[:8], "big") % count


def split(keys):
    """Shard documents as key-sync writes them; one document when the map fits one shard."""
    size = len(json.dumps(keys, separators=(",", ":")))
    count = 1
    while size / count > SHARD_TARGET_BYTES:
        count *= 2
    shards = [{} for _ in range(count)]
    for domain, items in sorted(keys.items()):
        shards[shard_of(domain, count)][domain] = items
    return [json.dumps(shard, separators=(",", ":")) for shard in shards]


def manifest(refs):
    return json.dumps({"manifest_version": 1, "generation": 1, "shards": refs, "key_ids": {},
                       "crowded_key_ids": [1, 2], "index_complete": True}, separators=(",", ":"))


def file_source(domains, shards):
    """The key map as files: whole (one document) or a manifest beside its shard files."""
    folder = WORK / f"{domains}"
    folder.mkdir(parents=True, exist_ok=True)
    if len(shards) == 1:
        (folder / "keysets.json").write_text(shards[0])
        return folder / "keysets.json"
    refs = []
    for n, text in enumerate(shards):
        (folder / f"shard-{n}.json").write_text(text)
        refs.append({"id": f"shard-{n}.json", "version": hashlib.sha256(text.encode()).hexdigest()})
    (folder / "manifest.json").write_text(manifest(refs))
    return folder / "manifest.json"


def secret_source(sm, domains, shards):
    """The key map in Secrets Manager: one secret, or a manifest secret and shard secrets."""
    name = f"keysets-{domains}"
    if len(shards) == 1:
        sm.create_secret(Name=name, SecretString=shards[0])
        return name
    refs = []
    for n, text in enumerate(shards):
        created = sm.create_secret(Name=f"{name}/shard-{n}", SecretString=text)
        refs.append({"id": f"{name}/shard-{n}", "version": created["VersionId"]})
    sm.create_secret(Name=name, SecretString=manifest(refs))
    return name


class RuntimeApi:
    """Serves one invocation, then holds the next poll until stopped."""

    def __init__(self, event):
        self.answered = threading.Event()
        self.answer = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if api.answered.is_set() or getattr(api, "served", False):
                    api.answered.wait(30)
                    self.send_response(410)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                api.served = True
                body = json.dumps(event).encode()
                self.send_response(200)
                for name, value in {"Lambda-Runtime-Aws-Request-Id": "req-1",
                                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:1:function:authorizer",
                                    "Lambda-Runtime-Trace-Id": "Root=1-0-0", "content-type": "application/json",
                                    "content-length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                api.answer = (self.path, self.rfile.read(length))
                api.answered_at = time.perf_counter()
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()
                api.answered.set()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the function is killed while its next poll is held open

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_run(env, event):
    api = RuntimeApi(event)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}", AWS_LAMBDA_FUNCTION_NAME="authorizer",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="1",
               AWS_LAMBDA_LOG_GROUP_NAME="cold", AWS_LAMBDA_LOG_STREAM_NAME="start", RUST_LOG="warn")
    started = time.perf_counter()
    process = subprocess.Popen([str(BINARY)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.answered.wait(30):
            raise RuntimeError("no answer from the function")
        elapsed_ms = (api.answered_at - started) * 1000
        rss = peak_rss_kib(process.pid)
        path, body = api.answer
        answer = json.loads(body) if path.endswith("/response") else {}
        allowed = answer.get("isAuthorized") or answer.get("policyDocument", {}).get("Statement", [{}])[0].get("Effect") == "Allow"
        if not allowed:
            raise RuntimeError(f"unexpected answer {path} {body[:200]}")
        return elapsed_ms, rss
    finally:
        process.kill()
        process.wait()
        api.stop()


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "authorizer"], cwd=ROOT, check=True)
    # A REST request event whose token names its domain in field 5 (routed without the key-id fallback).
    event = json.loads((EVENTS / "rest-request-allow.json").read_text())
    processes = Processes()
    try:
        moto_port = free_port()
        start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        base = tool_env(moto_port, POLICY_FILE=DEMO / "policy.datalog")
        print("| domains | map bytes | shards (largest, of 64 KiB) | source | first decision, median (min-max) | peak RSS |")
        print("|---|---|---|---|---|---|")
        for domains in SIZES:
            keys = key_map(domains)
            shards = split(keys)
            whole = json.dumps(keys, separators=(",", ":"))
            sources = {
                "file": dict(base, KEYSETS_FILE=str(file_source(domains, shards))),
                "Secrets Manager": dict(base, KEYSETS_SECRET_ID=secret_source(sm, domains, shards)),
            }
            if len(shards) > 1:
                whole_file = WORK / f"{domains}" / "whole.json"
                whole_file.write_text(whole)
                sources["file, one whole document"] = dict(base, KEYSETS_FILE=str(whole_file))
            largest = max(len(s) for s in shards)
            for name, env in sources.items():
                samples = [one_run(env, event) for _ in range(runs)]
                times = sorted(ms for ms, _ in samples)
                layout = f"{len(shards)} ({largest / 1024:.1f} KiB, {largest / 65536:.0%})" if name != "file, one whole document" else "1 (whole)"
                print(f"| {domains} | {len(whole)} | {layout} | {name} | {statistics.median(times):.1f} ms "
                      f"({times[0]:.1f}-{times[-1]:.1f}) | {max(r for _, r in samples) / 1024:.1f} MiB |", flush=True)
    finally:
        processes.stop_all()
    print(f"binary: {BINARY.stat().st_size / 1e6:.1f} MB (x86_64, release profile); {runs} runs each")


if __name__ == "__main__":
    main()
