"""What stops a first `terraform apply`, or breaks quietly after it, checked offline.

Each check returns the problems it finds. It must find none in infra/terraform, and
`test_each_check_catches_its_defect_put_back` runs it again on a scratch copy with the
defect it guards against written back, where it must find it.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from observability.envconfig import SettingsError
from observability.telemetry.metrics import UNITS
from remediator.alerts import AlertSettings, JsonPoster
from remediator.settings import RemediatorSettings
from tests.infra.terraform import TF_DIR, TFVARS_EXAMPLE, Terraform, parse, scratch_copy
from tests.strict.limits import FARGATE_TASK_SIZES

EXAMPLE = parse(TFVARS_EXAMPLE)
# Any file that exists: the package's own path is checked by the deploy walk-through.
PACKAGE = str(TF_DIR / "README.md")

Check = Callable[[Terraform], list[str]]

# -- names ---------------------------------------------------------------------------------------

# What AWS accepts for each name the stack sets (resource type, argument): pattern, source.
NAME_RULES: dict[tuple[str, str], tuple[str, str]] = {
    ("aws_dynamodb_table", "name"): (
        r"[A-Za-z0-9_.-]{3,255}",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html",
    ),
    ("aws_sns_topic", "name"): (
        r"[A-Za-z0-9_-]{1,256}",
        "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html",
    ),
    ("aws_sqs_queue", "name"): (
        r"[A-Za-z0-9_-]{1,80}",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
    ),
    ("aws_lambda_function", "function_name"): (
        r"[A-Za-z0-9_-]{1,64}",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
    ),
    ("aws_iam_role", "name"): (
        r"[\w+=,.@-]{1,64}",
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
    ),
    ("aws_iam_role_policy", "name"): (
        r"[\w+=,.@-]{1,128}",
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
    ),
    ("aws_iam_policy", "name"): (
        r"[\w+=,.@-]{1,128}",
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html",
    ),
    ("aws_ecs_cluster", "name"): (
        r"[A-Za-z0-9_-]{1,255}",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html",
    ),
    ("aws_ecs_service", "name"): (
        r"[A-Za-z0-9_-]{1,255}",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html",
    ),
    ("aws_ecs_task_definition", "family"): (
        r"[A-Za-z0-9_-]{1,255}",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html",
    ),
    ("aws_kms_alias", "name"): (
        r"alias/(?!aws/)[A-Za-z0-9/_-]{1,250}",
        "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
    ),
    ("aws_cloudwatch_log_group", "name"): (
        r"[A-Za-z0-9_./#-]{1,512}",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
    ),
    ("aws_cloudwatch_metric_alarm", "alarm_name"): (
        r"[ -~]{1,255}",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    ("aws_cloudwatch_dashboard", "dashboard_name"): (
        r"[A-Za-z0-9_-]{1,255}",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
    ),
    ("aws_cloudwatch_event_rule", "name"): (
        r"[.\-_A-Za-z0-9]{1,64}",
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
    ),
    ("aws_appautoscaling_policy", "name"): (
        r"[^|:]{1,256}",
        "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html",
    ),
    # The provider's own limit on a prefix (it appends a unique suffix).
    # EC2 also refuses a group name that starts with sg- (CreateSecurityGroup).
    ("aws_security_group", "name_prefix"): (
        r"(?!sg-)[ -~]{1,100}",
        "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/security_group",
    ),
}
NAME_ARGUMENTS = {"name", "name_prefix", "function_name", "family", "alarm_name", "dashboard_name"}

ACCEPTED = [
    {},
    {"table_name": "a" * 43},
    {"table_name": "pipeline_audit-2"},
    {"table_name": "pipeline.audit", "name_prefix": "pipeline-audit"},
    {"table_name": "t" * 255, "name_prefix": "P_" * 21 + "p"},
    {"name_prefix": "x"},
]
REFUSED = [
    {"table_name": "pipeline.audit"},  # a dot: no queue, topic or function may have it
    {"table_name": "a" * 44},  # <base>-remediator-execution: 65 characters, IAM stops at 64
    {"name_prefix": "p" * 44},
    {"name_prefix": "ventes-été"},
    {"name_prefix": "with space"},
    {"name_prefix": ""},
    {"table_name": "ab", "name_prefix": "ok"},
    {"name_prefix": "sg-pipelines"},  # the security group's name would start with sg-
    {"table_name": "sg-audit"},
]


def name_problems(tf: Terraform, values: dict[str, Any]) -> list[str]:
    problems = []
    for (type_, argument), body in _named(tf).items():
        rule = NAME_RULES.get((type_, argument[1]))
        if rule is None:
            problems.append(f"{type_}.{argument[0]}: no naming rule for {argument[1]}")
            continue
        for text in _each(tf, type_, argument[0], body):
            name = tf.resolve(text, variables=values)
            if not isinstance(name, str) or "${" in name or not re.fullmatch(rule[0], name):
                problems.append(
                    f"{type_}.{argument[0]}.{argument[1]} = {name!r}: AWS wants {rule[0]}"
                )
    return problems


def _each(tf: Terraform, type_: str, name: str, text: Any) -> list[Any]:
    """`text` once per key of its resource's `for_each` (a map), `${each.key}` filled in."""
    for_each = tf.resource(type_, name).get("for_each")
    if for_each is None or "${each.key}" not in str(text):
        return [text]
    return [str(text).replace("${each.key}", key) for key in tf.resolve(for_each)]


