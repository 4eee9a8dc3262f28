"""Operational properties of infra/template.yaml, on the template as SAM translates it: nothing
holding trust material or audit history is lost with the stack, key-sync's asynchronous
invocations and alarms suit a schedule, EMF refusals are alarmed on, tracing is a parameter,
both APIs write access logs, and the saved Logs Insights queries read the decision line.

Called by tests/template_check.py, which passes its `check(name, condition, detail)`."""

import json
import re

KEPT_TYPES = ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup")
KEY_SYNC_METRICS = {"Domains", "FailedRounds", "KeysExpiringSoon", "SecretWrites"}
EMF_REFUSALS = ("EMFValidationErrors", "EMFParsingErrors")
# What each API's access log line must hold: field name -> the $context variable it logs.
ACCESS_LOG_FIELDS = {
    "AWS::ApiGateway::Stage": {
        "requestId": "$context.requestId", "resourcePath": "$context.resourcePath",
        "httpMethod": "$context.httpMethod", "path": "$context.path", "status": "$context.status",
        "authorizerStatus": "$context.authorizer.status", "authorizerError": "$context.authorizer.error",
        "authorizerLatency": "$context.authorizer.latency", "principalId": "$context.authorizer.principalId",
        "integrationLatency": "$context.integration.latency"},
    "AWS::ApiGatewayV2::Stage": {
        "requestId": "$context.requestId", "routeKey": "$context.routeKey",
        "httpMethod": "$context.httpMethod", "path": "$context.path", "status": "$context.status",
        "authorizerError": "$context.authorizer.error", "principalId": "$context.authorizer.principalId",
        "integrationLatency": "$context.integration.latency"},
}


def seconds_of_rate(expression):
    """Seconds between runs of an EventBridge `rate(N unit)` expression."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if not match:
        raise ValueError(f"not a rate expression: {expression}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


def alarm_stats(alarm):
    """(namespace, metric, dimensions, period) of every metric an alarm reads."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [(properties["Namespace"], properties["MetricName"],
                 {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}, properties["Period"])]
    return [(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
             {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"].get("Dimensions", [])},
             m["MetricStat"]["Period"])
            for m in properties.get("Metrics", []) if "MetricStat" in m]


def alarms(resources):
    return {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def check_kept(resources, check):
    """Every secret and log group survives a stack delete and a replacement (DeletionPolicy
    RetainExceptOnCreate: kept, except when the create that made it rolls back)."""
    kept = {n: r for n, r in resources.items() if r["Type"] in KEPT_TYPES}
    lost = [n for n, r in kept.items()
            if r.get("DeletionPolicy") not in ("Retain", "RetainExceptOnCreate") or r.get("UpdateReplacePolicy") != "Retain"]
    check(f"all {len(kept)} secrets and log groups are kept on stack delete and replacement",
          len(kept) >= 128 + 3 + 3 and not lost, lost)


def check_key_sync_invocations(resources, check):
    """A failed scheduled round is not retried (the next round is the retry), an event does not
    wait longer than a round, and failures land in a queue key-sync may send to."""
    configs = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"
               and r["Properties"]["FunctionName"] == {"Ref": "KeySyncFunction"}]
    check("key-sync has one EventInvokeConfig", len(configs) == 1, configs)
    if len(configs) != 1:
        return
    config = configs[0]
    check("key-sync: a failed round is not retried", config.get("MaximumRetryAttempts") == 0, config)
    check("key-sync: an event older than 15 minutes is dropped", 60 <= config.get("MaximumEventAgeInSeconds", 21600) <= 900, config)
    destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", {})
    queue = destination.get("Fn::GetAtt", [None])[0] if isinstance(destination, dict) else None
    check("key-sync: failed invocations go to an SQS queue of this template",
          resources.get(queue, {}).get("Type") == "AWS::SQS::Queue", destination)
    role = resources["KeySyncFunctionRole"]["Properties"]
    sends = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]
             if "sqs:SendMessage" in json.dumps(s.get("Action")) and s.get("Resource") == destination]
    check("key-sync's role may send to that queue (and only to it)", len(sends) == 1, role.get("Policies"))


def check_key_sync_alarms(source, resources, check):
    """A heartbeat on key-sync's invocations (missing data breaching); key-sync's other alarms
    judge windows longer than the schedule and keep their state when a window has no data."""
    parameters = source["Parameters"]
    schedule = seconds_of_rate(parameters["SyncSchedule"]["Default"])
    window = parameters["KeySyncAlarmWindowSeconds"]
    check("key-sync alarm windows are at least twice the default schedule's interval",
          min(window["AllowedValues"]) >= 2 * schedule and window["Default"] in window["AllowedValues"], window)
    key_sync = {"Ref": "KeySyncFunction"}
    heartbeats = [n for n, a in alarms(resources).items()
                  if alarm_stats(a) == [("AWS/Lambda", "Invocations", {"FunctionName": key_sync}, {"Ref": "KeySyncAlarmWindowSeconds"})]
                  and a["Properties"]["TreatMissingData"] == "breaching"
                  and a["Properties"]["ComparisonOperator"] == "LessThanThreshold" and a["Properties"]["Threshold"] >= 1]
    check("a heartbeat alarm on key-sync's Invocations treats missing data as breaching", len(heartbeats) == 1, heartbeats)
    for name, alarm in alarms(resources).items():
        stats = alarm_stats(alarm)
        if not any(d.get("FunctionName") == key_sync or m in KEY_SYNC_METRICS for _, m, d, _ in stats):
            continue
        periods = {json.dumps(p) for *_, p in stats}
        check(f"{name}: its period is KeySyncAlarmWindowSeconds", periods == {json.dumps({"Ref": "KeySyncAlarmWindowSeconds"})}, periods)
        check(f"{name}: a window without data does not clear it",
              alarm["Properties"]["TreatMissingData"] in ("ignore", "breaching"), alarm["Properties"]["TreatMissingData"])


