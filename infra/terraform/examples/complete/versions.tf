terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The release whose schema tests/infra checks every argument and block against
      # (make tf-schema); a newer 6.x adds, the next major may remove.
      version = ">= 6.25.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ "app" = "self-healing-pipelines" }, var.tags)
  }
}
