# Two commands: `make demo` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	@echo "== word count on the engine (top 15 of data/sample/words.txt) =="
	$(PY) jobs/wordcount.py -r engine -q data/sample/words.txt | sort -t "$$(printf '\t')" -k2,2nr -k1,1 | head -15
	@echo
	@echo "== the labs: Redshift challenge on the engine and in DuckDB, CloudFront OS counts =="
	$(PY) -m data.demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
