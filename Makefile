# Dockyard developer tasks. `make test` is the one command that CI (.ci/run) and the README use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# command:package pairs the integration tests need (the docker CLI only as a client).
SYSTEM_TOOLS := podman:podman skopeo:skopeo jq:jq curl:curl newuidmap:uidmap docker:docker.io

.PHONY: install system-deps test serve bench

install: system-deps $(VENV)/.installed

# As root on Debian/Ubuntu, install the client tools the integration tests drive when missing.
system-deps:
	@missing=""; \
	for pair in $(SYSTEM_TOOLS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 $$missing; \
	  else \
	    echo "warning: missing$$missing (not root or no apt-get: install them yourself)" >&2; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

serve: install
	$(BIN)/dockyard serve --host 127.0.0.1 --port 5000 --data-dir ./data

bench: install
	@for pair in wrk:wrk curl:curl docker-registry:docker-registry; do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$${missing:-} $${pair##*:}"; \
	done; \
	if [ -n "$${missing:-}" ]; then \
	  echo "installing:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 $$missing; \
	fi
	$(BIN)/python bench/run.py $(BENCH_ARGS)