def _named(tf: Terraform) -> dict[tuple[str, tuple[str, str]], Any]:
    found = {}
    for type_, name, body in tf._labelled("resource"):
        for argument in NAME_ARGUMENTS & set(body):
            if re.fullmatch(r"\$\{aws_\w+\.\w+\.\w+\}", str(body[argument])):
                continue  # names another resource (a mapping's function), set there
            found[(type_, (name, argument))] = body[argument]
    return found


def check_names(tf: Terraform) -> list[str]:
    """Whatever the variables' checks let through fits every resource's naming rule, and
    the names AWS would refuse are refused at plan time."""
    problems = []
    for overrides in ACCEPTED:
        values = {**EXAMPLE, "alerts_lambda_package": PACKAGE, **overrides}
        refused = tf.rejections(values)
        if refused:
            problems.append(f"{overrides}: refused, but AWS would take it: {refused}")
        problems += [f"{overrides}: {p}" for p in name_problems(tf, values)]
    for overrides in REFUSED:
        values = {**EXAMPLE, "alerts_lambda_package": PACKAGE, **overrides}
        if not tf.rejections(values):
            problems.append(f"{overrides}: accepted at plan time, refused by AWS at apply")
    return problems


# -- the alert router ------------------------------------------------------------------------------


def check_reserved_concurrency_is_optional(tf: Terraform) -> list[str]:
    problems = []
    function = tf.resolve(tf.resource("aws_lambda_function", "alerts"))
    if function.get("reserved_concurrent_executions") is not None:
        problems.append(
            "reserved_concurrent_executions is set by default: AWS refuses it on accounts "
            "that cannot keep 100 executions unreserved"
        )
    values = {**EXAMPLE, "alerts_lambda_package": PACKAGE}
    for reserved, refused in ((None, False), (10, False), (1, True), (0, True)):
        got = bool(tf.rejections({**values, "alerts_lambda_reserved_concurrency": reserved}))
        if got != refused:
            problems.append(f"reserved concurrency {reserved}: refused={got}")
    if not tf.rejections(
        {**values, "alerts_lambda_reserved_concurrency": 3, "alerts_lambda_max_concurrency": 5}
    ):
        problems.append("a reservation below the event source's concurrency is accepted")
    return problems


def per_record_seconds(settings: AlertSettings) -> float:
    """The longest one alert can take to both destinations with every retry (defaults)."""
    attempts = settings.alert_http_max_attempts
    one = attempts * settings.alert_http_timeout_seconds + (attempts - 1) * JsonPoster().wait_max
    return 2 * min(one, settings.alert_http_max_seconds + settings.alert_http_timeout_seconds)


def check_alert_batch_fits_the_timeout(tf: Terraform) -> list[str]:
    mapping = tf.resolve(tf.resource("aws_lambda_event_source_mapping", "alerts"))
    timeout = tf.variables()["alerts_lambda_timeout_seconds"]["default"]
    settings = AlertSettings(_env_file=None)
    needed = mapping["batch_size"] * per_record_seconds(settings)
    needed += settings.alert_deadline_margin_seconds
    if needed > timeout:
        return [
            f"batch_size {mapping['batch_size']}: delivering a batch can take {needed:g} s, "
            f"the function times out at {timeout:g} s"
        ]
    return []


