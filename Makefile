# The commands of the README. Each installs what it needs first.
SHELL := /bin/bash
PY := .venv/bin/python
STACK := scripts/stack
STACK_ENV = $$($(STACK) env | sed 's/^/export /')

.PHONY: run test check up down status wipe install tools bootstrap bootstrap-operator gen-protos check-protos lint bench chaos

run: install up ## bring up Kafka + PostgreSQL and run the services (Ctrl-C stops the services)
	@eval "$(STACK_ENV)"; scripts/run-services

test: install up tools ## lint, type-check and run the whole test suite against the real stack
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy .
	@eval "$(STACK_ENV)"; $(PY) -m pytest $(PYTEST_ARGS)

# Fast checks that need neither Kafka, PostgreSQL nor Go: format, lint, types, unit tests.
check: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy .
	$(PY) -m pytest -m "not integration" -q

install: .venv/.installed

# Editable installs map top-level packages at install time: a new generated package reinstalls.
.venv/.installed: pyproject.toml $(wildcard libs/protogen/*/__init__.py)
	@test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

up: install
	$(STACK) up

# gRPC tools nobody here wrote, used by the tests as real third-party clients.
GRPCURL_VERSION := v1.9.3
tools: .stack/bin/grpcurl
	@command -v kcat >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; } || echo "kcat not installed (Debian: apt-get install kcat)"
	@# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser).
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed (Debian: apt-get install chromium)"

.stack/bin/grpcurl:
	@command -v go >/dev/null || { echo "go not found: install Go (Debian: apt-get install golang) for grpcurl"; exit 1; }
	GOBIN=$(CURDIR)/.stack/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

# The first administrator of an account and its API key token (printed once):
#   make bootstrap ACCOUNT=acme ADMIN=admin
# The only path to a token without an invitation; everyone else is invited (InviteUser).
ACCOUNT ?= acme
ADMIN ?= admin
bootstrap: install up
	@eval "$(STACK_ENV)"; AUTHZ_DATABASE_URL=$${AUTHZ_DATABASE_URL:-$$DATABASE_URL} \
		$(PY) -m services.authz bootstrap --account $(ACCOUNT) --admin $(ADMIN)

# The platform operator (the only holder of the global permission registry), token printed once.
OPERATOR ?= operator
bootstrap-operator: install up
	@eval "$(STACK_ENV)"; AUTHZ_DATABASE_URL=$${AUTHZ_DATABASE_URL:-$$DATABASE_URL} \
		$(PY) -m services.authz bootstrap-operator --operator $(OPERATOR)

down:
	$(STACK) down

status:
	$(STACK) status

wipe:
	$(STACK) wipe

gen-protos: install
	$(PY) scripts/gen_protos.py

check-protos: install
	$(PY) scripts/gen_protos.py --check

lint: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The load generator of the gRPC benchmarks (bench/authz_perf.py), like grpcurl: go install, pinned.
GHZ_VERSION := v0.120.0
.stack/bin/ghz:
	@command -v go >/dev/null || { echo "go not found: install Go (Debian: apt-get install golang) for ghz"; exit 1; }
	GOBIN=$(CURDIR)/.stack/bin go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

bench: install up .stack/bin/ghz
	@eval "$(STACK_ENV)"; $(PY) -m bench

# The audit pipeline under faults, on a broker and a database of its own (a few minutes):
#   make chaos CHAOS_ARGS="--only broker-10s,poison"
chaos: install
	$(PY) -m bench chaos -- $(CHAOS_ARGS)
