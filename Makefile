# Two commands: `make demo` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test test-pythons lint bench clean

setup: $(STAMP) browser
	@# bytecode, as pip writes it for an installed package (an editable install compiles on import,
	@# and not at all where PYTHONDONTWRITEBYTECODE is set: ~0.1 s of every engine process)
	@$(PY) -m compileall -q engine jobs data bench >/dev/null

# Debian's chromium: tests/test_report_browser.py opens the run report in it (headless). Installed
# here when missing (as root, with apt); otherwise that test fails saying how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ echo "== installing Debian's chromium (the report test opens a report in it)" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "!! could not install chromium: apt-get install chromium (tests/test_report_browser.py needs it)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: setup
	@echo "== word count on the engine (top 15 of data/sample/words.txt) =="
	$(PY) jobs/wordcount.py -r engine -q data/sample/words.txt | sort -t "$$(printf '\t')" -k2,2nr -k1,1 | head -15
	@echo
	@echo "== the labs: Redshift challenge on the engine and in DuckDB, CloudFront OS counts =="
	$(PY) -m data.demo
	@echo
	@echo "== the labs as SQL, compiled to MapReduce stages: the Hive tutorial's script (os, count) =="
	@out=$$(mktemp -d) && $(PY) -m engine hive -q -f emr/Hive_CloudFront.q -d INPUT=data/sample -d OUTPUT=$$out \
		&& cat $$out/os_requests/0*_0 | tr '\001' '\t' | sort && rm -rf $$out
	@echo
	@echo "== ... and the Redshift lab's DDL, COPY and queries (sql/tickit_lab.sql) =="
	$(PY) -m engine sql -q -f sql/tickit_lab.sql --format table

# pytest's settings (pyproject.toml): warnings are errors, markers strict, 300 s per test. The fast part
# only (seconds, not minutes): $(PY) -m pytest -m "not slow".
# Two pytest workers (pytest-xdist), each running whole test files (module fixtures built once per
# file): the suite takes ~280 s on 2 cores instead of ~650 s in one process.
test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -n 2 --dist loadfile

# The suite's core under the other supported Pythons (3.11 is `make test`'s .venv): each gets its own
# .venv-pyXY, built once like .venv; an interpreter that is not installed is skipped with a notice.
PY_VERSIONS ?= 3.9 3.10 3.12 3.13
PYENV_ROOT ?= $(HOME)/.pyenv
# A representative part of the suite (all of it runs under 3.11): the CLI runners (-r inline/local/engine,
# python -m engine run), parity, the lab jobs against DuckDB, mrjob's EMR runner on moto, the py_files
# archive under EMR 7's Python 3.9, shuffle, splits, commit and faults, and the SQL compiler, scripts and
# refusals, which distutils `python -m engine` imports, and the warm server's fork; serial executor, one seed.
PY_TESTS ?= tests/test_runner.py tests/test_parity.py::test_job_matches_inline \
	tests/test_lab_jobs.py::test_job_equals_duckdb tests/test_lab_jobs.py::test_job_on_parquet_equals_duckdb \
	tests/test_emr_lab.py::test_mrjob_emr_runner_against_moto_gives_inline_output \
	tests/test_emr_lab.py::test_py_files_archive_runs_the_job_as_hadoop_streaming_tasks \
	tests/test_splits.py tests/test_shuffle.py tests/test_commit.py tests/test_faults.py tests/test_duckdb_sql.py \
	tests/sql/test_compile.py tests/sql/test_script.py tests/sql/test_refusals.py \
	tests/test_cli.py::test_python_m_engine_imports_mrjob_without_setuptools \
	tests/test_cli.py::test_the_workers_import_mrjob_without_setuptools \
	tests/test_warm_server.py tests/test_warm_client.py tests/test_startup_gc.py \
	-m "not slow" -k "not procs and not processes and not s7"
# Newest pyenv patch release of Python $(1), else python$(1) on PATH; empty when there is none.
find_python = $(firstword $(shell ls -d $(PYENV_ROOT)/versions/$(1).*/bin/python 2>/dev/null \
	| grep -E '/$(subst .,\.,$(1))\.[0-9]+/bin/' | sort -rV) $(shell command -v python$(1)))

define python_rules
.PHONY: test-py$(2)
ifeq ($(3),)
test-py$(2):
	@echo "== Python $(1): no interpreter (pyenv $(1).x or python$(1) on PATH), skipped"
else
.venv-py$(2)/.installed: pyproject.toml
	test -x .venv-py$(2)/bin/python || $(3) -m venv .venv-py$(2)
	.venv-py$(2)/bin/python -m pip install --quiet --upgrade pip
	@# no bytecode for the ~500 MB installed (~45 s a version): the part of the suite run here imports little of it
	.venv-py$(2)/bin/python -m pip install --quiet --no-compile -e '.[test]'
	touch $$@

test-py$(2): .venv-py$(2)/.installed
	@echo "== Python $(1): $(3)"
	.venv-py$(2)/bin/python -m pytest -q -p no:cacheprovider $(PY_TESTS)
endif
endef
$(foreach v,$(PY_VERSIONS),$(eval $(call python_rules,$(v),$(subst .,,$(v)),$(call find_python,$(v)))))

# Two versions at a time, each one's output together (CI's 2 cores: ~13 -> ~6 minutes).
test-pythons:
	@$(MAKE) --no-print-directory -j2 --output-sync=target $(foreach v,$(PY_VERSIONS),test-py$(subst .,,$(v)))

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) .venv-py* .pytest_cache build *.egg-info