def check_router_decrypts_only_through_its_services(tf: Terraform) -> list[str]:
    problems = []
    for statement in tf.statements("alerts"):
        if "kms:Decrypt" in statement.actions and "aws_kms_key.main" in str(statement.resources):
            via = [c for c in statement.conditions if c["variable"] == "kms:ViaService"]
            if not via:
                problems.append(
                    f"{statement.sid}: kms:Decrypt on the stack's key without ViaService"
                )
    return problems


# -- the service -----------------------------------------------------------------------------------


def check_no_empty_environment_entry(tf: Terraform) -> list[str]:
    problems = []
    for label, values in (("defaults", {}), ("example", EXAMPLE)):
        container = tf.resolve(tf.locals["remediator_container"], variables=values)
        empty = [e["name"] for e in container["environment"] if e["value"] == ""]
        if empty:
            problems.append(
                f"{label}: empty environment values ECS drops (a diff on every plan): {empty}"
            )
        exports = tf.resolve(tf.outputs()["exports"]["value"], variables=values)
        if re.search(r"=$", exports, re.MULTILINE):
            problems.append(f"{label}: exports sets an empty variable")
    container = tf.resolve(tf.locals["remediator_container"], variables=EXAMPLE)
    env = {e["name"]: e["value"] for e in container["environment"]}
    if env.get("REMEDIATOR_NON_RETRYABLE_ERRORS") != "SchemaError,PermissionError":
        problems.append("a non-empty non_retryable_errors no longer reaches the task")
    return problems


_REF = re.compile(r"\b(data\.aws_\w+\.\w+|aws_\w+\.\w+|local\.\w+)")


def references(tf: Terraform) -> dict[str, set[str]]:
    """What each resource, data source and local refers to (depends_on included)."""
    graph: dict[str, set[str]] = {}
    for kind in ("resource", "data"):
        for type_, name, body in tf._labelled(kind):
            node = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
            graph[node] = set(_REF.findall(str(body)))
    for name, value in tf.locals.items():
        graph[f"local.{name}"] = set(_REF.findall(str(value)))
    return graph


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for ref in graph.get(node, set()):
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return seen


def check_role_policies_exist_before_use(tf: Terraform) -> list[str]:
    """Resources that make AWS act with a role (start tasks, poll a queue, run a function)
    wait for every policy of that role."""
    graph = references(tf)
    policies: dict[str, set[str]] = {}
    for type_ in ("aws_iam_role_policy", "aws_iam_role_policy_attachment"):
        for name, body in tf.resources(type_).items():
            [role] = _REF.findall(str(body["role"]))
            policies.setdefault(role, set()).add(f"{type_}.{name}")
    problems = []
    for type_ in ("aws_ecs_service", "aws_lambda_function", "aws_lambda_event_source_mapping"):
        for name in tf.resources(type_):
            reached = closure(graph, f"{type_}.{name}")
            for role in sorted(r for r in reached if r.startswith("aws_iam_role.")):
                missing = policies.get(role, set()) - reached
                if missing:
                    problems.append(f"{type_}.{name} may start before {sorted(missing)} exist")
    return problems


def check_task_settings_load(tf: Terraform) -> list[str]:
    """The task's environment is settings the service accepts, for values the variables allow
    (a slower trigger timeout needs a longer health silence: busy is not stuck)."""
    problems = []
    for overrides in (
        {},
        {"trigger_timeout_seconds": 60},
        {"trigger_timeout_seconds": 120, "lease_seconds": 600},
    ):
        values = {**EXAMPLE, **overrides}
        container = tf.resolve(tf.locals["remediator_container"], variables=values)
        fields = {
            e["name"].removeprefix("REMEDIATOR_").lower(): e["value"]
            for e in container["environment"]
            if e["name"].startswith("REMEDIATOR_") and "${" not in e["value"]
        }
        try:
            RemediatorSettings(**fields, _env_file=None)
        except SettingsError as exc:
            problems.append(f"{overrides}: the task would not start: {exc}")
    return problems


