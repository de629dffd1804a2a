# make run   everything set up on a fresh machine, then the embedded stack with demo data
# make test  set up, then every test
# make mutation  mutation testing of projections/ (docs/mutation.md); not part of make test
SHELL   := bash
PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup tools debs run test lint clean mutation

# Debian packages tests need: chromium drives the dashboard's browser test, promtool
# (package prometheus) unit-tests the alert rules, fonts-noto-cjk renders its Chinese.
DEBS := chromium prometheus fonts-noto-cjk

# Idempotent and fast when done: pip runs only when pyproject.toml changed since the
# last install; the Kafka jars come from a cache outside the repo (ops/embedded_kafka.py).
setup: tools debs $(VENV)/.installed
	@$(VENV)/bin/python -m ops.embedded_kafka fetch

# apt runs only when a package is missing; without root it names the command instead.
debs:
	@missing=$$(for d in $(DEBS); do dpkg -s $$d >/dev/null 2>&1 || echo $$d; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "make setup: missing Debian packages:" $$missing; \
	    echo "  install with: sudo apt-get install -y" $$missing; exit 1; fi; fi

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

# Three test processes, each with its own broker: most of a Kafka test is waiting (sessions,
# rebalances, timers, paced streams); with two the cores were ~60% busy and the part took 11 min,
# with three 9. tests/conftest.py groups the tests.
# The 15 slowest are listed at the end: the whole suite must stay under 15 minutes.
# Tests marked `alone` (a broker restart, the three-broker cluster's failures) run afterwards, by themselves.
test: setup
	$(VENV)/bin/python -m pytest -q -n 3 --dist loadgroup --durations=15 -m "not alone"
	$(VENV)/bin/python -m pytest -q -m alone

# mutmut over projections/ against the unit tests (no broker, no browser), then the score and the
# surviving mutants. Each mutant runs only the unit tests that reach its function, two at a time, at
# the lowest priority. All of projections/ is ~10,000 mutants, hours on two cores: MODULES runs those
# modules' mutants only, e.g. make mutation MODULES="projections/ids.py projections/replay.py"; SAMPLE=N runs a
# seeded N percent of them (ops/mutation_sample.py), e.g. make mutation SAMPLE=10 MODULES=projections/records.py.
# Results are kept in mutants/ (a mutant already judged is not run again; rm -rf mutants to start over).
MODULES ?=
SAMPLE ?=
mutation: $(VENV)/.installed
	nice -n 19 $(VENV)/bin/mutmut run --max-children 2 $(if $(SAMPLE),$$($(VENV)/bin/python -m ops.mutation_sample \
	    --percent $(SAMPLE) $(or $(MODULES),$(wildcard projections/*.py))),$(foreach m,$(MODULES),"$(subst /,.,$(m:.py=)).*"))
	$(VENV)/bin/python -m ops.mutation_report $(MODULES)

lint: $(VENV)/.installed
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis mutants
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
