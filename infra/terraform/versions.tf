terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.31 added the Lambda logging_config block used in alerts_lambda.tf.
      version = ">= 5.31, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ "app" = "self-healing-pipelines" }, var.tags)
  }
}