def check_replicas_and_thresholds(tf: Terraform) -> list[str]:
    values = {**EXAMPLE, "alerts_lambda_package": PACKAGE}
    problems = []
    for overrides in (
        {"min_replicas": 3, "max_replicas": 2},
        {"max_replicas": 0},
        {"scale_out_backlog": 0},
        {"scale_out_backlog": -5},
        {"signal_age_alarm_seconds": 0},
        {"job_failure_alarm_threshold": -1},
    ):
        if not tf.rejections({**values, **overrides}):
            problems.append(f"{overrides} is accepted")
    if tf.rejections({**values, "min_replicas": 2, "max_replicas": 2}):
        problems.append("min_replicas == max_replicas is refused")
    return problems


def check_security_group_takes_prefix_lists(tf: Terraform) -> list[str]:
    [egress] = tf.resource("aws_security_group", "remediator")["egress"]
    if egress.get("prefix_list_ids") != "${var.egress_prefix_list_ids}":
        return ["narrowed egress cannot reach the DynamoDB gateway endpoint's prefix list"]
    return []


# Fargate's task sizes, as AWS documents them (the strict layer's table, the same for RunTask).
FARGATE_SIZES = FARGATE_TASK_SIZES


def check_fargate_sizes_are_checked_at_plan(tf: Terraform) -> list[str]:
    """Plan accepts exactly the cpu/memory pairs Fargate runs: every documented pair, and
    around each, the sizes just off it."""
    values = {**EXAMPLE, "alerts_lambda_package": PACKAGE}
    memories = {m + d for sizes in FARGATE_SIZES.values() for m in sizes for d in (-512, 0)}
    problems = []
    for cpu in [128, 300, *FARGATE_SIZES, 32768]:
        for memory in sorted(memories | {256, 123904}):
            valid = memory in FARGATE_SIZES.get(cpu, set())
            refused = bool(tf.rejections({**values, "cpu": cpu, "memory": memory}))
            if refused == valid:
                verdict = "refused" if refused else "accepted"
                problems.append(f"cpu {cpu} with memory {memory}: {verdict} at plan")
    return problems[:10]


def check_service_waits_for_steady_state(tf: Terraform) -> list[str]:
    service = tf.resolve(tf.resource("aws_ecs_service", "remediator"))
    if service.get("wait_for_steady_state") is not True:
        return ["the apply does not wait for healthy tasks: a crash-looping service applies green"]
    return []


def check_lambda_trigger_allows_qualified_arns(tf: Terraform) -> list[str]:
    """LambdaTrigger takes name, name:alias and name:version; the policy must allow each."""
    function = "arn:aws:lambda:eu-west-1:123456789012:function:ingest-sales"
    values = {**EXAMPLE, "trigger_lambda_arns": [function]}
    statements = [s for s in tf.statements("task") if "lambda:InvokeFunction" in s.actions]
    granted = [
        arn
        for statement in statements
        for resource in statement.resources
        for arn in (lambda r: r if isinstance(r, list) else [r])(
            tf.resolve(resource, variables=values)
        )
    ]
    return [
        f"lambda:InvokeFunction is not granted on {target} (granted: {granted})"
        for target in (function, f"{function}:live", f"{function}:7")
        if not any(fnmatch.fnmatchcase(target, pattern) for pattern in granted)
    ]


def check_exports_survive_the_shell(tf: Terraform) -> list[str]:
    """`eval "$(terraform output -raw exports)"` gives every value whole, spaces and quotes
    included, as the pipelines must see them."""
    problems = []
    for namespace in ("Sales Pipelines", "O'Brien's \"jobs\" $HOME `id`", "plain"):
        values = {**EXAMPLE, "metrics_namespace": namespace, "region": "eu-west-1"}
        exports = tf.resolve(tf.outputs()["exports"]["value"], variables=values)
        # What only a plan knows (the table's name, the queue's URL): a plain word here.
        exports = re.sub(r"\$\{aws_[^}]*\}", "known-after-apply", exports)
        shell = subprocess.run(
            ["sh", "-c", 'eval "$1" && printf "%s" "$REMEDIATOR_METRICS_NAMESPACE"', "sh", exports],
            capture_output=True,
            text=True,
            check=False,
        )
        if shell.returncode != 0 or shell.stdout != namespace:
            problems.append(
                f"namespace {namespace!r} reads back as {shell.stdout!r} ({shell.stderr})"
            )
        for line in exports.splitlines():
            try:
                words = shlex.split(line)
            except ValueError as exc:
                words = [str(exc)]
            if len(words) != 2 or words[0] != "export":
                problems.append(f"{line!r} is not one export of one word")
    return problems


