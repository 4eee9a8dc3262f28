"""`authz revoke` against moto's Secrets Manager: the original list format is
read and converted, a token's every block is revoked (the authorizer then
refuses it), expired entries are pruned, a list that would pass the 64 KiB
limit is not written at all, and revokers running at the same time all keep
their entries (conditional writes: no entry is lost).

Run by tests/run from the repository root with the project venv's python,
after `cargo build` (it runs target/debug/authz)."""

import datetime
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from support import DEMO, EVENTS, ROOT, Processes, Results, free_port, secrets_client, start_moto, tool_env

AUTHZ = ROOT / "target" / "debug" / "authz"
SECRET = "authorizer/revoked"
CONCURRENT = 8


def compact(revocation_id_hex):
    """The list's compact id: the first 8 bytes of SHA-256 of the (Ed25519) revocation id."""
    return hashlib.sha256(bytes.fromhex(revocation_id_hex)).digest()[:8].hex()


def current(sm):
    value = sm.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")
    return value["VersionId"], value["SecretString"]


def swap_in(sm, text):
    """Writes `text` as the next current version the way `authz revoke` does
    (stage, then move AWSCURRENT from the version read). A plain PutSecretValue
    would do in AWS, but moto then leaves AWSCURRENT on two versions once
    UpdateSecretVersionStage has moved it."""
    previous, _ = current(sm)
    staged = sm.put_secret_value(SecretId=SECRET, SecretString=text, VersionStages=["test-setup"])["VersionId"]
    sm.update_secret_version_stage(SecretId=SECRET, VersionStage="AWSCURRENT", RemoveFromVersionId=previous,
                                   MoveToVersionId=staged)


def revoke(env, *args):
    return subprocess.run([str(AUTHZ), "revoke", *args, "--secret-id", SECRET], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def replay_outcome(event, revoked_text, env):
    """The outcome of a demo event replayed with this revocation list."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as revoked:
        revoked.write(revoked_text)
        revoked.flush()
        result = subprocess.run([str(AUTHZ), "replay", "--revoked", revoked.name, str(event)],
                                env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = json.loads(result.stdout.splitlines()[0])
    return line["outcome"], line["reason_kind"]


def main():
    results = Results("revoke_loop")
    processes = Processes()
    try:
        moto_port = free_port()
        start_moto(processes, moto_port)
        sm = secrets_client(moto_port)
        env = tool_env(moto_port)
        legacy = json.loads((DEMO / "revoked.json").read_text())
        sm.create_secret(Name=SECRET, SecretString=json.dumps(legacy))

        # A token's every block, from the original format.
        allow_event = EVENTS / "rest-token-allow.json"
        token = json.loads(allow_event.read_text())["authorizationToken"].removeprefix("Bearer ")
        inspected = subprocess.run([str(AUTHZ), "inspect", token, "--json"], env=env, cwd=ROOT,
                                   capture_output=True, text=True, timeout=60)
        token_ids = json.loads(inspected.stdout)["revocation_ids"]
        until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        before, _ = current(sm)
        done = revoke(env, token, "--until", until)
        results.check("revoke a token", done.returncode == 0, done.stderr)
        summary = json.loads(done.stdout) if done.returncode == 0 else {}
        version, text = current(sm)
        document = json.loads(text)
        results.check("the list is written in the compact format",
                      document.get("format") == "compact-sha256-64", text[:200])
        results.check("every block of the token is listed until --until",
                      all(document["revoked"].get(compact(i)) is not None for i in token_ids) and len(token_ids) >= 1,
                      f"{token_ids} {document}")
        results.check("the original list's entry is kept, with no expiry",
                      all(compact(i) in document["revoked"] and document["revoked"][compact(i)] is None for i in legacy),
                      text[:300])
        results.check("the summary names the version written", summary.get("version_id") == version != before,
                      f"{summary} {version}")
        results.check("the authorizer refuses the revoked token",
                      replay_outcome(allow_event, text, env) == ("unauthorized", "revoked"),
                      replay_outcome(allow_event, text, env))
        results.check("the original list's token is still refused",
                      replay_outcome(EVENTS / "rest-request-unauthorized-revoked.json", text, env)
                      == ("unauthorized", "revoked"))
        results.check("the token was allowed before",
                      replay_outcome(allow_event, "[]", env)[0] == "allow")

        again = revoke(env, token, "--until", until)
        results.check("revoking again writes nothing",
                      again.returncode == 0 and json.loads(again.stdout)["written"] is False
                      and current(sm)[0] == version, again.stdout + again.stderr)

        past = revoke(env, "--id", "ab" * 64, "--until", "2020-01-01T00:00:00Z")
        results.check("an --until in the past is refused", past.returncode != 0 and "past" in past.stderr,
                      past.stderr)

        # Expired entries are pruned by the next revocation.
        document["revoked"]["00000000000000aa"] = 1_600_000_000
        swap_in(sm, json.dumps(document))
        pruning = revoke(env, "--id", "cd" * 64)
        pruned = json.loads(pruning.stdout).get("pruned") if pruning.returncode == 0 else None
        results.check("an expired entry is pruned", pruned == 1 and "00000000000000aa" not in current(sm)[1],
                      pruning.stdout + pruning.stderr)

        # Revokers at the same time: every entry survives.
        ids = [f"{n:02x}" * 64 for n in range(CONCURRENT)]
        running = [subprocess.Popen([str(AUTHZ), "revoke", "--id", i, "--secret-id", SECRET], env=env, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for i in ids]
        outputs = [p.communicate(timeout=120) + (p.returncode,) for p in running]
        results.check(f"{CONCURRENT} concurrent revokers all succeed", all(code == 0 for _, _, code in outputs),
                      [err for _, err, code in outputs if code != 0])
        attempts = [json.loads(out)["attempts"] for out, _, code in outputs if code == 0]
        print(f"     attempts per revoker: {attempts}")
        document = json.loads(current(sm)[1])
        results.check("every concurrent revoker's entry is in the list",
                      all(compact(i) in document["revoked"] for i in ids),
                      [i[:4] for i in ids if compact(i) not in document["revoked"]])
        results.check("and every earlier entry too",
                      all(compact(i) in document["revoked"] for i in token_ids + legacy + ["cd" * 64]))

        # A list that would pass the limit is not written.
        full = {"format": "compact-sha256-64",
                "revoked": {hashlib.sha256(n.to_bytes(4, "big")).digest()[:8].hex(): 9_999_999_999
                            for n in range(2_183)}}
        swap_in(sm, json.dumps(full, separators=(",", ":")))
        before = current(sm)
        over = revoke(env, "--id", "ef" * 64)
        results.check("a revocation past the 64 KiB limit is refused", over.returncode != 0 and "limit" in over.stderr,
                      over.stdout + over.stderr)
        results.check("and nothing is written", current(sm) == before)
    finally:
        processes.stop_all()
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
