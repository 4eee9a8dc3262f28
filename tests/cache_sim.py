"""A model of API Gateway's authorizer result cache in front of the real engine.

Sequences of requests (varying source address, query, headers, client certificate, path
and time) go through `authz replay` (the Lambda function's own decision path, `--now` per
instant) behind a cache keyed by the authorizer's identity sources, for the TTL, as API
Gateway keeps it: a request whose identity source is missing is answered 401 without
invoking; a cached REST answer is an IAM policy, applied to the request's method ARN; a
cached HTTP API simple answer applies as it is. Every request is also decided fresh (TTL 0).
A *divergence* is a request answered Allow from the cache that a fresh decision does not allow.

With the function told the TTL and the key (protection on), there must be none, for the demo
policy and the template's default policy, tokens attenuated with source_ip, query, header and
client_cert checks, and tokens expiring (or with a gap) inside the window; while tokens that
read only keyed facts are still served from the cache. With the function not told (protection
off) the same sequences must diverge, which shows the simulator can fail. Finally, with TTL 0
the replays of events/ are the same with or without the cache flags.

Run by tests/run with the project venv's python."""

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import biscuit_auth

from support import DEMO, EVENTS, ROOT, Results, bwks_item, mint

AUTHZ = ROOT / "target" / "debug" / "authz"
TTL = 300
T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
TIMES = [0, 90, 150, 250, 400]  # seconds after T0; the TTL is 300
ARN = "arn:aws:execute-api:eu-west-1:123456789012:sim0api"
DOMAIN = "tenant-a.example"
PATH = f"/tenants/{DOMAIN}/docs/1"
OTHER_PATH = f"/tenants/{DOMAIN}/docs/2"
PEM = (DEMO / "client-cert.demo-only.pem").read_text()
CERT = hashlib.sha256(base64.b64decode("".join(l for l in PEM.splitlines() if not l.startswith("-----")))).hexdigest()


def at(seconds):
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# The template's identity sources, and the same with every other request fact the tokens read.
KEYS = {
    "rest": {
        "template": ["method.request.header.Authorization", "context.httpMethod", "context.path"],
        "token only": ["method.request.header.Authorization"],
        "extended": ["method.request.header.Authorization", "context.httpMethod", "context.path",
                     "context.identity.sourceIp", "method.request.multivaluequerystring.tenant",
                     "method.request.multivalueheader.x-client", "context.identity.clientCert.clientCertPem"],
    },
    "http": {
        "template": ["$request.header.Authorization", "$context.http.method", "$context.http.path"],
        "extended": ["$request.header.Authorization", "$context.http.method", "$context.http.path",
                     "$context.identity.sourceIp", "$request.querystring.tenant", "$request.header.x-client",
                     "$context.identity.clientCert.clientCertPem"],
    },
    "token": {"token": []},  # a TOKEN authorizer's key is the token
}

# Attenuation blocks of tenant A's read token, each reading a fact the template's key lacks.
TOKENS = {
    "plain": None,
    "source_ip": 'check if source_ip("203.0.113.7");',
    "query": f'check if query("tenant", "{DOMAIN}");',
    "header": 'check if header("x-client", "app-1");',
    "client_cert": f'check if client_cert("{CERT}");',
    "expiring": f"check if time($t), $t < {at(120)};",
    "gap": f"check if time($t), $t < {at(60)} || $t > {at(200)};",
    "not_before": f"check if time($t), $t > {at(100)};",
}

# The requests sent at each instant, in order: the first fills the cache.
VARIANTS = [
    dict(),
    dict(source_ip="198.51.100.9"),
    dict(query=[("tenant", "tenant-b.example")]),
    dict(query=[("tenant", DOMAIN), ("tenant", "tenant-b.example")]),
    dict(query=[("tenant", f"{DOMAIN},tenant-b.example")]),
    dict(client="app-2"),
    dict(cert=False),
    dict(path=OTHER_PATH),
    dict(method="DELETE"),
]


