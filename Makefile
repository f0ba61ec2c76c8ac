# One entry point for people and CI. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
# The project's and SAM's environments install side by side; each target's output stays together.
MAKEFLAGS += --jobs=2 --output-sync=target

.PHONY: run demo test lint typecheck unit bench build validate clean

$(STAMP): pyproject.toml layers/shared/requirements.txt
	@echo "==> creating $(VENV) and installing the project (first run takes a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# SAM CLI pins its own dependency versions, so it lives in a virtual environment of its own.
$(SAM_STAMP):
	@echo "==> installing the AWS SAM CLI into $(SAM_VENV)"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli
	@touch $@

run: $(STAMP)
	$(BIN)/immichvr-local --port $${PORT:-3000}

# In a second terminal while `make run` is up (alone, it starts a stack of its own for the run):
# uploads sample photos, follows them, and leaves depth maps and previews in out/.
demo: $(STAMP)
	$(BIN)/immichvr-local demo

test: $(STAMP) $(SAM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	SAM_CLI=$(abspath $(SAM)) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/inference.py
	$(BIN)/python bench/pipeline.py

validate: $(SAM_STAMP) $(STAMP)
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint

build: $(SAM_STAMP)
	$(SAM) build

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
