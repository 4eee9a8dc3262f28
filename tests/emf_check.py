"""Validates every CloudWatch EMF document the loop tests captured from the real binaries
(target/emf/*.jsonl, written by tests/support.py's save_emf) against the embedded metric
format specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

- a root `_aws` object with `Timestamp` (milliseconds since the epoch) and `CloudWatchMetrics`;
- each directive: a `Namespace`, `Dimensions` (arrays of at most 30 names, each a string member
  of the root), `Metrics` (at most 100, each with a `Name` that is a numeric root member and an
  allowed `Unit`, `StorageResolution` 1 or 60);
- a decision line stays under 4 KB.

It first checks that it refuses documents that break each rule, so it cannot pass by accident.
Run by tests/run after the loops."""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMF_DIR = ROOT / "target" / "emf"
UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}
MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES = 30, 100, 100
MAX_DECISION_LINE = 4096


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def problems(document, line_bytes=0):
    """What is wrong with one EMF document (empty: valid)."""
    found = []
    aws = document.get("_aws") if isinstance(document, dict) else None
    if not isinstance(aws, dict):
        return ["no _aws object at the root"]
    stamp = aws.get("Timestamp")
    now_ms = time.time() * 1000
    if not is_number(stamp) or not (now_ms - 400 * 86400e3 < stamp < now_ms + 86400e3):
        found.append(f"Timestamp {stamp!r} is not milliseconds since the epoch near now")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return found + ["CloudWatchMetrics is not a non-empty array"]
    for directive in directives:
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
            found.append(f"bad Namespace {namespace!r}")
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list):
            found.append("Dimensions is not an array")
            dimension_sets = []
        for dimension_set in dimension_sets:
            if not isinstance(dimension_set, list) or len(dimension_set) > MAX_DIMENSIONS:
                found.append(f"dimension set {dimension_set!r} is not an array of at most {MAX_DIMENSIONS}")
                continue
            for name in dimension_set:
                if not isinstance(document.get(name), str):
                    found.append(f"dimension {name!r} is not a string member of the root")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
            found.append(f"Metrics is not an array of at most {MAX_METRICS}")
            continue
        for metric in metrics:
            name, unit = metric.get("Name"), metric.get("Unit", "None")
            value = document.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or len(values) > MAX_VALUES or not all(is_number(v) for v in values):
                found.append(f"metric {name!r} has no numeric root member (got {value!r})")
            if unit not in UNITS:
                found.append(f"metric {name!r} has unit {unit!r}")
            if metric.get("StorageResolution", 60) not in (1, 60):
                found.append(f"metric {name!r} has StorageResolution {metric.get('StorageResolution')!r}")
    if document.get("message") == "decision" and line_bytes > MAX_DECISION_LINE:
        found.append(f"a decision line of {line_bytes} bytes")
    return found


def self_test():
    """The checker refuses a document breaking each rule."""
    good = {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
        {"Namespace": "T", "Dimensions": [["outcome"]], "Metrics": [{"Name": "Decisions", "Unit": "Count"}]}]},
        "outcome": "allow", "Decisions": 1}
    assert problems(good) == [], problems(good)

    def broken(change):
        document = json.loads(json.dumps(good))
        change(document)
        return problems(document)

    cases = {
        "seconds, not milliseconds": lambda d: d["_aws"].update(Timestamp=int(time.time())),
        "a dimension that is absent": lambda d: d.pop("outcome"),
        "a metric without a value": lambda d: d.pop("Decisions"),
        "a unit that does not exist": lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Things"),
        "31 dimensions": lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"d{i}" for i in range(31)]]),
        "101 metrics": lambda d: d["_aws"]["CloudWatchMetrics"][0].update(
            Metrics=[{"Name": "Decisions"}] * 101),
        "no _aws": lambda d: d.pop("_aws"),
    }
    for label, change in cases.items():
        assert broken(change), f"the checker accepts a document with {label}"
    assert problems(dict(good, message="decision"), line_bytes=5000), "a 5 KB decision line is accepted"


def main():
    self_test()
    paths = sorted(EMF_DIR.glob("*.jsonl"))
    total, failures = 0, 0
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            total += 1
            found = problems(json.loads(line), len(line.encode()))
            if found:
                failures += 1
                if failures <= 20:
                    print(f"FAIL {path.name}:{number}: {'; '.join(found)}")
    print(f"emf check: {total} documents from {len(paths)} files, {failures} invalid")
    if not total:
        print("FAIL no EMF documents captured: run the loops first")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
