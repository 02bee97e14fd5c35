# Every variable is documented in README.md; tests/infra checks that the two agree.
# Tags: set default_tags on the caller's provider (examples/complete does).

# -- where and what ------------------------------------------------------------------------

variable "region" {
  description = "AWS region of every resource (also passed to the containers as AWS_REGION)."
  type        = string
}

variable "table_name" {
  description = "Audit table name (REMEDIATOR_TABLE_NAME); also the prefix of the other resource names unless name_prefix is set, and then at most 43 characters of A-Z a-z 0-9 _ -."
  type        = string
  default     = "pipeline-audit"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3 to 255 characters of A-Z a-z 0-9 _ . - (DynamoDB's rule, which the settings enforce too)."
  }
}

variable "name_prefix" {
  description = "Prefix of the topic, queue, function, cluster, role, alarm and dashboard names: 1 to 43 characters of A-Z a-z 0-9 _ - (the longest IAM role name, <prefix>-remediator-execution, must fit in 64). Null uses table_name (as `remediator bootstrap` does)."
  type        = string
  default     = null

  validation {
    # SQS, SNS, Lambda, ECS, KMS alias and dashboard names allow only these characters.
    condition     = var.name_prefix == null || can(regex("^[A-Za-z0-9_-]{1,43}$", var.name_prefix))
    error_message = "name_prefix must be 1 to 43 characters of A-Z a-z 0-9 _ - (queue, topic and function names allow nothing else; IAM role names stop at 64)."
  }
}

variable "kms_deletion_window_days" {
  description = "Days a deleted KMS key waits before it is destroyed (7 to 30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "deletion_protection" {
  description = "Protect the audit table from deletion (turn off only to tear a test stack down)."
  type        = bool
  default     = true
}

# -- the remediator service ----------------------------------------------------------------

variable "image" {
  description = "Container image of the remediator (built from the repository's Dockerfile), ideally pinned by digest."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository holding the image; when set, the execution role may pull from it. Null for a public registry."
  type        = string
  default     = null
}

variable "cpu_architecture" {
  description = "CPU architecture of the Fargate task: X86_64 or ARM64 (must match the image)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "cpu" {
  description = "Fargate task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384 (256 = 0.25 vCPU)."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of Fargate's 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB, one of the sizes Fargate pairs with the chosen cpu (256: 512, 1024 or 2048; 512: 1024 to 4096; 1024: 2048 to 8192; 2048: 4096 to 16384; 4096: 8192 to 30720, by 1024; 8192: 16384 to 61440 by 4096; 16384: 32768 to 122880 by 8192)."
  type        = number
  default     = 512
}

variable "vpc_id" {
  description = "VPC of the service's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the Fargate tasks (private subnets with a NAT gateway or VPC endpoints for DynamoDB, SNS, SQS, KMS, CloudWatch Logs, ECR and the trigger targets)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "assign_public_ip" {
  description = "Give the tasks a public IP (only for public subnets without a NAT gateway)."
  type        = bool
  default     = false
}

variable "egress_cidr_blocks" {
  description = "Where the tasks may open HTTPS connections (AWS API endpoints); narrow it when VPC endpoints are used (then add the gateway endpoints' prefix lists to egress_prefix_list_ids)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.egress_cidr_blocks) > 0
    error_message = "egress_cidr_blocks must name at least one range: SNS, SQS, KMS, CloudWatch Logs and ECR are reached over HTTPS."
  }
}

variable "egress_prefix_list_ids" {
  description = "Prefix lists the tasks may also reach over HTTPS: with egress_cidr_blocks narrowed, the DynamoDB gateway endpoint's (and S3's, which serves ECR image layers), e.g. aws_vpc_endpoint.dynamodb.prefix_list_id."
  type        = list(string)
  default     = []
}

variable "min_replicas" {
  description = "Fewest running remediator tasks; at least 1, since the sweep of due retries runs in the service."
  type        = number
  default     = 1

  validation {
    condition     = var.min_replicas >= 1
    error_message = "min_replicas must be at least 1: with no task, due retries are never swept."
  }
}

variable "max_replicas" {
  description = "Most running remediator tasks under a signal backlog; at least min_replicas."
  type        = number
  default     = 4

  validation {
    condition     = var.max_replicas >= 1 && floor(var.max_replicas) == var.max_replicas
    error_message = "max_replicas must be a whole number, at least 1."
  }
}

