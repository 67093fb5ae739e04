# Two entry points for users: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test up down lint bench clean-local

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m ruff check include dags plugins tests bench scripts
	$(PY) -m pytest -n 3 --dist loadgroup

up: $(STAMP)
	$(PY) scripts/airflow_local.py up

down: $(STAMP)
	$(PY) scripts/airflow_local.py down

lint: $(STAMP)
	$(PY) -m ruff check include dags plugins tests bench scripts

clean-local:
	-$(PY) -m data_pipeline db stop
	rm -rf .local
