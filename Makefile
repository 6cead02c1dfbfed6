# Two commands for a newcomer: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LANGS := uk ru en pl
# Exact versions with hashes: requirements-dev.lock for development (make), requirements.lock
# for the image (Dockerfile). `make lock` re-pins them after pyproject.toml changes, from the
# package index alone (local pip settings such as extra wheel folders are ignored).
LOCK := requirements-dev.lock
PIN := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/pip-compile --quiet \
	--generate-hashes --allow-unsafe --all-build-deps --strip-extras \
	--no-emit-index-url --no-emit-find-links

.PHONY: setup run test lint compile format clean lock

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

lock: $(STAMP)
	$(PIN) --output-file requirements.lock pyproject.toml
	$(PIN) --extra dev --output-file $(LOCK) pyproject.toml

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