# -- the table's shard count ---------------------------------------------------------------------


def check_shard_count_is_never_rewritten(tf: Terraform) -> list[str]:
    """The META item is written once (ignore_changes), and a plan whose retry_shards differs
    from the count already in the table is refused, naming both: never a silent rewrite."""
    meta = tf.resource("aws_dynamodb_table_item", "meta")
    ignored = [
        i for lifecycle in meta.get("lifecycle", []) for i in lifecycle.get("ignore_changes", [])
    ]
    problems = []
    if "item" not in ignored and "${item}" not in ignored:
        problems.append("a retry_shards change rewrites the META item's shard count in place")
    values = {**EXAMPLE, "alerts_lambda_package": PACKAGE}
    in_table = tf.resolve(meta["item"], variables={**values, "retry_shards": 8})
    state = {"item": in_table, "table_name": "pipeline-audit"}
    for asked, refused in ((8, False), (4, True), (16, True)):
        failures = tf.postcondition_failures(
            "aws_dynamodb_table_item", "meta", state, {**values, "retry_shards": asked}
        )
        if bool(failures) != refused:
            problems.append(f"table with 8 shards, retry_shards {asked}: refused={bool(failures)}")
        if refused and not any(f"{asked}" in f and "8" in f for f in failures):
            problems.append(f"the refusal does not name both counts: {failures}")
    return problems


# -- queues and monitoring -------------------------------------------------------------------------


def check_dlqs_outlive_their_queues(tf: Terraform) -> list[str]:
    queues = tf.resolve(tf.resources("aws_sqs_queue"))
    problems = []
    for name, queue in queues.items():
        target = re.search(r"aws_sqs_queue\.(\w+)\.arn", str(queue.get("redrive_policy", "")))
        if not target:
            continue
        own = queue.get("message_retention_seconds", 345600)
        dlq = queues[target.group(1)].get("message_retention_seconds", 345600)
        if not dlq > own:
            problems.append(f"{name}: its DLQ keeps messages {dlq} s, the queue itself {own} s")
    return problems


def check_one_insights_query_per_widget(tf: Terraform) -> list[str]:
    dashboard = tf.resolve(tf.locals["dashboard"], variables={"region": "eu-west-1"})
    problems = []
    for widget in dashboard["widgets"]:
        metrics = widget["properties"].get("metrics", [])
        queries = [
            m
            for row in metrics
            for m in row
            if isinstance(m, dict)
            and str(m.get("expression", "")).lstrip().upper().startswith("SELECT")
        ]
        if queries and len(metrics) > 1:
            problems.append(
                f"{widget['properties']['title']!r}: {len(metrics)} queries in one graph"
            )
    return problems


def check_every_remediator_failure_metric_alarms(tf: Terraform) -> list[str]:
    alarmed = {
        q["expression"]
        for alarm in tf.resources("aws_cloudwatch_metric_alarm").values()
        for q in alarm.get("metric_query", [])
    }
    return [
        f"no alarm on {metric}"
        for metric in ("TriggerFailures", "TriggerUnrecorded", "RemediationExhausted")
        if f'${{local.insights["{metric}"]}}' not in alarmed or metric not in UNITS
    ]


def check_alarm_topic_key_is_documented(tf: Terraform) -> list[str]:
    description = tf.variables()["alarm_topic_arn"]["description"]
    if "cloudwatch.amazonaws.com" not in description:
        return ["alarm_topic_arn does not say its key must let CloudWatch use it"]
    return []


