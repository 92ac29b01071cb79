# Sparklio: `make demo` runs a sample campaign end to end; `make test` runs the test suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEMO_BRIEF ?= examples/briefs/hanbit-tea-ko.yaml
DAGSTER_PORT ?= 8002
STUDIO_PORT ?= 8000

.PHONY: setup demo demo-servers test dev studio validate bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/sparklio campaign add $(DEMO_BRIEF) --launch

# The production code paths (Ollama, ComfyUI, S3, a Postgres server) against loopback test servers.
# COMPARE=path/to/manifest.json (from `make demo`) checks that both give the same manifest shape.
demo-servers: setup
	$(PY) -m tests.support.demo_servers $(DEMO_BRIEF) $(if $(COMPARE),--compare $(COMPARE))

test: setup
	$(PY) -m pytest -q -ra

# The Dagster UI on the embedded default, loopback only.
dev: setup
	@export DAGSTER_HOME=$${DAGSTER_HOME:-$$( $(PY) -c 'from sparklio_pipelines.defs.instance import ensure_dagster_home; print(ensure_dagster_home())')}; \
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p $(DAGSTER_PORT)

# Sparklio Studio on the embedded default, with the Dagster webserver and daemon as `make dev` starts them
# and the Studio on http://127.0.0.1:$(STUDIO_PORT), loopback only. Create a user first:
#   .venv/bin/sparklio studio user add NAME
studio: setup
	@export DAGSTER_HOME=$${DAGSTER_HOME:-$$( $(PY) -c 'from sparklio_pipelines.defs.instance import ensure_dagster_home; print(ensure_dagster_home())')}; \
	export SPARKLIO_DAGSTER_URL=$${SPARKLIO_DAGSTER_URL:-http://127.0.0.1:$(DAGSTER_PORT)}; \
	export SPARKLIO_STUDIO_PORT=$${SPARKLIO_STUDIO_PORT:-$(STUDIO_PORT)}; \
	export SPARKLIO_STUDIO_URL=$${SPARKLIO_STUDIO_URL:-http://127.0.0.1:$$SPARKLIO_STUDIO_PORT}; \
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p $(DAGSTER_PORT) & dagster_pid=$$!; \
	trap 'kill $$dagster_pid 2>/dev/null; wait $$dagster_pid' EXIT INT TERM; \
	$(VENV)/bin/sparklio studio

# `dagster definitions validate` against the embedded instance. (Without DAGSTER_HOME the dagster CLI
# reads ./dagster.yaml, which is the production instance and needs the production environment.)
validate: setup
	@export DAGSTER_HOME=$${DAGSTER_HOME:-$$( $(PY) -c 'from sparklio_pipelines.defs.instance import ensure_dagster_home; print(ensure_dagster_home())')}; \
	$(VENV)/bin/dagster definitions validate

bench: setup
	$(VENV)/bin/pip install -q -e '.[bench]'
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf .sparklio
