# The two commands a new user needs: `make run` (train the example bot, talk to it) and `make test`.
# For contributors: `make lint`, `make test-fast` (leaves out the tests marked slow); CONTRIBUTING.md.
PYTHON ?= python3.10
VENV ?= .venv
export RASA_TELEMETRY_ENABLED = false
export PYENV_VERSION ?= 3.10.13

.PHONY: install lint test test-fast run bench-copy original-redp-env clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .

# Two pytest workers; each module's tests stay in one worker, in the order tests/conftest.py
# gives (the example bot's first and last).
TEST_WORKERS ?= 2

test: install
	$(VENV)/bin/python -m pytest tests -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test-fast: install
	$(VENV)/bin/python -m pytest tests -m "not slow" -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

run: install
	scripts/run_example_bot.sh $(abspath $(VENV))

bench-copy: install
	$(VENV)/bin/python bench/copy_task.py

# The original REDP (rasa_core 0.14.5, Python 3.6) for bench/original_redp.py; its two pins keep
# aged dependencies installable.
.venv36/.installed:
	PYENV_VERSION=3.6.15 python -m venv .venv36
	.venv36/bin/pip install --quiet --upgrade "pip<22"
	.venv36/bin/pip install --quiet rasa_core==0.14.5 "greenlet<0.5" python-engineio==3.4.3
	touch $@

original-redp-env: .venv36/.installed

clean:
	rm -rf $(VENV) example_bot/models example_bot/tracker.db example_bot/actions.log
