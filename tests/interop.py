"""Interop with another Biscuit implementation, biscuit-python: its tokens (with
rootKeyId and field 5 appended as protobuf bytes, and attenuated by it, which
drops field 5) are decided by `authz replay` as the policy says; with 200
domains all on key id 1, its attenuated tokens are routed by the authority
block's domain fact; its tokens with everyday Unicode-aware patterns and
with 16 blocks are allowed (no false refusal); tokens minted and attenuated
by `authz` verify in biscuit-python with the same public key.

Run by tests/run from the repository root with the project venv's python."""

import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import biscuit_auth

from support import ROOT, Results, bwks_item, mint, rest_token_event

AUTHZ = ROOT / "target" / "debug" / "authz"
POLICY = 'allow if right("read"), method("GET"); deny if true;'


def authz(*args):
    result = subprocess.run([str(AUTHZ), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"authz {args}: {result.stderr.strip()}")
    return result.stdout


def replay(work, token, method, path):
    event = work / "event.json"
    event.write_text(json.dumps(rest_token_event(token, method, path)))
    line = json.loads(authz("replay", "--keysets", work / "keysets.json", "--policy", work / "policy.datalog",
                            "--revoked", work / "revoked.json", event))
    return line["outcome"], line["reason_kind"]


def many_domains_on_key_id_1(results, parent):
    """200 domains all publishing key id 1 (one secret's worth of key map): a
    biscuit-python token attenuated by biscuit-python (which drops field 5) is
    routed by its authority block's domain fact; without the fact it has only
    its key id, shared by 200 keys."""
    work = parent / "many"
    work.mkdir()
    keys = {f"d-{i}.example": biscuit_auth.KeyPair() for i in range(200)}
    keysets = json.dumps({domain: [bwks_item(key, 1)] for domain, key in keys.items()})
    results.check("the 200-domain key map fits one secret (64 KiB)", len(keysets.encode()) < 65536, len(keysets))
    (work / "keysets.json").write_text(keysets)
    (work / "policy.datalog").write_text(POLICY)
    (work / "revoked.json").write_text("[]")
    private_key = keys["d-137.example"].private_key

    def attenuated(code):
        token = biscuit_auth.Biscuit.from_base64(mint(private_key, 1, None, code), keys["d-137.example"].public_key)
        return token.append(biscuit_auth.BlockBuilder('check if path($p), $p.starts_with("/public/");')).to_base64()

    routed = attenuated('domain("d-137.example"); user("py"); right("read");')
    raw = base64.urlsafe_b64decode(routed + "=" * (-len(routed) % 4))
    results.check("biscuit-python attenuation drops field 5", not raw.endswith(b"d-137.example"))
    line = json.loads(authz("inspect", routed, "--json"))
    results.check("the attenuated token has no field 5 but its authority fact",
                  line["domain_hint"] is None and line["authority_domain"] == "d-137.example", line)
    results.check("200 domains on key id 1: routed by the authority fact and allowed",
                  replay(work, routed, "GET", "/public/a") == ("allow", "allowed"))
    results.check("200 domains on key id 1: a request the policy does not allow is denied",
                  replay(work, routed, "DELETE", "/public/a") == ("deny", "deny_policy"))
    results.check("200 domains on key id 1: the attenuation's check still applies",
                  replay(work, routed, "GET", "/private") == ("deny", "failed_checks"))
    unrouted = attenuated('user("py"); right("read");')
    results.check("200 domains on key id 1: without the fact, too many candidates",
                  replay(work, unrouted, "GET", "/public/a") == ("unauthorized", "too_many_candidates"))
    forged = mint(keys["d-5.example"].private_key, 1, None, 'domain("d-137.example"); user("m"); right("read");')
    results.check("200 domains on key id 1: another domain's token stating d-137 is unauthorized",
                  replay(work, forged, "GET", "/public/a") == ("unauthorized", "bad_signature"))


def no_false_refusals(results, work):
    """Ordinary biscuit-python tokens are allowed with the default settings:
    everyday Unicode-aware patterns (each compiled once per evaluation by the
    engine, within its size limit), and 16 blocks (the default cap)."""
    key = biscuit_auth.KeyPair()
    (work / "keysets.json").write_text(json.dumps({"py.example": [bwks_item(key, 4)]}))
    everyday = [
        ("date", "2026-12-07", r"^\\d{4}-\\d{2}-\\d{2}$"),
        ("word", "héllo_wörld", r"^\\w+$"),
        ("short", "anything at all", r".{1,64}"),
        ("email", "jane.doe+tag@example.co.uk", r"^[\\w.+-]+@[\\w-]+\\.[\\w.-]+$"),
    ]
    facts = " ".join(f'{name}("{value}");' for name, value, _ in everyday)
    checks = " ".join(f"check if {name}($v), $v.matches(\"{pattern}\");" for name, _, pattern in everyday)
    token = mint(key.private_key, 4, "py.example", f'user("py"); right("read"); {facts} {checks}')
    results.check("biscuit-python token with everyday Unicode patterns: allowed",
                  replay(work, token, "GET", "/x") == ("allow", "allowed"))
    mismatch = mint(key.private_key, 4, "py.example",
                    'user("py"); right("read"); date("7 Dec 2026"); check if date($v), $v.matches("^\\\\d{4}-\\\\d{2}-\\\\d{2}$");')
    results.check("biscuit-python token whose pattern does not match: its check fails",
                  replay(work, mismatch, "GET", "/x") == ("deny", "failed_checks"))
    parsed = biscuit_auth.Biscuit.from_base64(token, key.public_key)
    for i in range(15):
        parsed = parsed.append(biscuit_auth.BlockBuilder(f'check if method($m), ["GET", "HEAD"].contains($m); note{i}({i});'))
    results.check("biscuit-python token with 16 blocks: allowed",
                  parsed.block_count() == 16 and replay(work, parsed.to_base64(), "GET", "/x") == ("allow", "allowed"))
    results.check("biscuit-python token with 16 blocks: its checks still deny",
                  replay(work, parsed.to_base64(), "DELETE", "/x")[0] == "deny")


def main():
    results = Results("interop")
    subprocess.run(["cargo", "build", "--quiet", "--bin", "authz"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        python_key, other_domain_key = biscuit_auth.KeyPair(), biscuit_auth.KeyPair()
        (work / "keysets.json").write_text(json.dumps({
            "py.example": [bwks_item(python_key, 4)],
            "other.example": [bwks_item(other_domain_key, 9)],
        }))
        (work / "policy.datalog").write_text(POLICY)
        (work / "revoked.json").write_text("[]")

        # biscuit-python → authz
        token = mint(python_key.private_key, 4, "py.example", 'user("py"); right("read");')
        results.check("biscuit-python token with field 5: allowed for GET", replay(work, token, "GET", "/x") == ("allow", "allowed"))
        results.check("biscuit-python token with field 5: denied for DELETE", replay(work, token, "DELETE", "/x")[0] == "deny")
        parsed = biscuit_auth.Biscuit.from_base64(token, python_key.public_key)
        attenuated = parsed.append(biscuit_auth.BlockBuilder('check if path($p), $p.starts_with("/public/");')).to_base64()
        results.check("biscuit-python attenuation (field 5 dropped): found by key id and allowed",
                      replay(work, attenuated, "GET", "/public/a") == ("allow", "allowed"))
        results.check("biscuit-python attenuation: its check denies other paths",
                      replay(work, attenuated, "GET", "/private") == ("deny", "failed_checks"))
        forged = mint(other_domain_key.private_key, 4, "py.example", 'user("mallory"); right("read");')
        results.check("a token signed by another domain's key, claiming py.example, is unauthorized",
                      replay(work, forged, "GET", "/x")[0] == "unauthorized")

        many_domains_on_key_id_1(results, work)
        false_refusals = work / "false-refusals"
        false_refusals.mkdir()
        (false_refusals / "policy.datalog").write_text(POLICY)
        (false_refusals / "revoked.json").write_text("[]")
        no_false_refusals(results, false_refusals)

        # authz → biscuit-python
        key_file = work / "authz.private.key"
        authz_key = biscuit_auth.KeyPair()
        key_file.write_text("ed25519-private/" + bytes(authz_key.private_key.to_bytes()).hex())
        minted = authz("mint", "--domain", "authz.example", "--key-id", "3", "--private-key", key_file,
                       "--code", 'user("from-authz"); right("read");').strip()
        verified = biscuit_auth.Biscuit.from_base64(minted, authz_key.public_key)
        source = verified.block_source(0)
        results.check("authz mint verifies in biscuit-python, authority holds the facts",
                      'user("from-authz")' in source and 'right("read")' in source, source)
        results.check("authz mint writes the domain fact into the authority block",
                      'domain("authz.example")' in source, source)
        raw = base64.urlsafe_b64decode(minted + "=" * (-len(minted) % 4))
        results.check("authz mint writes field 5 as protobuf bytes 0x2A len domain", raw.endswith(b"\x2a\x0dauthz.example"))
        attenuated = authz("attenuate", minted, "--code", 'check if method("GET");').strip()
        verified = biscuit_auth.Biscuit.from_base64(attenuated, authz_key.public_key)
        results.check("authz attenuate verifies in biscuit-python with two blocks",
                      verified.block_count() == 2 and 'method("GET")' in verified.block_source(1))
        try:
            biscuit_auth.Biscuit.from_base64(attenuated, other_domain_key.public_key)
            results.check("authz tokens do not verify under another key", False)
        except Exception:
            results.check("authz tokens do not verify under another key", True)
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
