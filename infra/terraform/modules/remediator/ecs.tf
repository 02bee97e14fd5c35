# `remediator run` on Fargate: cluster, task definition, service, and scaling on the backlog.

locals {
  remediator_log_group = "/ecs/${local.base}-remediator"
  container_name       = "remediator"

  # Fargate's task sizes: memory (MiB) allowed for each cpu, as AWS documents them
  # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html).
  fargate_memory = {
    "256"   = [512, 1024, 2048]
    "512"   = [for gb in range(1, 5) : gb * 1024]
    "1024"  = [for gb in range(2, 9) : gb * 1024]
    "2048"  = [for gb in range(4, 17) : gb * 1024]
    "4096"  = [for gb in range(8, 31) : gb * 1024]
    "8192"  = [for gb in range(16, 61, 4) : gb * 1024]
    "16384" = [for gb in range(32, 121, 8) : gb * 1024]
  }

  # Settings shared by pipelines and the remediator (observability.settings.Settings):
  # both sides must agree on them, so `exports` hands the same values to the pipelines.
  # Every REMEDIATOR_* name below is a settings field (tests/infra checks). ECS wants strings.
  shared_environment = [
    { name = "REMEDIATOR_TABLE_NAME", value = aws_dynamodb_table.audit.name },
    { name = "REMEDIATOR_TOPIC_ARN", value = aws_sns_topic.signals.arn },
    { name = "REMEDIATOR_QUEUE_URL", value = aws_sqs_queue.signals.url },
    { name = "REMEDIATOR_MAX_ATTEMPTS", value = tostring(var.max_attempts) },
    { name = "REMEDIATOR_BACKOFF_BASE_SECONDS", value = tostring(var.backoff_base_seconds) },
    { name = "REMEDIATOR_BACKOFF_MAX_SECONDS", value = tostring(var.backoff_max_seconds) },
    { name = "REMEDIATOR_HEARTBEAT_SECONDS", value = tostring(var.heartbeat_seconds) },
    { name = "REMEDIATOR_STALE_AFTER_SECONDS", value = tostring(var.stale_after_seconds) },
    { name = "REMEDIATOR_TTL_DAYS", value = tostring(var.ttl_days) },
    { name = "REMEDIATOR_POLICY_CACHE_SECONDS", value = tostring(var.policy_cache_seconds) },
    { name = "REMEDIATOR_RETRY_SHARDS", value = tostring(var.retry_shards) },
    { name = "REMEDIATOR_NON_RETRYABLE_ERRORS", value = join(",", var.non_retryable_errors) },
    { name = "REMEDIATOR_METRICS_NAMESPACE", value = var.metrics_namespace },
  ]

  # The service's own settings (remediator.settings.RemediatorSettings).
  service_environment = [
    { name = "AWS_REGION", value = var.region },
    { name = "REMEDIATOR_METRICS_ENABLED", value = "true" },
    # Equal to the queue's own attributes, so the consumer and the queue agree.
    { name = "REMEDIATOR_VISIBILITY_TIMEOUT_SECONDS", value = tostring(local.signal_visibility_seconds) },
    { name = "REMEDIATOR_POLL_WAIT_SECONDS", value = tostring(local.signal_wait_seconds) },
    { name = "REMEDIATOR_LEASE_SECONDS", value = tostring(var.lease_seconds) },
    { name = "REMEDIATOR_SWEEP_INTERVAL_SECONDS", value = tostring(var.sweep_interval_seconds) },
    { name = "REMEDIATOR_BUDGET_PER_MINUTE", value = tostring(var.budget_per_minute) },
    { name = "REMEDIATOR_BREAKER_FAILURES", value = tostring(var.breaker_failures) },
    { name = "REMEDIATOR_BREAKER_WINDOW_SECONDS", value = tostring(var.breaker_window_seconds) },
    { name = "REMEDIATOR_BREAKER_PAUSE_SECONDS", value = tostring(var.breaker_pause_seconds) },
    { name = "REMEDIATOR_TRIGGER_ATTEMPTS", value = tostring(var.trigger_attempts) },
    { name = "REMEDIATOR_TRIGGER_REFUSALS", value = tostring(var.trigger_refusals) },
    { name = "REMEDIATOR_PAUSE_REFRESH_SECONDS", value = tostring(var.pause_refresh_seconds) },
    { name = "REMEDIATOR_TRIGGER_TIMEOUT_SECONDS", value = tostring(var.trigger_timeout_seconds) },
    { name = "REMEDIATOR_SHUTDOWN_GRACE_SECONDS", value = tostring(var.shutdown_grace_seconds) },
    { name = "REMEDIATOR_HEALTH_PORT", value = tostring(var.health_port) },
    # /healthz fails after this long without progress; one unit of work (a re-trigger)
    # may take the trigger timeout, so the service requires at least twice that.
    { name = "REMEDIATOR_HEALTH_MAX_SILENCE_SECONDS", value = tostring(max(90, 2 * var.trigger_timeout_seconds)) },
  ]

  # Traces (OpenTelemetry's standard variables, read by observability.configure_tracing):
  # with the collector sidecar, spans go to it over OTLP/HTTP on the task's loopback, and it
  # sends them to X-Ray; without it, OTEL_TRACES_EXPORTER=none keeps the SDK off.
  tracing_enabled = var.trace_collector_image != null
  collector_name  = "otel-collector"
  tracing_environment = [
    { name = "OTEL_TRACES_EXPORTER", value = local.tracing_enabled ? "otlp" : "none" },
    { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = "http://127.0.0.1:4318" },
    { name = "OTEL_EXPORTER_OTLP_PROTOCOL", value = "http/protobuf" },
    { name = "OTEL_SERVICE_NAME", value = "remediator" },
  ]

  # ECS drops a variable whose value is empty, so keeping one would show a diff on every
  # plan and restart the service on every apply (an empty non_retryable_errors list).
  remediator_environment = [
    for env in concat(
      local.shared_environment, local.service_environment, local.tracing_environment
    ) : env if env.value != ""
  ]

  # urlopen raises on a 503 (loop silent too long) or a refused connection: exit 1.
  health_probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${var.health_port}/healthz', timeout=4)"

  remediator_container = {
    name      = local.container_name
    image     = var.image
    essential = true
    command   = ["run"]
    # Python is PID 1 (exec-form ENTRYPOINT) and handles SIGTERM itself; ECS sends SIGKILL
    # after stopTimeout, well beyond the shutdown grace.
    stopTimeout            = 30
    readonlyRootFilesystem = true
    environment            = local.remediator_environment
    # Spans from the first remediation on reach a collector that is already listening.
    dependsOn = local.tracing_enabled ? [{ containerName = local.collector_name, condition = "START" }] : null
    healthCheck = {
      command     = ["CMD", "python", "-c", local.health_probe]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.remediator.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "remediator"
        # A slow CloudWatch Logs must never block the service's stdout (EMF metrics, logs).
        "mode"            = "non-blocking"
        "max-buffer-size" = var.log_max_buffer_size
      }
    }
  }

  # The ADOT collector's own configuration for ECS: OTLP in (4317 gRPC, 4318 HTTP), X-Ray
  # out, with the task role. Not essential: the service runs on if it stops.
  collector_container = {
    name                   = local.collector_name
    image                  = var.trace_collector_image
    essential              = false
    command                = ["--config=/etc/ecs/ecs-xray.yaml"]
    readonlyRootFilesystem = true
    environment            = [{ name = "AWS_REGION", value = var.region }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.remediator.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = local.collector_name
        "mode"                  = "non-blocking"
        "max-buffer-size"       = var.log_max_buffer_size
      }
    }
  }

  # A tuple, so the two containers keep their own shapes: [remediator] or [remediator, collector].
  task_containers = concat(
    [local.remediator_container], [for c in [local.collector_container] : c if local.tracing_enabled]
  )
}

