"""key-sync against moto's Secrets Manager and a local HTTPS server on 127.0.0.1
serving BWKS documents with a test certificate that key-sync trusts through
EXTRA_CA_CERTS (certificate validation stays on), with the authorizer function
reading the secret key-sync writes: a withdrawn key stops verifying even when
the map returns to earlier content, a key copied by another domain is refused
(by key-sync, and by the authorizer's loader when a map holds it anyway), an
over-quota domain does not block another domain's withdrawal, an
unreadable current secret with a domain down is not replaced by a partial map,
and (in a whole map and in a sharded one) a neighbour growing past the limit
round after round never delays a withdrawal, two growing neighbours get at
most their fair share, and quotas count the bytes as stored.

Run by tests/run from the repository root with the project venv's python."""

import datetime
import functools
import hashlib
import ipaddress
import json
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import biscuit_auth
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import (ROOT, DEMO, METRICS_NAMESPACE, Processes, Results, bwks_item, free_port, invoke, mint,
                     outcome, rest_token_event, save_emf, emf_documents, secrets_client, start_authorizer, start_moto,
                     tool_env)

SECRET = "authorizer/keysets"
KEY_SYNC = ROOT / "target" / "debug" / "key-sync"
WORK = ROOT / "target" / "key-sync-loop"
TTL_SECONDS = 1
STAMP_BYTES = len('"synced_at":"2026-12-07T16:00:00Z",')  # what key-sync's stamp adds to a whole map


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

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # key-sync opens up to 64 connections at once

        self.httpd = Server(("127.0.0.1", 0), Handler)
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


KEY_SYNC_OUTPUT = []
# key-sync's per-domain metric lines, from rounds run with and without METRICS_PER_DOMAIN.
PER_DOMAIN_OPTED_IN, PER_DOMAIN_UNASKED = [], []


def run_key_sync(env, domains, **extra):
    variables = dict(env)
    variables["METRICS_NAMESPACE"] = METRICS_NAMESPACE
    variables["TRUSTED_DOMAINS"] = ",".join(domains)
    variables.update({k: str(v) for k, v in extra.items()})
    result = subprocess.run([str(KEY_SYNC), "once"], cwd=ROOT, env=variables, capture_output=True, text=True, timeout=60)
    KEY_SYNC_OUTPUT.append(result.stderr)
    per_domain = [line for line in result.stderr.splitlines() if '"KeysExpiringSoon"' in line and '"domain"' in line]
    (PER_DOMAIN_OPTED_IN if variables.get("METRICS_PER_DOMAIN") == "true" else PER_DOMAIN_UNASKED).extend(per_domain)
    try:
        summary = json.loads(result.stdout)
    except json.JSONDecodeError:
        summary = {"error": result.stderr.strip()}
    return result.returncode, summary


def current(sm):
    return sm.get_secret_value(SecretId=SECRET)


def stored(sm):
    return json.loads(current(sm)["SecretString"])


def versions(sm):
    return len(sm.list_secret_version_ids(SecretId=SECRET, IncludeDeprecated=True)["Versions"])


def key_ids(map_, domain):
    return sorted(item["key_id"] for item in map_.get(domain, []))


def status(summary, domain):
    return summary.get("domains", {}).get(domain, {}).get("status")


def reason(summary, domain):
    return summary.get("domains", {}).get(domain, {}).get("reason", "")



def shard_of(domain, count):
    """The authorizer's shard assignment: the first 8 bytes of SHA-256, big-endian, modulo the count."""
    return int.from_bytes(hashlib.sha256(domain.encode()).digest()[:8], "big") % count


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def entry_bytes(domain, items):
    """Bytes a domain's entry takes in a stored document (key-sync's canonical JSON), its comma included."""
    return len(compact(domain)) + 1 + len(compact(sorted(items, key=lambda i: i["key_id"]))) + 1


def with_issuer(key_pair, key_id, issuer):
    item = bwks_item(key_pair, key_id)
    item["issuer"] = issuer
    return item


def issuer_items(count, first_id, fill="i"):
    """`count` fresh keys whose issuers are 256 bytes (the default quota), key ids from `first_id`."""
    return [with_issuer(biscuit_auth.KeyPair(), first_id + n, fill * 256) for n in range(count)]


