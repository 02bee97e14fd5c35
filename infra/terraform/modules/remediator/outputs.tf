# Every output is documented in README.md; tests/infra checks that the two agree.

output "table_name" {
  description = "Audit table name (REMEDIATOR_TABLE_NAME)."
  value       = aws_dynamodb_table.audit.name
}

output "table_arn" {
  description = "Audit table ARN."
  value       = aws_dynamodb_table.audit.arn
}

output "topic_arn" {
  description = "Signals topic ARN (REMEDIATOR_TOPIC_ARN), for pipelines and the remediator."
  value       = aws_sns_topic.signals.arn
}

output "signal_queue_url" {
  description = "URL of the queue the remediator polls (REMEDIATOR_QUEUE_URL)."
  value       = aws_sqs_queue.signals.url
}

output "signal_queue_arn" {
  description = "ARN of the queue the remediator polls."
  value       = aws_sqs_queue.signals.arn
}

output "signal_dlq_url" {
  description = "URL of the signal queue's dead-letter queue (malformed signals)."
  value       = aws_sqs_queue.signals_dlq.url
}

output "alerts_queue_url" {
  description = "URL of the alerts queue read by the alert router."
  value       = aws_sqs_queue.alerts.url
}

output "alerts_dlq_url" {
  description = "URL of the alerts queue's dead-letter queue (undeliverable alerts)."
  value       = aws_sqs_queue.alerts_dlq.url
}

output "kms_key_arn" {
  description = "ARN of the customer managed key encrypting the table, topic, queues and logs."
  value       = aws_kms_key.main.arn
}

output "cluster_name" {
  description = "ECS cluster running the remediator."
  value       = aws_ecs_cluster.main.name
}

output "service_name" {
  description = "ECS service of the remediator."
  value       = aws_ecs_service.remediator.name
}

output "task_role_arn" {
  description = "Role of the remediator task (what `remediator run` may call)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Role ECS uses to pull the image and write the task's logs."
  value       = aws_iam_role.execution.arn
}

output "producer_policy_arn" {
  description = "Managed policy to attach to pipeline roles that use the observability library with this stack."
  value       = aws_iam_policy.producer.arn
}

output "alerts_function_name" {
  description = "Name of the alert router Lambda function."
  value       = aws_lambda_function.alerts.function_name
}

output "log_group_name" {
  description = "Log group of the remediator (its JSON logs and EMF metrics)."
  value       = aws_cloudwatch_log_group.remediator.name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the stack."
  value       = aws_cloudwatch_dashboard.main.dashboard_name
}

output "exports" {
  description = "`export ...` lines of the settings pipelines and the CLI must share with the remediator (as `remediator bootstrap` prints them)."
  value = join("\n", concat(
    [for env in local.shared_environment : "export ${env.name}='${replace(env.value, "'", "'\\''")}'" if env.value != ""],
    ["export AWS_REGION='${replace(var.region, "'", "'\\''")}'"],
  ))
}