resource "aws_cloudwatch_log_group" "remediator" {
  name              = local.remediator_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_cluster" "main" {
  name = "${local.base}-remediator"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "remediator" {
  family                   = "${local.base}-remediator"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode(local.task_containers)

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  lifecycle {
    # settings.tf: the container would refuse these settings and never start.
    precondition {
      condition     = length(local.settings_refused) == 0
      error_message = "The remediator would refuse its settings: ${join("; ", local.settings_refused)}."
    }
    precondition {
      condition     = contains(try(local.fargate_memory[tostring(var.cpu)], []), var.memory)
      error_message = "memory ${var.memory} MiB is not a Fargate size for cpu ${var.cpu}: allowed ${jsonencode(try(local.fargate_memory[tostring(var.cpu)], []))}."
    }
  }
}

resource "aws_security_group" "remediator" {
  name_prefix = "${local.base}-remediator-"
  description = "remediator tasks: no inbound; HTTPS out to AWS APIs and trigger targets"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to AWS API endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.egress_cidr_blocks
    # Gateway endpoints (DynamoDB, S3 for ECR layers) are reached through prefix lists.
    prefix_list_ids = var.egress_prefix_list_ids
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_ecs_service" "remediator" {
  name             = "${local.base}-remediator"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.remediator.arn
  desired_count    = var.min_replicas
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"
  # The apply waits for the tasks to run and pass their health check: a service whose tasks
  # crash-loop fails the apply instead of reporting success.
  wait_for_steady_state = true

  # Replicas share work through conditional writes, so old and new may overlap on deploy.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.remediator.id]
    assign_public_ip = var.assign_public_ip
  }

  lifecycle {
    # The autoscaler owns the count once the service exists.
    ignore_changes = [desired_count]
  }

  # The first tasks start as soon as the service exists: their roles must already allow
  # what they do (pull, log, read the queue), or they fail and the circuit breaker rolls back.
  depends_on = [aws_iam_role_policy.task, aws_iam_role_policy.execution]
}

