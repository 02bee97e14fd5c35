"""`remediator doctor`: checks configuration, credentials and every resource the code expects.

Each finding says what was checked, what was found and, when wrong, how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from dotenv import dotenv_values

from observability.clients import AwsClients
from observability.errors import ConfigError
from observability.models.keys import (
    DUE_AT,
    DUE_INDEX,
    DUE_INDEX_PROJECTION,
    DUE_PK,
    LAYOUT_VERSION,
    TTL_ATTRIBUTE,
    meta_key,
)
from remediator.alerts.settings import AlertSettings
from remediator.ops.diagnose import explain
from remediator.settings import FIFO_DEDUPLICATION_SECONDS, RemediatorSettings
from remediator.stack.checks import (
    BOOTSTRAP,
    FAIL,
    OK,
    WARN,
    Finding,
    config_fix,
    fix_for,
    region_findings,
)
from remediator.stack.messaging import queue_findings, subscription_findings
from remediator.stack.provision import table_definition
from remediator.stack.rule_checks import CHECK, rule_findings
from remediator.stack.stranded import KINDS, due_items, stranded_shards
from remediator.stack.variables import known_variables, unknown_variables

__all__ = ["FAIL", "OK", "WARN", "Finding", "examine", "variables"]


def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def _table(
    ddb: Any, name: str, configured_shards: int | None = None, region: str = "?"
) -> list[Finding]:
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            missing = f"table {name!r} does not exist in region {region}"
            return [Finding("table", FAIL, missing, fix_for(exc, "table", region))]
        raise
    expected = table_definition(name)
    found: list[Finding] = []
    if _keys(table["KeySchema"]) != _keys(expected["KeySchema"]):
        found.append(
            Finding(
                "table",
                FAIL,
                f"table {name!r} has keys {_keys(table['KeySchema'])}, expected pk/sk",
                "point REMEDIATOR_TABLE_NAME at the project's table",
            )
        )
    else:
        found.append(Finding("table", OK, f"{name} ({table.get('TableStatus', '?')}), keys pk/sk"))
    indexes = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}
    gsi = indexes.get(DUE_INDEX)
    if gsi is None:
        found.append(Finding("retry index", FAIL, f"GSI {DUE_INDEX!r} is missing", BOOTSTRAP))
    elif _keys(gsi["KeySchema"]) != {"HASH": DUE_PK, "RANGE": DUE_AT}:
        found.append(
            Finding(
                "retry index",
                FAIL,
                f"GSI {DUE_INDEX!r} has keys {_keys(gsi['KeySchema'])}, expected {DUE_PK}/{DUE_AT}",
                "recreate the index as infra/terraform/modules/remediator/dynamodb.tf defines it",
            )
        )
    else:
        found.append(Finding("retry index", OK, f"{DUE_INDEX} on {DUE_PK}/{DUE_AT}"))
    layout = _layout(ddb, name, gsi)
    found.append(layout)
    if configured_shards is not None and layout.status == OK:
        found.append(_shards(ddb, name, configured_shards))
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and (
        ttl.get("AttributeName") == TTL_ATTRIBUTE
    ):
        found.append(Finding("ttl", OK, f"enabled on {TTL_ATTRIBUTE}"))
    else:
        found.append(
            Finding(
                "ttl",
                FAIL,
                f"TTL is {ttl.get('TimeToLiveStatus', 'DISABLED')} "
                f"(attribute {ttl.get('AttributeName')!r})",
                f"enable TTL on {TTL_ATTRIBUTE!r}: {BOOTSTRAP}",
            )
        )
    return found


def _layout(ddb: Any, name: str, gsi: dict[str, Any] | None) -> Finding:
    """Which item layout the table holds: the table's own record, or the signs of layout 1."""
    projection = (gsi or {}).get("Projection", {})
    if projection.get("ProjectionType") == "ALL":
        return Finding(
            "layout",
            FAIL,
            f"table {name!r} was written in layout 1 (an item per event, {DUE_INDEX} "
            f"projecting ALL); this version reads and writes layout {LAYOUT_VERSION}",
            "bootstrap a new REMEDIATOR_TABLE_NAME; the old table's items expire by TTL",
        )
    pk, sk = meta_key()
    item = ddb.get_item(
        TableName=name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return Finding("layout", WARN, "the table has no layout record", BOOTSTRAP)
    layout, shards = int(item["layout"]["N"]), item.get("shards", {}).get("N", "?")
    if layout != LAYOUT_VERSION:
        return Finding(
            "layout",
            FAIL,
            f"table {name!r} declares layout {layout}; this version reads layout {LAYOUT_VERSION}",
            "run the version that wrote it, or bootstrap a new REMEDIATOR_TABLE_NAME",
        )
    missing = sorted(set(DUE_INDEX_PROJECTION) - set(projection.get("NonKeyAttributes", [])))
    if gsi is not None and missing:
        return Finding(
            "layout",
            FAIL,
            f"{DUE_INDEX} does not project {', '.join(missing)}: the sweep cannot decide",
            "recreate the index as infra/terraform/modules/remediator/dynamodb.tf defines it",
        )
    return Finding("layout", OK, f"layout {layout}, {shards} retry shards")


def _shards(ddb: Any, name: str, configured: int) -> Finding:
    """REMEDIATOR_RETRY_SHARDS set here against the count the table declares."""
    pk, sk = meta_key()
    item = ddb.get_item(
        TableName=name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )["Item"]
    declared = int(item["shards"]["N"])
    stranded = stranded_shards(declared, configured)
    if not stranded:
        return Finding("retry shards", OK, f"REMEDIATOR_RETRY_SHARDS {configured} = the table's")
    partitions = ", ".join(f"{kind}#{n}" for n in stranded for kind in KINDS)
    due = due_items(ddb, name, stranded) if declared > configured else 0
    return Finding(
        "retry shards",
        FAIL,
        f"REMEDIATOR_RETRY_SHARDS is {configured} but table {name!r} declares {declared}: "
        f"shards {stranded[0]} to {stranded[-1]} would be stranded ({partitions}), their due "
        f"retries and stale runs never swept; {due} due there now",
        f"unset REMEDIATOR_RETRY_SHARDS (the table's count is used) or set it to {declared}; "
        "another count needs a new table",
    )


def variables(environ: Mapping[str, str], env_file: Path | None = None) -> list[Finding]:
    """REMEDIATOR_* variables (from the environment or `.env`) that no setting reads."""
    names = set(environ)
    if env_file is not None and env_file.is_file():
        names |= set(dotenv_values(env_file))
    known = known_variables(RemediatorSettings, AlertSettings)
    found = []
    for name, closest in unknown_variables(names, known):
        hint = f"did you mean {closest}?" if closest else "no setting has this name"
        found.append(
            Finding(
                "variables",
                FAIL,
                f"{name} is not a setting and is ignored ({hint})",
                f"rename it to {closest}" if closest else "remove it (see the README's table)",
            )
        )
    return found


def _takeover(settings: RemediatorSettings) -> Finding:
    """Whether a re-send after a takeover stays inside SQS FIFO's deduplication window."""
    resend = settings.takeover_resend_seconds
    if resend <= FIFO_DEDUPLICATION_SECONDS:
        return Finding(
            "takeover",
            OK,
            f"a dead replica's trigger is re-sent within {resend:g} s: FIFO drops the copy",
        )
    return Finding(
        "takeover",
        WARN,
        f"a dead replica's trigger may be re-sent {resend:g} s after the first: past SQS "
        f"FIFO's {FIFO_DEDUPLICATION_SECONDS:g} s deduplication window, a FIFO target may run "
        "the attempt twice",
        "lower REMEDIATOR_LEASE_SECONDS, REMEDIATOR_SWEEP_INTERVAL_SECONDS or "
        "REMEDIATOR_TRIGGER_TIMEOUT_SECONDS so that their sum is at most 300",
    )


def examine(
    load: Callable[[], RemediatorSettings],
    clients_for: Callable[[RemediatorSettings], AwsClients],
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> list[Finding]:
    """Every check, in order; a check that cannot run says why, with its fix, and the rest
    go on. Nothing here raises: `doctor` is the command for when things are wrong."""
    misspelt = variables(os.environ if environ is None else environ, env_file)
    try:
        settings = load()
    except ConfigError as exc:
        fix = config_fix(str(exc), (RemediatorSettings, AlertSettings))
        return [Finding("configuration", FAIL, str(exc), fix), *misspelt]
    findings = [
        Finding(
            "configuration",
            OK,
            f"table {settings.table_name}, max attempts {settings.max_attempts}, "
            f"backoff {settings.backoff_base_seconds:g}-{settings.backoff_max_seconds:g} s",
        ),
        *misspelt,
        _takeover(settings),
    ]
    clients = clients_for(settings)
    try:
        region = clients.region
    except ConfigError as exc:
        return [*findings, Finding("region", FAIL, str(exc), "set AWS_REGION")]
    configured = [
        ("REMEDIATOR_TOPIC_ARN", settings.topic_arn),
        ("REMEDIATOR_QUEUE_URL", settings.queue_url),
    ]
    elsewhere = region_findings(region, configured)
    findings.extend(elsewhere or [Finding("region", OK, region)])

    def attempt(check: str, fn: Callable[[], list[Finding]]) -> bool:
        try:
            findings.extend(fn())
            return True
        except Exception as exc:  # an answer of any shape, from anything at the endpoint
            findings.append(Finding(check, FAIL, explain(exc), fix_for(exc, check, region)))
            return False

    def identity() -> list[Finding]:
        who = clients.client("sts").get_caller_identity()
        return [Finding("credentials", OK, f"account {who['Account']} as {who['Arn']}")]

    if not attempt("credentials", identity):
        return findings
    # Only a count set here can disagree: unset, every process uses the table's.
    shards = settings.retry_shards if "retry_shards" in settings.model_fields_set else None
    ddb = clients.client("dynamodb")
    attempt("table", lambda: _table(ddb, settings.table_name, shards, region))
    if not settings.topic_arn:
        findings.append(
            Finding(
                "topic",
                FAIL,
                "REMEDIATOR_TOPIC_ARN is not set: failures cannot be signalled",
                BOOTSTRAP,
            )
        )
    else:
        attempt("topic", lambda: _topic(clients.client("sns"), settings.topic_arn or ""))
    if not settings.queue_url:
        findings.append(
            Finding(
                "signal queue",
                FAIL,
                "REMEDIATOR_QUEUE_URL is not set: `run` has nothing to poll",
                BOOTSTRAP,
            )
        )
        return findings
    attrs: dict[str, str] = {}

    def queue() -> list[Finding]:
        found, read = queue_findings(clients.client("sqs"), settings.queue_url or "")
        attrs.update(read)
        return found

    if not attempt("signal queue", queue):
        return findings
    queue_arn = attrs.get("QueueArn", "")
    if settings.topic_arn:
        sns = clients.client("sns")
        attempt(
            "subscription",
            lambda: subscription_findings(sns, settings.topic_arn or "", queue_arn),
        )
    # The queue's policy came with its other attributes: no second read.
    events = clients.client("events")
    attempt(CHECK, lambda: rule_findings(events, queue_arn, attrs.get("Policy")))
    return findings


def _topic(sns: Any, arn: str) -> list[Finding]:
    sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return [Finding("topic", OK, arn)]
