# The alert router: EXHAUSTED, CIRCUIT_OPEN, DEADLINE_MISSED, TOO_SLOW and RECOVERED signals
# from the alerts queue to Slack and PagerDuty. Handler remediator.alerts.handler, partial batch responses.

locals {
  alerts_function_name = "${local.base}-alert-router"
  alerts_log_group     = "/aws/lambda/${local.alerts_function_name}"
  alerts_handler       = "remediator.alerts.handler"
  alerts_batch_size    = 1

  # Only the indirections are offered: a webhook URL or routing key in a plain environment
  # variable would be readable by anyone who may read the function's configuration.
  alerts_environment = merge(
    var.slack_webhook_ssm_parameter == null ? {} : {
      REMEDIATOR_SLACK_WEBHOOK_SSM_PARAMETER = var.slack_webhook_ssm_parameter
    },
    var.pagerduty_routing_key_secret_arn == null ? {} : {
      REMEDIATOR_PAGERDUTY_ROUTING_KEY_SECRET_ARN = var.pagerduty_routing_key_secret_arn
    },
  )

  slack_parameter_arn = var.slack_webhook_ssm_parameter == null ? null : "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter/${trimprefix(var.slack_webhook_ssm_parameter, "/")}"
}

resource "aws_cloudwatch_log_group" "alerts" {
  name              = local.alerts_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "alerts" {
  #checkov:skip=CKV_AWS_116:Failed records go back to the alerts queue (partial batch responses) and its redrive policy moves them to the alerts DLQ; a function DLQ only serves asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The router reads from SQS and posts to public HTTPS webhooks (Slack, PagerDuty); it touches nothing inside a VPC, and a VPC would only add a NAT gateway in its path.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signed-upload pipeline that this stack does not own; the package is built from the same locked sources as the container image.
  function_name                  = local.alerts_function_name
  description                    = "Routes remediator alerts to Slack and PagerDuty"
  role                           = aws_iam_role.alerts.arn
  runtime                        = "python3.11"
  handler                        = local.alerts_handler
  filename                       = var.alerts_lambda_package
  source_code_hash               = filebase64sha256(var.alerts_lambda_package)
  architectures                  = [var.alerts_lambda_architecture]
  timeout                        = var.alerts_lambda_timeout_seconds
  memory_size                    = var.alerts_lambda_memory_mb
  reserved_concurrent_executions = var.alerts_lambda_reserved_concurrency # null: none (see README)
  kms_key_arn                    = aws_kms_key.main.arn

  # The router makes no X-Ray segments of its own; PassThrough forwards an incoming trace
  # header without sampling (Active would need xray:Put* on "*").
  tracing_config {
    mode = "PassThrough"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.alerts.name
  }

  dynamic "environment" {
    for_each = length(local.alerts_environment) > 0 ? [1] : []
    content {
      variables = local.alerts_environment
    }
  }

  lifecycle {
    precondition {
      # Fewer reserved executions than the event source runs would throttle it, and each
      # throttled receive counts towards the alerts DLQ.
      condition     = var.alerts_lambda_reserved_concurrency == null || try(var.alerts_lambda_reserved_concurrency >= var.alerts_lambda_max_concurrency, false)
      error_message = "alerts_lambda_reserved_concurrency must be null or at least alerts_lambda_max_concurrency."
    }
  }

  depends_on = [aws_iam_role_policy.alerts]
}

resource "aws_lambda_event_source_mapping" "alerts" {
  event_source_arn = aws_sqs_queue.alerts.arn
  function_name    = aws_lambda_function.alerts.arn
  # One alert per invocation: delivering one to both destinations, every retry included,
  # can take about 40 s of the 60 s timeout. The router also stops before its deadline and
  # reports what it could not deliver, but an untried record still counts a receive.
  batch_size = local.alerts_batch_size
  # The handler reports failed records; only those come back, the rest are deleted.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.alerts_lambda_max_concurrency
  }
}

# -- its role -------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "alerts" {
  name               = local.alerts_function_name
  description        = "Alert router: read the alerts queue, read its destination secrets, write logs"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "alerts" {
  name   = "alert-router"
  role   = aws_iam_role.alerts.id
  policy = data.aws_iam_policy_document.alerts.json
}

data "aws_iam_policy_document" "alerts" {
  statement {
    # What the SQS event source mapping calls with the function's role.
    sid = "ReadAlertsQueue"
    actions = [
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
    ]
    resources = [aws_sqs_queue.alerts.arn]
  }

  statement {
    # The alerts queue and the function's environment are encrypted with the key; only
    # through those two services.
    sid       = "DecryptQueueAndEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sqs.${var.region}.amazonaws.com",
        "lambda.${var.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.alerts.arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = var.slack_webhook_ssm_parameter == null ? [] : [1]
    content {
      sid       = "ReadSlackWebhook"
      actions   = ["ssm:GetParameter"]
      resources = [local.slack_parameter_arn]
    }
  }

  dynamic "statement" {
    for_each = var.pagerduty_routing_key_secret_arn == null ? [] : [1]
    content {
      sid       = "ReadPagerDutyRoutingKey"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [var.pagerduty_routing_key_secret_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.alert_secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptDestinationSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.alert_secrets_kms_key_arns
    }
  }
}
