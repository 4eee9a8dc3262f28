"""Security properties of infra/template.yaml, checked on the template as AWS SAM
translates it (aws-sam-translator, offline), so what is checked is what deploys.

Run by tests/run with the project venv's python."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parent.parent
results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'ok  ' if condition else 'FAIL'} {name} {'' if condition else detail}")


class NoManagedPolicies:
    """SAM asks for managed policy ARNs only when a template names them by name."""

    def load(self):
        return {}


def expand_for_each(node):
    """AWS::LanguageExtensions' Fn::ForEach, as CloudFormation expands it: each
    `Fn::ForEach::Name: [Identifier, [values], {key: fragment}]` entry of a map
    becomes one entry per value, with ${Identifier} and &{Identifier} replaced."""
    if isinstance(node, list):
        return [expand_for_each(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("Fn::ForEach::"):
            identifier, collection, fragment = value
            for item in collection:
                text = json.dumps(fragment).replace("${" + identifier + "}", item).replace("&{" + identifier + "}", item)
                out.update(expand_for_each(json.loads(text)))
        else:
            out[key] = expand_for_each(value)
    return out


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
    template = expand_for_each(json.loads(json.dumps(cfn_yaml.load(str(ROOT / "infra" / "template.yaml")))))
    template["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"  # what `sam package` does
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return template, transform(template, {}, NoManagedPolicies())


def statements(role):
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


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
            if "Fn::If" in statement:
                condition, statement, _ = statement["Fn::If"]
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

    # 1b. Shard secrets: the template creates exactly KeyMapShardCount of them (none for 1), named
    # as key-sync is told to name them, so no function needs CreateSecret.
    conditions = source["Conditions"]
    shards = {name: r for name, r in source["Resources"].items() if name.startswith("KeyMapShard")}
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

    # 6. Logs are kept for a bounded time.
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    check("both functions' log groups have a retention", len(groups) == 2 and all("RetentionInDays" in g["Properties"] for g in groups))

    print(f"template: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
