# make run   everything set up on a fresh machine, then the embedded stack with demo data
# make test  set up, then every test
SHELL   := bash
PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup tools run test lint clean

# Idempotent and fast when done: pip runs only when pyproject.toml changed since the
# last install; the Kafka jars come from a cache outside the repo (ops/embedded_kafka.py).
setup: tools $(VENV)/.installed
	@$(VENV)/bin/python -m ops.embedded_kafka fetch

# java runs the broker, mvn fetches its jars: say what is missing before anything slow
tools:
	@missing=; for t in java mvn; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "make setup: missing$$missing (needed for the embedded Kafka);" \
	  "install with: sudo apt-get install -y openjdk-17-jre-headless maven"; exit 1; fi

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "make setup: python3 (>= 3.11) is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	@touch $@

run: setup
	$(VENV)/bin/credit-ledger up --demo

test: setup
	$(VENV)/bin/python -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
