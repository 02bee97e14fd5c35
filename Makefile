# Everything runs from a local virtualenv created on first use; only python3.11 is needed.
# Paths are anchored at this file's directory, so `make -f path/to/Makefile demo` works from
# anywhere.
ROOT   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PYTHON ?= python3.11
VENV   ?= $(ROOT)/.venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck bench clean lock lock-check sync-dev

# Every environment is built from a lock (see scripts/lock.py): uv.lock for the project's
# own (exactly its versions, nothing else, checked against every file's hash), and
# locks/<tool>.txt for the tools that need a virtualenv of their own. uv itself comes from
# locks/uv.txt, installed by pip with hashes; it never downloads a Python.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
UV_VENV := $(ROOT)/.venv-uv
UV      := $(UV_VENV)/bin/uv
SYNC    := cd $(ROOT) && $(UV) sync --frozen --quiet --python $(PYTHON)

$(UV): $(ROOT)/locks/uv.txt
	rm -rf $(UV_VENV)
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --no-cache-dir --require-hashes \
		--only-binary=:all: -r $(ROOT)/locks/uv.txt
	touch $@

# A sync is exact (what the lock does not list for these extras is removed) and costs a
# fraction of a second when nothing changed, so each target syncs the set it needs.
sync-dev: $(UV)
	$(SYNC) --extra dev

# The demo needs the package, the embedded local AWS, the tracing SDK (it draws the trace
# of the healed batch) and the console (`--keep` serves it), not the dev tools; --inexact
# leaves the dev tools of a virtualenv that has them (a test suite running from it) in place.
demo: $(UV)
	$(SYNC) --inexact --extra local --extra traces --extra console
	$(BIN)/remediator demo

# After a change to pyproject.toml's dependencies, or to refresh the pins: rewrites uv.lock
# and locks/, then commit them together.
lock: $(UV)
	cd $(ROOT) && UV=$(UV) $(PYTHON) scripts/lock.py

# Fails when uv.lock no longer satisfies pyproject.toml or an export drifted from it.
lock-check: sync-dev
	cd $(ROOT) && UV=$(UV) $(BIN)/python scripts/lock.py --check

lint: sync-dev
	cd $(ROOT) && $(BIN)/ruff check .
	cd $(ROOT) && $(BIN)/ruff format --check .

typecheck: sync-dev
	cd $(ROOT) && $(BIN)/mypy

# One test worker per core (each starts its own moto server).
test: lock-check lint typecheck infra-lint tf-schema
	cd $(ROOT) && UV=$(UV) TF_SCHEMA_VENV=$(TF_SCHEMA_VENV) $(BIN)/pytest -q -n auto

# Offline checks of the deployment: Dockerfile and Terraform linted, then tests/infra (drift
# between infra/terraform and the code, IAM against the calls the code makes, the provider
# schema, what a first apply needs, the README's deployment steps run as written).
# checkov pins old boto3 and packaging, so it gets a locked virtualenv of its own;
# --skip-download keeps it from fetching its vendor's guidelines.
CHECKOV_VENV  ?= $(ROOT)/.venv-checkov
CHECKOV       := $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download

# The hashicorp/aws provider's schema for tests/infra/test_provider_schema.py (locks/tfschema.in
# says which release). Only the data is used, so no dependencies and no bytecode.
TF_SCHEMA_VENV ?= $(ROOT)/.venv-tfschema

.PHONY: infra-lint infra-check tf-schema

# A tool's virtualenv is rebuilt whenever its lock changes; pip checks every hash.
$(TF_SCHEMA_VENV)/.installed: $(ROOT)/locks/tfschema.txt
	rm -rf $(TF_SCHEMA_VENV)
	$(PYTHON) -m venv $(TF_SCHEMA_VENV)
	$(TF_SCHEMA_VENV)/bin/python -m pip install --quiet --no-cache-dir --no-deps --no-compile \
		--require-hashes --only-binary=:all: -r $<
	touch $@

tf-schema: $(TF_SCHEMA_VENV)/.installed

$(CHECKOV_VENV)/.installed: $(ROOT)/locks/checkov.txt | $(UV)
	rm -rf $(CHECKOV_VENV)
	$(UV) venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip sync --quiet --python $(CHECKOV_VENV)/bin/python --require-hashes $<
	touch $@

# `make test` runs tests/infra with the rest of the suite; infra-check adds them on its own.
infra-check: infra-lint tf-schema
	cd $(ROOT) && UV=$(UV) TF_SCHEMA_VENV=$(TF_SCHEMA_VENV) $(BIN)/pytest -q tests/infra

infra-lint: sync-dev $(CHECKOV_VENV)/.installed
	cd $(ROOT) && $(BIN)/hadolint Dockerfile
	cd $(ROOT) && $(CHECKOV) --framework dockerfile --file Dockerfile
	cd $(ROOT) && $(CHECKOV) --framework terraform --directory infra/terraform/modules/remediator
	cd $(ROOT) && $(CHECKOV) --framework terraform --directory infra/terraform/examples/complete \
		--var-file infra/terraform/examples/complete/terraform.tfvars.example

# The bench extra (Powertools) is synced here only; BENCH_ARGS passes flags (--help).
bench: $(UV)
	$(SYNC) --extra dev --extra bench
	cd $(ROOT) && $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	cd $(ROOT) && rm -rf $(VENV) $(UV_VENV) $(CHECKOV_VENV) $(TF_SCHEMA_VENV) .mypy_cache \
		.pytest_cache .ruff_cache bench/out
