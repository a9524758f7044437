# Every target creates .venv on first use, so `make demo` / `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test typecheck install docs clean bench bench-lsp bench-plugin bench-floor fuzz sweep

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@echo "$$ raptor-lint check examples/raptor_app"
	@$(BIN)/raptor-lint check examples/raptor_app; status=$$?; \
	  echo "(exit status $$status: 0 clean, 1 findings, 2 error)"; exit $$status

test: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q

typecheck: $(STAMP)
	$(BIN)/python -m mypy

docs: $(STAMP)
	$(BIN)/raptor-lint rules --format markdown > docs/rules.md

# Benchmarks (not part of `make test`; see bench/run.py for the knobs).  The corpus and the
# tool environments are cached in ~/.cache/raptor-lint-bench (BENCH_CACHE=dir to move it).
bench:
	$(PYTHON) bench/run.py

bench-lsp: $(STAMP)
	$(BIN)/python bench/lsp_latency.py

# The flake8 plugin's share of flake8's work, timed inside one flake8 process (see the script).
bench-plugin:
	$(PYTHON) bench/plugin_share.py

# CPython's floors on the corpus (read, syntax check, ast.parse) next to Ruff (see the script).
bench-floor:
	$(PYTHON) bench/floor.py

# Reliability (not part of `make test`): the property tests with far more examples, and a
# sweep over the interpreter's standard library (+ the bench corpus when it is cached).
fuzz: $(STAMP)
	RAPTOR_LINT_HYPOTHESIS_PROFILE=raptor-fuzz $(BIN)/python -m pytest -q tests/test_properties.py tests/test_lsp_reparse.py

sweep: $(STAMP)
	$(BIN)/python tools/sweep.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .raptor_lint_cache
