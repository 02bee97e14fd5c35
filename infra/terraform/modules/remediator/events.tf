# AWS's own state changes on the signal queue: an ECS task the remediator started that
# stopped, a Batch job that failed, a Glue job run that ended, a Step Functions execution
# that started or ended. The remediator records a run that died without a word as FAILED at
# once (with its exit code and stop reason), and the runs of pipelines that do not import
# the library (`remediator policy set JOB --source glue:NAME|states:ARN`) as batches.

locals {
  # remediator.stack.rules.EVENT_PATTERNS: tests/infra fails when they drift apart.
  state_change_patterns = {
    ecs = jsonencode({
      source        = ["aws.ecs"]
      "detail-type" = ["ECS Task State Change"]
      detail        = { lastStatus = ["STOPPED"], startedBy = [{ prefix = "remediator-" }] }
    })
    batch = jsonencode({
      source        = ["aws.batch"]
      "detail-type" = ["Batch Job State Change"]
      detail        = { status = ["FAILED"] }
    })
    glue = jsonencode({
      source        = ["aws.glue"]
      "detail-type" = ["Glue Job State Change"]
      detail        = { state = ["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED"] }
    })
    states = jsonencode({
      source        = ["aws.states"]
      "detail-type" = ["Step Functions Execution Status Change"]
      detail        = { status = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] }
    })
  }
  # Built from their parts: the queue's and the key's policies name them.
  state_change_rule_arns = [
    for kind in keys(local.state_change_patterns) :
    "arn:${local.partition}:events:${var.region}:${local.account_id}:rule/${local.base}-${kind}-state-change"
  ]
}

resource "aws_cloudwatch_event_rule" "state_changes" {
  for_each      = local.state_change_patterns
  name          = "${local.base}-${each.key}-state-change"
  description   = "AWS ${each.key} state changes for the remediator"
  event_pattern = each.value
}

resource "aws_cloudwatch_event_target" "state_changes" {
  for_each  = aws_cloudwatch_event_rule.state_changes
  rule      = each.value.name
  target_id = "signal-queue"
  arn       = aws_sqs_queue.signals.arn
}
