# The verbs a user needs. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Running needs only the package; tests and lint need the development tools too (moto, mypy, the
# SAM translator…), which take minutes to install: `make run` never waits for them.
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.installed-stamp
# The demo's alert state lives in the clone, so the first `make run` of any clone shows the alert.
DEMO_STATE := build/demo/state.json
# The Lambda runtime the artifact is built for (template.yaml: python3.13, arm64).
LAMBDA_PYTHON_VERSION ?= 3.13
LAMBDA_PLATFORM ?= manylinux2014_aarch64
# no: ship sources only (what `make bench` compares against; every cold start then compiles them).
LAMBDA_BYTECODE ?= yes
# The Lambda runtime ships these; leaving them out keeps the artifact small.
RUNTIME_PROVIDED := boto3 botocore s3transfer dateutil python_dateutil six
# Never used (every body is decoded explicitly) and 30 ms of cold start: see src/sidekiq_watch/__init__.py.
UNUSED := charset_normalizer
EXCLUDE ?= $(RUNTIME_PROVIDED) $(UNUSED)

.PHONY: build-batches deploy-batches setup run invoke test test-lambda-python test-unit lint build lambda-artifact lambda-runtime docs bench cost deploy clean

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# One poll on the sample stats in events/, message printed (no Slack, no AWS).
# Exit 1 only means "an alert fired", which the sample is meant to show.
run: $(RUN_STAMP)
	$(BIN)/sidekiq-watch poll --stats-url events/stats/handwritten.json --source-name sample-app --dry-run \
		--state $(DEMO_STATE) || [ $$? -eq 1 ]
	@echo "(alert state kept in $(DEMO_STATE): a second run announces nothing new; delete it to start over)" >&2

# The same through the Lambda handler, as `sam local invoke` would run it.
invoke: $(RUN_STAMP)
	$(BIN)/sidekiq-watch invoke PollerFunction --event events/scheduled.json --env-vars events/env.json
	$(BIN)/sidekiq-watch invoke BatchNotificationsFunction --event events/batch-complete-with-failures.json \
		--env-vars events/env.json

# Everything on this Python, then again on the Lambda runtime's (the code must run on both).
test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-lambda-python

# The suite on the runtime's Python (found or fetched as for the build), from the dev dependencies'
# wheels for it. Build tests are left out (they need pip, and already run both handlers on it from
# the artifacts), and so are the soak and the container tier (once is enough; the container's Python is 3.13). Skipped where no such Python can be had,
# except in CI.
LAMBDA_TEST_PACKAGES := build/test-python$(LAMBDA_PYTHON_VERSION)
test-lambda-python: $(STAMP)
	@if [ "$$(uname -s)" != Linux ]; then \
		echo "skipped: the tests on Python $(LAMBDA_PYTHON_VERSION) (Linux only: Lambda's wheels are manylinux)" >&2; \
	elif python="$$(sh scripts/lambda-python.sh $(LAMBDA_PYTHON_VERSION))"; then \
		$(MAKE) --no-print-directory $(LAMBDA_TEST_PACKAGES)/.installed && \
		echo "the tests again, on $$("$$python" -V)" && \
		PYTHONPATH="src:$(LAMBDA_TEST_PACKAGES)" "$$python" -s -m pytest -p no:cacheprovider \
			-m "not build and not soak and not container"; \
	elif [ "$$SIDEKIQ_WATCH_REQUIRE_INTEGRATION" = 1 ]; then \
		echo "no Python $(LAMBDA_PYTHON_VERSION) to run the tests on" >&2; exit 1; \
	else \
		echo "skipped: the tests on Python $(LAMBDA_PYTHON_VERSION) (none found)" >&2; \
	fi

$(LAMBDA_TEST_PACKAGES)/.installed: pyproject.toml $(STAMP)
	rm -rf $(LAMBDA_TEST_PACKAGES)
	$(BIN)/python -m pip install --quiet --no-compile --target $(LAMBDA_TEST_PACKAGES) \
		--platform manylinux2014_$$(uname -m) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
		--only-binary=:all: '.[dev]'
	rm -rf $(LAMBDA_TEST_PACKAGES)/sidekiq_watch $(LAMBDA_TEST_PACKAGES)/sidekiq_watch-*.dist-info
	touch $@

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/cfn-lint template.yaml batch-notifications.yaml

# Needs the SAM CLI 1.129.0 or later (pip install aws-sam-cli), checked first; no Docker: the
# makefile build method below does the work.
build:
	sh scripts/check-sam-version.sh
	sam build

# The batch notifications' own stack (batch-notifications.yaml), built beside the poller's.
build-batches:
	sh scripts/check-sam-version.sh
	sam build --template-file batch-notifications.yaml --build-dir .aws-sam/batches

