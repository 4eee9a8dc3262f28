"""The authorizer function in the real loop: moto's Secrets Manager on 127.0.0.1,
the `authorizer` binary under the cargo-lambda runtime emulator, the events in
events/ invoked with `cargo lambda invoke --data-file`.

Run by tests/run from the repository root with the project venv's python.
Every process it starts, it stops by its own pid (process group)."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import biscuit_auth
import boto3

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
EVENTS = ROOT / "events"
DEMO = EVENTS / "demo"
KEYSETS_SECRET = "authorizer/keysets"
REVOKED_SECRET = "authorizer/revoked"
TTL_SECONDS = 2

results = {"passed": 0, "failed": 0}
processes = []


def check(name, condition, detail=""):
    if condition:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, env=None, log=None):
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    processes.append(process)
    return process


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False


def start_moto(port):
    process = start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    if not wait_for(f"http://127.0.0.1:{port}/", 30):
        raise RuntimeError("moto_server did not start")
    return process


def function_env(moto_port):
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "KEYSETS_SECRET_ID": KEYSETS_SECRET,
            "REVOKED_SECRET_ID": REVOKED_SECRET,
            "POLICY_FILE": str(DEMO / "policy.datalog"),
            "CACHE_TTL_SECONDS": str(TTL_SECONDS),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{moto_port}",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
        }
    )
    return env


def start_function(env, port, log):
    process = start(
        [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "-P", str(port), "--bin", "authorizer"],
        env=env,
        log=log,
    )
    if not wait_for(f"http://127.0.0.1:{port}/", 120):
        raise RuntimeError("cargo lambda watch did not start")
    return process


def invoke(port, event):
    """Invokes the function; returns ("ok", response) or ("error", message)."""
    path = event if isinstance(event, Path) else None
    if path is None:
        path = ROOT / "target" / "lambda-loop-event.json"
        path.write_text(json.dumps(event))
    result = subprocess.run(
        [str(VENV_BIN / "cargo-lambda"), "lambda", "invoke", "authorizer", "--invoke-port", str(port),
         "--data-file", str(path), "--output-format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    if result.returncode == 0:
        return "ok", json.loads(result.stdout)
    return "error", result.stdout + result.stderr


def outcome(answer):
    """allow / deny / unauthorized, from what the function answered."""
    kind, body = answer
    if kind == "error":
        return "unauthorized" if "Unauthorized" in body else f"error: {body.strip()[:300]}"
    if "isAuthorized" in body:
        return "allow" if body["isAuthorized"] else "deny-or-unauthorized"
    effect = body["policyDocument"]["Statement"][0]["Effect"]
    return "allow" if effect == "Allow" else "deny"


def expected_outcome(name):
    expected = name.split("-")[2]  # kind-variant-outcome[-detail]
    if name.startswith("http-") and expected != "allow":
        return "deny-or-unauthorized"  # HTTP API simple responses have no 401
    return expected


def mint(private_key, key_id, domain, code):
    builder = biscuit_auth.BiscuitBuilder(code)
    builder.set_root_key_id(key_id)
    data = bytes(builder.build(private_key).to_bytes())
    domain = domain.encode()
    data += bytes([0x2A, len(domain)]) + domain  # field 5, as the envelope module writes it
    return base64.urlsafe_b64encode(data).decode()


def rest_token_event(token, method, path):
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token}",
        "methodArn": f"arn:aws:execute-api:eu-west-1:123456789012:demo123api/prod/{method}{path}",
    }


def main():
    log = open(ROOT / "target" / "lambda-loop.log", "w")
    subprocess.run(["cargo", "build", "--quiet", "--bin", "authorizer"], cwd=ROOT, check=True)
    moto_port, function_port = free_port(), free_port()
    moto = start_moto(moto_port)
    sm = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    sm.create_secret(Name=KEYSETS_SECRET, SecretString=(DEMO / "keysets.json").read_text())
    sm.create_secret(Name=REVOKED_SECRET, SecretString=(DEMO / "revoked.json").read_text())
    env = function_env(moto_port)
    function = start_function(env, function_port, log)
    try:
        # 1. Every demo event gives its documented outcome.
        for path in sorted(EVENTS.glob("*.json")):
            got = outcome(invoke(function_port, path))
            check(f"event {path.name}", got == expected_outcome(path.stem), f"got {got}")

        # 2. Rotation: tenant A's key 1 is replaced by a new key 2.
        old_token_event = EVENTS / "rest-token-allow.json"
        new_key = biscuit_auth.KeyPair()
        keysets = json.loads((DEMO / "keysets.json").read_text())
        keysets["tenant-a.example"] = [{"algorithm": "ed25519", "key_bytes": bytes(new_key.public_key.to_bytes()).hex(),
                                        "key_id": 2, "issuer": None, "expires_at": None}]
        sm.put_secret_value(SecretId=KEYSETS_SECRET, SecretString=json.dumps(keysets))
        new_token = mint(new_key.private_key, 2, "tenant-a.example", 'user("carol"); right("read");')
        new_event = rest_token_event(new_token, "GET", "/tenants/tenant-a.example/pets")
        check("before the TTL, the cached map still accepts the old key", outcome(invoke(function_port, old_token_event)) == "allow")
        time.sleep(TTL_SECONDS + 1)
        check("after rotation, a token signed by the new key is accepted", outcome(invoke(function_port, new_event)) == "allow")
        check("after rotation, a token signed by the removed key is refused",
              outcome(invoke(function_port, old_token_event)) == "unauthorized")

        # 3. Outage: Secrets Manager goes away.
        stop(moto)
        time.sleep(TTL_SECONDS + 1)
        check("outage: a warm function keeps deciding from the cached map", outcome(invoke(function_port, new_event)) == "allow")
        check("outage: and keeps refusing what the cached map refuses",
              outcome(invoke(function_port, old_token_event)) == "unauthorized")
        stop(function)
        function = start_function(env, function_port, log)
        check("outage: a fresh process fails closed", outcome(invoke(function_port, new_event)) == "unauthorized")
    finally:
        for process in processes:
            stop(process)
        log.close()
    print(f"lambda loop: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
