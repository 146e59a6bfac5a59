# The two commands a new user needs: `make run` (train the example bot, talk to it) and `make test`.
PYTHON ?= python3.10
VENV ?= .venv
export RASA_TELEMETRY_ENABLED = false
export PYENV_VERSION ?= 3.10.13

.PHONY: install test run bench-copy clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

test: install
	$(VENV)/bin/python -m pytest tests

run: install
	scripts/run_example_bot.sh $(abspath $(VENV))

bench-copy: install
	$(VENV)/bin/python bench/copy_task.py

clean:
	rm -rf $(VENV) example_bot/models example_bot/tracker.db example_bot/actions.log
