"""`authz test`'s reports and exit codes, and `authz policy publish` against moto's Secrets
Manager: a version that passes its suites becomes AWSCURRENT (the one it replaces AWSPREVIOUS);
a version that fails a case, or does not parse, is never written. `authz test` on a failing
suite explains what decided each case, exits 1, and writes a JUnit file with the failure; a
broken suite exits 2.

Run by tests/run from the repository root with the project venv's python, after
`cargo build --bin authz` (it runs target/debug/authz)."""

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from support import DEMO, EVENTS, ROOT, Processes, Results, free_port, secrets_client, start_moto, tool_env

AUTHZ = ROOT / "target" / "debug" / "authz"
SECRET = "authorizer/policy"
SUITE = EVENTS / "policy-tests" / "demo.yaml"
GRANT_RULE = "deny if grant($grant), revoked_grant($grant);"
REVOKED_GRANT_CASE = "a token of a revoked grant is refused (operator fact revoked_grant)"


def authz(env, *args):
    return subprocess.run([str(AUTHZ), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def publish(env, policy_file, *suites):
    suite_args = [arg for suite in suites for arg in ("--suite", str(suite))]
    return authz(env, "policy", "publish", "--secret-id", SECRET, "--policy", str(policy_file),
                 "--max-time-ms", "1000", *suite_args)


def stages(sm):
    """VersionId -> its staging labels."""
    return {version: sorted(labels) for version, labels in sm.describe_secret(SecretId=SECRET)["VersionIdsToStages"].items()}


def text_at(sm, stage):
    return sm.get_secret_value(SecretId=SECRET, VersionStage=stage)["SecretString"]


def summary(run):
    lines = run.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


def main():
    results = Results("policy_publish_loop")
    processes = Processes()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        demo = (DEMO / "policy.datalog").read_text()
        assert GRANT_RULE in demo, "the demo policy's revoked-grant rule moved; update this test"
        good = scratch / "good.datalog"
        good.write_text(demo + '\nrevoked_grant("g-revoked-later");\n')
        failing = scratch / "failing.datalog"
        failing.write_text(demo.replace(GRANT_RULE, "// (the revoked-grant rule, forgotten)"))
        unparsable = scratch / "unparsable.datalog"
        unparsable.write_text(demo + "\nallow if right(;\n")
        broken_suite = scratch / "broken.yaml"
        broken_suite.write_text(SUITE.read_text().replace("expect: {outcome: allow", "expect: {outcom: allow", 1))
        try:
            moto_port = free_port()
            start_moto(processes, moto_port)
            sm = secrets_client(moto_port)
            env = tool_env(moto_port)

            # authz test: a failing suite, explained, as text, JSON and JUnit.
            junit_file = scratch / "report.xml"
            run = authz(env, "test", "--max-time-ms", "1000", "--explain", "--junit", str(junit_file),
                        "--policy", str(failing), str(SUITE))
            results.check("authz test: a failing case exits 1", run.returncode == 1, (run.returncode, run.stderr))
            failed_rows = [line for line in run.stdout.splitlines() if line.lstrip().startswith("FAIL")]
            results.check("authz test: exactly the revoked-grant case fails",
                          len(failed_rows) == 1 and REVOKED_GRANT_CASE in failed_rows[0], run.stdout)
            lines = run.stdout.splitlines()
            explained = lines[lines.index(failed_rows[0]) + 1] if failed_rows else ""
            print(f"     {failed_rows[0].strip() if failed_rows else ''}\n     {explained.strip()}")
            results.check("authz test --explain: the failing case names the allow policy that matched",
                          "decided by: allowed by policy #" in explained and "allow if domain($domain)" in explained,
                          explained)
            results.check("authz test --explain: a denied case names its deny policy",
                          "decided by: denied by policy #" in run.stdout and "deny if query(\"tenant\"" in run.stdout)
            results.check("authz test --explain: a failed check is named with its block",
                          "decided by: failed check #0 of block 1: check if method(\"GET\")" in run.stdout,
                          [line for line in lines if "failed check" in line])
            try:
                root = ElementTree.parse(junit_file).getroot()
            except (OSError, ElementTree.ParseError) as error:
                root = None
                results.check("the JUnit file parses as XML", False, error)
            if root is not None:
                failures = root.findall(".//testcase/failure")
                results.check("the JUnit file parses, with one failure of 17 cases",
                              root.tag == "testsuites" and root.get("failures") == "1" and root.get("tests") == "17"
                              and len(failures) == 1 and len(root.findall(".//testcase")) == 17,
                              ElementTree.tostring(root)[:300])
                failed_case = [case for case in root.iter("testcase") if case.find("failure") is not None]
                results.check("the JUnit failure is the revoked-grant case, with its explanation",
                              failed_case and failed_case[0].get("name") == REVOKED_GRANT_CASE
                              and "allowed by policy" in (failed_case[0].findtext("system-out") or ""),
                              [ElementTree.tostring(case)[:300] for case in failed_case])
            as_json = authz(env, "test", "--max-time-ms", "1000", "--format", "json", "--filter", "grant",
                            "--policy", str(failing), str(SUITE))
            document = json.loads(as_json.stdout) if as_json.stdout.strip() else {}
            results.check("authz test --format json --filter: only the grant cases, one failed, exit 1",
                          as_json.returncode == 1 and document.get("tests") == 3 and document.get("failures") == 1,
                          (as_json.returncode, as_json.stdout[:300], as_json.stderr))
            passing = authz(env, "test", "--max-time-ms", "1000", "--policy", str(good), str(SUITE))
            results.check("authz test: a passing suite exits 0", passing.returncode == 0, passing.stdout[-300:])
            broken = authz(env, "test", "--max-time-ms", "1000", "--policy", str(good), str(broken_suite))
            results.check("authz test: a broken suite exits 2", broken.returncode == 2 and "outcom" in broken.stderr,
                          (broken.returncode, broken.stderr))
            nothing = authz(env, "test", "--policy", str(good), "--filter", "no such case", str(SUITE))
            results.check("authz test: a filter that matches no case exits 2", nothing.returncode == 2,
                          (nothing.returncode, nothing.stderr))
            usage = authz(env, "test", "--policy", str(good), "--format", "yaml", str(SUITE))
            results.check("authz test: a usage error exits 2", usage.returncode == 2, usage.returncode)

            # authz policy publish.
            sm.create_secret(Name=SECRET, SecretString=demo)
            original = sm.get_secret_value(SecretId=SECRET)["VersionId"]
            run = publish(env, good, SUITE)
            published = summary(run)
            print(f"     {run.stdout.strip()}")
            labels = stages(sm)
            results.check("publish: a version that passes its suite exits 0 and is written",
                          run.returncode == 0 and published.get("published") is True and published.get("written") is True,
                          (run.returncode, run.stdout, run.stderr))
            results.check("publish: it is AWSCURRENT, with its text",
                          text_at(sm, "AWSCURRENT") == good.read_text()
                          and "AWSCURRENT" in labels.get(published.get("version_id"), []), labels)
            results.check("publish: the version it replaced is AWSPREVIOUS",
                          published.get("previous_version_id") == original and labels.get(original) == ["AWSPREVIOUS"],
                          labels)
            current = published.get("version_id")

            versions_before = stages(sm)
            run = publish(env, failing, SUITE)
            refused = summary(run)
            results.check("publish: a version that fails its suite exits 1, names the failed case and explains it",
                          run.returncode == 1 and refused.get("published") is False and refused.get("failed") == 1
                          and REVOKED_GRANT_CASE in run.stderr and "decided by: allowed by policy" in run.stderr,
                          (run.returncode, run.stdout, run.stderr[-500:]))
            results.check("publish: and it is never written (AWSCURRENT and the versions unchanged)",
                          stages(sm) == versions_before and text_at(sm, "AWSCURRENT") == good.read_text(),
                          stages(sm))

            run = publish(env, unparsable, SUITE)
            results.check("publish: a version that does not parse exits 2 and is never written",
                          run.returncode == 2 and "does not parse" in run.stderr and stages(sm) == versions_before,
                          (run.returncode, run.stderr, stages(sm)))

            run = publish(env, good, broken_suite)
            results.check("publish: a broken suite exits 2 and nothing is written",
                          run.returncode == 2 and stages(sm) == versions_before, (run.returncode, run.stderr))

            run = publish(env, good, SUITE)
            again = summary(run)
            results.check("publish: the current text again writes nothing",
                          run.returncode == 0 and again.get("written") is False and again.get("version_id") == current
                          and stages(sm) == versions_before, (run.stdout, run.stderr))

            # A rollback is a publish of the earlier text, gated the same way.
            rollback = scratch / "rollback.datalog"
            rollback.write_text(demo)
            run = publish(env, rollback, SUITE)
            back = summary(run)
            labels = stages(sm)
            results.check("publish: the earlier text again is a new version (not swallowed), the last one AWSPREVIOUS",
                          run.returncode == 0 and back.get("written") is True and back.get("version_id") != original
                          and text_at(sm, "AWSCURRENT") == demo and labels.get(current) == ["AWSPREVIOUS"],
                          (run.stdout, run.stderr, labels))
        finally:
            processes.stop_all()
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
