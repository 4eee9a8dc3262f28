"""Helpers shared by the Python test scripts: process control on 127.0.0.1,
moto, the authorizer under cargo-lambda, minting with biscuit-python, and a
plain result counter. Every process started here is stopped by its own pid."""

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import biscuit_auth

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
EVENTS = ROOT / "events"
DEMO = EVENTS / "demo"
AWS_TEST_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}


EMF_DIR = ROOT / "target" / "emf"
METRICS_NAMESPACE = "Biscuit/test"


def save_emf(name, text):
    """Keeps the CloudWatch EMF documents found in a process's output (lines that are JSON
    objects with an `_aws` block) in target/emf/NAME.jsonl, for tests/template_check.py;
    returns them."""
    documents = emf_documents(text)
    EMF_DIR.mkdir(parents=True, exist_ok=True)
    with open(EMF_DIR / f"{name}.jsonl", "w") as out:
        for document in documents:
            out.write(json.dumps(document) + "\n")
    return documents


def emf_documents(text):
    """The CloudWatch EMF documents in a process's output, in order."""
    documents = []
    for line in text.splitlines():
        start = line.find('{"_aws"')
        if start < 0:
            start = line.find("{") if '"_aws"' in line else -1
        if start < 0:
            continue
        try:
            document = json.loads(line[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


class Results:
    """Counts checks and prints one line each, then the closing line."""

    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, label, condition, detail=""):
        if condition:
            self.passed += 1
            print(f"ok   {label}")
        else:
            self.failed += 1
            print(f"FAIL {label} {detail}")

    def close(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


class Processes:
    """Starts processes in their own process groups and stops them all."""

    def __init__(self):
        self.started = []

    def start(self, args, env=None, log=None):
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log or subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    @staticmethod
    def stop(process):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self):
        for process in self.started:
            self.stop(process)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds, context=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1, context=context)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False


def start_moto(processes, port):
    process = processes.start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    if not wait_for(f"http://127.0.0.1:{port}/", 30):
        raise RuntimeError("moto_server did not start")
    return process


def secrets_client(moto_port):
    import boto3
    return boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def tool_env(moto_port, **variables):
    """The environment for a function or tool talking to moto."""
    env = dict(os.environ)
    env.update(AWS_TEST_ENV)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = f"http://127.0.0.1:{moto_port}"
    env.update({k: str(v) for k, v in variables.items()})
    return env


def start_authorizer(processes, env, port, log):
    """The `authorizer` binary under `cargo lambda watch` on 127.0.0.1:port."""
    process = processes.start(
        [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "-P", str(port), "--bin", "authorizer"],
        env=env, log=log)
    if not wait_for(f"http://127.0.0.1:{port}/", 120):
        raise RuntimeError("cargo lambda watch did not start")
    return process


def invoke(port, event):
    """Invokes the function with `cargo lambda invoke --data-file`; returns ("ok", response) or ("error", text)."""
    path = event if isinstance(event, Path) else None
    if path is None:
        path = ROOT / "target" / f"invoke-{port}.json"
        path.write_text(json.dumps(event))
    result = subprocess.run(
        [str(VENV_BIN / "cargo-lambda"), "lambda", "invoke", "authorizer", "--invoke-port", str(port),
         "--data-file", str(path), "--output-format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    if result.returncode == 0:
        return "ok", json.loads(result.stdout)
    return "error", result.stdout + result.stderr


def outcome(answer):
    """allow / deny / unauthorized (or deny-or-unauthorized for HTTP API simple answers)."""
    kind, body = answer
    if kind == "error":
        return "unauthorized" if "Unauthorized" in body else f"error: {body.strip()[:300]}"
    if "isAuthorized" in body:
        return "allow" if body["isAuthorized"] else "deny-or-unauthorized"
    effect = body["policyDocument"]["Statement"][0]["Effect"]
    return "allow" if effect == "Allow" else "deny"


def public_key_hex(key_pair):
    return bytes(key_pair.public_key.to_bytes()).hex()


def bwks_item(key_pair, key_id, expires_at=None):
    return {"algorithm": "ed25519", "key_bytes": public_key_hex(key_pair), "key_id": key_id,
            "issuer": None, "expires_at": expires_at}


def mint(private_key, key_id, domain, code):
    """A token minted by biscuit-python, with field 5 appended as protobuf bytes."""
    builder = biscuit_auth.BiscuitBuilder(code)
    builder.set_root_key_id(key_id)
    data = bytes(builder.build(private_key).to_bytes())
    if domain is not None:
        encoded = domain.encode()
        data += bytes([0x2A, len(encoded)]) + encoded
    return base64.urlsafe_b64encode(data).decode()


def rest_token_event(token, method, path):
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token}",
        "methodArn": f"arn:aws:execute-api:eu-west-1:123456789012:demo123api/prod/{method}{path}",
    }
