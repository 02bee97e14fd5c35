# Shared lookups and names. The names are the ones `remediator bootstrap` creates
# (remediator.stack.provision.names_for), so a bootstrapped dev stack and this one look alike.

data "aws_caller_identity" "current" {
  lifecycle {
    # Checked on the first thing every plan reads: every resource name starts with local.base.
    precondition {
      condition     = can(regex("^[A-Za-z0-9_-]{1,43}$", local.base))
      error_message = "\"${local.base}\" cannot prefix the other resource names (at most 43 characters of A-Z a-z 0-9 _ -): set name_prefix, which table_name stands in for when null."
    }
    precondition {
      # The security group is named <base>-remediator-...; EC2 refuses a name starting with sg-.
      condition     = !startswith(lower(local.base), "sg-")
      error_message = "\"${local.base}\" starts with sg-, which EC2 refuses in a security group name: set name_prefix (table_name stands in for it when null) to something else."
    }
  }
}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  base = coalesce(var.name_prefix, var.table_name)
  names = {
    topic      = "${local.base}-signals"
    queue      = "${local.base}-remediator"
    dlq        = "${local.base}-remediator-dlq"
    alerts     = "${local.base}-alerts"
    alerts_dlq = "${local.base}-alerts-dlq"
  }

  # Built from its parts, not read from the topic: the key policy that encrypts the topic
  # must name it before the topic exists.
  topic_arn = "arn:${local.partition}:sns:${var.region}:${local.account_id}:${local.names.topic}"

  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}