def request(variant):
    base = dict(method="GET", path=PATH, source_ip="203.0.113.7", query=[("tenant", DOMAIN)], client="app-1", cert=True)
    base.update(variant)
    return base


def event(kind, token, r):
    """The API Gateway event of request `r` for an authorizer of `kind`."""
    authorization = f"Bearer {token}"
    method_arn = f"{ARN}/prod/{r['method']}{r['path']}"
    if kind == "token":
        return {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn}
    multi = {}
    for name, value in r["query"]:
        multi.setdefault(name, []).append(value)
    cert = {"clientCertPem": PEM, "subjectDN": "CN=client", "issuerDN": "CN=client", "serialNumber": "1",
            "validity": {"notBefore": "May 28 12:30:02 2019 GMT", "notAfter": "Aug  5 09:36:04 2041 GMT"}} if r["cert"] else None
    proxy = r["path"].removeprefix(f"/tenants/{DOMAIN}/")
    if kind == "rest":
        identity = {"sourceIp": r["source_ip"], **({"clientCert": cert} if cert else {})}
        return {"type": "REQUEST", "methodArn": method_arn, "resource": "/tenants/{tenant}/{proxy+}",
                "path": r["path"], "httpMethod": r["method"],
                "headers": {"Authorization": authorization, "X-Client": r["client"]},
                "multiValueHeaders": {"Authorization": [authorization], "X-Client": [r["client"]]},
                "queryStringParameters": {n: v[-1] for n, v in multi.items()},
                "multiValueQueryStringParameters": multi,
                "pathParameters": {"tenant": DOMAIN, "proxy": proxy},
                "requestContext": {"accountId": "123456789012", "apiId": "sim0api", "stage": "prod",
                                   "httpMethod": r["method"], "path": f"/prod{r['path']}", "identity": identity}}
    raw = "&".join(f"{n}={v.replace(',', '%2C')}" for n, v in r["query"])
    context = {"accountId": "123456789012", "apiId": "sim0api", "stage": "$default",
               "http": {"method": r["method"], "path": r["path"], "sourceIp": r["source_ip"]}}
    if cert:
        context["authentication"] = {"clientCert": cert}
    return {"version": "2.0", "type": "REQUEST", "routeArn": f"{ARN}/$default/{r['method']}{r['path']}",
            "routeKey": "ANY /tenants/{tenant}/{proxy+}", "rawPath": r["path"], "rawQueryString": raw,
            "queryStringParameters": {n: ",".join(v) for n, v in multi.items()},
            "headers": {"authorization": authorization, "x-client": r["client"]},
            "pathParameters": {"tenant": DOMAIN, "proxy": proxy}, "requestContext": context}


