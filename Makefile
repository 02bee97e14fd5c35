# Everything runs from a local virtualenv created on first use; only python3.11 is needed.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs the package, the embedded local AWS and the tracing SDK (it draws the
# trace of the healed batch), not the dev tools.
$(VENV)/.installed-local: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,traces]'
	touch $@

demo: $(VENV)/.installed-local
	$(BIN)/remediator demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# One test worker per core (each starts its own moto server).
test: lint typecheck infra-lint
	$(BIN)/pytest -q -n auto

# Offline checks of the deployment: Dockerfile and Terraform linted, then tests/infra (drift
# between infra/terraform and the code, IAM against the calls the code makes).
# checkov pins old boto3 and packaging, so it gets a pinned virtualenv of its own;
# --skip-download keeps it from fetching its vendor's guidelines.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    ?= .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
CHECKOV         := $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download

.PHONY: infra-lint infra-check

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# `make test` runs tests/infra with the rest of the suite; infra-check adds them on its own.
infra-check: infra-lint
	$(BIN)/pytest -q tests/infra

infra-lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/hadolint Dockerfile
	$(CHECKOV) --framework dockerfile --file Dockerfile
	$(CHECKOV) --framework terraform --directory infra/terraform
	$(CHECKOV) --framework terraform --directory infra/terraform \
		--var-file infra/terraform/terraform.tfvars.example

# The bench extra (Powertools) is installed here only; BENCH_ARGS passes flags (--help).
bench: $(STAMP)
	@test $(VENV)/.installed-bench -nt pyproject.toml || \
		{ $(BIN)/python -m pip install --quiet -e '.[dev,bench]' && touch $(VENV)/.installed-bench; }
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .pytest_cache .ruff_cache bench/out
