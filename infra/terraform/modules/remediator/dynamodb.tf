# The audit table: one item per batch (its state and recent history), archives of older
# history, and the sparse due-index.

locals {
  # The names the code reads and writes: observability.models.keys and
  # remediator.stack.provision.table_definition. tests/infra fails when they drift apart.
  hash_key      = "pk"
  range_key     = "sk"
  due_index     = "due-index"
  due_pk        = "due_pk"
  due_at        = "due_at"
  ttl_attribute = "expires_at"
  # observability.models.keys.DUE_INDEX_PROJECTION: only what the sweep reads, so that an index
  # write stays at one write unit however long a batch's history grows.
  due_index_projection = [
    "status",
    "attempt",
    "version",
    "retryable",
    "error_type",
    "first_failed_at",
    "attempt_floor",
    "cap",
    "deadline",
    "lease_owner",
    "lease_expires_at",
    "expires_at",
    "trace_id",
    "updated_at",
    "heartbeat_at",
    "incarnation",
  ]
}

resource "aws_dynamodb_table" "audit" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = local.hash_key
  range_key                   = local.range_key
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = local.hash_key
    type = "S"
  }

  attribute {
    name = local.range_key
    type = "S"
  }

  attribute {
    name = local.due_pk
    type = "S"
  }

  attribute {
    name = local.due_at
    type = "S"
  }

  # Sparse: only batches waiting for the remediator carry due_pk/due_at. Never index status.
  global_secondary_index {
    name               = local.due_index
    hash_key           = local.due_pk
    range_key          = local.due_at
    projection_type    = "INCLUDE"
    non_key_attributes = local.due_index_projection
  }

  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}

# The table's own record (observability.models.keys.meta_key, observability.audit.shape):
# its layout and the retry index's shard count, which every process reads once and must
# agree with. The same item `remediator bootstrap` writes.
resource "aws_dynamodb_table_item" "meta" {
  table_name = aws_dynamodb_table.audit.name
  hash_key   = aws_dynamodb_table.audit.hash_key
  range_key  = aws_dynamodb_table.audit.range_key
  item = jsonencode({
    pk     = { S = "TABLE" }
    sk     = { S = "META" }
    layout = { N = "2" }
    shards = { N = tostring(var.retry_shards) }
  })

  lifecycle {
    # Written once, like bootstrap's: rewriting the shard count would strand due retries and
    # stale runs in shards no replica sweeps any more, in silence.
    ignore_changes = [item]

    # So a changed retry_shards is refused at plan (the planned item is the one in the table).
    postcondition {
      condition     = jsondecode(self.item).shards.N == tostring(var.retry_shards)
      error_message = "retry_shards is ${var.retry_shards} but table ${self.table_name} declares ${jsondecode(self.item).shards.N} retry shards: changing it would strand due retries and stale runs in shards no replica sweeps. Keep ${jsondecode(self.item).shards.N}, or deploy a new table; `remediator doctor` with REMEDIATOR_RETRY_SHARDS=${var.retry_shards} names the shards that would be stranded."
    }
  }
}
