"""Interop with biscuit-wasm (npm @biscuit-auth/biscuit-wasm, pinned in
tests/wasm/package.json): tokens it mints with a root key id and attenuates
(which drops field 5 and keeps rootKeyId) are decided by `authz replay` as the
policy says. With six domains on key id 7 they are routed by the authority
block's domain fact; its 16-block token with everyday Unicode-aware patterns
and time checks is allowed (no false refusal) and its checks still deny; tokens
it signs with a key the map does not hold for the domain are unauthorized.

Installs tests/wasm/node_modules with `npm ci` when missing (a failed install
fails the test); runs tests/wasm/mint.mjs with `node --experimental-wasm-modules`
below Node 22. Uses target/debug/authz as built by tests/run. Run from the
repository root with the project venv's python."""

import base64
import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import biscuit_auth

from support import ROOT, Results, bwks_item, rest_token_event

AUTHZ = ROOT / "target" / "debug" / "authz"
WASM = ROOT / "tests" / "wasm"
POLICY = 'allow if right("read"), method("GET"); deny if true;'
AUTHORITY = 'domain("wasm.example"); user("w"); right("read");'
EVERYDAY = ('date("2026-12-07"); word("héllo_wörld"); note("anything at all, ünïcödé too");'
            ' email("jane.doe+tag@example.co.uk");')
SIXTEEN = [  # the 15 blocks biscuit-wasm appends to the authority block
    r'check if path($p), $p.matches("^/[\\w/-]+$");',
    r'check if date($d), $d.matches("^\\d{4}-\\d{2}-\\d{2}$");',
    r'check if word($w), $w.matches("^\\w+$");',
    r'check if note($n), $n.matches(".{1,64}");',
    r'check if email($e), $e.matches("^[\\w.+-]+@[\\w-]+\\.[\\w.-]+$");',
    'check if time($t), $t < 2099-01-01T00:00:00Z;',
    'check if time($t), $t > 2020-01-01T00:00:00Z;',
    'check if method($m), ["GET", "HEAD"].contains($m);',
    'check if path($p), $p.starts_with("/docs/");',
    'check if user($u), $u.length() < 32;',
    'check if right("read");',
    'check if domain("wasm.example");',
    r'check if path($p), $p.matches("^/docs/[\\p{L}\\d_/-]+$");',
    'check if word($w), $w.length() >= 5;',
    'readable($p) <- path($p), $p.starts_with("/docs/"); check if readable($p);',
]


def run(args, timeout, **kwargs):
    return subprocess.run(list(map(str, args)), cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs)


def authz(*args):
    result = run([AUTHZ, *args], 60)
    if result.returncode != 0:
        raise RuntimeError(f"authz {args}: {result.stderr.strip()}")
    return result.stdout


def replay(work, token, method, path, now=None):
    event = work / "event.json"
    event.write_text(json.dumps(rest_token_event(token, method, path)))
    line = json.loads(authz("replay", "--keysets", work / "keysets.json", "--policy", work / "policy.datalog",
                            "--revoked", work / "revoked.json", *(["--now", now] if now else []), event))
    return line["outcome"], line["reason_kind"]


@functools.cache
def node_major():
    return int(run(["node", "--version"], 30).stdout.strip().lstrip("v").split(".")[0])


def mint(spec):
    """Runs tests/wasm/mint.mjs on a spec; its JSON answer."""
    flags = ["--experimental-wasm-modules"] if node_major() < 22 else []
    result = run(["node", *flags, WASM / "mint.mjs"], 60, input=json.dumps(spec))
    if result.returncode != 0:
        raise RuntimeError(f"mint.mjs: {result.stderr.strip()}")
    return json.loads(result.stdout)


def install(results):
    """npm ci into tests/wasm when node_modules is missing; False when it failed."""
    if (WASM / "node_modules" / "@biscuit-auth" / "biscuit-wasm").is_dir():
        return True
    started = time.monotonic()
    try:
        result = run(["npm", "ci", "--prefix", WASM, "--no-audit", "--no-fund"], 300)
        ok, detail = result.returncode == 0, result.stderr.strip()[-2000:]
    except (OSError, subprocess.TimeoutExpired) as error:
        ok, detail = False, str(error)
    results.check(f"npm ci installs biscuit-wasm ({time.monotonic() - started:.1f} s)", ok, detail)
    return ok


