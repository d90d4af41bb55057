# The two commands: `make run` and `make test`. Both set up .venv on a fresh clone.
PYTHON ?= python3
export NO_MKDOCS_2_WARNING := 1
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := -p proctor.reference -p proctor.conformance -p proctor.mock_idps -p proctor.cli

.PHONY: run test setup lint typecheck pytest pg-test docs spec-index clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled on every run: the strict editable install is a link tree, so new files
# need a reinstall before mypy and pytest can see them.
setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet --config-settings editable_mode=strict -e '.[dev]'

# The conformance kit against the embedded reference service and mock IdPs (all on
# loopback); the reports land in build/proctor-report. Known defects of the reference
# the kit found are allowed (with an expiry) by examples/conformance/reference-allow.yaml.
run: setup
	@echo "proctor conform: the kit's suites against the embedded reference service"
	$(BIN)/proctor conform --report-dir build/proctor-report \
		--allow examples/conformance/reference-allow.yaml

test: setup lint typecheck pytest docs

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy $(PACKAGES)

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

# The PostgreSQL-marked tests against a throwaway server (.ci/postgres.sh starts it and
# stops it afterwards; set PROCTOR_TEST_POSTGRES_URL to use your own server instead).
pg-test: setup
	bash -c 'source .ci/postgres.sh && $(BIN)/pytest -m postgres $(PYTEST_ARGS)'

docs:
	$(BIN)/mkdocs build --strict --quiet --site-dir build/site

# Regenerate spec/requirements.json from the spec's Markdown, and the docs' requirement
# coverage page from the index and the kit's checks (tests fail while either is stale).
spec-index: setup
	$(BIN)/python -m proctor.conformance.catalog --write spec
	$(BIN)/python -m proctor.conformance.coverage --write docs/conformance/requirements.md

clean:
	rm -rf $(VENV) build site .mypy_cache .pytest_cache .ruff_cache *.egg-info