CHECKS: dict[str, Check] = {
    "names": check_names,
    "reserved_concurrency": check_reserved_concurrency_is_optional,
    "alert_batch": check_alert_batch_fits_the_timeout,
    "router_kms": check_router_decrypts_only_through_its_services,
    "empty_environment": check_no_empty_environment_entry,
    "role_policies_first": check_role_policies_exist_before_use,
    "replicas_thresholds": check_replicas_and_thresholds,
    "task_settings_load": check_task_settings_load,
    "egress_prefix_lists": check_security_group_takes_prefix_lists,
    "dlq_retention": check_dlqs_outlive_their_queues,
    "insights_per_widget": check_one_insights_query_per_widget,
    "alarms": check_every_remediator_failure_metric_alarms,
    "alarm_topic_key": check_alarm_topic_key_is_documented,
    "fargate_sizes": check_fargate_sizes_are_checked_at_plan,
    "meta_shards": check_shard_count_is_never_rewritten,
    "steady_state": check_service_waits_for_steady_state,
    "lambda_qualified": check_lambda_trigger_allows_qualified_arns,
    "exports_quoted": check_exports_survive_the_shell,
}


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_infra_terraform_passes(tf: Terraform, name: str):
    problems = CHECKS[name](tf)
    assert problems == [], "\n".join(problems)