def source_value(event, source):
    """The value of one identity source in an event, as API Gateway reads it (None: missing)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    multi_headers = {k.lower(): v for k, v in (event.get("multiValueHeaders") or {}).items()}
    context = event.get("requestContext", {})
    table = {
        "context.httpMethod": context.get("httpMethod"),
        "context.path": context.get("path"),
        "context.identity.sourceIp": context.get("identity", {}).get("sourceIp"),
        "context.identity.clientCert.clientCertPem": context.get("identity", {}).get("clientCert", {}).get("clientCertPem"),
        "$context.http.method": context.get("http", {}).get("method"),
        "$context.http.path": context.get("http", {}).get("path"),
        "$context.identity.sourceIp": context.get("http", {}).get("sourceIp"),
        "$context.identity.clientCert.clientCertPem": context.get("authentication", {}).get("clientCert", {}).get("clientCertPem"),
    }
    if source in table:
        return table[source]
    for prefix, values in [("method.request.header.", headers), ("$request.header.", headers)]:
        if source.startswith(prefix):
            return values.get(source.removeprefix(prefix).lower())
    if source.startswith("method.request.multivalueheader."):
        value = multi_headers.get(source.removeprefix("method.request.multivalueheader.").lower())
        return tuple(value) if value else None
    if source.startswith("method.request.multivaluequerystring."):
        value = (event.get("multiValueQueryStringParameters") or {}).get(source.removeprefix("method.request.multivaluequerystring."))
        return tuple(value) if value else None
    if source.startswith("$request.querystring."):
        return (event.get("queryStringParameters") or {}).get(source.removeprefix("$request.querystring."))
    raise ValueError(f"the model does not know identity source {source}")


def cache_key(kind, event, sources):
    if kind == "token":
        return (event["authorizationToken"],)
    values = tuple(source_value(event, s) for s in sources)
    return None if any(v in (None, "", ()) for v in values) else values


def effect(kind, line, event):
    """allow / deny / unauthorized: what API Gateway does with an answer for this event."""
    response = line["response"]
    if response is None:
        return "unauthorized"
    if "isAuthorized" in response:
        return "allow" if response["isAuthorized"] else "deny"
    statement = response["policyDocument"]["Statement"][0]
    if statement["Effect"] != "Allow":
        return "deny"
    # The cached IAM policy is evaluated against this request's method ARN.
    return "allow" if event["methodArn"] in statement["Resource"] else "deny"


class Replayer:
    """`authz replay` of many events at one instant; answers memoized per (flags, instant, event)."""

    def __init__(self, work, keysets, policy):
        self.work, self.keysets, self.policy, self.answers = work, keysets, policy, {}

    def decide(self, batch, seconds, flags):
        """Decides every event of `batch` at T0 + seconds with these extra flags."""
        todo = [e for e in batch if (tuple(flags), seconds, json.dumps(e, sort_keys=True)) not in self.answers]
        if not todo:
            return
        folder = Path(tempfile.mkdtemp(dir=self.work))
        files = []
        for index, e in enumerate(todo):
            path = folder / f"{index:05}.json"
            path.write_text(json.dumps(e))
            files.append(str(path))
        run = subprocess.run([str(AUTHZ), "replay", "--keysets", str(self.keysets), "--policy", str(self.policy),
                              "--now", at(seconds), "--header-allow-list", "x-client", "--max-time-ms", "1000",
                              *flags, *files], cwd=ROOT, capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            raise RuntimeError(run.stderr)
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        for e, line in zip(todo, lines, strict=True):
            self.answers[(tuple(flags), seconds, json.dumps(e, sort_keys=True))] = line

    def answer(self, e, seconds, flags):
        return self.answers[(tuple(flags), seconds, json.dumps(e, sort_keys=True))]


def simulate(replayer, kind, sources, tokens, protected):
    """Replays the sequence behind the cache model; per token: divergences, allows served from the cache."""
    fresh_flags = []
    function_flags = ["--result-cache-ttl-seconds", str(TTL), "--result-cache-key", ",".join(sources or ["$request.header.Authorization"])] \
        if protected else fresh_flags
    sequence = [(seconds, name, event(kind, token, request(v))) for seconds in TIMES for name, token in tokens.items()
                for v in VARIANTS]
    for seconds in TIMES:
        batch = [e for s, _, e in sequence if s == seconds]
        replayer.decide(batch, seconds, fresh_flags)
        replayer.decide(batch, seconds, function_flags)
    cache, divergences, served, kinds = {}, Counter(), Counter(), Counter()
    for seconds, name, e in sequence:
        truth = effect(kind, replayer.answer(e, seconds, fresh_flags), e)
        key = cache_key(kind, e, sources)
        if key is None:
            continue  # API Gateway answers 401 without invoking: nothing cached, nothing allowed
        entry = cache.get(key)
        if entry is not None and seconds < entry[0] + TTL:
            got = effect(kind, entry[1], e)
            if got == "allow":
                served[name] += 1
                if truth != "allow":
                    divergences[name] += 1
            continue
        line = replayer.answer(e, seconds, function_flags)
        kinds[line["reason_kind"]] += 1
        if line["response"] is not None:  # an Unauthorized error is not cached
            cache[key] = (seconds, line)
    return divergences, served, kinds


def template_default_policy():
    from cfnlint.decode import cfn_yaml
    return cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))["Parameters"]["AuthorizerPolicy"]["Default"]


def check_ttl_zero_changes_nothing(results):
    """The replays of events/ are the same with TTL 0 and the template's key as without any cache flag."""
    folders = [EVENTS] + sorted(p for p in EVENTS.iterdir() if p.is_dir() and p.name != "demo" and any(p.glob("*.json")))
    template = ",".join(KEYS["rest"]["template"] + KEYS["http"]["template"])
    for folder in folders:
        outputs = []
        for flags in ([], ["--result-cache-ttl-seconds", "0", "--result-cache-key", template]):
            run = subprocess.run([str(AUTHZ), "replay", "--now", "2026-12-01T00:00:00Z", *flags, str(folder)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=120)
            outputs.append(run.stdout if run.returncode == 0 else run.stderr)
        results.check(f"TTL 0: authz replay {folder.relative_to(ROOT)} gives the same answers", outputs[0] == outputs[1]
                      and outputs[0].count("\n") == len(list(folder.glob("*.json"))), outputs)


def main():
    results = Results("cache simulator")
    subprocess.run(["cargo", "build", "--quiet", "--bin", "authz"], cwd=ROOT, check=True)
    work = ROOT / "target" / "cache-sim"
    work.mkdir(parents=True, exist_ok=True)
    issuer = biscuit_auth.KeyPair()
    keysets = work / "keysets.json"
    keysets.write_text(json.dumps({DOMAIN: [bwks_item(issuer, 1)]}))
    root = mint(issuer.private_key, 1, DOMAIN, f'domain("{DOMAIN}"); user("alice"); right("read");')
    tokens = {}
    for name, block in TOKENS.items():
        if block is None:
            tokens[name] = root
        else:
            parsed = biscuit_auth.Biscuit.from_base64(root, issuer.public_key)
            tokens[name] = parsed.append(biscuit_auth.BlockBuilder(block)).to_base64()
    policies = {"demo": DEMO / "policy.datalog", "template default": work / "template-default.datalog"}
    policies["template default"].write_text(template_default_policy())
    unprotected_total = Counter()
    for policy_name, policy in policies.items():
        replayer = Replayer(work, keysets, policy)
        for kind, keys in KEYS.items():
            for key_name, sources in keys.items():
                label = f"{policy_name} policy, {kind} authorizer, {key_name} key"
                on, served, kinds = simulate(replayer, kind, sources, tokens, protected=True)
                off, _, _ = simulate(replayer, kind, sources, tokens, protected=False)
                unprotected_total.update({f"{kind}/{key_name}/{name}": n for name, n in off.items()})
                print(f"     {label}: divergences protected {sum(on.values())}, unprotected {sum(off.values())} "
                      f"{dict(off)}; cached allows served {dict(served)}; fresh answers {dict(kinds)}")
                results.check(f"{label}: no cached Allow that a fresh decision refuses", sum(on.values()) == 0, dict(on))
                # Protection does not simply refuse: an Allow that reads only keyed facts is still
                # cached (the demo policy reads the tenant query parameter: keyed in the extended key;
                # a TOKEN event has no query).
                if policy_name != "demo" or key_name in ("extended", "token"):
                    results.check(f"{label}: the plain token is still served from the cache", served["plain"] > 0, dict(served))
                if key_name == "extended":
                    for name in ("source_ip", "query", "header", "client_cert"):
                        results.check(f"{label}: a {name}-bound token is cached once its source is keyed", served[name] > 0, dict(served))
    # Without protection, every kind of unkeyed fact and the time window diverge somewhere.
    for name in ("source_ip", "query", "header", "client_cert", "expiring", "gap"):
        hits = {k: n for k, n in unprotected_total.items() if k.endswith(f"/{name}")}
        results.check(f"protection off: {name} tokens diverge (the simulator can fail)", sum(hits.values()) > 0, hits)
    check_ttl_zero_changes_nothing(results)
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