def check_emf_alarms(source, resources, check):
    """Both functions' log groups are watched for EMF documents CloudWatch refused."""
    read = {(m, json.dumps(d.get("LogGroupName"))) for a in alarms(resources).values()
            for ns, m, d, _ in alarm_stats(a) if ns == "AWS/Logs"}
    for function in ("AuthorizerFunction", "KeySyncFunction"):
        group = source["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]
        for metric in EMF_REFUSALS:
            check(f"an alarm reads AWS/Logs {metric} of {function}'s log group", (metric, json.dumps(group)) in read, read)


def check_tracing(source, resources, check, condition_holds):
    """Tracing is a parameter, off by default, on both functions and the REST stage."""
    parameter = source["Parameters"].get("EnableTracing", {})
    check("EnableTracing is a parameter, off by default", parameter.get("Default") == "false", parameter)
    for value, expected in (("true", True), ("false", False)):
        check(f"EnableTracing={value}: tracing {'on' if expected else 'off'}",
              condition_holds(source["Conditions"], "WithTracing", {"EnableTracing": value}) is expected)
    for function in ("AuthorizerFunction", "KeySyncFunction"):
        check(f"{function}: X-Ray mode follows EnableTracing",
              resources[function]["Properties"].get("TracingConfig") == {"Mode": {"Fn::If": ["WithTracing", "Active", "PassThrough"]}},
              resources[function]["Properties"].get("TracingConfig"))
    stages = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    check("the REST stage's X-Ray tracing follows EnableTracing",
          [s.get("TracingEnabled") for s in stages] == [{"Fn::If": ["WithTracing", True, False]}], stages)


def check_access_logs(source, resources, check, condition_holds):
    """Both API stages log one JSON line per request, with the authorizer's fields, into a log
    group of their own; the REST stage has the account role it needs (created, or said to exist)."""
    for kind, fields in ACCESS_LOG_FIELDS.items():
        stages = [r["Properties"] for r in resources.values() if r["Type"] == kind]
        check(f"{kind}: one stage", len(stages) == 1, stages)
        if len(stages) != 1:
            continue
        setting = stages[0].get("AccessLogSetting") or stages[0].get("AccessLogSettings") or {}
        if "Fn::If" in setting:
            check(f"{kind}: access logs only off with ApiGatewayLogsRole=none",
                  setting["Fn::If"][0] == "WithRestAccessLogs" and setting["Fn::If"][2] == {"Ref": "AWS::NoValue"}
                  and [condition_holds(source["Conditions"], "WithRestAccessLogs", {"ApiGatewayLogsRole": v})
                       for v in ("create", "existing", "none")] == [True, True, False], setting)
            setting = setting["Fn::If"][1]
        check(f"{kind}: access logs go to ApiAccessLogGroup",
              setting.get("DestinationArn") == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}, setting)
        try:
            line = json.loads(setting.get("Format", "").replace("$context.error.messageString", '"message"'))
        except json.JSONDecodeError as error:
            check(f"{kind}: the access log format is JSON", False, error)
            continue
        missing = {k: v for k, v in fields.items() if line.get(k) != v}
        check(f"{kind}: the access log line holds {', '.join(fields)}", not missing, missing)
    role = source["Parameters"]["ApiGatewayLogsRole"]
    check("ApiGatewayLogsRole defaults to creating the account's API Gateway logs role", role["Default"] == "create", role)
    account = resources.get("ApiGatewayAccount", {})
    check("the created account setting names the created role",
          account.get("Condition") == "CreateApiGatewayLogsRole"
          and account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}, account)
    check("the REST API is created after that account setting (its stage's access logs need it)",
          "${ApiGatewayAccount}" in json.dumps(resources["RestApi"]["Properties"].get("Description")))


def check_queries(resources, decision_fields, check):
    """Saved Logs Insights queries over the authorizer's log group: one request by its API
    Gateway request id, and refusals counted by reason."""
    queries = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Logs::QueryDefinition"}
    by_request = [q for q in queries.values() if "apigw_request_id" in q["QueryString"]]
    by_reason = [q for q in queries.values() if re.search(r"stats count\(\*\).* by outcome, reason_kind", q["QueryString"])]
    for label, found in (("why was request X refused", by_request), ("refusals by reason", by_reason)):
        check(f"a saved query '{label}' over the authorizer's log group",
              len(found) == 1 and {"Ref": "AuthorizerLogGroup"} in found[0]["LogGroupNames"], list(queries))
    if by_reason:
        used = set(re.findall(r"\b(message|outcome|reason_kind|domain)\b", by_reason[0]["QueryString"]))
        check("the refusals query reads fields the decision line has", used <= decision_fields, used - decision_fields)


def check_operations(source, resources, check, condition_holds, decision_fields):
    check_kept(resources, check)
    check_key_sync_invocations(resources, check)
    check_key_sync_alarms(source, resources, check)
    check_emf_alarms(source, resources, check)
    check_tracing(source, resources, check, condition_holds)
    check_access_logs(source, resources, check, condition_holds)
    check_queries(resources, decision_fields, check)
