"""What the standing stack costs a month at the module's defaults, and what a million batches
add: the table in infra/terraform/README.md, between its `costs` markers.

Prices are AWS's public on-demand prices in us-east-1, in one dated table below; the
sizes (task CPU and memory, replicas, architecture) are read from the module's variable
defaults, the alarm count from its monitoring, and DynamoDB's write units per batch from
the figures docs/BENCHMARKS.md documents (measured on the requests the code sends).

    python scripts/costs.py            # print the table
    python scripts/costs.py --write    # put it in infra/terraform/README.md
    python scripts/costs.py --check    # exit 1 when the README's table differs
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["FARGATE", "PRICES", "PRICES_AS_OF", "README", "costs_table", "readme_table"]

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "infra" / "terraform" / "modules" / "remediator"
README = ROOT / "infra" / "terraform" / "README.md"
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- costs:begin (scripts/costs.py --write) -->", "<!-- costs:end -->"
HOURS = 730  # AWS's month

PRICES_AS_OF = "2025-06, us-east-1, on demand, no free tier"
# Fargate, by cpu_architecture: (per vCPU-hour, per GB-hour).
FARGATE = {"X86_64": (0.04048, 0.004445), "ARM64": (0.03238, 0.00356)}
PRICES: dict[str, float] = {
    "kms_key_month": 1.00,
    "kms_per_10k_requests": 0.03,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "dynamodb_per_million_wru": 0.625,
    "sqs_per_million_requests": 0.40,
    "sns_per_million_publishes": 0.50,
    "nat_gateway_hour": 0.045,
    "interface_endpoint_hour": 0.01,
}


def _default(name: str) -> str:
    text = (MODULE / "variables.tf").read_text()
    block = re.search(rf'variable "{name}" {{(.*?)\n}}', text, re.DOTALL)
    found = re.search(r"^\s*default\s*=\s*\"?([^\"\n]+)\"?", block.group(1) if block else "", re.M)
    if found is None:
        raise SystemExit(f"no default for variable {name!r} in {MODULE / 'variables.tf'}")
    return found.group(1).strip()


def _bench(label: str) -> float:
    """A write-unit figure of docs/BENCHMARKS.md's report: `label   library N (...)`."""
    found = re.search(rf"^{re.escape(label)}\s+library ([\d.]+)", BENCHMARKS.read_text(), re.M)
    if found is None:
        raise SystemExit(f"{label!r} is not in {BENCHMARKS}")
    return float(found.group(1))


def _rows() -> list[tuple[str, str, float]]:
    arch, cpu = _default("cpu_architecture"), int(_default("cpu"))
    memory, replicas = int(_default("memory")), int(_default("min_replicas"))
    monitoring = (MODULE / "monitoring.tf").read_text()
    alarms = len(re.findall(r'resource "aws_cloudwatch_metric_alarm"', monitoring))
    vcpu, gb = FARGATE[arch]
    task = HOURS * replicas * (cpu / 1024 * vcpu + memory / 1024 * gb)
    # Each replica long-polls the signal queue (20 s waits): 3 receives a minute, idle or not.
    polls = replicas * 3 * 60 * HOURS / 1e6 * PRICES["sqs_per_million_requests"]
    wru = PRICES["dynamodb_per_million_wru"]
    success = _bench("write units per successful batch")
    failure = _bench("write units per failed batch")
    retry = _bench("write units per retry (claim, record, re-run)")
    # A failure: its writes, a Publish, the signal's send-receive-delete, then one retry.
    messaging = 3 * PRICES["sqs_per_million_requests"] + PRICES["sns_per_million_publishes"]
    cloudwatch = alarms * PRICES["alarm_month"] + PRICES["dashboard_month"]
    task_what = f"Fargate: {replicas} task of {cpu / 1024:g} vCPU, {memory} MB, {arch}, 24/7"
    failed_what = (
        f"failed and retried once: {failure:g} + {retry:g} write units, Publish, 3 SQS requests"
    )
    endpoints = "each of ECR api, ECR dkr, SQS, SNS, KMS, logs, STS"
    network = "if the subnets need it"
    endpoint = HOURS * PRICES["interface_endpoint_hour"]
    return [
        ("standing", task_what, task),
        ("standing", "KMS: the stack's key", PRICES["kms_key_month"]),
        ("standing", f"CloudWatch: {alarms} alarms and the dashboard", cloudwatch),
        ("standing", "SQS: the service's long polls", polls),
        ("per million batches", f"successful: {success:g} write units each", success * wru),
        ("per million batches", failed_what, (failure + retry) * wru + messaging),
        (network, "a NAT gateway (hourly, before data)", HOURS * PRICES["nat_gateway_hour"]),
        (network, f"or one interface endpoint in one AZ ({endpoints})", endpoint),
    ]  # fmt: skip


def costs_table() -> str:
    rows = _rows()
    standing = sum(cost for kind, _, cost in rows if kind == "standing")
    lines = [
        f"Prices: {PRICES_AS_OF} (`scripts/costs.py`). Storage (DynamoDB $0.25 and PITR",
        "$0.20 per GB-month, logs), EMF custom metrics per job and KMS requests come on top.",
        "",
        "| when | what | USD a month |",
        "| --- | --- | ---: |",
        *(f"| {kind} | {what} | {cost:.2f} |" for kind, what, cost in rows),
        f"| **standing stack** | **at the defaults, before data and network** "
        f"| **{standing:.2f}** |",
    ]
    return "\n".join(lines)


def readme_table(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the README's table")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README differs")
    args = parser.parse_args(argv)
    table = costs_table()
    text = README.read_text()
    if args.write:
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        README.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    elif args.check:
        if readme_table(text) != table:
            print(f"{README} is out of date: run python scripts/costs.py --write", file=sys.stderr)
            return 1
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
