# The limits RemediatorSettings enforces when the container starts (observability/settings.py,
# remediator/settings.py), checked at plan: outside them every task would crash-loop behind a
# green apply. One rule per setting, in one place; tests/infra checks, value by value, that
# plan accepts exactly what the settings accept.

locals {
  settings_rules = {
    max_attempts = {
      ok    = var.max_attempts >= 1 && var.max_attempts <= 100 && floor(var.max_attempts) == var.max_attempts
      limit = "max_attempts (${var.max_attempts}) must be a whole number from 1 to 100"
    }
    backoff_base_seconds = {
      ok    = var.backoff_base_seconds >= 0 && var.backoff_base_seconds <= 86400
      limit = "backoff_base_seconds (${var.backoff_base_seconds}) must be 0 to 86400"
    }
    backoff_max_seconds = {
      ok    = var.backoff_max_seconds >= 0 && var.backoff_max_seconds <= 604800 && var.backoff_max_seconds >= var.backoff_base_seconds
      limit = "backoff_max_seconds (${var.backoff_max_seconds}) must be 0 to 604800 and at least backoff_base_seconds (${var.backoff_base_seconds})"
    }
    heartbeat_seconds = {
      ok    = var.heartbeat_seconds >= 0 && var.heartbeat_seconds <= 86400
      limit = "heartbeat_seconds (${var.heartbeat_seconds}) must be 0 to 86400"
    }
    stale_after_seconds = {
      # A run is stale after missed beats, never between two of them.
      ok    = var.stale_after_seconds >= 1 && var.stale_after_seconds <= 604800 && (var.heartbeat_seconds == 0 || var.stale_after_seconds >= 2 * var.heartbeat_seconds)
      limit = "stale_after_seconds (${var.stale_after_seconds}) must be 1 to 604800 and at least twice heartbeat_seconds (${var.heartbeat_seconds})"
    }
    ttl_days = {
      # An item must outlive its last retry and a dead run's stale deadline, by a day.
      ok    = var.ttl_days >= 1 && var.ttl_days <= 3650 && floor(var.ttl_days) == var.ttl_days && var.ttl_days * 86400 >= var.backoff_max_seconds + var.stale_after_seconds + 86400
      limit = "ttl_days (${var.ttl_days}) must be a whole number from 1 to 3650 and outlast backoff_max_seconds plus stale_after_seconds plus a day: at least ${ceil((var.backoff_max_seconds + var.stale_after_seconds + 86400) / 86400)}"
    }
    retry_shards = {
      ok    = var.retry_shards >= 1 && var.retry_shards <= 64 && floor(var.retry_shards) == var.retry_shards
      limit = "retry_shards (${var.retry_shards}) must be a whole number from 1 to 64"
    }
    lease_seconds = {
      # A trigger still in flight when its lease ends would be fired again by a take-over.
      ok    = var.lease_seconds >= 5 && var.lease_seconds <= 3600 && var.lease_seconds >= 2 * var.trigger_timeout_seconds
      limit = "lease_seconds (${var.lease_seconds}) must be 5 to 3600 and at least twice trigger_timeout_seconds (${var.trigger_timeout_seconds})"
    }
    sweep_interval_seconds = {
      ok    = var.sweep_interval_seconds >= 0 && var.sweep_interval_seconds <= 3600
      limit = "sweep_interval_seconds (${var.sweep_interval_seconds}) must be 0 to 3600"
    }
    budget_per_minute = {
      ok    = var.budget_per_minute >= 0 && var.budget_per_minute <= 1000000 && floor(var.budget_per_minute) == var.budget_per_minute
      limit = "budget_per_minute (${var.budget_per_minute}) must be a whole number from 0 to 1000000"
    }
    breaker_failures = {
      ok    = var.breaker_failures >= 0 && var.breaker_failures <= 10000 && floor(var.breaker_failures) == var.breaker_failures
      limit = "breaker_failures (${var.breaker_failures}) must be a whole number from 0 to 10000"
    }
    breaker_window_seconds = {
      ok    = var.breaker_window_seconds >= 1
      limit = "breaker_window_seconds (${var.breaker_window_seconds}) must be at least 1"
    }
    breaker_pause_seconds = {
      ok    = var.breaker_pause_seconds >= 1
      limit = "breaker_pause_seconds (${var.breaker_pause_seconds}) must be at least 1"
    }
    policy_cache_seconds = {
      ok    = var.policy_cache_seconds >= 0 && var.policy_cache_seconds <= 3600
      limit = "policy_cache_seconds (${var.policy_cache_seconds}) must be 0 to 3600"
    }
    pause_refresh_seconds = {
      ok    = var.pause_refresh_seconds >= 0 && var.pause_refresh_seconds <= 300
      limit = "pause_refresh_seconds (${var.pause_refresh_seconds}) must be 0 to 300"
    }
    trigger_refusals = {
      ok    = var.trigger_refusals >= 1 && var.trigger_refusals <= 100 && floor(var.trigger_refusals) == var.trigger_refusals
      limit = "trigger_refusals (${var.trigger_refusals}) must be a whole number from 1 to 100"
    }
    trigger_attempts = {
      ok    = var.trigger_attempts >= 1 && var.trigger_attempts <= 20 && floor(var.trigger_attempts) == var.trigger_attempts
      limit = "trigger_attempts (${var.trigger_attempts}) must be a whole number from 1 to 20"
    }
    trigger_timeout_seconds = {
      ok    = var.trigger_timeout_seconds > 0 && var.trigger_timeout_seconds <= 600
      limit = "trigger_timeout_seconds (${var.trigger_timeout_seconds}) must be more than 0 and at most 600"
    }
  }
  settings_refused = [for name, rule in local.settings_rules : rule.limit if !rule.ok]
}
