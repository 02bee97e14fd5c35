# A module: the provider (region, credentials, default tags) is the caller's; see
# examples/complete.
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
