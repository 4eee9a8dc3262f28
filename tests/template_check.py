"""Security properties of infra/template.yaml, checked on the template as AWS SAM
translates it (aws-sam-translator, offline), so what is checked is what deploys.

Run by tests/run with the project venv's python."""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

from template_operations import check_operations

ROOT = Path(__file__).resolve().parent.parent
results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'ok  ' if condition else 'FAIL'} {name} {'' if condition else detail}")


class NoManagedPolicies:
    """SAM asks for managed policy ARNs only when a template names them by name."""

    def load(self):
        return {}


def condition_holds(conditions, name, parameters):
    """Evaluates a condition of the template's Equals/Or/Not/Condition subset for parameter values."""
    def evaluate(node):
        if isinstance(node, dict):
            (function, argument), = node.items()
            if function == "Fn::Equals":
                return str(evaluate(argument[0])) == str(evaluate(argument[1]))
            if function == "Fn::Or":
                return any(evaluate(a) for a in argument)
            if function == "Fn::Not":
                return not evaluate(argument[0])
            if function == "Condition":
                return evaluate(conditions[argument])
            if function == "Ref":
                return parameters[argument]
        return node
    return evaluate(conditions[name])


def translated():
    template = json.loads(json.dumps(cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"  # what `sam package` does
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return template, transform(template, {}, NoManagedPolicies())


def statements(role):
    """A role's policy statements; a statement under Fn::If is read as its condition-true branch."""
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            yield statement["Fn::If"][1] if "Fn::If" in statement else statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def mentions_star(resource):
    return "*" in json.dumps(resource)


def replay(policy, events):
    """`authz replay` of `events` with `policy` (Datalog text); one dict per event, none on failure."""
    with tempfile.NamedTemporaryFile("w", suffix=".datalog") as file:
        file.write(policy)
        file.flush()
        run = subprocess.run([str(ROOT / "target" / "debug" / "authz"), "replay", "--policy", file.name, *events],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        print(run.stderr)
        return []
    return [json.loads(line) for line in run.stdout.splitlines()]


EMF_DIR = ROOT / "target" / "emf"
METRICS_NAMESPACE = {"Fn::Sub": "Biscuit/${AWS::StackName}"}


def alarm_metrics(alarm):
    """(namespace, metric name, {dimension: value}) of every metric an alarm reads."""
    properties = alarm["Properties"]
    stats = [properties] if "MetricName" in properties else [
        m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
    return [(s["Namespace"], s["MetricName"], {d["Name"]: d["Value"] for d in s.get("Dimensions", [])})
            for s in stats]


def emitted_documents():
    """The EMF documents the real binaries wrote in tests/lambda_loop.py and tests/key_sync_loop.py."""
    documents = []
    for path in sorted(EMF_DIR.glob("*.jsonl")):
        documents += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return documents


def publishes(document, name, dimensions):
    """Whether an EMF document publishes metric `name` with exactly these dimension names and values."""
    for directive in document["_aws"]["CloudWatchMetrics"]:
        if name not in [m["Name"] for m in directive["Metrics"]]:
            continue
        for dimension_set in directive["Dimensions"]:
            if sorted(dimension_set) == sorted(dimensions) and all(
                    document.get(k) == v for k, v in dimensions.items()):
                return True
    return False


def check_alarms_read_emitted_metrics(source):
    """Every alarm reads metrics something really emits: Lambda's own metrics of a function of
    this template, or an EMF metric (name, dimensions and their values) that the authorizer or
    key-sync wrote during the loop tests."""
    resources = source["Resources"]
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for name in ("AuthorizerFunction", "KeySyncFunction"):
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        check(f"{name} publishes its metrics in the alarms' namespace",
              variables.get("METRICS_NAMESPACE") == METRICS_NAMESPACE, variables.get("METRICS_NAMESPACE"))
    documents = emitted_documents()
    check("EMF documents from the loop tests are present (run tests/lambda_loop.py and tests/key_sync_loop.py first)",
          len(documents) > 0, EMF_DIR)
    alarms = {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    check("the template has alarms", len(alarms) >= 8, list(alarms))
    for alarm_name, alarm in alarms.items():
        metrics = alarm_metrics(alarm)
        check(f"alarm {alarm_name} reads at least one metric", bool(metrics))
        for namespace, metric, dimensions in metrics:
            if namespace == "AWS/Logs":
                group = dimensions.get("LogGroupName", {})
                check(f"alarm {alarm_name}: AWS/Logs {metric} of a log group of this template",
                      metric in ("EMFValidationErrors", "EMFParsingErrors") and isinstance(group, dict)
                      and resources.get(group.get("Ref"), {}).get("Type") == "AWS::Logs::LogGroup", dimensions)
                continue
            if namespace == "AWS/Lambda":
                function = dimensions.get("FunctionName", {})
                check(f"alarm {alarm_name}: AWS/Lambda {metric} of a function of this template",
                      isinstance(function, dict) and function.get("Ref") in functions, dimensions)
                continue
            label = f"{metric}{dimensions or ''}"
            check(f"alarm {alarm_name}: {label} is in the functions' namespace", namespace == METRICS_NAMESPACE, namespace)
            check(f"alarm {alarm_name}: {label} is emitted by the code",
                  any(publishes(d, metric, dimensions) for d in documents))


def check_dashboard(source):
    """The dashboard shows every alarm, and the EMF metrics it charts are emitted."""
    resources = source["Resources"]
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    check("the template has a dashboard", len(dashboards) == 1)
    if not dashboards:
        return
    body = dashboards[0]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for name, resource in resources.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            check(f"the dashboard shows alarm {name}", "${" + name + ".Arn}" in body)
    emitted = {m["Name"] for d in emitted_documents() for directive in d["_aws"]["CloudWatchMetrics"]
               for m in directive["Metrics"]}
    charted = set(re.findall(r'\["\$\{Namespace\}", "(\w+)"', body)) | set(re.findall(r'\["\.", "(\w+)"\]', body))
    charted |= set(re.findall(r'MetricName=\\"(\w+)\\"', body))
    check("the dashboard charts metrics", len(charted) >= 8, charted)
    for metric in sorted(charted):
        check(f"dashboard metric {metric} is emitted by the code", metric in emitted)


def check_policy_secret(source, resources):
    """The policy is read from its own secret, which only the authorizer reads and nothing writes."""
    variables = source["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    check("the authorizer reads its policy from PolicySecret (POLICY_SECRET_ID), not POLICY",
          variables.get("POLICY_SECRET_ID") == {"Ref": "PolicySecret"} and "POLICY" not in variables, variables)
    secret = source["Resources"].get("PolicySecret", {})
    check("PolicySecret starts as the AuthorizerPolicy parameter",
          secret.get("Properties", {}).get("SecretString") == {"Ref": "AuthorizerPolicy"}, secret)
    readers = {name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"
               for s in statements(r) if "PolicySecret" in json.dumps(s["Resource"])}
    check("only the authorizer's role may read the policy secret", readers == {"AuthorizerFunctionRole"}, readers)


def check_default_policy_suite(policy):
    """`authz test` of events/policy-tests/template-default.yaml against the template's default policy."""
    with tempfile.NamedTemporaryFile("w", suffix=".datalog") as file:
        file.write(policy)
        file.flush()
        run = subprocess.run([str(ROOT / "target" / "debug" / "authz"), "test", "--max-time-ms", "1000", "--policy", file.name,
                              "events/policy-tests/template-default.yaml"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    print(run.stdout, end="")
    check("authz test: the template's default policy passes its suite", run.returncode == 0, run.stderr)


def main():
    source, out = translated()
    resources = out["Resources"]

    # 1. No wildcard resource on any Secrets Manager action but BatchGetSecretValue, which has no
    # resource-level permissions (each secret it returns still needs GetSecretValue on that secret);
    # each role touches only its stack's secrets; no role may create secrets (the template does).
    batch = "secretsmanager:BatchGetSecretValue"
    allowed = {
        "AuthorizerFunctionRole": {"secretsmanager:GetSecretValue", batch},
        "KeySyncFunctionRole": {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", batch},
    }
    shard_arns = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/keymap/shard-*"}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in statements(resource):
            actions = set(as_list(statement["Action"]))
            secret_actions = {a for a in actions if a.startswith("secretsmanager:")}
            if not secret_actions:
                continue
            if secret_actions == {batch}:
                check(f"{name}: BatchGetSecretValue is alone in its statement", actions == {batch}, statement)
            else:
                check(f"{name}: secret actions have no '*' resource", not mentions_star(json.dumps(statement["Resource"]).replace("shard-*", "shard-")), statement)
            check(f"{name}: secret actions are the least needed", secret_actions <= allowed.get(name, set()), secret_actions)
        managed = json.dumps(resource["Properties"].get("ManagedPolicyArns", []))
        check(f"{name}: no managed policy grants secret access", "SecretsManager" not in managed, managed)
    key_sync = list(statements(resources["KeySyncFunctionRole"]))
    check("key-sync may write only the key-map secret and this stack's shard secrets",
          all(s["Resource"] == [{"Ref": "KeysetsSecret"}, {"Fn::If": ["Sharded", shard_arns, {"Ref": "AWS::NoValue"}]}]
              for s in key_sync if "secretsmanager:PutSecretValue" in as_list(s.get("Action", []))), key_sync)

    # 1b. Shard secrets: the translated template creates exactly KeyMapShardCount of them (none
    # for 1), named as key-sync is told to name them, so no function needs CreateSecret.
    conditions = out["Conditions"]
    shards = {name: r for name, r in resources.items() if name.startswith("KeyMapShard")}
    env = source["Resources"]["KeySyncFunction"]["Properties"]["Environment"]["Variables"]
    check("key-sync is told the shard count and the shard secret names",
          env.get("KEYMAP_SHARD_COUNT") == {"Ref": "KeyMapShardCount"}
          and env.get("KEYMAP_SHARD_SECRET_PREFIX") == {"Fn::Sub": "${AWS::StackName}/keymap/shard-"}, env)
    for count in source["Parameters"]["KeyMapShardCount"]["AllowedValues"]:
        made = sorted(int(name.removeprefix("KeyMapShard")) for name, r in shards.items()
                      if condition_holds(conditions, r["Condition"], {"KeyMapShardCount": count}))
        expected = list(range(count)) if count > 1 else []
        check(f"KeyMapShardCount={count}: shard secrets 0..{count - 1 if count > 1 else 'none'} exist", made == expected, made)
    check("each shard secret is named <stack>/keymap/shard-<n>",
          all(r["Properties"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}/keymap/shard-{name.removeprefix('KeyMapShard')}"}
              for name, r in shards.items()) and len(shards) == 128, len(shards))

    # 2. The HTTP API authorizer can be invoked (without the permission every call is a 500).
    http_auth = source["Resources"]["HttpApi"]["Properties"]["Auth"]
    authorizer = http_auth["Authorizers"][http_auth["DefaultAuthorizer"]]
    check("HTTP API authorizer: EnableFunctionDefaultPermissions is true", authorizer.get("EnableFunctionDefaultPermissions") is True)
    check("HTTP API authorizer: payload 2.0 with simple responses",
          authorizer.get("AuthorizerPayloadFormatVersion") == "2.0" and authorizer.get("EnableSimpleResponses") is True)
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}]
    check("both APIs may invoke the authorizer function", len(permissions) == 2, permissions)

    # 3. Every route of both APIs is behind the Biscuit authorizer.
    apis = {r["Type"]: r["Properties"]["Body"] for r in resources.values()
            if r["Type"] in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api")}
    check("both a REST API and an HTTP API are defined", len(apis) == 2, list(apis))
    for kind, body in apis.items():
        schemes = body.get("securityDefinitions") or body.get("components", {}).get("securitySchemes", {})
        routes = [(path, method, op) for path, ops in body["paths"].items() for method, op in ops.items()]
        check(f"{kind}: has at least one route", bool(routes))
        for path, method, op in routes:
            names = [name for requirement in op.get("security", []) for name in requirement]
            lambda_authorizers = [n for n in names if "x-amazon-apigateway-authorizer" in schemes.get(n, {})]
            uri = json.dumps(schemes[lambda_authorizers[0]]["x-amazon-apigateway-authorizer"]) if lambda_authorizers else ""
            check(f"{kind} {method} {path}: protected by the Biscuit authorizer",
                  len(lambda_authorizers) == 1 and "AuthorizerFunction" in uri, op.get("security"))

    # 4. A cached decision is never reused for another route.
    for kind, body in apis.items():
        schemes = body.get("securityDefinitions") or body.get("components", {}).get("securitySchemes", {})
        for name, scheme in schemes.items():
            config = scheme.get("x-amazon-apigateway-authorizer", {})
            ttl = config.get("authorizerResultTtlInSeconds", 300)
            identity = json.dumps(config.get("identitySource", ""))
            keyed_by_route = "method" in identity and "path" in identity
            check(f"{kind} {name}: caching off, or keyed by method and path", ttl == 0 or keyed_by_route, identity)

    # 4b. The authorizer knows the cache: the TTL both authorizers use, and each one's identity
    # sources (as SAM writes them) are the RESULT_CACHE_KEY entries of its kind of API.
    variables = source["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    check("the authorizer is told the result cache TTL", variables.get("RESULT_CACHE_TTL_SECONDS") == {"Ref": "AuthorizerResultTtlSeconds"},
          variables.get("RESULT_CACHE_TTL_SECONDS"))
    told = [s.strip() for s in str(variables.get("RESULT_CACHE_KEY", "")).split(",") if s.strip()]
    for kind, body in apis.items():
        schemes = body.get("securityDefinitions") or body.get("components", {}).get("securitySchemes", {})
        for name, scheme in schemes.items():
            config = scheme.get("x-amazon-apigateway-authorizer", {})
            sources = config.get("identitySource", "")
            sources = [s.strip() for s in (sources.split(",") if isinstance(sources, str) else sources)]
            http = kind == "AWS::ApiGatewayV2::Api"
            mine = [s for s in told if s.startswith("$") == http]
            check(f"{kind} {name}: RESULT_CACHE_KEY names exactly its identity sources", sorted(mine) == sorted(sources),
                  f"{mine} != {sources}")
    written = cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))  # SAM resolves Refs in `source` in place
    for api in ("RestApi", "HttpApi"):
        auth = written["Resources"][api]["Properties"]["Auth"]
        ttl = auth["Authorizers"][auth["DefaultAuthorizer"]]["Identity"].get("ReauthorizeEvery")
        check(f"{api}: its authorizer's TTL is AuthorizerResultTtlSeconds", ttl == {"Ref": "AuthorizerResultTtlSeconds"}, ttl)

    # 5. The default policy parameter parses, and decides the demo events as the demo policy does.
    policy = source["Parameters"]["AuthorizerPolicy"]["Default"]
    outcomes = [line["outcome"] for line in replay(policy, ["events/rest-token-allow.json", "events/rest-request-deny.json"])]
    check("the default AuthorizerPolicy parses and decides the demo events", outcomes == ["allow", "deny"], outcomes)

    # 5b. Hostile paths (events/paths/: tenant A's token aimed at tenant B by path tricks) are
    # never allowed by the default policy, while the canonical control event in that folder is.
    lines = replay(policy, ["events/paths/"])
    names = [Path(line["event"]).name for line in lines]
    check("events/paths/ replays in full, with hostile events and a canonical control",
          len(lines) == len(list((ROOT / "events" / "paths").glob("*.json")))
          and any("-deny-" in n for n in names) and any("-allow-" in n for n in names), names)
    for line, name in zip(lines, names):
        hostile = "-deny-" in name
        verdict = f"{line['outcome']}/{line['reason_kind']}"
        check(f"default AuthorizerPolicy on {name}: {'refused' if hostile else 'allowed'}",
              (line["outcome"] != "allow") if hostile else (line["outcome"] == "allow"), verdict)

    # 5c. The default policy passes its policy test suite.
    check_default_policy_suite(policy)

    # 6. Policy as data: its own secret, read by the authorizer only.
    check_policy_secret(source, resources)

    # 7. Alarms and dashboard read metrics the code really emits.
    check_alarms_read_emitted_metrics(source)
    check_dashboard(source)

    # 8. Logs are kept for a bounded time: both functions' and the APIs' access logs.
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    check("the functions' and the access log groups have a retention",
          len(groups) == 3 and all(g["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"} for g in groups))

    # 9. Operations: nothing kept is lost with the stack, key-sync's invocations and alarms,
    # EMF refusals, tracing, access logs, saved queries.
    decision_fields = {k for d in emitted_documents() if d.get("message") == "decision" for k in d}
    check_operations(source, resources, check, condition_holds, decision_fields)

    print(f"template: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
