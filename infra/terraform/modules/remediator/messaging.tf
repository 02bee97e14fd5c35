# The topic every transition screams on, the remediator's signal queue and the alerts queue,
# each with a dead-letter queue: what `remediator bootstrap` creates, encrypted with the key.

locals {
  # remediator.stack.provision: SIGNAL_FILTER, ALERT_FILTER, DLQ_MAX_RECEIVE_COUNT and the
  # visibility timeouts. tests/infra fails when they drift apart.
  signal_filter_policy      = { event = ["FAILED"] }
  alert_filter_policy       = { event = ["EXHAUSTED", "RECOVERED", "CIRCUIT_OPEN", "DEADLINE_MISSED", "TOO_SLOW"] }
  dlq_max_receive_count     = 5
  signal_visibility_seconds = 120
  alerts_visibility_seconds = 360
  signal_wait_seconds       = 20
  # A dead-lettered message keeps its first enqueue time, so a DLQ must keep messages longer
  # than its source queue, or what waited there expires soon after it is dead-lettered.
  queue_retention_seconds = 345600  # 4 days
  dlq_retention_seconds   = 1209600 # 14 days, SQS's maximum
}

resource "aws_sns_topic" "signals" {
  name              = local.names.topic
  kms_master_key_id = aws_kms_key.main.arn
}

# -- the remediator's queue ------------------------------------------------------------------

resource "aws_sqs_queue" "signals_dlq" {
  name                      = local.names.dlq
  message_retention_seconds = local.dlq_retention_seconds
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "signals" {
  name                       = local.names.queue
  visibility_timeout_seconds = local.signal_visibility_seconds
  receive_wait_time_seconds  = local.signal_wait_seconds
  message_retention_seconds  = local.queue_retention_seconds
  kms_master_key_id          = aws_kms_key.main.arn

  # Malformed signals are left undeleted and end up here after five receives.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.signals_dlq.arn
    maxReceiveCount     = local.dlq_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "signals_dlq" {
  queue_url = aws_sqs_queue.signals_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.signals.arn]
  })
}

resource "aws_sqs_queue_policy" "signals" {
  queue_url = aws_sqs_queue.signals.id
  policy    = data.aws_iam_policy_document.signals_queue.json
}

data "aws_iam_policy_document" "signals_queue" {
  statement {
    sid       = "TopicSendsSignals"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.signals.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.signals.arn]
    }
  }

  statement {
    # events.tf: the rules of AWS's state changes deliver to the same queue.
    sid       = "RulesSendStateChanges"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.signals.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.state_change_rule_arns
    }
  }
}

resource "aws_sns_topic_subscription" "signals" {
  topic_arn            = aws_sns_topic.signals.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.signals.arn
  raw_message_delivery = true
  filter_policy        = jsonencode(local.signal_filter_policy)
  filter_policy_scope  = "MessageAttributes"

  # The queue policy must exist first, or the first signals are refused.
  depends_on = [aws_sqs_queue_policy.signals]
}

# -- the alerts queue (read by the alert router Lambda) ---------------------------------------

resource "aws_sqs_queue" "alerts_dlq" {
  name                      = local.names.alerts_dlq
  message_retention_seconds = local.dlq_retention_seconds
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "alerts" {
  name = local.names.alerts
  # Six times the router's timeout, as Lambda event sources want.
  visibility_timeout_seconds = local.alerts_visibility_seconds
  message_retention_seconds  = local.queue_retention_seconds
  kms_master_key_id          = aws_kms_key.main.arn

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.alerts_dlq.arn
    maxReceiveCount     = local.dlq_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "alerts_dlq" {
  queue_url = aws_sqs_queue.alerts_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.alerts.arn]
  })
}

resource "aws_sqs_queue_policy" "alerts" {
  queue_url = aws_sqs_queue.alerts.id
  policy    = data.aws_iam_policy_document.alerts_queue.json
}

data "aws_iam_policy_document" "alerts_queue" {
  statement {
    sid       = "TopicSendsAlerts"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.signals.arn]
    }
  }
}

resource "aws_sns_topic_subscription" "alerts" {
  topic_arn            = aws_sns_topic.signals.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.alerts.arn
  raw_message_delivery = true
  filter_policy        = jsonencode(local.alert_filter_policy)
  filter_policy_scope  = "MessageAttributes"

  depends_on = [aws_sqs_queue_policy.alerts]
}
