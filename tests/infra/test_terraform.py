"""infra/terraform agrees with the code: table keys and index, filters, redrive, settings, handler.

The code is the reference (observability.models.keys, remediator.stack.provision, the
settings classes); a rename on either side without the other fails here, not in production.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest

from observability.models import keys
from observability.settings import Settings, heartbeat_defaults
from observability.telemetry.metrics import UNITS
from remediator.alerts.settings import AlertSettings
from remediator.settings import RemediatorSettings
from remediator.stack import provision
from tests.infra.terraform import EXAMPLE_DIR, TF_DIR, TFVARS_EXAMPLE, Terraform, parse

EXPECTED_FILES = {
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "dynamodb.tf",
    "messaging.tf",
    "iam.tf",
    "ecs.tf",
    "alerts_lambda.tf",
    "monitoring.tf",
    "events.tf",
}


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


def _env(tf: Terraform, entries: Any) -> dict[str, Any]:
    listed = tf.resolve(entries)
    names = [e["name"] for e in listed]
    assert len(names) == len(set(names)), f"duplicate environment variables: {names}"
    return {e["name"]: e["value"] for e in listed}


def _field(env_var: str) -> str:
    assert env_var.startswith("REMEDIATOR_"), env_var
    return env_var.removeprefix("REMEDIATOR_").lower()


# -- every file parses; every variable and output is typed and documented -----------------------


def test_every_tf_file_parses_and_the_split_by_concern_is_there():
    found = {p.name for p in TF_DIR.glob("*.tf")}
    assert found >= EXPECTED_FILES
    for path in TF_DIR.glob("*.tf"):
        assert parse(path), f"{path.name} parsed to nothing"
    assert parse(TFVARS_EXAMPLE)


def test_every_variable_has_a_type_and_a_description(tf: Terraform):
    for name, body in tf.variables().items():
        assert body.get("type"), f"variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"


def test_every_output_has_a_description(tf: Terraform):
    for name, body in tf.outputs().items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_readme_documents_exactly_the_variables_and_outputs(tf: Terraform):
    readme = (TF_DIR / "README.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", readme, re.MULTILINE))
    declared = set(tf.variables()) | set(tf.outputs())
    assert declared - documented == set(), "not documented in the module README.md"
    assert documented - declared == set(), "documented but not declared"
    variables, outputs = readme.split("## Outputs")
    for table, declared_here in ((variables, tf.variables()), (outputs, tf.outputs())):
        rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \|(?:.*\|)? ([^|]+) \|$", table, re.MULTILINE))
        for name, body in declared_here.items():
            assert rows[name] == body["description"], f"{name}: README and .tf descriptions differ"


def test_tfvars_example_sets_declared_variables_and_every_required_one(tf: Terraform):
    example = parse(TFVARS_EXAMPLE)
    variables = Terraform.load(EXAMPLE_DIR).variables()
    assert set(example) - set(variables) == set(), "the example sets unknown variables"
    required = {name for name, body in variables.items() if "default" not in body}
    assert required - set(example) == set(), "the example misses required variables"


# -- the table ------------------------------------------------------------------------------------


def test_table_keys_index_and_ttl_match_the_code(tf: Terraform):
    table = tf.resolve(tf.resource("aws_dynamodb_table", "audit"))
    reference = provision.table_definition("t")

    schema = {k["KeyType"]: k["AttributeName"] for k in reference["KeySchema"]}
    assert (table["hash_key"], table["range_key"]) == (schema["HASH"], schema["RANGE"])
    assert table["billing_mode"] == reference["BillingMode"]
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in reference["AttributeDefinitions"]
    }

    [gsi] = table["global_secondary_index"]
    [ref_gsi] = reference["GlobalSecondaryIndexes"]
    ref_gsi_keys = {k["KeyType"]: k["AttributeName"] for k in ref_gsi["KeySchema"]}
    assert gsi["name"] == ref_gsi["IndexName"] == keys.DUE_INDEX
    assert gsi["hash_key"] == ref_gsi_keys["HASH"] == keys.DUE_PK
    assert gsi["range_key"] == ref_gsi_keys["RANGE"] == keys.DUE_AT
    assert gsi["projection_type"] == ref_gsi["Projection"]["ProjectionType"] == "INCLUDE"
    assert (
        gsi["non_key_attributes"]
        == ref_gsi["Projection"]["NonKeyAttributes"]
        == list(keys.DUE_INDEX_PROJECTION)
    )

    [ttl] = table["ttl"]
    assert ttl == {"attribute_name": keys.TTL_ATTRIBUTE, "enabled": True}
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    [sse] = table["server_side_encryption"]
    assert sse["enabled"] is True
    assert sse["kms_key_arn"] == "${aws_kms_key.main.arn}", "encrypted with the stack's CMK"


def test_table_name_default_and_rule_match_the_settings(tf: Terraform):
    variable = tf.variables()["table_name"]
    assert variable["default"] == Settings.model_fields["table_name"].default
    assert "^[A-Za-z0-9_.-]{3,255}$" in str(variable["validation"])


# -- topic, queues, subscriptions -----------------------------------------------------------------


def test_resource_names_follow_bootstrap(tf: Terraform):
    names = tf.locals["names"]
    reference = provision.names_for("TABLE", "PREFIX")
    for key, template in names.items():
        assert template.replace("${local.base}", "PREFIX") == getattr(reference, key), key
    assert tf.locals["base"] == "${coalesce(var.name_prefix, var.table_name)}"


def test_filter_policies_equal_the_provisioned_ones(tf: Terraform):
    def normalised(policy: dict[str, list[str]]) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in policy.items()}

    assert normalised(tf.locals["signal_filter_policy"]) == normalised(provision.SIGNAL_FILTER)
    assert normalised(tf.locals["alert_filter_policy"]) == normalised(provision.ALERT_FILTER)

    subscriptions = tf.resources("aws_sns_topic_subscription")
    for name, local, queue in (
        ("signals", "signal_filter_policy", "signals"),
        ("alerts", "alert_filter_policy", "alerts"),
    ):
        sub = subscriptions[name]
        assert sub["filter_policy"] == f"${{jsonencode(local.{local})}}"
        # The code publishes `event` as a message attribute and reads raw bodies.
        assert sub["filter_policy_scope"] == "MessageAttributes"
        assert sub["raw_message_delivery"] is True
        assert sub["protocol"] == "sqs"
        assert sub["endpoint"] == f"${{aws_sqs_queue.{queue}.arn}}"
        assert sub["topic_arn"] == "${aws_sns_topic.signals.arn}"


def test_redrive_and_queue_timing_match_the_code(tf: Terraform):
    assert tf.locals["dlq_max_receive_count"] == provision.DLQ_MAX_RECEIVE_COUNT
    queues = tf.resources("aws_sqs_queue")
    for queue, dlq in (("signals", "signals_dlq"), ("alerts", "alerts_dlq")):
        redrive = re.sub(r"\s+", "", queues[queue]["redrive_policy"])
        assert f"deadLetterTargetArn=aws_sqs_queue.{dlq}.arn" in redrive
        assert "maxReceiveCount=local.dlq_max_receive_count" in redrive

    signals = tf.resolve(queues["signals"])
    assert signals["visibility_timeout_seconds"] == provision.SIGNAL_VISIBILITY_SECONDS
    assert signals["receive_wait_time_seconds"] == 20  # long poll of 20 s
    alerts = tf.resolve(queues["alerts"])
    assert alerts["visibility_timeout_seconds"] == provision.ALERTS_VISIBILITY_SECONDS
    # Lambda event sources want the visibility at least six times the function timeout.
    timeout = tf.variables()["alerts_lambda_timeout_seconds"]
    assert "<= 60" in str(timeout["validation"])
    assert provision.ALERTS_VISIBILITY_SECONDS >= 6 * 60
    for queue in queues.values():
        assert queue["kms_master_key_id"] == "${aws_kms_key.main.arn}"


def test_queue_policies_let_only_the_topic_send(tf: Terraform):
    for document, queue in (("signals_queue", "signals"), ("alerts_queue", "alerts")):
        # The signal queue also takes AWS's state changes, from the rules alone (below).
        statement = tf.statements(document)[0]
        assert statement.actions == ("sqs:SendMessage",)
        assert statement.resources == (f"${{aws_sqs_queue.{queue}.arn}}",)
        [condition] = statement.conditions
        assert condition["variable"] == "aws:SourceArn"
        assert condition["values"] == ["${aws_sns_topic.signals.arn}"]


def test_state_change_rules_are_bootstraps_and_deliver_to_the_signal_queue(tf: Terraform):
    """events.tf: one rule per source, the pattern remediator.stack.rules puts, each with one
    target, the signal queue; only those rules may send to it and use the key for it."""
    from remediator.stack.rules import EVENT_PATTERNS

    patterns = tf.resolve(tf.locals["state_change_patterns"])
    assert {k: json.loads(v) for k, v in patterns.items()} == EVENT_PATTERNS
    rule = tf.resource("aws_cloudwatch_event_rule", "state_changes")
    assert rule["for_each"] == "${local.state_change_patterns}"
    assert rule["event_pattern"] == "${each.value}"
    assert rule["name"] == "${local.base}-${each.key}-state-change"
    target = tf.resource("aws_cloudwatch_event_target", "state_changes")
    assert target["for_each"] == "${aws_cloudwatch_event_rule.state_changes}"
    assert (target["rule"], target["arn"]) == ("${each.value.name}", "${aws_sqs_queue.signals.arn}")
    # A for expression (the evaluator here reads none): the rules' names, as ARNs.
    arns = tf.locals["state_change_rule_arns"]
    assert "for kind in keys(local.state_change_patterns)" in arns
    assert (
        ':events:${var.region}:${local.account_id}:rule/${local.base}-${kind}-state-change"' in arns
    )
    for document, sid in (("signals_queue", "RulesSendStateChanges"),
                          ("kms", "RulesDeliverToEncryptedQueue")):  # fmt: skip
        statement = {s.sid: s for s in tf.statements(document)}[sid]
        [condition] = statement.conditions
        assert (condition["test"], condition["variable"]) == ("ArnEquals", "aws:SourceArn")
        assert condition["values"] == "${local.state_change_rule_arns}"
        principals = tf.data("aws_iam_policy_document", document)["statement"]
        [body] = [b for b in principals if b.get("sid") == sid]
        assert body["principals"][0]["identifiers"] == ["events.amazonaws.com"]


def test_key_policy_lets_sns_encrypt_for_the_queues(tf: Terraform):
    by_sid = {s.sid: s for s in tf.statements("kms")}
    sns = by_sid["TopicDeliversToEncryptedQueues"]
    assert set(sns.actions) == {"kms:GenerateDataKey", "kms:Decrypt"}
    [condition] = sns.conditions
    assert (condition["variable"], condition["values"]) == ("aws:SourceArn", ["${local.topic_arn}"])
    assert tf.locals["topic_arn"].endswith(":${local.names.topic}")
    topic = tf.resource("aws_sns_topic", "signals")
    assert topic["name"] == "${local.names.topic}"
    assert topic["kms_master_key_id"] == "${aws_kms_key.main.arn}"


# -- the service ----------------------------------------------------------------------------------


def test_task_environment_names_real_settings_and_the_required_ones(tf: Terraform):
    container = tf.locals["remediator_container"]
    env = _env(tf, container["environment"])
    fields = set(RemediatorSettings.model_fields)
    ours = [name for name in env if name.startswith("REMEDIATOR_")]
    unknown = {name for name in ours if _field(name) not in fields}
    assert unknown == set(), "not a RemediatorSettings field"
    for required in ("REMEDIATOR_TABLE_NAME", "REMEDIATOR_TOPIC_ARN", "REMEDIATOR_QUEUE_URL"):
        assert required in env
    assert env["REMEDIATOR_TABLE_NAME"] == "${aws_dynamodb_table.audit.name}"
    assert env["REMEDIATOR_TOPIC_ARN"] == "${aws_sns_topic.signals.arn}"
    assert env["REMEDIATOR_QUEUE_URL"] == "${aws_sqs_queue.signals.url}"
    assert env["REMEDIATOR_VISIBILITY_TIMEOUT_SECONDS"] == str(provision.SIGNAL_VISIBILITY_SECONDS)
    # The settings validate these values too: the defaults must load.
    RemediatorSettings(
        **{_field(k): v for k, v in env.items() if k.startswith("REMEDIATOR_") and "${" not in v},
        _env_file=None,
    )


def test_shared_settings_are_exported_for_the_pipelines(tf: Terraform):
    shared = _env(tf, tf.locals["shared_environment"])
    assert {_field(name) for name in shared} <= set(Settings.model_fields)
    exports = tf.outputs()["exports"]["value"]
    assert "local.shared_environment" in exports


def test_setting_variables_default_to_the_code_defaults(tf: Terraform):
    env = _env(tf, tf.locals["remediator_container"]["environment"])
    raw = {e["name"]: e["value"] for e in tf.locals["shared_environment"]}
    raw |= {e["name"]: e["value"] for e in tf.locals["service_environment"]}
    # Derived defaults: each of the heartbeat and the stale window follows from the other.
    beat, window = heartbeat_defaults(None, None)
    defaults = {"heartbeat_seconds": beat, "stale_after_seconds": window}
    checked = 0
    for name, expression in raw.items():
        match = re.fullmatch(r"\$\{(?:tostring\()?var\.([a-z_]+)\)?\}", str(expression))
        if not match or not name.startswith("REMEDIATOR_"):
            continue
        default = defaults.get(_field(name), RemediatorSettings.model_fields[_field(name)].default)
        value = float(env[name]) if isinstance(default, int | float) else env[name]
        assert value == default, f"var.{match.group(1)}: {env[name]}, the code: {default}"
        checked += 1
    assert checked >= 10


def test_container_health_check_logs_and_shutdown(tf: Terraform):
    container = tf.resolve(tf.locals["remediator_container"])
    port = RemediatorSettings.model_fields["health_port"].default
    command = container["healthCheck"]["command"]
    assert command[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{port}/healthz" in command[3]
    assert container["command"] == ["run"]
    # SIGTERM handling finishes within the grace; ECS kills at stopTimeout.
    grace_default = RemediatorSettings.model_fields["shutdown_grace_seconds"].default
    assert container["stopTimeout"] == 30 > grace_default
    assert "<= 20" in str(tf.variables()["shutdown_grace_seconds"]["validation"])
    options = container["logConfiguration"]["options"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert options["mode"] == "non-blocking"
    assert options["max-buffer-size"]

    task = tf.resource("aws_ecs_task_definition", "remediator")
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert task["network_mode"] == "awsvpc"
    assert task["container_definitions"] == "${jsonencode(local.task_containers)}"
    assert task["task_role_arn"] != task["execution_role_arn"]


def test_service_scales_on_the_signal_backlog(tf: Terraform):
    target = tf.resource("aws_appautoscaling_target", "remediator")
    assert target["min_capacity"] == "${var.min_replicas}"
    assert target["max_capacity"] == "${var.max_replicas}"
    alarms = tf.resources("aws_cloudwatch_metric_alarm")
    for name, policy in (("backlog_high", "scale_out"), ("backlog_empty", "scale_in")):
        alarm = alarms[name]
        assert alarm["metric_name"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["dimensions"] == {"QueueName": "${aws_sqs_queue.signals.name}"}
        assert alarm["alarm_actions"] == [f"${{aws_appautoscaling_policy.{policy}.arn}}"]


# -- the alert router ------------------------------------------------------------------------------


def test_lambda_handler_resolves_to_a_callable(tf: Terraform):
    function = tf.resolve(tf.resource("aws_lambda_function", "alerts"))
    assert function["runtime"] == "python3.11"
    module_name, _, attribute = function["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    assert callable(handler)
    assert function["filename"] == "${var.alerts_lambda_package}"

    mapping = tf.resource("aws_lambda_event_source_mapping", "alerts")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["event_source_arn"] == "${aws_sqs_queue.alerts.arn}"


def test_lambda_environment_names_real_alert_settings(tf: Terraform):
    text = str(tf.locals["alerts_environment"])
    names = set(re.findall(r"REMEDIATOR_[A-Z0-9_]+", text))
    assert names, "the router gets its destinations from the environment"
    fields = set(AlertSettings.model_fields)
    assert {n for n in names if _field(n) not in fields} == set()


# -- monitoring ------------------------------------------------------------------------------------


def _code_names(name: str) -> bool:
    """The metric is one the code emits (observability.telemetry.metrics.UNITS lists them all)."""
    return name in UNITS


def test_alarms_and_dashboard_use_metrics_the_code_emits(tf: Terraform):
    queries = tf.resolve(tf.locals["insights"])
    namespace = Settings.model_fields["metrics_namespace"].default
    for metric, query in queries.items():
        assert _code_names(metric), f"{metric}: no such metric in the code"
        assert query == f'SELECT SUM({metric}) FROM "{namespace}"'  # noqa: S608 (a metric query)
    alarms = tf.resources("aws_cloudwatch_metric_alarm")
    for alarm, metric in (("job_failures", "JobFailureCount"),
                          ("remediation_exhausted", "RemediationExhausted"),
                          ("trigger_failures", "TriggerFailures"),
                          ("batches_late", "BatchesLate")):  # fmt: skip
        [query] = alarms[alarm]["metric_query"]
        assert query["expression"] == f'${{local.insights["{metric}"]}}'
    assert alarms["signals_dlq"]["dimensions"] == {"QueueName": "${aws_sqs_queue.signals_dlq.name}"}
    assert alarms["alerts_dlq"]["dimensions"] == {"QueueName": "${aws_sqs_queue.alerts_dlq.name}"}
    age = alarms["signal_age"]
    assert age["metric_name"] == "ApproximateAgeOfOldestMessage"
    assert age["dimensions"] == {"QueueName": "${aws_sqs_queue.signals.name}"}
    for name, alarm in alarms.items():
        if not name.startswith("backlog_"):
            assert alarm["alarm_actions"] == "${local.alarm_actions}", name

    dashboard = str(tf.resolve(tf.locals["dashboard"]))
    for metric in (
        "JobStarted",
        "JobSuccess",
        "JobFailureCount",
        "RemediationTriggered",
        "RemediationExhausted",
        "ClaimConflicts",
        "TimeToRecoverySeconds",
        "BatchesLate",
        "FreshnessLagSeconds",
        "TooSlow",
    ):
        assert _code_names(metric), f"{metric}: no such metric in the code"
        assert metric in dashboard, f"{metric} is not on the dashboard"
    assert "ApproximateNumberOfMessagesVisible" in dashboard
    assert f'FROM "{namespace}"' in dashboard


def test_the_table_declares_its_layout_and_shards_as_bootstrap_does():
    """Terraform writes the META item every process reads at start (observability.audit.shape)."""
    import re

    from observability.models.keys import LAYOUT_VERSION, meta_key

    text = (Terraform.load().directory / "dynamodb.tf").read_text()
    block = text[text.index('resource "aws_dynamodb_table_item" "meta"') :]
    pk, sk = meta_key()
    assert re.search(rf'pk\s*=\s*{{ S = "{pk}" }}', block)
    assert re.search(rf'sk\s*=\s*{{ S = "{sk}" }}', block)
    assert re.search(rf'layout\s*=\s*{{ N = "{LAYOUT_VERSION}" }}', block)
    assert "shards = { N = tostring(var.retry_shards) }" in block