def names_in_shard(prefix, count, shards, shard=0):
    """`count` domain names that land in `shard` of `shards`."""
    found, n = [], 0
    while len(found) < count:
        name = f"{prefix}{n}.grow.test"
        if shard_of(name, shards) == shard:
            found.append(name)
        n += 1
    return found


class Layout:
    """A key map of its own in moto (whole, or a manifest and SHARDS shard secrets) with an
    authorizer function reading it."""

    def __init__(self, name, sm, processes, log, moto_port, server_port, shards):
        self.name, self.sm, self.shards = name, sm, shards
        self.secret = f"{name}/keysets"
        self.shard_ids = [f"{name}/shard-{n}" for n in range(shards)] if shards > 1 else []
        # A whole map's entries get Secrets Manager's limit less the synced_at stamp key-sync adds.
        self.stamp = STAMP_BYTES if shards == 1 else 0
        self.limit = 64 * 1024 - self.stamp if shards == 1 else 56 * 1024
        for secret in [self.secret, *self.shard_ids]:
            sm.create_secret(Name=secret, SecretString="{}")
        extra = {"KEYMAP_SHARD_COUNT": shards, "KEYMAP_SHARD_SECRET_PREFIX": f"{name}/shard-"} if shards > 1 else {}
        self.env = tool_env(moto_port, KEYSETS_SECRET_ID=self.secret, EXTRA_CA_CERTS=WORK / "ca.pem",
                            BWKS_URL_TEMPLATE=f"https://127.0.0.1:{server_port}/{{domain}}/.well-known/biscuit-web-keys",
                            **extra)
        self.port = free_port()
        start_authorizer(processes, tool_env(moto_port, KEYSETS_SECRET_ID=self.secret, POLICY_FILE=DEMO / "policy.datalog",
                                             CACHE_TTL_SECONDS=TTL_SECONDS), self.port, log)

    def document(self, shard=0):
        """The stored text of a shard (the whole map for one shard)."""
        secret = self.shard_ids[shard] if self.shard_ids else self.secret
        return self.sm.get_secret_value(SecretId=secret)["SecretString"]

    def map_bytes(self, shard=0):
        """The bytes of a shard's entries: its stored text less the stamp."""
        return len(self.document(shard)) - self.stamp

    def free(self, shard=0):
        return self.limit - self.map_bytes(shard)

    def decide(self, key_pair, key_id, domain):
        return decide(self.port, key_pair, key_id, domain, f"/tenants/{domain}/x")


def decide(port, key_pair, key_id, hint, path):
    """The authorizer's outcome, after a refresh, for a read token of key_pair."""
    time.sleep(TTL_SECONDS + 0.5)
    token = mint(key_pair.private_key, key_id, hint, 'user("dana"); right("read");')
    return outcome(invoke(port, rest_token_event(token, "GET", path)))


