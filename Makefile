# Every target creates .venv on first use, so `make demo` / `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test typecheck install docs clean bench bench-lsp bench-plugin bench-floor fuzz sweep release

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# From the app's own root, as its CI and pre-commit run it: paths are shown relative to it.
demo: $(STAMP)
	@echo "$$ cd examples/raptor_app && raptor-lint check ."
	@cd examples/raptor_app && ../../$(BIN)/raptor-lint check .; status=$$?; \
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

# `make release`: create the annotated tag v<version> that the pre-commit snippet's `rev:`
# names, for the version in raptor_lint/__init__.py.  Refuses (exit 1, nothing tagged) unless
# every change is committed (untracked files too: a module left out of the commit would be
# left out of the release), CHANGELOG.md has the version's section, the README's snippet
# names the tag, and the tag does not exist yet.  Publishing is `git push origin v<version>`.
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' raptor_lint/__init__.py)

release:
	@test -n "$(VERSION)" || { echo "make release: no __version__ = \"...\" in raptor_lint/__init__.py" >&2; exit 1; }
	@test -z "$$(git status --porcelain)" || { echo "make release: uncommitted changes (see git status); commit them first" >&2; exit 1; }
	@grep -q '^## \[$(VERSION)\]' CHANGELOG.md || { echo "make release: CHANGELOG.md has no '## [$(VERSION)]' section; add it" >&2; exit 1; }
	@grep -Eq 'rev: v$(VERSION)([[:space:]]|$$)' README.md || { echo "make release: the README's pre-commit snippet does not say 'rev: v$(VERSION)'" >&2; exit 1; }
	@! git rev-parse -q --verify "refs/tags/v$(VERSION)" >/dev/null || { echo "make release: tag v$(VERSION) exists; bump __version__ first" >&2; exit 1; }
	git tag -a "v$(VERSION)" -m "raptor-lint $(VERSION)"
	@echo "Tagged v$(VERSION). Publish it with: git push origin v$(VERSION)"

clean:
	-$(BIN)/raptor-lint clean 2>/dev/null
	rm -rf $(VENV) .pytest_cache .hypothesis .raptor_lint_cache