def item(public_key_hex, key_id):
    return {"algorithm": "ed25519", "key_bytes": public_key_hex, "key_id": key_id, "issuer": None, "expires_at": None}


def main():
    results = Results("interop_wasm")
    if not AUTHZ.is_file():
        results.check(f"{AUTHZ.relative_to(ROOT)} exists (cargo build --bin authz)", False)
        return results.close()
    if not install(results):
        return results.close()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wasm = mint({"key_id": 7, "tokens": {
            "plain": {"authority": AUTHORITY},
            "sixteen": {"authority": f"{AUTHORITY} {EVERYDAY}", "blocks": SIXTEEN},
            "seventeen": {"authority": f"{AUTHORITY} {EVERYDAY}", "blocks": SIXTEEN + ['check if right("read");']},
            "mismatch": {"authority": AUTHORITY, "blocks": [
                'date("7 Dec 2026"); check if date($d), $d.matches("^\\\\d{4}-\\\\d{2}-\\\\d{2}$");']},
            "no_fact": {"authority": 'user("w"); right("read");', "blocks": ['check if path($p), $p.starts_with("/docs/");']},
        }})
        print(f"node {run(['node', '--version'], 30).stdout.strip()}, biscuit-wasm {wasm['biscuit_wasm']}")
        others = {f"other-{i}.example": biscuit_auth.KeyPair() for i in range(5)}
        (work / "keysets.json").write_text(json.dumps({
            "wasm.example": [item(wasm["public_key"], 7)],
            **{domain: [bwks_item(key, 7)] for domain, key in others.items()},
        }))
        (work / "policy.datalog").write_text(POLICY)
        (work / "revoked.json").write_text("[]")
        tokens = wasm["tokens"]

        def expect(label, token, method, path, expected, now=None):
            answer = replay(work, token, method, path, now)
            results.check(label, answer == expected, answer)

        line = json.loads(authz("inspect", tokens["sixteen"], "--json"))
        results.check("biscuit-wasm 16-block token: rootKeyId 7 kept, no field 5, the authority's domain fact",
                      wasm["blocks"]["sixteen"] == 16 and len(line["blocks"]) == 16 and line["root_key_id"] == 7
                      and line["domain_hint"] is None and line["authority_domain"] == "wasm.example", line)
        results.check("biscuit-wasm token: allowed for GET", replay(work, tokens["plain"], "GET", "/x") == ("allow", "allowed"))
        results.check("biscuit-wasm token: denied by the policy for DELETE",
                      replay(work, tokens["plain"], "DELETE", "/x") == ("deny", "deny_policy"))
        expect("biscuit-wasm 16 blocks, Unicode-aware patterns and time checks: allowed",
               tokens["sixteen"], "GET", "/docs/a/b-c_d", ("allow", "allowed"))
        expect("biscuit-wasm 16 blocks: a path its pattern rejects is denied",
               tokens["sixteen"], "GET", "/docs/report.pdf", ("deny", "failed_checks"))
        expect("biscuit-wasm 16 blocks: a path outside /docs/ is denied",
               tokens["sixteen"], "GET", "/admin/x", ("deny", "failed_checks"))
        expect("biscuit-wasm 16 blocks: after its time check, denied",
               tokens["sixteen"], "GET", "/docs/a", ("deny", "failed_checks"),
               now="2099-06-01T00:00:00Z")
        expect("biscuit-wasm 16 blocks: a method its checks allow but the policy does not is denied",
               tokens["sixteen"], "HEAD", "/docs/a", ("deny", "deny_policy"))
        answer = replay(work, tokens["sixteen"], "DELETE", "/docs/a")
        results.check("biscuit-wasm 16 blocks: a method its checks forbid is denied",
                      answer[0] == "deny" and answer[1] in ("failed_checks", "deny_policy"), answer)
        expect("biscuit-wasm block whose pattern does not match its own fact: denied",
               tokens["mismatch"], "GET", "/x", ("deny", "failed_checks"))
        answer = replay(work, tokens["seventeen"], "GET", "/docs/a")
        results.check("biscuit-wasm 17 blocks: over the default cap of 16, refused",
                      answer[0] != "allow" and answer[1] == "token_too_complex", answer)
        expect("biscuit-wasm attenuated token without the domain fact: 6 keys on id 7, too many candidates",
               tokens["no_fact"], "GET", "/docs/a", ("unauthorized", "too_many_candidates"))

        # keys the map does not hold for the domain
        unknown = mint({"key_id": 7, "tokens": {
            "claims_wasm": {"authority": AUTHORITY, "blocks": SIXTEEN[:3]},
            "unknown_id": {"authority": AUTHORITY, "key_id": 99},
            "untrusted": {"authority": 'domain("nowhere.example"); user("w"); right("read");'},
        }})
        expect("an unknown key's token claiming wasm.example, key id 7: unauthorized",
               unknown["tokens"]["claims_wasm"], "GET", "/docs/a", ("unauthorized", "bad_signature"))
        expect("an unknown key's token claiming wasm.example, key id 99: unauthorized",
               unknown["tokens"]["unknown_id"], "GET", "/docs/a", ("unauthorized", "no_key"))
        expect("an unknown key's token claiming a domain the map lacks: unauthorized",
               unknown["tokens"]["untrusted"], "GET", "/docs/a", ("unauthorized", "untrusted_domain"))

        # a private key given as hex: another domain's key (from biscuit-python)
        other = others["other-3.example"]
        other_hex = bytes(other.private_key.to_bytes()).hex()
        signed = mint({"private_key": other_hex, "key_id": 7, "tokens": {
            "own": {"authority": 'domain("other-3.example"); user("o"); right("read");', "blocks": [SIXTEEN[0]]},
            "forged": {"authority": AUTHORITY},
            "base": {"authority": 'domain("other-3.example"); user("o"); right("read");'},
        }})
        results.check("biscuit-wasm derives the same public key from the private key hex",
                      signed["public_key"] == bytes(other.public_key.to_bytes()).hex())
        expect("biscuit-wasm token under another domain's key, stating that domain: allowed",
               signed["tokens"]["own"], "GET", "/docs/a", ("allow", "allowed"))
        expect("another domain's key claiming wasm.example: unauthorized",
               signed["tokens"]["forged"], "GET", "/docs/a", ("unauthorized", "bad_signature"))

        # field 5 (the domain as protobuf bytes 0x2A len domain, as `authz mint` writes it) added to a
        # biscuit-wasm token; biscuit-wasm reads it and drops it when it attenuates
        raw = base64.urlsafe_b64decode(signed["tokens"]["base"] + "=" * (-len(signed["tokens"]["base"]) % 4))
        with_field_5 = base64.urlsafe_b64encode(raw + b"\x2a\x0fother-3.example").decode()
        line = json.loads(authz("inspect", with_field_5, "--json"))
        results.check("biscuit-wasm token with field 5 appended: the hint is read",
                      line["domain_hint"] == "other-3.example" and line["root_key_id"] == 7, line)
        results.check("biscuit-wasm token with field 5: allowed", replay(work, with_field_5, "GET", "/docs/a") == ("allow", "allowed"))
        attenuated = mint({"private_key": other_hex, "tokens": {"t": {"token": with_field_5, "blocks": [SIXTEEN[8]]}}})["tokens"]["t"]
        line = json.loads(authz("inspect", attenuated, "--json"))
        results.check("biscuit-wasm attenuation drops field 5, keeps rootKeyId and the authority's domain fact",
                      line["domain_hint"] is None and line["root_key_id"] == 7
                      and line["authority_domain"] == "other-3.example" and len(line["blocks"]) == 2, line)
        expect("biscuit-wasm attenuation of a field-5 token: routed by the fact and allowed",
               attenuated, "GET", "/docs/a", ("allow", "allowed"))
        expect("biscuit-wasm attenuation of a field-5 token: its check denies other paths",
               attenuated, "GET", "/admin", ("deny", "failed_checks"))
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
