# Two commands for a newcomer: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LANGS := uk ru en pl

.PHONY: setup run test lint compile format clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Extract new strings, merge them into every catalog, and build the .mo files.
compile: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k _n:1,2 -k N_ --no-wrap \
		--add-location=file --sort-by-file --omit-header -o locales/messages.pot .
	for lang in $(LANGS); do \
		$(BIN)/pybabel -q update --init-missing --ignore-obsolete --ignore-pot-creation-date --no-fuzzy-matching --no-wrap \
			-i locales/messages.pot -d locales -D messages -l $$lang || exit 1; \
	done
	$(BIN)/pybabel -q compile -d locales -D messages

run: compile
	$(BIN)/auditbot run

test: compile
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find locales -name '*.mo' -delete