variable "scale_out_backlog" {
  description = "Visible messages on the signal queue at which one more task is started (two more at four times this)."
  type        = number
  default     = 100

  validation {
    # 0 would scale out on an empty queue, and the scale-in alarm fires at 0: they would fight.
    condition     = var.scale_out_backlog >= 1
    error_message = "scale_out_backlog must be at least 1 message."
  }
}

variable "log_retention_days" {
  description = "Retention of the remediator's and the alert router's log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts."
  }
}

variable "trace_collector_image" {
  description = "Image of an AWS Distro for OpenTelemetry collector run beside the remediator, which sends its spans to X-Ray (e.g. public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3, ideally by digest). Null: no sidecar, no spans exported."
  type        = string
  default     = null

  validation {
    condition     = var.trace_collector_image == null || !endswith(coalesce(var.trace_collector_image, "-"), ":latest")
    error_message = "trace_collector_image must name a version (or a digest), not :latest."
  }
}

variable "log_max_buffer_size" {
  description = "Buffer of the awslogs driver in non-blocking mode: logs beyond it are dropped rather than blocking the service."
  type        = string
  default     = "25m"
}

variable "health_port" {
  description = "Port of GET /healthz inside the task (REMEDIATOR_HEALTH_PORT); the container health check calls it on 127.0.0.1."
  type        = number
  default     = 8080

  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535
    error_message = "health_port must be 1 to 65535 (0 would turn off the endpoint the health check needs)."
  }
}

# -- remediator settings (REMEDIATOR_* variables; defaults equal the code's) ----------------

variable "max_attempts" {
  description = "REMEDIATOR_MAX_ATTEMPTS: total attempts per batch, first run included."
  type        = number
  default     = 3
}

variable "backoff_base_seconds" {
  description = "REMEDIATOR_BACKOFF_BASE_SECONDS: bound of the first retry delay."
  type        = number
  default     = 60
}

variable "backoff_max_seconds" {
  description = "REMEDIATOR_BACKOFF_MAX_SECONDS: cap on any retry delay."
  type        = number
  default     = 3600
}

variable "heartbeat_seconds" {
  description = "REMEDIATOR_HEARTBEAT_SECONDS: interval of a running batch's automatic heartbeat (0: off, and runs are stale after an hour)."
  type        = number
  default     = 60
}

variable "stale_after_seconds" {
  description = "REMEDIATOR_STALE_AFTER_SECONDS: a STARTED run without a heartbeat this long is stale (three heartbeat intervals)."
  type        = number
  default     = 180
}

variable "ttl_days" {
  description = "REMEDIATOR_TTL_DAYS: retention of audit items (DynamoDB TTL)."
  type        = number
  default     = 90
}

variable "retry_shards" {
  description = "REMEDIATOR_RETRY_SHARDS: shards of the retry index, declared in the table's META item; every process reads it there."
  type        = number
  default     = 8
}

variable "non_retryable_errors" {
  description = "REMEDIATOR_NON_RETRYABLE_ERRORS: exception names that are never retried."
  type        = list(string)
  default     = []
}