# -- scaling on the signal backlog -------------------------------------------------------------

resource "aws_appautoscaling_target" "remediator" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.remediator.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_replicas
  max_capacity       = var.max_replicas

  lifecycle {
    precondition {
      condition     = var.max_replicas >= var.min_replicas
      error_message = "max_replicas (${var.max_replicas}) must be at least min_replicas (${var.min_replicas})."
    }
  }
}

resource "aws_appautoscaling_policy" "scale_out" {
  name               = "${local.base}-remediator-scale-out"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.remediator.service_namespace
  resource_id        = aws_appautoscaling_target.remediator.resource_id
  scalable_dimension = aws_appautoscaling_target.remediator.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 120
    metric_aggregation_type = "Maximum"

    # Bounds are relative to the alarm threshold (scale_out_backlog).
    step_adjustment {
      metric_interval_lower_bound = 0
      metric_interval_upper_bound = var.scale_out_backlog * 3
      scaling_adjustment          = 1
    }

    step_adjustment {
      metric_interval_lower_bound = var.scale_out_backlog * 3
      scaling_adjustment          = 2
    }
  }
}

resource "aws_appautoscaling_policy" "scale_in" {
  name               = "${local.base}-remediator-scale-in"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.remediator.service_namespace
  resource_id        = aws_appautoscaling_target.remediator.resource_id
  scalable_dimension = aws_appautoscaling_target.remediator.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 300
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = -1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "backlog_high" {
  alarm_name          = "${local.base}-remediator-backlog-high"
  alarm_description   = "Scales the remediator out: failure signals are piling up on its queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.signals.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.scale_out_backlog
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_out.arn]
}

resource "aws_cloudwatch_metric_alarm" "backlog_empty" {
  alarm_name          = "${local.base}-remediator-backlog-empty"
  alarm_description   = "Scales the remediator in: no failure signal has waited for 15 minutes."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.signals.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 15
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_in.arn]
}
