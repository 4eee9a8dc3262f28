"""Policy rollout against moto and the real `authorizer` under cargo-lambda: a cold
start whose current policy version does not parse serves AWSPREVIOUS (and says so
on every decision), an instance with no policy that parses refuses with
`policy_unavailable` and backs off its reads, and an instance with nothing loaded
at all backs off too.

Secrets Manager calls are counted by a small proxy between the function and moto
(127.0.0.1 only). Run by tests/run with the project venv's python."""

import http.client
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support import (DEMO, EVENTS, METRICS_NAMESPACE, ROOT, Processes, Results, free_port, invoke, outcome,
                     save_emf, secrets_client, start_authorizer, start_moto, tool_env)

KEYSETS_SECRET = "rollout/keysets"
POLICY_SECRET = "rollout/policy"
ALLOW_EVENT = EVENTS / "rest-token-allow.json"
BAD_POLICY = "allow if this does not parse ("
LOG = ROOT / "target" / "policy-rollout-loop.log"


class CountingProxy:
    """Forwards every request to moto and records (time, operation, secret id)."""

    def __init__(self, moto_port):
        calls, lock = [], threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                try:
                    secret = json.loads(body or b"{}").get("SecretId")
                except ValueError:
                    secret = None
                with lock:
                    calls.append((time.monotonic(), target.split(".")[-1], secret))
                try:
                    upstream = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=5)
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream.request("POST", self.path, body=body, headers=headers)
                    reply = upstream.getresponse()
                    data = reply.read()
                    self.send_response(reply.status)
                    for name, value in reply.getheaders():
                        if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(name, value)
                except OSError:
                    data = b'{"__type":"InternalServiceError","message":"moto is down"}'
                    self.send_response(500)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.calls, self.lock = calls, lock
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reads_since(self, start, secret):
        with self.lock:
            return [at for at, operation, secret_id in self.calls
                    if at >= start and operation == "GetSecretValue" and secret_id == secret]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def decisions_since(offset):
    """The decision lines the function logged after byte `offset` of the log."""
    text = LOG.read_text()[offset:]
    lines = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0 or '"decision"' not in line:
            continue
        try:
            document = json.loads(line[start:])
        except ValueError:
            continue
        if document.get("message") == "decision":
            lines.append(document)
    return lines


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def main():
    results, processes = Results("policy rollout loop"), Processes()
    log = open(LOG, "w")
    subprocess.run(["cargo", "build", "--quiet", "--bin", "authorizer"], cwd=ROOT, check=True)
    moto_port, function_port = free_port(), free_port()
    proxy = None
    try:
        moto = start_moto(processes, moto_port)
        proxy = CountingProxy(moto_port)
        sm = secrets_client(moto_port)
        sm.create_secret(Name=KEYSETS_SECRET, SecretString=(DEMO / "keysets.json").read_text())
        good = sm.create_secret(Name=POLICY_SECRET, SecretString=(DEMO / "policy.datalog").read_text())
        sm.put_secret_value(SecretId=POLICY_SECRET, SecretString=BAD_POLICY)
        env = tool_env(moto_port, KEYSETS_SECRET_ID=KEYSETS_SECRET, POLICY_SECRET_ID=POLICY_SECRET,
                       CACHE_TTL_SECONDS=300, AWS_LAMBDA_LOG_FORMAT="JSON", METRICS_NAMESPACE=METRICS_NAMESPACE,
                       AWS_ENDPOINT_URL_SECRETS_MANAGER=f"http://127.0.0.1:{proxy.port}")

        # 1. Cold start with a current version that does not parse: AWSPREVIOUS serves.
        function = start_authorizer(processes, env, function_port, log)
        offset = LOG.stat().st_size
        answers = [outcome(invoke(function_port, ALLOW_EVENT)) for _ in range(3)]
        results.check("a cold start whose AWSCURRENT policy does not parse serves AWSPREVIOUS",
                      answers == ["allow"] * 3, f"got {answers}")
        log.flush()
        lines = decisions_since(offset)
        results.check("the fallback gauge is 1 on every decision while the fallback lasts",
                      len(lines) == 3 and all(d.get("ServingFallbackPolicy") == 1 for d in lines),
                      f"got {[d.get('ServingFallbackPolicy') for d in lines]}")
        results.check("the decision line names the policy version in force (AWSPREVIOUS) and the key map version",
                      all(d.get("policy_version") == good["VersionId"] and d.get("keymap_version") for d in lines),
                      f"got {[(d.get('policy_version'), d.get('keymap_version')) for d in lines]}")
        results.check("the decision line carries the Lambda request id, route, method and path",
                      all(d.get("request_id") and d.get("method") == "GET" and d.get("path") for d in lines),
                      f"got {lines[:1]}")
        results.check("the fallback is said loudly at start",
                      "serving the PREVIOUS version" in LOG.read_text())
        Processes.stop(function)

        # 2. No version parses: refused as policy_unavailable, and reads back off.
        sm.put_secret_value(SecretId=POLICY_SECRET, SecretString=BAD_POLICY + " again")
        function = start_authorizer(processes, env, function_port, log)
        offset = LOG.stat().st_size
        started = time.monotonic()
        answers = [outcome(invoke(function_port, ALLOW_EVENT)) for _ in range(12)]
        elapsed = time.monotonic() - started
        results.check("with no policy version that parses, every request is refused (401)",
                      answers == ["unauthorized"] * 12, f"got {answers}")
        log.flush()
        lines = decisions_since(offset)
        results.check("the refusal's reason kind is policy_unavailable, not keys_unavailable",
                      lines and all(d.get("reason_kind") == "policy_unavailable" for d in lines),
                      f"got {sorted({d.get('reason_kind') for d in lines})}")
        results.check("and the fallback gauge is 1 on each of those decisions",
                      lines and all(d.get("ServingFallbackPolicy") == 1 for d in lines))
        echoes = [line for line in LOG.read_text().splitlines()
                  if '"level":"ERROR"' in line and '"message":"Unauthorized"' in line]
        results.check("an ordinary 401 writes no runtime ERROR line (only its decision line)", not echoes,
                      f"got {echoes[:1]}")
        reads = proxy.reads_since(started, KEYSETS_SECRET)
        results.check(f"no policy: reads back off ({len(reads)} key map reads for 12 requests in {elapsed:.1f}s,"
                      " at least 0.5 s apart)",
                      len(reads) < 12 and all(gap >= 0.45 for gap in gaps(reads)),
                      f"reads at {[round(r - started, 2) for r in reads]}")

        # 3. A good version goes live: the instance recovers on its own.
        sm.put_secret_value(SecretId=POLICY_SECRET, SecretString=(DEMO / "policy.datalog").read_text())
        deadline, answer = time.time() + 90, None
        while time.time() < deadline:
            answer = outcome(invoke(function_port, ALLOW_EVENT))
            if answer == "allow":
                break
            time.sleep(0.5)
        results.check("a good version that becomes current is picked up after the backoff", answer == "allow")
        log.flush()
        last = decisions_since(0)[-1:]
        results.check("and the fallback gauge is 0 again", last and last[0].get("ServingFallbackPolicy") == 0,
                      f"got {last}")
        Processes.stop(function)

        # 4. Nothing loaded at all (Secrets Manager down): refused, and reads back off.
        Processes.stop(moto)
        function = start_authorizer(processes, env, function_port, log)
        started = time.monotonic()
        answers = [outcome(invoke(function_port, ALLOW_EVENT)) for _ in range(12)]
        elapsed = time.monotonic() - started
        reads = proxy.reads_since(started, KEYSETS_SECRET)
        results.check("nothing loaded: every request is refused", answers == ["unauthorized"] * 12, f"got {answers}")
        # The SDK retries each failed call (3 attempts), so count the rounds: bursts 0.45 s apart.
        rounds = [reads[0]] if reads else []
        for at in reads[1:]:
            if at - rounds[-1] >= 0.45:
                rounds.append(at)
        results.check(f"nothing loaded: at most one read round per backoff interval ({len(rounds)} rounds for"
                      f" 12 requests in {elapsed:.1f}s)", 0 < len(rounds) < 12 and len(rounds) <= 2 + elapsed,
                      f"reads at {[round(r - started, 2) for r in reads]}")
    finally:
        processes.stop_all()
        if proxy:
            proxy.stop()
        log.close()
    save_emf("policy-rollout-loop", LOG.read_text())
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
