# One entry point for people and CI. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
# The project's and SAM's environments install side by side; each target's output stays together,
# but for `make run` and `make demo`, whose output must show as it comes (make holds a synced
# target's output until the target ends).
MAKEFLAGS += --jobs=2
ifeq ($(filter run demo,$(MAKECMDGOALS)),)
MAKEFLAGS += --output-sync=target
endif

.PHONY: run demo test lint typecheck unit bench build validate clean viewer browser screenshot

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

# The 3D viewer (viewer/): npm installs its locked dependencies and esbuild bundles it into
# functions/viewer/static/, which the viewer function serves; both run again only when their inputs
# changed. Node.js 20 and npm are the only tools it needs.
VIEWER_INSTALLED := viewer/node_modules/.package-lock.json
VIEWER_BUILT := functions/viewer/static/index.html
VIEWER_SOURCES := viewer/build.mjs viewer/package.json $(shell find viewer/src viewer/test -type f 2>/dev/null)

$(VIEWER_INSTALLED): viewer/package.json viewer/package-lock.json
	@echo "==> installing the viewer's npm packages"
	cd viewer && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VIEWER_BUILT): $(VIEWER_INSTALLED) $(VIEWER_SOURCES)
	cd viewer && npm run --silent build

viewer: $(VIEWER_BUILT)

# The browser tests drive Debian's Chromium: installed here when it is missing and this user may
# (root with apt-get); elsewhere those tests skip, saying why (in CI they fail instead).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> installing Chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "==> no Chromium at $(CHROMIUM), and no apt-get as root to install it: the browser tests will skip"; fi

run: $(STAMP) viewer
	$(BIN)/immichvr-local --port $${PORT:-3000}

# In a second terminal while `make run` is up (alone, it starts a stack of its own for the run):
# uploads sample photos, follows them, and leaves depth maps and previews in out/.
demo: $(STAMP)
	$(BIN)/immichvr-local demo

test: $(STAMP) $(SAM_STAMP) viewer browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd viewer && npm test --silent
	SAM_CLI=$(abspath $(SAM)) CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# The README's screenshot of the viewer, made by the browser test's own setup (the local runner,
# the tiny model, a sample photo) and written to docs/images/viewer.png.
screenshot: $(STAMP) viewer browser
	SCREENSHOT_TO=docs/images/viewer.png CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q tests/integration/test_viewer_in_browser.py -k screenshot

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

build: $(SAM_STAMP) viewer
	$(SAM) build

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache viewer/node_modules viewer/build-test functions/viewer/static
