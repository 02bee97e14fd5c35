# Alarms and a dashboard. The job and remediation metrics are EMF lines that CloudWatch Logs
# extracts from the pipelines' and the remediator's logs, one series per JobId; Metrics
# Insights sums them over every job, so a new job needs no new alarm.

locals {
  # SUM of one EMF metric over every JobId series of the namespace.
  insights = {
    JobStarted           = "SELECT SUM(JobStarted) FROM \"${var.metrics_namespace}\""
    JobSuccess           = "SELECT SUM(JobSuccess) FROM \"${var.metrics_namespace}\""
    JobFailureCount      = "SELECT SUM(JobFailureCount) FROM \"${var.metrics_namespace}\""
    RemediationTriggered = "SELECT SUM(RemediationTriggered) FROM \"${var.metrics_namespace}\""
    RemediationExhausted = "SELECT SUM(RemediationExhausted) FROM \"${var.metrics_namespace}\""
    ClaimConflicts       = "SELECT SUM(ClaimConflicts) FROM \"${var.metrics_namespace}\""
    TriggerFailures      = "SELECT SUM(TriggerFailures) FROM \"${var.metrics_namespace}\""
    TriggerUnrecorded    = "SELECT SUM(TriggerUnrecorded) FROM \"${var.metrics_namespace}\""
    BatchesLate          = "SELECT SUM(BatchesLate) FROM \"${var.metrics_namespace}\""
    TooSlow              = "SELECT SUM(TooSlow) FROM \"${var.metrics_namespace}\""
  }
}

# -- alarms ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "job_failures" {
  alarm_name          = "${local.base}-job-failures"
  alarm_description   = "Batches failed (JobFailureCount over all jobs); the remediator retries them, this says how often."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.job_failure_alarm_threshold
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "failures"
    label       = "JobFailureCount, all jobs"
    expression  = local.insights["JobFailureCount"]
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "remediation_exhausted" {
  alarm_name          = "${local.base}-remediation-exhausted"
  alarm_description   = "A batch used up its attempts (or cannot be retried) and waits for a person: fix the cause, then `remediator replay`."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "exhausted"
    label       = "RemediationExhausted, all jobs"
    expression  = local.insights["RemediationExhausted"]
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "trigger_failures" {
  alarm_name          = "${local.base}-trigger-failures"
  alarm_description   = "Re-triggers failed (target down, or AccessDenied: a target missing from the trigger_* variables); they are retried with backoff."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "trigger_failures"
    label       = "TriggerFailures, all jobs"
    expression  = local.insights["TriggerFailures"]
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "trigger_unrecorded" {
  alarm_name          = "${local.base}-trigger-unrecorded"
  alarm_description   = "A re-trigger went out but the audit table refused its record (throttling, an outage): the replica keeps retrying it; if it dies first, the attempt may be sent twice."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "trigger_unrecorded"
    label       = "TriggerUnrecorded, all jobs"
    expression  = local.insights["TriggerUnrecorded"]
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "batches_late" {
  alarm_name          = "${local.base}-batches-late"
  alarm_description   = "An expected batch (a job's calendar: remediator schedule show JOB) is past its deadline and not done; the remediator ran those that never started through the job's default trigger."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "late"
    label       = "BatchesLate, all jobs"
    expression  = local.insights["BatchesLate"]
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "signals_dlq" {
  alarm_name          = "${local.base}-signals-dlq-not-empty"
  alarm_description   = "Signals the remediator could not parse were dead-lettered: inspect the signal DLQ."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.signals_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "alerts_dlq" {
  alarm_name          = "${local.base}-alerts-dlq-not-empty"
  alarm_description   = "Alerts the router could not deliver were dead-lettered: nobody was told about them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.alerts_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "signal_age" {
  alarm_name          = "${local.base}-signals-waiting"
  alarm_description   = "The oldest failure signal has waited too long: the remediator is down, stuck or too few."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.signals.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.signal_age_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "alert_router_errors" {
  alarm_name          = "${local.base}-alert-router-errors"
  alarm_description   = "The alert router failed whole invocations (bad configuration, timeouts)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.alerts.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# -- dashboard ------------------------------------------------------------------------------

locals {
  # CloudWatch runs one Metrics Insights query per graph: each query gets a widget of its own.
  dashboard_queries = [
    { title = "Batches started", label = "JobStarted", query = local.insights["JobStarted"] },
    { title = "Batches succeeded", label = "JobSuccess", query = local.insights["JobSuccess"] },
    { title = "Batches failed", label = "JobFailureCount", query = local.insights["JobFailureCount"] },
    { title = "Re-triggered", label = "RemediationTriggered", query = local.insights["RemediationTriggered"] },
    { title = "Exhausted (waiting for a person)", label = "RemediationExhausted", query = local.insights["RemediationExhausted"] },
    { title = "Lost claim races", label = "ClaimConflicts", query = local.insights["ClaimConflicts"] },
    { title = "Failed re-triggers", label = "TriggerFailures", query = local.insights["TriggerFailures"] },
    { title = "Re-triggers not yet recorded", label = "TriggerUnrecorded", query = local.insights["TriggerUnrecorded"] },
    { title = "Time to recovery, average (s)", label = "TimeToRecoverySeconds avg", query = "SELECT AVG(TimeToRecoverySeconds) FROM \"${var.metrics_namespace}\"" },
    { title = "Time to recovery, maximum (s)", label = "TimeToRecoverySeconds max", query = "SELECT MAX(TimeToRecoverySeconds) FROM \"${var.metrics_namespace}\"" },
    { title = "Expected batches late, most in one job", label = "BatchesLate max", query = "SELECT MAX(BatchesLate) FROM \"${var.metrics_namespace}\"" },
    { title = "Freshness lag, worst job (s)", label = "FreshnessLagSeconds max", query = "SELECT MAX(FreshnessLagSeconds) FROM \"${var.metrics_namespace}\"" },
    { title = "Runs past max_run_seconds", label = "TooSlow", query = local.insights["TooSlow"] },
  ]

  dashboard = {
    widgets = concat(
      [
        for index, graph in local.dashboard_queries : {
          type   = "metric"
          x      = (index % 3) * 8
          y      = floor(index / 3) * 6
          width  = 8
          height = 6
          properties = {
            title   = graph.title
            view    = "timeSeries"
            region  = var.region
            period  = 300
            metrics = [[{ id = "q", label = graph.label, expression = graph.query }]]
          }
        }
      ],
      [
        {
          type   = "metric"
          x      = 0
          y      = 24
          width  = 24
          height = 6
          properties = {
            title  = "Queue depths (visible messages)"
            view   = "timeSeries"
            region = var.region
            stat   = "Maximum"
            period = 60
            metrics = [
              ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.signals.name, { label = "signals" }],
              ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.signals_dlq.name, { label = "signals DLQ" }],
              ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.alerts.name, { label = "alerts" }],
              ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.alerts_dlq.name, { label = "alerts DLQ" }],
            ]
          }
        },
      ],
    )
  }
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = "${local.base}-self-healing"
  dashboard_body = jsonencode(local.dashboard)
}
