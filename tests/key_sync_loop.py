"""key-sync against moto's Secrets Manager and a local HTTPS server on 127.0.0.1
serving BWKS documents with a test certificate that key-sync trusts through
EXTRA_CA_CERTS (certificate validation stays on). Then the full loop: the
authorizer, reading the secret key-sync wrote, accepts a token signed by the
freshly synced key.

Run by tests/run from the repository root with the project venv's python."""

import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import biscuit_auth
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import (ROOT, DEMO, Processes, Results, bwks_item, free_port, invoke, mint, outcome,
                     rest_token_event, secrets_client, start_authorizer, start_moto, tool_env)

SECRET = "authorizer/keysets"
KEY_SYNC = ROOT / "target" / "debug" / "key-sync"
WORK = ROOT / "target" / "key-sync-loop"


def make_certificates():
    """A test CA and a server certificate for 127.0.0.1, written as PEM files."""
    WORK.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "key-sync test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                          x509.DNSName("localhost")]), critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = lambda cert: cert.public_bytes(serialization.Encoding.PEM)
    (WORK / "ca.pem").write_bytes(pem(ca))
    (WORK / "server.pem").write_bytes(pem(server))
    (WORK / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class BwksServer:
    """Serves /DOMAIN/.well-known/biscuit-web-keys from a table of (status, body, headers)."""

    def __init__(self):
        self.documents = {}
        table = self.documents

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                domain = self.path.split("/")[1]
                status, body, headers = table.get(domain, (404, b"not found", {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(WORK / "server.pem", WORK / "server.key")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, domain, items):
        self.documents[domain] = (200, json.dumps(items).encode(), {"content-type": "application/json"})

    def answer(self, domain, status, body=b"", headers=None):
        self.documents[domain] = (status, body, headers or {})

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_key_sync(env, domains, **extra):
    variables = dict(env)
    variables["TRUSTED_DOMAINS"] = ",".join(domains)
    variables.update({k: str(v) for k, v in extra.items()})
    result = subprocess.run([str(KEY_SYNC), "once"], cwd=ROOT, env=variables, capture_output=True, text=True, timeout=60)
    try:
        summary = json.loads(result.stdout)
    except json.JSONDecodeError:
        summary = {"error": result.stderr.strip()}
    return result.returncode, summary


def stored(sm):
    return json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])


def versions(sm):
    return len(sm.list_secret_version_ids(SecretId=SECRET, IncludeDeprecated=True)["Versions"])


def key_ids(map_, domain):
    return sorted(item["key_id"] for item in map_.get(domain, []))


def status(summary, domain):
    return summary.get("domains", {}).get(domain, {}).get("status")


def main():
    results, processes = Results("key-sync loop"), Processes()
    subprocess.run(["cargo", "build", "--quiet", "--bin", "key-sync", "--bin", "authorizer"], cwd=ROOT, check=True)
    make_certificates()
    server = BwksServer()
    moto_port = free_port()
    log = open(ROOT / "target" / "key-sync-loop.log", "w")
    try:
        start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        sm.create_secret(Name=SECRET, SecretString="{}")
        env = tool_env(moto_port, KEYSETS_SECRET_ID=SECRET, EXTRA_CA_CERTS=WORK / "ca.pem",
                       BWKS_URL_TEMPLATE=f"https://127.0.0.1:{server.port}/{{domain}}/.well-known/biscuit-web-keys")
        a1, a2, b1 = biscuit_auth.KeyPair(), biscuit_auth.KeyPair(), biscuit_auth.KeyPair()
        server.publish("a.test", [bwks_item(a1, 1)])
        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])

        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("first sync: both domains fetched and written",
                      code == 0 and summary.get("written") and status(summary, "a.test") == "fetched"
                      and key_ids(stored(sm), "b.test") == [1], summary)
        written_versions = versions(sm)

        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("second sync: unchanged, no new secret version",
                      code == 0 and summary.get("written") is False and status(summary, "a.test") == "unchanged"
                      and versions(sm) == written_versions, (summary, versions(sm)))

        server.publish("a.test", [bwks_item(a1, 1), bwks_item(a2, 2)])
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("rotation: an added key is stored", code == 0 and key_ids(stored(sm), "a.test") == [1, 2], summary)
        server.publish("a.test", [bwks_item(a2, 2)])
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("rotation: a removed key is removed", code == 0 and key_ids(stored(sm), "a.test") == [2], summary)

        a3 = biscuit_auth.KeyPair()
        server.publish("a.test", [bwks_item(a2, 2), bwks_item(a3, 3)])
        server.answer("b.test", 503, b"down")
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        now = stored(sm)
        results.check("one domain down while another rotates: the rotation lands, the down domain keeps its keys",
                      code != 0 and key_ids(now, "a.test") == [2, 3] and key_ids(now, "b.test") == [1]
                      and status(summary, "b.test") == "kept_last_good", summary)

        server.answer("b.test", 200, b"this is not json")
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("malformed document: kept last good",
                      code != 0 and status(summary, "b.test") == "kept_last_good" and key_ids(stored(sm), "b.test") == [1], summary)

        server.answer("b.test", 200, b"[" + b" " * (70 * 1024) + b"]")
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        error = summary.get("domains", {}).get("b.test", {}).get("error", "")
        results.check("oversized document: refused, kept last good",
                      code != 0 and "larger than" in error and key_ids(stored(sm), "b.test") == [1], summary)

        location = f"https://localhost:{server.port}/a.test/.well-known/biscuit-web-keys"
        server.answer("b.test", 302, b"", {"location": location})
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        error = summary.get("domains", {}).get("b.test", {}).get("error", "")
        results.check("redirect to another host: refused, kept last good",
                      code != 0 and "another host" in error and key_ids(stored(sm), "b.test") == [1], summary)

        code, summary = run_key_sync(env, ["a.test", "b.test"],
                                     BWKS_URL_TEMPLATE=f"http://127.0.0.1:{server.port}/{{domain}}/.well-known/biscuit-web-keys")
        results.check("plain http URL template: refused without the insecure flag",
                      code != 0 and "non-HTTPS" in json.dumps(summary), summary)

        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])
        code, summary = run_key_sync(env, ["a.test"])
        results.check("a domain removed from the configuration is removed",
                      code == 0 and status(summary, "b.test") == "removed" and "b.test" not in stored(sm), summary)

        # Three documents of 200 keys each (about 26 KB apiece) make a map of about 78 KB.
        big = [f"big{n}.test" for n in range(3)]
        for domain in big:
            server.publish(domain, [bwks_item(biscuit_auth.KeyPair(), i) for i in range(200)])
        before = stored(sm)
        code, summary = run_key_sync(env, ["a.test", *big])
        results.check("a map over the 64 KiB SecretString limit is not written",
                      code != 0 and "limit" in summary.get("error", "") and stored(sm) == before, summary)

        # The full loop: the authorizer reads what key-sync wrote and accepts a token
        # signed by the freshly synced key a3.
        function_port = free_port()
        function_env = tool_env(moto_port, KEYSETS_SECRET_ID=SECRET, POLICY_FILE=DEMO / "policy.datalog")
        start_authorizer(processes, function_env, function_port, log)
        token = mint(a3.private_key, 3, "a.test", 'user("dana"); right("read");')
        results.check("full loop: the authorizer accepts a token signed by the synced key",
                      outcome(invoke(function_port, rest_token_event(token, "GET", "/tenants/a.test/x"))) == "allow")
        stale = mint(a1.private_key, 1, "a.test", 'user("dana"); right("read");')
        results.check("full loop: and refuses one signed by the rotated-out key",
                      outcome(invoke(function_port, rest_token_event(stale, "GET", "/tenants/a.test/x"))) == "unauthorized")
    finally:
        processes.stop_all()
        server.stop()
        log.close()
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
