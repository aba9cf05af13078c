# Wangge (网格) developer entry points. See docs/SETUP.md.
#
# Every target that touches the database first runs scripts/bootstrap.sh (idempotent, quick on a
# second run), then sources .local/env.<database> for DATABASE_URL and WANGGE_JWT_SECRET.
#
#   make run    database wangge: migrate, load the demo street if empty, serve on 127.0.0.1:8000
#   make test   database wangge_test (+ Chromium): lint, migrate, pytest
#   make lint   ruff check, ruff format --check, mypy
#   make db     database wangge: bootstrap and migrate only
#   make demo   database wangge: drop every table (schema public) and load the demo street again

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Override on the command line only (make run DB=other), not from the environment.
DB := wangge
TEST_DB := wangge_test
# WANGGE_PORT overrides the port of `make run`.
PORT := $(or $(WANGGE_PORT),8000)
URL := http://127.0.0.1:$(PORT)

VENV := .venv/bin
BOOTSTRAP := bash scripts/bootstrap.sh
# $(call with_env,DBNAME): prefix of a recipe line that runs with that database's environment.
with_env = . .local/env.$(1) &&

.PHONY: help run test lint db demo

help:
	@sed -n 's/^#   make /make /p' Makefile

run:
	$(BOOTSTRAP) $(DB)
	$(call with_env,$(DB)) $(VENV)/alembic upgrade head
	$(call with_env,$(DB)) $(VENV)/wangge demo load --if-empty
	$(call with_env,$(DB)) $(VENV)/wangge stats refresh
	@printf '\n==> Wangge on %s\n    Map:      %s/map/\n    API docs: %s/docs\n' "$(URL)" "$(URL)" "$(URL)"
	@if [ -f docs/DEMO_USERS.md ]; then printf '\n==> Demo logins (docs/DEMO_USERS.md)\n'; cat docs/DEMO_USERS.md; fi
	@printf '\n==> Serving in the foreground (Ctrl-C stops)\n'
	$(call with_env,$(DB)) exec $(VENV)/uvicorn gis_api.main:create_app --factory --host 127.0.0.1 --port $(PORT)

test:
	@case "$${DATABASE_URL:-}" in \
	    "" | *_test | *_test\?*) ;; \
	    *) echo "make test: DATABASE_URL is set and does not name a *_test database;" \
	            "refusing to run the tests against it (unset it, or point it at a test database)" >&2; \
	       exit 1 ;; \
	esac
	$(BOOTSTRAP) $(TEST_DB) --browser
	$(MAKE) --no-print-directory lint
	$(call with_env,$(TEST_DB)) $(VENV)/alembic upgrade head
	$(call with_env,$(TEST_DB)) $(VENV)/pytest

lint:
	@test -x $(VENV)/ruff -a -x $(VENV)/mypy || { \
	    echo "make lint: no ruff/mypy in .venv; run 'make db' (or scripts/bootstrap.sh wangge) first" >&2; \
	    exit 1; }
	@rc=0; \
	echo "==> ruff check ."; $(VENV)/ruff check . || rc=1; \
	echo "==> ruff format --check ."; $(VENV)/ruff format --check . || rc=1; \
	echo "==> mypy"; $(VENV)/mypy || rc=1; \
	exit $$rc

db:
	$(BOOTSTRAP) $(DB)
	$(call with_env,$(DB)) $(VENV)/alembic upgrade head

demo:
	$(BOOTSTRAP) $(DB)
	@echo "==> Reloading the demo: every table of database $(DB) is dropped and created again"
	$(call with_env,$(DB)) psql -X -q -v ON_ERROR_STOP=1 -d "$${DATABASE_URL/+psycopg/}" \
	    -c 'DROP SCHEMA public CASCADE' -c 'CREATE SCHEMA public'
	$(BOOTSTRAP) $(DB)
	$(call with_env,$(DB)) $(VENV)/alembic upgrade head
	$(call with_env,$(DB)) $(VENV)/wangge demo load
