# Roles of the remediator task, least privilege: only the calls the code makes
# (tests/infra records them against a moto server and compares), only on these resources.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    # Only tasks of this account may assume the role (confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:*"]
    }
  }
}

# -- task role: what `remediator run` calls ------------------------------------------------

locals {
  # The executions of the trigger state machines (of a version or alias too: its executions
  # are named under the state machine).
  # LambdaTrigger accepts name:alias and name:version: an unqualified ARN in a policy grants
  # only the unqualified function, so each is granted with its qualifiers too.
  trigger_lambda_qualified_arns = [for arn in var.trigger_lambda_arns : "${arn}:*"]

  trigger_execution_arns = [
    for arn in var.trigger_state_machine_arns :
    "${join(":", slice(split(":", replace(arn, ":stateMachine:", ":execution:")), 0, 7))}:*"
  ]
  # The executions of the opted-in state machines (events.tf), redriven where they failed.
  source_execution_arns = [
    for arn in var.source_state_machine_arns :
    "${join(":", slice(split(":", replace(arn, ":stateMachine:", ":execution:")), 0, 7))}:*"
  ]
}

resource "aws_iam_role" "task" {
  name               = "${local.base}-remediator-task"
  description        = "remediator run: audit table, signals topic and queue, re-trigger targets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task" {
  name   = "remediator"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

data "aws_iam_policy_document" "task" {
  statement {
    # Claims and leases (UpdateItem), transitions with their events (TransactWriteItems of
    # Put and Update items), breaker and budget items, the state of one batch. The service
    # reads batches by key; it queries the due index, and the table only for the stored
    # bulk operations (below).
    sid = "AuditTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.audit.arn]
  }

  statement {
    sid       = "SweepDueIndex"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.audit.arn}/index/${local.due_index}"]
  }

  statement {
    # Bulk replays stored in the table: the list of operations (one Query of the OPS
    # partition) and the items of each operation's batches in flight (BatchGetItem).
    sid       = "StoredOperations"
    actions   = ["dynamodb:Query", "dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.audit.arn]
  }

  statement {
    # EXHAUSTED, CIRCUIT_OPEN, DEADLINE_MISSED, TOO_SLOW and RECOVERED alerts go out on the
    # same topic.
    sid       = "PublishSignals"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.signals.arn]
  }

  statement {
    # The batch calls (DeleteMessageBatch, ChangeMessageVisibilityBatch) are authorised
    # by the single-message actions.
    sid = "ConsumeSignals"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:ReceiveMessage",
    ]
    resources = [aws_sqs_queue.signals.arn]
  }

  statement {
    # The table, topic and queue are encrypted with the key; only through those services.
    sid       = "UseKeyThroughTableTopicQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "dynamodb.${var.region}.amazonaws.com",
        "sns.${var.region}.amazonaws.com",
        "sqs.${var.region}.amazonaws.com",
      ]
    }
  }

  # Re-trigger targets: each statement exists only when its list is not empty.

  dynamic "statement" {
    for_each = length(var.trigger_queue_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerSqs"
      actions   = ["sqs:SendMessage"]
      resources = var.trigger_queue_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_lambda_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerLambda"
      actions   = ["lambda:InvokeFunction"]
      resources = var.trigger_lambda_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_lambda_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerLambdaVersionsAndAliases"
      actions   = ["lambda:InvokeFunction"]
      resources = local.trigger_lambda_qualified_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_state_machine_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerStepFunctions"
      actions   = ["states:StartExecution"]
      resources = var.trigger_state_machine_arns
    }
  }

  # ExecutionAlreadyExists: is the execution holding the name this attempt's (same input)?
  dynamic "statement" {
    for_each = length(var.trigger_state_machine_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerStepFunctionsExecutions"
      actions   = ["states:DescribeExecution"]
      resources = local.trigger_execution_arns
    }
  }

  # Pipelines that do not import the library (events.tf): their runs read and re-run.
  dynamic "statement" {
    for_each = length(var.source_glue_job_arns) > 0 ? [1] : []
    content {
      sid       = "SourceGlueJobRuns"
      actions   = ["glue:GetJobRun", "glue:StartJobRun"]
      resources = var.source_glue_job_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.source_state_machine_arns) > 0 ? [1] : []
    content {
      sid       = "SourceStateMachines"
      actions   = ["states:StartExecution"]
      resources = var.source_state_machine_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.source_state_machine_arns) > 0 ? [1] : []
    content {
      sid       = "SourceExecutions"
      actions   = ["states:RedriveExecution", "states:DescribeExecution"]
      resources = local.source_execution_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_event_bus_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerEventBridge"
      actions   = ["events:PutEvents"]
      resources = var.trigger_event_bus_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_ecs_task_definition_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerEcsTask"
      actions   = ["ecs:RunTask"]
      resources = var.trigger_ecs_task_definition_arns
      dynamic "condition" {
        for_each = length(var.trigger_ecs_cluster_arns) > 0 ? [1] : []
        content {
          test     = "ArnEquals"
          variable = "ecs:cluster"
          values   = var.trigger_ecs_cluster_arns
        }
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_pass_role_arns) > 0 ? [1] : []
    content {
      # RunTask hands the triggered task its roles; only to ECS tasks.
      sid       = "TriggerEcsPassRole"
      actions   = ["iam:PassRole"]
      resources = var.trigger_pass_role_arns
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ecs-tasks.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_glue_job_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerGlueJob"
      actions   = ["glue:StartJobRun"]
      resources = var.trigger_glue_job_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_emr_application_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerEmrServerless"
      actions   = ["emr-serverless:StartJobRun"]
      resources = var.trigger_emr_application_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_emr_execution_role_arns) > 0 ? [1] : []
    content {
      # StartJobRun hands the job run its execution role; only to EMR Serverless.
      sid       = "TriggerEmrServerlessPassRole"
      actions   = ["iam:PassRole"]
      resources = var.trigger_emr_execution_role_arns
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["emr-serverless.amazonaws.com"]
      }
    }
  }

  # SubmitJob is authorised on the job queue and on the job definition alike.
  dynamic "statement" {
    for_each = length(var.trigger_batch_job_queue_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerBatchJobQueue"
      actions   = ["batch:SubmitJob"]
      resources = var.trigger_batch_job_queue_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_batch_job_definition_arns) > 0 ? [1] : []
    content {
      sid       = "TriggerBatchJobDefinition"
      actions   = ["batch:SubmitJob"]
      resources = var.trigger_batch_job_definition_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_assume_role_arns) > 0 ? [1] : []
    content {
      # Targets in other accounts: only the roles listed; their trust policies name this
      # role and, where they ask for one, the external id the trigger sends.
      sid       = "AssumeTargetRoles"
      actions   = ["sts:AssumeRole"]
      resources = var.trigger_assume_role_arns
    }
  }

  dynamic "statement" {
    for_each = var.trace_collector_image == null ? [] : [1]
    content {
      # The collector sidecar sends the remediator's spans to X-Ray with the task role.
      # These actions have no resource-level permissions: AWS requires "*".
      sid       = "SendTracesToXRay"
      actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.trigger_kms_key_arns) > 0 ? [1] : []
    content {
      # Sending to an SSE-KMS queue (or bus target) needs both.
      sid       = "TriggerTargetKeys"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = var.trigger_kms_key_arns
    }
  }
}

# -- execution role: what ECS itself needs to start the task --------------------------------

resource "aws_iam_role" "execution" {
  name               = "${local.base}-remediator-execution"
  description        = "ECS agent: pull the remediator image, write its logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "remediator-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.remediator.arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [1]
    content {
      sid = "PullImage"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
      ]
      resources = [var.ecr_repository_arn]
    }
  }

  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [1]
    content {
      # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
      sid       = "LogInToEcr"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }
}

# -- for the pipelines: what the producer library (observability) calls -----------------------

resource "aws_iam_policy" "producer" {
  name        = "${local.base}-producer"
  description = "Attach to pipeline roles that use the observability library with this table and topic"
  policy      = data.aws_iam_policy_document.producer.json
}

data "aws_iam_policy_document" "producer" {
  statement {
    # batch() writes STARTED/SUCCESS/FAILED with their events; pending() reads states;
    # history() and status queries read one partition.
    sid = "AuditTable"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.audit.arn]
  }

  statement {
    sid       = "PublishSignals"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.signals.arn]
  }

  statement {
    sid       = "UseKeyThroughTableTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "dynamodb.${var.region}.amazonaws.com",
        "sns.${var.region}.amazonaws.com",
      ]
    }
  }
}
