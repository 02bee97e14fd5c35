# The module's outputs, passed through (tests/infra checks that none is missing).

output "table_name" {
  description = "Audit table name (REMEDIATOR_TABLE_NAME)."
  value       = module.remediator.table_name
}

output "table_arn" {
  description = "Audit table ARN."
  value       = module.remediator.table_arn
}

output "topic_arn" {
  description = "Signals topic ARN (REMEDIATOR_TOPIC_ARN), for pipelines and the remediator."
  value       = module.remediator.topic_arn
}

output "signal_queue_url" {
  description = "URL of the queue the remediator polls (REMEDIATOR_QUEUE_URL)."
  value       = module.remediator.signal_queue_url
}

output "signal_queue_arn" {
  description = "ARN of the queue the remediator polls."
  value       = module.remediator.signal_queue_arn
}

output "signal_dlq_url" {
  description = "URL of the signal queue's dead-letter queue (malformed signals)."
  value       = module.remediator.signal_dlq_url
}

output "alerts_queue_url" {
  description = "URL of the alerts queue read by the alert router."
  value       = module.remediator.alerts_queue_url
}

output "alerts_dlq_url" {
  description = "URL of the alerts queue's dead-letter queue (undeliverable alerts)."
  value       = module.remediator.alerts_dlq_url
}

output "kms_key_arn" {
  description = "ARN of the customer managed key encrypting the table, topic, queues and logs."
  value       = module.remediator.kms_key_arn
}

output "cluster_name" {
  description = "ECS cluster running the remediator."
  value       = module.remediator.cluster_name
}

output "service_name" {
  description = "ECS service of the remediator."
  value       = module.remediator.service_name
}

output "task_role_arn" {
  description = "Role of the remediator task (what `remediator run` may call)."
  value       = module.remediator.task_role_arn
}

output "execution_role_arn" {
  description = "Role ECS uses to pull the image and write the task's logs."
  value       = module.remediator.execution_role_arn
}

output "producer_policy_arn" {
  description = "Managed policy to attach to pipeline roles that use the observability library with this stack."
  value       = module.remediator.producer_policy_arn
}

output "alerts_function_name" {
  description = "Name of the alert router Lambda function."
  value       = module.remediator.alerts_function_name
}

output "log_group_name" {
  description = "Log group of the remediator (its JSON logs and EMF metrics)."
  value       = module.remediator.log_group_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the stack."
  value       = module.remediator.dashboard_name
}

output "exports" {
  description = "`export ...` lines of the settings pipelines and the CLI must share with the remediator (as `remediator bootstrap` prints them)."
  value       = module.remediator.exports
}
