# The two commands a user needs: `make serve` and `make test`. Both install first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve index test browser clean

install: $(STAMP)

# Reinstall only when pyproject.toml changes; torch first so pip takes the CPU wheel.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip check
	touch $(STAMP)

index: install
	$(BIN)/rag index

serve: install
	$(BIN)/rag serve

# Debian's Chromium for the browser tests (Playwright's own download does not work here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .cache
