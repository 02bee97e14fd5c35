# One customer managed key for everything at rest here: the table, the topic, the queues,
# the log groups and the alert router's environment.

resource "aws_kms_key" "main" {
  description             = "self-healing pipelines ${local.base}: audit table, signals, queues, logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.base}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; the account-root statement is what lets IAM policies (the task and Lambda roles) grant use of the key.
  #checkov:skip=CKV_AWS_111:Same as CKV_AWS_109: "*" in a key policy is the key itself, not every resource.
  #checkov:skip=CKV_AWS_356:Key policies must use Resource "*" (it refers to the key the policy is attached to).
  statement {
    sid     = "AccountAdministersTheKeyThroughIam"
    actions = ["kms:*"]
    # A key policy's resource is always "*", meaning this key.
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    # SNS encrypts what it delivers into the KMS-encrypted queues with this key.
    sid       = "TopicDeliversToEncryptedQueues"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.topic_arn]
    }
  }

  statement {
    # EventBridge encrypts the state changes it delivers into the signal queue (events.tf).
    sid       = "RulesDeliverToEncryptedQueue"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
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

  statement {
    sid       = "CloudWatchLogsEncryptsTheLogGroups"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.remediator_log_group}",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.alerts_log_group}",
      ]
    }
  }
}