# The defects as they were, written back into a scratch copy: (check, edits, expected text).
DEFECTS: dict[str, tuple[str, dict[str, list[tuple[str, str]]], str]] = {
    "retry_shards rewrites the META item in place (issue 22)": (
        "meta_shards",
        {"dynamodb.tf": [("    ignore_changes = [item]\n", "")]},
        "rewrites the META item's shard count in place",
    ),
    "a changed retry_shards is not refused (issue 22)": (
        "meta_shards",
        {
            "dynamodb.tf": [
                (
                    "jsondecode(self.item).shards.N == tostring(var.retry_shards)",
                    "true",
                )
            ]
        },
        "table with 8 shards, retry_shards 4: refused=False",
    ),
    "a name prefix starting with sg- (issue 22)": (
        "names",
        {"main.tf": [('!startswith(lower(local.base), "sg-")', "true")]},
        "{'name_prefix': 'sg-pipelines'}: accepted at plan time",
    ),
    "Fargate cpu/memory pairs unchecked (issue 22)": (
        "fargate_sizes",
        {
            "ecs.tf": [
                (
                    "contains(try(local.fargate_memory[tostring(var.cpu)], []), var.memory)",
                    "true",
                )
            ]
        },
        "cpu 256 with memory 4096: accepted at plan",
    ),
    "the service does not wait for steady state (issue 22)": (
        "steady_state",
        {"ecs.tf": [("  wait_for_steady_state = true\n", "")]},
        "a crash-looping service applies green",
    ),
    "InvokeFunction on unqualified ARNs only (issue 22)": (
        "lambda_qualified",
        {
            "iam.tf": [
                (
                    "resources = local.trigger_lambda_qualified_arns",
                    "resources = var.trigger_lambda_arns",
                )
            ]
        },
        "not granted on arn:aws:lambda:eu-west-1:123456789012:function:ingest-sales:live",
    ),
    "exports not shell-quoted (issue 22)": (
        "exports_quoted",
        {
            "outputs.tf": [
                ("export ${env.name}='${replace(", "export ${env.name}=${replace("),
                (""")}'" if env.value""", """)}" if env.value"""),
            ]
        },
        "namespace 'Sales Pipelines' reads back as 'Sales'",
    ),
    "table_name with a dot or too long for the role names (issue 11, 3)": (
        "names",
        {"main.tf": [('can(regex("^[A-Za-z0-9_-]{1,43}$", local.base))', "true")]},
        "accepted at plan time, refused by AWS at apply",
    ),
    "name_prefix not validated (3)": (
        "names",
        {
            "variables.tf": [
                (
                    'var.name_prefix == null || can(regex("^[A-Za-z0-9_-]{1,43}$", '
                    "var.name_prefix))",
                    "true",
                )
            ],
            "main.tf": [('can(regex("^[A-Za-z0-9_-]{1,43}$", local.base))', 'local.base != ""')],
        },
        "accepted at plan time",
    ),
    "reserved concurrency 5 by default (4)": (
        "reserved_concurrency",
        {
            "variables.tf": [
                (
                    "  default     = null\n\n  validation {\n    condition     = "
                    "var.alerts_lambda_reserved_concurrency == null",
                    "  default     = 5\n\n  validation {\n    condition     = "
                    "var.alerts_lambda_reserved_concurrency == null",
                )
            ]
        },
        "reserved_concurrent_executions is set by default",
    ),
    "several Metrics Insights queries in one widget (5)": (
        "insights_per_widget",
        {
            "monitoring.tf": [
                (
                    'metrics = [[{ id = "q", label = graph.label, expression = graph.query }]]',
                    'metrics = [[{ id = "q", label = graph.label, expression = graph.query }],'
                    ' [{ id = "m", label = "max", expression = graph.query }]]',
                )
            ]
        },
        "2 queries in one graph",
    ),
    "batch_size 10 with a 60 s timeout (7)": (
        "alert_batch",
        {"alerts_lambda.tf": [("alerts_batch_size    = 1", "alerts_batch_size    = 10")]},
        "batch_size 10",
    ),
    "an empty non_retryable_errors in the task's environment (8)": (
        "empty_environment",
        {"ecs.tf": [(' : env if env.value != ""', " : env")]},
        "empty environment values ECS drops",
    ),
    "the service starts before its roles' policies exist (9)": (
        "role_policies_first",
        {
            "ecs.tf": [
                ("  depends_on = [aws_iam_role_policy.task, aws_iam_role_policy.execution]\n", "")
            ]
        },
        "aws_ecs_service.remediator may start before",
    ),
    "the router decrypts with the key through any service": (
        "router_kms",
        {
            "alerts_lambda.tf": [
                (
                    '    condition {\n      test     = "StringEquals"\n      variable = '
                    '"kms:ViaService"\n      values = [\n        "sqs.${var.region}'
                    '.amazonaws.com",\n        "lambda.${var.region}.amazonaws.com",\n'
                    "      ]\n    }\n",
                    "",
                )
            ]
        },
        "without ViaService",
    ),
    "the alerts DLQ keeps messages no longer than its queue": (
        "dlq_retention",
        {
            "messaging.tf": [
                (
                    "  visibility_timeout_seconds = local.alerts_visibility_seconds\n"
                    "  message_retention_seconds  = local.queue_retention_seconds",
                    "  visibility_timeout_seconds = local.alerts_visibility_seconds\n"
                    "  message_retention_seconds  = local.dlq_retention_seconds",
                )
            ]
        },
        "alerts: its DLQ keeps messages 1209600 s, the queue itself 1209600 s",
    ),
    "max_replicas below min_replicas accepted": (
        "replicas_thresholds",
        {
            "ecs.tf": [
                ("condition     = var.max_replicas >= var.min_replicas", "condition     = true")
            ]
        },
        "{'min_replicas': 3, 'max_replicas': 2} is accepted",
    ),
    "a zero scale-out threshold accepted": (
        "replicas_thresholds",
        {"variables.tf": [("condition     = var.scale_out_backlog >= 1", "condition     = true")]},
        "{'scale_out_backlog': 0} is accepted",
    ),
    "egress without the gateway endpoints' prefix lists": (
        "egress_prefix_lists",
        {"ecs.tf": [("    prefix_list_ids = var.egress_prefix_list_ids\n", "")]},
        "prefix list",
    ),
    "a slow trigger timeout makes the task refuse its health silence (6)": (
        "task_settings_load",
        {
            "ecs.tf": [
                (
                    "value = tostring(max(90, 2 * var.trigger_timeout_seconds))",
                    'value = "90"',
                )
            ]
        },
        "the task would not start",
    ),
    "no alarm on TriggerUnrecorded": (
        "alarms",
        {
            "monitoring.tf": [
                (
                    'expression  = local.insights["TriggerUnrecorded"]',
                    'expression  = local.insights["TriggerFailures"]',
                )
            ]
        },
        "no alarm on TriggerUnrecorded",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_check_catches_its_defect_put_back(tmp_path: Path, defect: str):
    check, edits, expected = DEFECTS[defect]
    copy = Terraform.load(scratch_copy(tmp_path, edits))
    problems = CHECKS[check](copy)
    assert any(expected in p for p in problems), problems


def test_every_check_has_a_defect_put_back():
    assert {check for check, _, _ in DEFECTS.values()} == set(CHECKS) - {"alarm_topic_key"}