variable "metrics_namespace" {
  description = "REMEDIATOR_METRICS_NAMESPACE: CloudWatch namespace of the EMF metrics, read by the alarms and the dashboard."
  type        = string
  default     = "SelfHealingPipelines"

  validation {
    # CloudWatch: 1 to 255 characters, no colon, not AWS/ (reserved); quoted in the queries.
    condition     = can(regex("^[^:\"]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1 to 255 characters without : or \" and must not start with AWS/."
  }
}

variable "lease_seconds" {
  description = "REMEDIATOR_LEASE_SECONDS: how long a claim holds a batch before another replica may take it over."
  type        = number
  default     = 180
}

variable "sweep_interval_seconds" {
  description = "REMEDIATOR_SWEEP_INTERVAL_SECONDS: pause between two sweeps of the due index."
  type        = number
  default     = 30
}

variable "budget_per_minute" {
  description = "REMEDIATOR_BUDGET_PER_MINUTE: re-triggers per minute across all replicas (0: unlimited)."
  type        = number
  default     = 600
}

variable "breaker_failures" {
  description = "REMEDIATOR_BREAKER_FAILURES: failed re-runs of one job within the window that pause its retries (0: off)."
  type        = number
  default     = 5
}

variable "breaker_window_seconds" {
  description = "REMEDIATOR_BREAKER_WINDOW_SECONDS: window in which the breaker counts failures."
  type        = number
  default     = 600
}

variable "breaker_pause_seconds" {
  description = "REMEDIATOR_BREAKER_PAUSE_SECONDS: how long an open circuit pauses a job's retries."
  type        = number
  default     = 900
}

variable "trigger_attempts" {
  description = "REMEDIATOR_TRIGGER_ATTEMPTS: tries of one re-trigger on transient errors."
  type        = number
  default     = 4
}

variable "policy_cache_seconds" {
  description = "REMEDIATOR_POLICY_CACHE_SECONDS: how long a job's stored policy is cached by each producer and replica (a change reaches them within it)."
  type        = number
  default     = 60
}

variable "pause_refresh_seconds" {
  description = "REMEDIATOR_PAUSE_REFRESH_SECONDS: how often each replica re-reads the pauses (a pause is honoured within it)."
  type        = number
  default     = 5
}

variable "trigger_refusals" {
  description = "REMEDIATOR_TRIGGER_REFUSALS: refusals for good (not found, denied, invalid) of one attempt's re-trigger before the batch is EXHAUSTED."
  type        = number
  default     = 3
}

variable "trigger_timeout_seconds" {
  description = "REMEDIATOR_TRIGGER_TIMEOUT_SECONDS: time bound of one re-trigger, retries included."
  type        = number
  default     = 30
}

variable "shutdown_grace_seconds" {
  description = "REMEDIATOR_SHUTDOWN_GRACE_SECONDS: on SIGTERM, how long the batch in hand may finish; must stay well under the task's stopTimeout (30 s)."
  type        = number
  default     = 8

  validation {
    condition     = var.shutdown_grace_seconds >= 0 && var.shutdown_grace_seconds <= 20
    error_message = "shutdown_grace_seconds must be 0 to 20, leaving margin inside the 30 s stopTimeout."
  }
}

# -- re-trigger targets: the task role may reach these and nothing else ---------------------

variable "trigger_queue_arns" {
  description = "SQS queues the remediator may send re-run messages to (SqsTrigger)."
  type        = list(string)
  default     = []
}

variable "trigger_lambda_arns" {
  description = "Lambda functions the remediator may invoke (LambdaTrigger), as unqualified ARNs: each also allows its versions and aliases (function:name:*)."
  type        = list(string)
  default     = []
}

variable "trigger_state_machine_arns" {
  description = "Step Functions state machines the remediator may start (StepFunctionsTrigger)."
  type        = list(string)
  default     = []
}

variable "source_glue_job_arns" {
  description = "Glue jobs whose runs the remediator reads (GetJobRun: a triggered run's batch, an opted-in job's arguments) and re-runs with their own arguments (StartJobRun): the jobs named by policy set --source glue:NAME, as ARNs (arn:aws:glue:REGION:ACCOUNT:job/NAME)."
  type        = list(string)
  default     = []
}

variable "source_state_machine_arns" {
  description = "State machines opted in with policy set --source states:ARN: the remediator redrives their failed executions (RedriveExecution), or starts one again with the same input (DescribeExecution, StartExecution)."
  type        = list(string)
  default     = []
}

variable "trigger_event_bus_arns" {
  description = "EventBridge buses the remediator may put events on (EventBridgeTrigger), e.g. the default bus's ARN."
  type        = list(string)
  default     = []
}

variable "trigger_ecs_task_definition_arns" {
  description = "ECS task definitions the remediator may run (EcsTaskTrigger); use family:* ARNs to allow every revision."
  type        = list(string)
  default     = []
}

variable "trigger_ecs_cluster_arns" {
  description = "Clusters those ECS tasks may run in; empty allows any cluster of the account."
  type        = list(string)
  default     = []
}

variable "trigger_pass_role_arns" {
  description = "Task and execution roles of the triggered ECS tasks, which RunTask must pass to ECS."
  type        = list(string)
  default     = []
}

variable "trigger_glue_job_arns" {
  description = "Glue jobs the remediator may start (GlueJobTrigger), e.g. arn:aws:glue:REGION:ACCOUNT:job/NAME."
  type        = list(string)
  default     = []
}

variable "trigger_emr_application_arns" {
  description = "EMR Serverless applications the remediator may start job runs on (EmrServerlessTrigger), e.g. arn:aws:emr-serverless:REGION:ACCOUNT:/applications/ID."
  type        = list(string)
  default     = []
}

variable "trigger_emr_execution_role_arns" {
  description = "Execution roles of those job runs, which StartJobRun must pass to EMR Serverless."
  type        = list(string)
  default     = []
}

variable "trigger_batch_job_queue_arns" {
  description = "AWS Batch job queues the remediator may submit to (BatchJobTrigger)."
  type        = list(string)
  default     = []
}

variable "trigger_batch_job_definition_arns" {
  description = "AWS Batch job definitions it may submit (BatchJobTrigger); use name:* ARNs to allow every revision."
  type        = list(string)
  default     = []
}

variable "trigger_assume_role_arns" {
  description = "Roles in other accounts the remediator may assume to fire a trigger that names one (role_arn); empty grants no sts:AssumeRole."
  type        = list(string)
  default     = []
}

variable "trigger_kms_key_arns" {
  description = "KMS keys encrypting trigger targets (e.g. an SSE-KMS work queue); the remediator may encrypt with them."
  type        = list(string)
  default     = []
}

# -- alert routing Lambda --------------------------------------------------------------------

variable "alerts_lambda_package" {
  description = "Path of the alert router's deployment zip (the project and its dependencies; see README.md), absolute or relative to the directory terraform runs in."
  type        = string

  validation {
    condition     = fileexists(var.alerts_lambda_package)
    error_message = "alerts_lambda_package names no file: build the zip first (infra/terraform/README.md, Deploying, step 2); a relative path starts where terraform runs."
  }
}

variable "alerts_lambda_architecture" {
  description = "Lambda architecture of the alert router: x86_64 or arm64 (must match the wheels in the zip)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.alerts_lambda_architecture)
    error_message = "alerts_lambda_architecture must be x86_64 or arm64."
  }
}

variable "alerts_lambda_timeout_seconds" {
  description = "Alert router timeout; at most 60 s, since the alerts queue's 360 s visibility must be six times it. The router stops before it and hands undelivered alerts back to the queue."
  type        = number
  default     = 60

  validation {
    condition     = var.alerts_lambda_timeout_seconds >= 5 && var.alerts_lambda_timeout_seconds <= 60
    error_message = "alerts_lambda_timeout_seconds must be 5 to 60 (the alerts queue's visibility is 360 s)."
  }
}

variable "alerts_lambda_memory_mb" {
  description = "Alert router memory in MB."
  type        = number
  default     = 256
}

variable "alerts_lambda_max_concurrency" {
  description = "Most alert router instances the alerts queue runs at once (the SQS event source's maximum concurrency, 2 to 1000)."
  type        = number
  default     = 2

  validation {
    condition     = var.alerts_lambda_max_concurrency >= 2 && var.alerts_lambda_max_concurrency <= 1000
    error_message = "alerts_lambda_max_concurrency must be 2 to 1000 (the SQS event source's range)."
  }
}

variable "alerts_lambda_reserved_concurrency" {
  description = "Reserved concurrency of the alert router; null (the default) reserves none. AWS refuses a reservation that leaves the account under 100 unreserved executions, which new accounts (10 or 50 in all) cannot spare. When set, at least alerts_lambda_max_concurrency."
  type        = number
  default     = null

  validation {
    condition     = var.alerts_lambda_reserved_concurrency == null || try(var.alerts_lambda_reserved_concurrency >= 2, false)
    error_message = "alerts_lambda_reserved_concurrency must be null or at least 2 (0 would stop the router)."
  }
}

variable "slack_webhook_ssm_parameter" {
  description = "Name of the SSM SecureString holding the Slack webhook URL (REMEDIATOR_SLACK_WEBHOOK_SSM_PARAMETER); null: no Slack."
  type        = string
  default     = null
}

variable "pagerduty_routing_key_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the PagerDuty routing key (REMEDIATOR_PAGERDUTY_ROUTING_KEY_SECRET_ARN); null: no PagerDuty."
  type        = string
  default     = null
}

variable "alert_secrets_kms_key_arns" {
  description = "Customer managed KMS keys encrypting that parameter or secret; the router may decrypt with them. Empty for AWS managed keys."
  type        = list(string)
  default     = []
}

# -- alarms ----------------------------------------------------------------------------------

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK); null: alarms only show in the console. If the topic is encrypted with a customer managed key, the key policy must let cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*, or no notification is delivered."
  type        = string
  default     = null
}

variable "job_failure_alarm_threshold" {
  description = "Failed batches (JobFailureCount, all jobs) in 5 minutes above which the failure alarm fires."
  type        = number
  default     = 0

  validation {
    condition     = var.job_failure_alarm_threshold >= 0
    error_message = "job_failure_alarm_threshold must be 0 or more."
  }
}

variable "signal_age_alarm_seconds" {
  description = "Age of the oldest waiting failure signal above which the backlog alarm fires."
  type        = number
  default     = 600

  validation {
    condition     = var.signal_age_alarm_seconds > 0
    error_message = "signal_age_alarm_seconds must be more than 0."
  }
}
