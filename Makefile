# One entry point for developers, the README and CI.
#   make run        - build and start the drill environment, break a pod, run the Service Down playbook
#   make test       - what CI runs (under 25 min warm): unit, integration (drill cluster, PostgreSQL,
#                     Redis, HTTP), one molecule drill per behaviour, sanity, lint, docs
#   make test-long  - the longer tier, run before work is called done: everything in test, the
#                     tests marked long (every drill, long campaigns), then the benchmark
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Python environment is cached outside the checkout, keyed by the requirements,
# so a warm machine skips the install and a changed pin gets a fresh one.
REQ_HASH := $(shell cat requirements.txt requirements-test.txt | sha256sum | cut -c1-12)
VENV ?= $(HOME)/.cache/aio-venv-$(REQ_HASH)
PYTHON ?= $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH ?= $(HOME)/.cache/aio-collections
DRILL_KUBECONFIG ?= $(HOME)/.cache/ai-orchestrator-drill/kubeconfig
FAULT ?= crashloop
SERVICE ?= api-gateway
PYTEST_ARGS ?=

include tools/quality.mk

.PHONY: help deps venv system-packages drill-build drill-up drill-down run eda unit integration test test-long bench clean-venv

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

# The Prometheus packages may start their own services on the default ports (9090, 9093,
# 9187, 9121); the drill runs its own instances on the ports in drill/drill.env, so those
# services do not matter to it.
system-packages:  ## Debian packages the drill and the checks need (redis-server, postgresql-15, shellcheck, Prometheus, Alertmanager, exporters, Java 17 for ansible-rulebook) when missing
	@missing=""; command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	[ -x /usr/lib/postgresql/15/bin/postgres ] || missing="$$missing postgresql-15"; \
	[ -x /usr/bin/prometheus ] || missing="$$missing prometheus"; \
	[ -x /usr/bin/prometheus-alertmanager ] || missing="$$missing prometheus-alertmanager"; \
	[ -x /usr/bin/prometheus-postgres-exporter ] || missing="$$missing prometheus-postgres-exporter"; \
	[ -x /usr/bin/prometheus-redis-exporter ] || missing="$$missing prometheus-redis-exporter"; \
	java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || missing="$$missing openjdk-17-jre-headless"; \
	command -v go >/dev/null || { echo "Go 1.26 or newer is required (go on PATH)"; exit 1; }; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "run as root or: sudo apt-get install$$missing"; exit 1; fi; \
	fi

# No file prerequisites: the venv's name carries the requirements' hash, and a fresh
# clone's new file times must not force a reinstall of an identical environment.
$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-test.txt
	touch $@

venv: $(VENV)/.installed  ## the Python environment (ansible-core, kubernetes, molecule, linters)

deps: system-packages venv collection-link  ## everything the drill and the tests need

drill-build: ## build the drill cluster binaries from Go modules (cached by version)
	bash drill/build.sh

drill-up: deps drill-build  ## start the drill environment (cluster, PostgreSQL, Redis, HTTP stand-ins)
	bash drill/env.sh up

drill-down:  ## stop the drill environment; leaves no process behind
	bash drill/env.sh down

run: drill-up  ## the main job: inject FAULT (crashloop|oomkilled|imagepull|notready|none) into one SERVICE pod, run service_down.yml
	@if [ "$(FAULT)" != none ]; then bash drill/fault.sh pod $(SERVICE) $(FAULT); fi
	ansible-playbook playbooks/service_down.yml -e namespace=ai-orchestrator $(RUN_ARGS)

# Alerts in the loop on the drill: the drill's Alertmanager posts to this rulebook, which runs
# the scenario playbooks (docs/eda.md); break a pod with drill/fault.sh and watch. Ctrl-C stops it.
eda: drill-up  ## run the Event-Driven Ansible rulebook behind the drill's Alertmanager (foreground)
	@set -a; source drill/drill.env; set +a; \
	ALERT_WEBHOOK_TOKEN="$$(cat "$$DRILL_RUN/secrets/eda_token")" ALERT_WEBHOOK_PORT=$$DRILL_EDA_PORT \
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg ansible-rulebook -r extensions/eda/rulebooks/alertmanager.yml \
	  -i inventory/drill.yml --vars extensions/eda/vars/alert_routes.yml \
	  --env-vars ALERT_WEBHOOK_TOKEN,ALERT_WEBHOOK_PORT --max-concurrent-actions 4

unit: deps  ## unit tests only (no servers)
	$(PYTHON) -m pytest tests/unit -p no:cacheprovider -q $(PYTEST_ARGS)

integration: deps drill-build  ## tests against the drill environment (starts and stops it)
	$(PYTHON) -m pytest tests/integration -p no:cacheprovider -q $(PYTEST_ARGS)

test: deps drill-build  ## what CI runs: unit, integration, one drill per behaviour, the short campaign; then sanity, lint, docs
	PYTHON=$(PYTHON) PYTEST_ARGS="$(PYTEST_ARGS)" tools/test.sh fast

test-long: deps drill-build  ## the longer tier: test plus the tests marked long, then the benchmark (BENCH_ARGS)
	PYTHON=$(PYTHON) PYTEST_ARGS="$(PYTEST_ARGS)" BENCH_ARGS="$(BENCH_ARGS)" tools/test.sh long

# Arguments of the cache warm-up benchmark (tests/benchmarks/cache_warmup_bench.py --help), e.g. --keys=200000.
WARMUP_BENCH_ARGS ?=

bench: drill-up  ## diagnosis benchmark at 10/100/1000/5000 pods, the 1 GB restore benchmark (RESTORE_BENCH_ARGS), the cache warm-up benchmark (WARMUP_BENCH_ARGS); all write docs/benchmarks.md
	$(PYTHON) tests/benchmarks/diagnosis_bench.py $(BENCH_ARGS)
	$(PYTHON) tests/benchmarks/restore_bench.py $(RESTORE_BENCH_ARGS)
	$(PYTHON) tests/benchmarks/cache_warmup_bench.py --write-docs $(WARMUP_BENCH_ARGS)

clean-venv:  ## remove the cached Python environment
	rm -rf $(VENV)