def growth_rounds(results, server, layout):
    """Withdrawals always apply, growth is admitted fairly, quotas count stored bytes: in one
    document (the whole map, or shard 0 of a sharded map, with a domain of shard 1 growing
    meanwhile). The document is filled to about 2.5 KB below its limit first."""
    label = f"[{layout.name}, {layout.shards} shard{'s' if layout.shards > 1 else ''}]"
    v, e, n1, n2, u, q_ctl, q_at, q_over, *fillers = names_in_shard(f"{layout.name}-", 8 + 12, layout.shards)
    keys = {d: biscuit_auth.KeyPair() for d in (v, e, n1, n2, u)}
    v9, v10 = biscuit_auth.KeyPair(), biscuit_auth.KeyPair()
    published = {v: [bwks_item(keys[v], 1), bwks_item(v9, 9)], e: [bwks_item(keys[e], 1)],
                 n1: [bwks_item(keys[n1], 1)], n2: [bwks_item(keys[n2], 1)], u: [bwks_item(keys[u], 1)],
                 q_ctl: [with_issuer(biscuit_auth.KeyPair(), 1, "\u0001" * 256)],
                 q_at: [with_issuer(biscuit_auth.KeyPair(), 1, '"' * 128)],
                 q_over: [with_issuer(biscuit_auth.KeyPair(), 1, '"' * 128 + "x")]}
    others = names_in_shard(f"{layout.name}-other-", 1, layout.shards, 1) if layout.shards > 1 else []
    published.update({o: [bwks_item(biscuit_auth.KeyPair(), 1)] for o in others})
    # Fillers of 16 keys with 256-byte issuers until about 2.5 KB are left.
    base = 1 + sum(entry_bytes(d, items) for d, items in published.items() if d not in (q_ctl, q_over, *others))
    for filler in fillers:
        room = layout.limit - 2500 - base
        if room < 600:
            break
        count = min(16, (room - 40) // 400)
        published[filler] = issuer_items(count, 1)
        base += entry_bytes(filler, published[filler])
    domains = list(published)

    def sync():
        for domain, items in published.items():
            server.publish(domain, items)
        return run_key_sync(layout.env, domains)

    code, summary = sync()
    stored = json.loads(layout.document())
    free = layout.free()
    results.check(f"{label} issuer of 256 control characters: rejected with the reason",
                  status(summary, q_ctl) == "rejected" and "control character U+0001" in reason(summary, q_ctl)
                  and q_ctl not in stored, summary.get("domains", {}).get(q_ctl))
    results.check(f"{label} issuer at exactly its quota in escaped bytes (128 quotes = 256 bytes): accepted",
                  status(summary, q_at) == "fetched" and key_ids(stored, q_at) == [1], summary.get("domains", {}).get(q_at))
    results.check(f"{label} one byte more (257 escaped bytes): rejected",
                  status(summary, q_over) == "rejected" and "257 bytes as stored" in reason(summary, q_over)
                  and q_over not in stored, summary.get("domains", {}).get(q_over))
    results.check(f"{label} the document is filled as computed ({layout.map_bytes()} bytes = the sum of its entries, "
                  f"{free} bytes free)",
                  layout.map_bytes() == base and 1500 <= free <= 3500 and status(summary, v) == "fetched",
                  (layout.map_bytes(), base))

    # v replaces its leaked key 9 with key 10 while e grows past the limit, round after round.
    published[v] = [bwks_item(keys[v], 1), bwks_item(v10, 10)]
    for o in others:
        published[o] = [*published[o], bwks_item(biscuit_auth.KeyPair(), 2)]
    for round_ in range(3):
        published[e] = [bwks_item(keys[e], 1), *issuer_items(15, 2, fill="abc"[round_])]
        code, summary = sync()
        stored = json.loads(layout.document())
        results.check(f"{label} round {round_ + 1} of e's growth: e rejected for its fair share, v's key 9 gone and "
                      f"key 10 stored, u untouched",
                      code != 0 and status(summary, e) == "rejected" and "fair share" in reason(summary, e)
                      and summary.get("growth_refused") == [e] and key_ids(stored, e) == [1]
                      and key_ids(stored, v) == [1, 10] and status(summary, u) == "unchanged"
                      and layout.map_bytes() <= layout.limit and len(layout.document()) <= 64 * 1024, summary)
        if round_ == 0 and others:
            results.check(f"{label} a domain of the other shard grows in the same round: admitted, its shard written",
                          status(summary, others[0]) == "fetched" and summary.get("shards_written") == [0, 1]
                          and key_ids(json.loads(layout.document(1)), others[0]) == [1, 2], summary)
        if round_ == 0:
            results.check(f"{label} the real authorizer refuses a token of v's withdrawn key 9",
                          layout.decide(v9, 9, v) == "unauthorized")
            results.check(f"{label} and allows one of its new key 10", layout.decide(v10, 10, v) == "allow")
    results.check(f"{label} after e's rounds, v's withdrawn key is still refused", layout.decide(v9, 9, v) == "unauthorized")

    # Two neighbours grow at once: n1 asks for about a third of the free space, n2 for more than is left then.
    published[e] = [bwks_item(keys[e], 1)]
    free = layout.free()
    n1_new = [bwks_item(keys[n1], 1), *issuer_items(max(1, free // 3 // 400), 2)]
    r1 = entry_bytes(n1, n1_new) - entry_bytes(n1, published[n1])
    n2_new = [bwks_item(keys[n2], 1), *issuer_items((free - r1) // 400 + 1, 2)]
    r2 = entry_bytes(n2, n2_new) - entry_bytes(n2, published[n2])
    results.check(f"{label} the neighbours' requests as designed: {r1} <= half of {free}, {r2} > {free} - {r1}",
                  r1 <= free // 2 and r2 > free - r1 and r1 + r2 > free)
    published[n1], published[n2] = n1_new, n2_new
    u_entry = compact({u: json.loads(layout.document())[u]})
    code, summary = sync()
    stored = json.loads(layout.document())
    results.check(f"{label} two neighbours grow at once: the smaller request, within its fair share, is admitted; "
                  f"the larger is rejected and keeps its set",
                  status(summary, n1) == "fetched" and key_ids(stored, n1) == [k["key_id"] for k in n1_new]
                  and status(summary, n2) == "rejected" and "fair share" in reason(summary, n2)
                  and key_ids(stored, n2) == [1] and summary.get("growth_refused") == [n2], summary)
    results.check(f"{label} a domain that did not change is untouched (same entry, unchanged)",
                  status(summary, u) == "unchanged" and compact({u: stored[u]}) == u_entry
                  and layout.decide(keys[u], 1, u) == "allow")


def unstamped(text):
    """A stored whole map without its synced_at stamp."""
    document = json.loads(text)
    document.pop("synced_at", None)
    return document


def stamp_age(document):
    """Seconds since a stored map's synced_at stamp."""
    stamp = datetime.datetime.fromisoformat(document["synced_at"].replace("Z", "+00:00"))
    return (datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()


def last_content_age(log_path):
    """KeyMapContentAgeSeconds of the authorizer's last decision line, or why there is none."""
    decisions = [d for d in emf_documents(log_path.read_text()) if d.get("message") == "decision"]
    return decisions[-1].get("KeyMapContentAgeSeconds", "not reported") if decisions else "no decision line"


def content_age_rounds(results, sm, env, decide_here, key, log_path):
    """The key map's content age: key-sync refreshes a stale synced_at stamp even when nothing
    changed (one write, every domain unchanged), and the authorizer reports the stamp's age
    on every decision."""
    domains = ["a.test"]
    results.check("content age: the authorizer reports the age of the map key-sync stamped",
                  decide_here(key, 3, "a.test", "/tenants/a.test/x") == "allow"
                  and 0 <= last_content_age(log_path) < 300, last_content_age(log_path))
    stale = json.loads(current(sm)["SecretString"])
    three_hours_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
    stale["synced_at"] = three_hours_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    sm.put_secret_value(SecretId=SECRET, SecretString=json.dumps(stale))
    results.check("content age: a map stamped three hours ago is reported as such (>= 10800 s)",
                  decide_here(key, 3, "a.test", "/tenants/a.test/x") == "allow"
                  and 10800 <= last_content_age(log_path) < 11200, last_content_age(log_path))
    before = versions(sm)
    code, summary = run_key_sync(env, domains)
    results.check("content age: key-sync re-stamps a stale map with nothing changed (one write, all unchanged)",
                  summary.get("written") and versions(sm) == before + 1
                  and all(status(summary, d) == "unchanged" for d in domains)
                  and unstamped(current(sm)["SecretString"]) == {k: v for k, v in stale.items() if k != "synced_at"}
                  and stamp_age(stored(sm)) < 120, (summary, stored(sm).get("synced_at")))
    code, summary = run_key_sync(env, domains)
    results.check("content age: a fresh stamp is kept, nothing written",
                  summary.get("written") is False and versions(sm) == before + 1, summary)
    results.check("content age: after the re-stamp the authorizer reports a fresh map again",
                  decide_here(key, 3, "a.test", "/tenants/a.test/x") == "allow"
                  and 0 <= last_content_age(log_path) < 300, last_content_age(log_path))


def main():
    results, processes = Results("key-sync loop"), Processes()
    subprocess.run(["cargo", "build", "--quiet", "--bin", "key-sync", "--bin", "authorizer"], cwd=ROOT, check=True)
    make_certificates()
    server = BwksServer()
    moto_port, function_port = free_port(), free_port()
    log_path = ROOT / "target" / "key-sync-loop.log"
    log = open(log_path, "w")
    try:
        start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        sm.create_secret(Name=SECRET, SecretString="{}")
        env = tool_env(moto_port, KEYSETS_SECRET_ID=SECRET, EXTRA_CA_CERTS=WORK / "ca.pem",
                       BWKS_URL_TEMPLATE=f"https://127.0.0.1:{server.port}/{{domain}}/.well-known/biscuit-web-keys")
        # The authorizer reads the secret key-sync writes, refreshing after TTL_SECONDS.
        function_env = tool_env(moto_port, KEYSETS_SECRET_ID=SECRET, POLICY_FILE=DEMO / "policy.datalog",
                                CACHE_TTL_SECONDS=TTL_SECONDS, METRICS_NAMESPACE=METRICS_NAMESPACE)
        start_authorizer(processes, function_env, function_port, log)

        decide_here = functools.partial(decide, function_port)

        a1, a2, b1 = biscuit_auth.KeyPair(), biscuit_auth.KeyPair(), biscuit_auth.KeyPair()
        server.publish("a.test", [bwks_item(a1, 1)])
        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])

        code, summary = run_key_sync(env, ["a.test", "b.test"], METRICS_PER_DOMAIN="true")
        c1 = current(sm)["SecretString"]
        results.check("first sync: both domains fetched and written",
                      code == 0 and summary.get("written") and status(summary, "a.test") == "fetched"
                      and key_ids(stored(sm), "b.test") == [1] and summary.get("version_id") == current(sm)["VersionId"],
                      summary)
        results.check("first sync: the map carries its synced_at stamp, now",
                      abs(stamp_age(stored(sm))) < 120, stored(sm).get("synced_at"))
        written_versions = versions(sm)

        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("second sync: unchanged, no new secret version",
                      code == 0 and summary.get("written") is False and status(summary, "a.test") == "unchanged"
                      and reason(summary, "a.test") and versions(sm) == written_versions, (summary, versions(sm)))

        # C1 -> C2 -> C1: the return to earlier content is a new version, and the withdrawn key stops working.
        server.publish("a.test", [bwks_item(a1, 1), bwks_item(a2, 2)])
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("rotation: an added key is stored", code == 0 and key_ids(stored(sm), "a.test") == [1, 2], summary)
        results.check("rotation: the authorizer accepts the added key",
                      decide_here(a2, 2, "a.test", "/tenants/a.test/x") == "allow")
        server.publish("a.test", [bwks_item(a1, 1)])
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("withdrawal back to earlier content (C1 -> C2 -> C1): written, AWSCURRENT holds C1 again",
                      code == 0 and summary.get("written") and unstamped(current(sm)["SecretString"]) == unstamped(c1)
                      and current(sm)["VersionId"] == summary.get("version_id") and versions(sm) == written_versions + 2,
                      (summary, versions(sm)))
        results.check("C1 -> C2 -> C1: a token of the withdrawn key is refused",
                      decide_here(a2, 2, "a.test", "/tenants/a.test/x") == "unauthorized")
        results.check("C1 -> C2 -> C1: a token of the remaining key is allowed",
                      decide_here(a1, 1, "a.test", "/tenants/a.test/x") == "allow")

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
                      and status(summary, "b.test") == "kept_last_good" and "503" in reason(summary, "b.test"), summary)

        server.answer("b.test", 200, b"this is not json")
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("malformed document: kept last good",
                      code != 0 and status(summary, "b.test") == "kept_last_good" and key_ids(stored(sm), "b.test") == [1], summary)

        server.answer("b.test", 200, b"[" + b" " * (70 * 1024) + b"]")
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("oversized document: rejected, keeps its last good set",
                      code != 0 and status(summary, "b.test") == "rejected" and "larger than" in reason(summary, "b.test")
                      and key_ids(stored(sm), "b.test") == [1], summary)

        location = f"https://localhost:{server.port}/a.test/.well-known/biscuit-web-keys"
        server.answer("b.test", 302, b"", {"location": location})
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("redirect to another host: refused, kept last good",
                      code != 0 and "another host" in reason(summary, "b.test") and key_ids(stored(sm), "b.test") == [1], summary)

        code, summary = run_key_sync(env, ["a.test", "b.test"],
                                     BWKS_URL_TEMPLATE=f"http://127.0.0.1:{server.port}/{{domain}}/.well-known/biscuit-web-keys")
        results.check("plain http URL template: refused without the insecure flag",
                      code != 0 and "non-HTTPS" in json.dumps(summary), summary)

        # One public key, one domain: a-evil.test republishes b.test's key next to its own.
        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])
        evil = biscuit_auth.KeyPair()
        server.publish("a-evil.test", [bwks_item(evil, 2), bwks_item(b1, 1, "2099-01-01T00:00:00Z")])
        code, summary = run_key_sync(env, ["a.test", "b.test", "a-evil.test"])
        now = stored(sm)
        results.check("key reuse across domains: the copy is refused as a conflict, the copier's own key is stored",
                      code != 0 and status(summary, "a-evil.test") == "conflict"
                      and "belongs to b.test" in reason(summary, "a-evil.test")
                      and key_ids(now, "a-evil.test") == [2] and key_ids(now, "b.test") == [1]
                      and status(summary, "b.test") == "unchanged", summary)
        results.check("key reuse: b.test's token with field 5 = a-evil.test is refused",
                      decide_here(b1, 1, "a-evil.test", "/tenants/a-evil.test/x") == "unauthorized")
        results.check("key reuse: b.test's token without field 5 acts as b.test",
                      decide_here(b1, 1, None, "/tenants/b.test/x") == "allow")
        results.check("key reuse: and not as a-evil.test",
                      decide_here(b1, 1, None, "/tenants/a-evil.test/x") == "deny")

        # Defence in depth: a map written by hand with the key under both domains.
        good_map = current(sm)["SecretString"]
        shared = json.loads(good_map)
        shared["a-evil.test"].append(bwks_item(b1, 1, "2099-01-01T00:00:00Z"))
        sm.put_secret_value(SecretId=SECRET, SecretString=json.dumps(shared))
        results.check("a loaded map with a key under two domains: its tokens are refused (no field 5)",
                      decide_here(b1, 1, None, "/tenants/b.test/x") == "unauthorized")
        results.check("a loaded map with a key under two domains: its tokens are refused (field 5 = a-evil.test)",
                      decide_here(b1, 1, "a-evil.test", "/tenants/a-evil.test/x") == "unauthorized")
        log.flush()
        log_text = log_path.read_text()
        results.check("a loaded map with a key under two domains: logged as an error at load, refusals as ambiguous_key",
                      "published under several domains" in log_text
                      and any("reason_kind" in line and '"ambiguous_key"' in line for line in log_text.splitlines()))
        sm.put_secret_value(SecretId=SECRET, SecretString=good_map)

        # Quotas: an over-quota domain in the same round as b.test's withdrawal of a key.
        b2 = biscuit_auth.KeyPair()
        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z"), bwks_item(b2, 2)])
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        results.check("b.test adds a key", code == 0 and key_ids(stored(sm), "b.test") == [1, 2], summary)
        huge_item = bwks_item(biscuit_auth.KeyPair(), 1)
        huge_item["issuer"] = "x" * 65100
        server.publish("huge.test", [huge_item])
        server.publish("many.test", [bwks_item(biscuit_auth.KeyPair(), i) for i in range(17)])
        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])
        versions_before = versions(sm)
        code, summary = run_key_sync(env, ["a.test", "b.test", "huge.test", "many.test"])
        now = stored(sm)
        results.check("over-quota domains are rejected and b.test's withdrawal in the same round is stored",
                      code != 0 and key_ids(now, "b.test") == [1] and status(summary, "b.test") == "fetched"
                      and status(summary, "huge.test") == "rejected" and "issuer of 65100 bytes" in reason(summary, "huge.test")
                      and status(summary, "many.test") == "rejected" and "17 keys" in reason(summary, "many.test")
                      and "huge.test" not in now and "many.test" not in now and versions(sm) == versions_before + 1, summary)
        results.check("over quota: the token of b.test's withdrawn key is refused",
                      decide_here(b2, 2, "b.test", "/tenants/b.test/x") == "unauthorized")

        # Over the secret limit: with a higher key quota, three new domains of 200 keys
        # (about 26 KB apiece) would make a map of about 78 KB. Their growth is dropped;
        # a.test's withdrawal in the same round lands.
        big = [f"big{n}.test" for n in range(3)]
        for domain in big:
            server.publish(domain, [bwks_item(biscuit_auth.KeyPair(), i) for i in range(200)])
        server.publish("a.test", [bwks_item(a3, 3)])
        code, summary = run_key_sync(env, ["a.test", "b.test", *big], MAX_KEYS_PER_DOMAIN=200)
        now = stored(sm)
        results.check("over the 64 KiB limit: the domains that grew are rejected, the others' changes are written",
                      code != 0 and key_ids(now, "a.test") == [3] and status(summary, "a.test") == "fetched"
                      and all(status(summary, d) == "rejected" and "fair share" in reason(summary, d) and d not in now for d in big)
                      and len(current(sm)["SecretString"]) <= 64 * 1024, summary)

        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])
        code, summary = run_key_sync(env, ["a.test"])
        results.check("a domain removed from the configuration is removed",
                      code == 0 and status(summary, "b.test") == "removed" and "b.test" not in stored(sm), summary)

        # No partial maps: the current secret does not parse and b.test is down.
        good_map = current(sm)["SecretString"]
        sm.put_secret_value(SecretId=SECRET, SecretString="this is not JSON")
        server.answer("b.test", 503, b"down")
        versions_before = versions(sm)
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        error = summary.get("error", "")
        results.check("unreadable current secret with a domain down: nothing written, a clear error",
                      code != 0 and "unreadable" in error and "b.test: kept_last_good" in error
                      and current(sm)["SecretString"] == "this is not JSON" and versions(sm) == versions_before,
                      summary)
        results.check("unreadable current secret: the authorizer keeps deciding with the map it has",
                      decide_here(a3, 3, "a.test", "/tenants/a.test/x") == "allow")
        server.publish("b.test", [bwks_item(b1, 1, "2099-01-01T00:00:00Z")])
        code, summary = run_key_sync(env, ["a.test", "b.test"])
        now = stored(sm)
        results.check("unreadable current secret, every domain fetched: the whole map is written",
                      code == 0 and summary.get("written") and key_ids(now, "a.test") == [3] and key_ids(now, "b.test") == [1],
                      summary)
        sm.put_secret_value(SecretId=SECRET, SecretString=good_map)

        # The full loop: the authorizer reads what key-sync wrote and accepts a token
        # signed by the freshly synced key a3, and refuses the rotated-out a1.
        results.check("full loop: the authorizer accepts a token signed by the synced key",
                      decide_here(a3, 3, "a.test", "/tenants/a.test/x") == "allow")
        results.check("full loop: and refuses one signed by the rotated-out key",
                      decide_here(a1, 1, "a.test", "/tenants/a.test/x") == "unauthorized")

        content_age_rounds(results, sm, env, decide_here, a3, log_path)

        # Withdrawals, fair growth and stored-byte quotas: in a whole map and in a sharded one.
        for name, shards in (("whole", 1), ("sharded", 2)):
            growth_rounds(results, server, Layout(name, sm, processes, log, moto_port, server.port, shards))

        # Metrics: every round wrote its EMF lines (domains by status, expiring keys, writes).
        save_emf("key-sync-loop-authorizer", log_path.read_text())
        emitted = save_emf("key-sync-loop", "\n".join(KEY_SYNC_OUTPUT))
        conflicts = [d.get("Domains") for d in emitted if d.get("status") == "conflict"]
        results.check("metrics: a round with a conflict reports Domains{status=conflict} = 1",
                      1 in conflicts, f"got {conflicts}")
        results.check("metrics: every round reports its expiring keys in all and its secret writes",
                      all("KeysExpiringSoon" in d for d in emitted if d.get("message") == "round")
                      and any(d.get("SecretWrites") == 1 for d in emitted))
        results.check("metrics: expiring keys per domain only in rounds run with METRICS_PER_DOMAIN",
                      PER_DOMAIN_OPTED_IN and not PER_DOMAIN_UNASKED,
                      f"{len(PER_DOMAIN_OPTED_IN)} opted in, {len(PER_DOMAIN_UNASKED)} unasked")
        results.check("metrics: a round that refused a growth reports GrowthRefused = 1",
                      any(d.get("GrowthRefused") == 1 and d.get("message") == "round" for d in emitted)
                      and any(d.get("GrowthRefused") == 0 for d in emitted))
    finally:
        processes.stop_all()
        server.stop()
        log.close()
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