# Called by `sam build` (BuildMethod: makefile) with ARTIFACTS_DIR set. The poller never
# imports pydantic (only the batch function parses payloads with it), and the batch function never
# imports redis (only the poller's Redis source and the `listen` command do): each leaves out the other's.
# Nor does the poller import Powertools' Event Handler (2.3 MB: only the batch function routes
# requests with it); tests/template/test_build.py holds both to it.
NO_PAYLOAD_MODELS = pydantic pydantic_core annotated_types typing_inspection aws_lambda_powertools/event_handler
build-PollerFunction:
	$(MAKE) lambda-artifact ARTIFACTS_DIR="$(ARTIFACTS_DIR)" \
		EXCLUDE="$(RUNTIME_PROVIDED) $(UNUSED) $(NO_PAYLOAD_MODELS)"

# Slack's clicks: neither payload models (pydantic), Event Handler nor Redis.
build-SlackActionsFunction:
	$(MAKE) lambda-artifact ARTIFACTS_DIR="$(ARTIFACTS_DIR)" \
		EXCLUDE="$(RUNTIME_PROVIDED) $(UNUSED) redis $(NO_PAYLOAD_MODELS)"

build-BatchNotificationsFunction:
	$(MAKE) lambda-artifact ARTIFACTS_DIR="$(ARTIFACTS_DIR)" EXCLUDE="$(RUNTIME_PROVIDED) $(UNUSED) redis"

# PyYAML's C speed-up is 2.7 MB; configuration documents are tiny, its pure-Python loader reads them.
# Bytecode is compiled by the runtime's own Python: /var/task is read-only, so without it every cold
# start compiles every module again (scripts/lambda-python.sh finds or fetches that Python).
# The wheel is built from a copy of the sources: setuptools builds in the tree's build/lib and never
# removes what was deleted from src/ there, and `sam build --build-in-source --parallel` runs two
# of these in this directory at once.
lambda-artifact:
	stage="$$(mktemp -d)" && trap 'rm -rf "$$stage"' EXIT && \
	cp -R pyproject.toml README.md src "$$stage/" && \
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir "$$stage/wheel" "$$stage" && \
	$(PYTHON) -m pip install --quiet --no-compile --target "$(ARTIFACTS_DIR)" \
		--platform $(LAMBDA_PLATFORM) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
		--only-binary=:all: "$$stage"/wheel/*.whl
	cd "$(ARTIFACTS_DIR)" && for pkg in $(EXCLUDE); do rm -rf $$pkg $$pkg.py $$pkg-*.dist-info; done
	rm -f "$(ARTIFACTS_DIR)"/yaml/_yaml.*.so
	rm -rf "$(ARTIFACTS_DIR)"/bin
	@if [ "$(LAMBDA_BYTECODE)" = no ]; then \
		echo "$(ARTIFACTS_DIR): sources only (LAMBDA_BYTECODE=no)" >&2; \
	elif python="$$(sh scripts/lambda-python.sh $(LAMBDA_PYTHON_VERSION))"; then \
		"$$python" scripts/compile_artifact.py "$(ARTIFACTS_DIR)"; \
	else \
		echo "warning: $(ARTIFACTS_DIR) ships without bytecode for Python $(LAMBDA_PYTHON_VERSION):" \
			"each cold start compiles it (about 110 ms for the poller)" >&2; \
	fi

# What the Lambda runtime provides beside the artifact (boto3), for running an artifact here as Lambda
# would: the build tests and `make bench` put it after the artifact on the path.
lambda-runtime:
	$(PYTHON) -m pip install --quiet --no-compile --target "$(ARTIFACTS_DIR)" \
		--platform $(LAMBDA_PLATFORM) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
		--only-binary=:all: boto3
	python="$$(sh scripts/lambda-python.sh $(LAMBDA_PYTHON_VERSION))" && \
		"$$python" -m compileall -q "$(ARTIFACTS_DIR)" >/dev/null

# docs/configuration.md's reference and docs/slack/ (examples, Block Kit Builder links), regenerated from the code.
docs: $(STAMP)
	$(BIN)/python -m sidekiq_watch.reference

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The monthly bill for 1, 10 and 50 targets, from what one poll and one batch delivery do (bench/prices.py).
cost: $(STAMP)
	$(BIN)/python bench/cost.py

deploy:
	sh scripts/check-sam-version.sh
	sam build && sam deploy --guided

# Its answers are saved under [batches] in samconfig.toml: later, `make deploy-batches` again.
deploy-batches: build-batches
	sam deploy --guided --template-file .aws-sam/batches/template.yaml --config-env batches

clean:
	rm -rf $(VENV) build .aws-sam .pytest_cache .mypy_cache .ruff_cache
