# Everything runs from a local virtualenv created on first use; only python3.11 is needed.
# Paths are anchored at this file's directory, so `make -f path/to/Makefile demo` works from
# anywhere.
ROOT   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PYTHON ?= python3.11
VENV   ?= $(ROOT)/.venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(ROOT)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '$(ROOT)[dev]'
	touch $(STAMP)

# The demo needs the package, the embedded local AWS and the tracing SDK (it draws the
# trace of the healed batch), not the dev tools.
$(VENV)/.installed-local: $(ROOT)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '$(ROOT)[local,traces]'
	touch $@

demo: $(VENV)/.installed-local
	$(BIN)/remediator demo

lint: $(STAMP)
	cd $(ROOT) && $(BIN)/ruff check .
	cd $(ROOT) && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	cd $(ROOT) && $(BIN)/mypy

# One test worker per core (each starts its own moto server).
test: lint typecheck infra-lint tf-schema
	cd $(ROOT) && TF_SCHEMA_VENV=$(TF_SCHEMA_VENV) $(BIN)/pytest -q -n auto

# Offline checks of the deployment: Dockerfile and Terraform linted, then tests/infra (drift
# between infra/terraform and the code, IAM against the calls the code makes, the provider
# schema, what a first apply needs, the README's deployment steps run as written).
# checkov pins old boto3 and packaging, so it gets a pinned virtualenv of its own;
# --skip-download keeps it from fetching its vendor's guidelines.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    ?= $(ROOT)/.venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
CHECKOV         := $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download

# The hashicorp/aws provider's schema for tests/infra/test_provider_schema.py: the CDK for
# Terraform bindings carry it as a jsii assembly (release 21.22.1 = hashicorp/aws 6.25.0, the
# version versions.tf pins). Only the data is used, so no dependencies and no bytecode.
TF_SCHEMA_VERSION := 21.22.1
TF_SCHEMA_VENV    ?= $(ROOT)/.venv-tfschema
TF_SCHEMA_STAMP   := $(TF_SCHEMA_VENV)/.installed-$(TF_SCHEMA_VERSION)

.PHONY: infra-lint infra-check tf-schema

$(TF_SCHEMA_STAMP):
	rm -rf $(TF_SCHEMA_VENV)
	$(PYTHON) -m venv $(TF_SCHEMA_VENV)
	$(TF_SCHEMA_VENV)/bin/python -m pip install --quiet --no-deps --no-compile \
		cdktf-cdktf-provider-aws==$(TF_SCHEMA_VERSION)
	touch $@

tf-schema: $(TF_SCHEMA_STAMP)

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# `make test` runs tests/infra with the rest of the suite; infra-check adds them on its own.
infra-check: infra-lint tf-schema
	cd $(ROOT) && TF_SCHEMA_VENV=$(TF_SCHEMA_VENV) $(BIN)/pytest -q tests/infra

infra-lint: $(STAMP) $(CHECKOV_STAMP)
	cd $(ROOT) && $(BIN)/hadolint Dockerfile
	cd $(ROOT) && $(CHECKOV) --framework dockerfile --file Dockerfile
	cd $(ROOT) && $(CHECKOV) --framework terraform --directory infra/terraform
	cd $(ROOT) && $(CHECKOV) --framework terraform --directory infra/terraform \
		--var-file infra/terraform/terraform.tfvars.example

# The bench extra (Powertools) is installed here only; BENCH_ARGS passes flags (--help).
bench: $(STAMP)
	@test $(VENV)/.installed-bench -nt $(ROOT)/pyproject.toml || \
		{ $(BIN)/python -m pip install --quiet -e '$(ROOT)[dev,bench]' && \
		touch $(VENV)/.installed-bench; }
	cd $(ROOT) && $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	cd $(ROOT) && rm -rf $(VENV) $(CHECKOV_VENV) $(TF_SCHEMA_VENV) .mypy_cache .pytest_cache \
		.ruff_cache bench/out
