# Marsad — the front door. Every target is documented in README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MARSAD_VAR_DIR ?= $(CURDIR)/var
PORT ?= 5000
HOST ?= 127.0.0.1

.PHONY: help demo demo-data serve test test-deps bench clean venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

# The tests exercise the Pulumi program and the playbooks too, so the test environment holds
# their pinned tools (infra/requirements.txt, playbooks/requirements.txt) beside Marsad's own.
$(STAMP): pyproject.toml infra/requirements.txt playbooks/requirements.txt
	@command -v $(PYTHON) >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' -r infra/requirements.txt -r playbooks/requirements.txt
	@touch $@

venv: $(STAMP)  ## create .venv and install Marsad with its pinned dependencies

demo-data: $(STAMP)  ## initialise var/ (SQLite, local object store) with demo accounts and a synthetic year
	MARSAD_ENV=demo $(BIN)/marsad demo init

demo: demo-data  ## install, load a synthetic year, start the portal, print address and logins
	MARSAD_ENV=demo $(BIN)/marsad demo logins
	@echo "Portal: http://$(HOST):$(PORT)/   (Ctrl-C stops it)"
	MARSAD_ENV=demo MARSAD_COOKIE_SECURE=0 $(BIN)/flask --app portal.wsgi run --host $(HOST) --port $(PORT)

test-deps:  ## install the Debian packages the tests need (PostgreSQL server, Chromium; as root, the lab's) when missing
	bash .ci/install-test-deps.sh
	bash hardware/keycloak-dist.sh >/dev/null
	@if [ "$$(id -u)" -eq 0 ] && [ "$${MARSAD_LAB_TEST:-1}" != 0 ]; then bash hardware/lab-deps.sh; \
	else echo "test-deps: not root or MARSAD_LAB_TEST=0: the lab deployment test will be skipped"; fi

test: test-deps $(STAMP)  ## install what the tests need and run every test (servers start and stop themselves)
	$(BIN)/pytest -q

# `make bench` runs every benchmark below, one after the other (about 25 minutes); each prints
# its own figures. Run one alone with its own target.
INDICATOR_ROWS ?= 10000000
.PHONY: bench-ingest bench-indicators bench-forecast bench-portal
bench: bench-ingest bench-indicators bench-forecast bench-portal bench-sandbox  ## every benchmark: ingestion, indicators, forecasts, portal, sandboxes

bench-ingest: test-deps $(STAMP)  ## ingest 1,000,000 border crossings into PostgreSQL beside COPY, and a 200 MB all-invalid upload; print rows/s, peak memory, ratio
	$(BIN)/python -m tests.bench.ingest $(if $(ROWS),--rows $(ROWS))

bench-indicators: test-deps $(STAMP)  ## fill INDICATOR_ROWS (10,000,000) border events; p50/p95/p99 of filtered dashboard queries
	$(BIN)/python -m tests.bench.indicators --rows $(INDICATOR_ROWS)

bench-forecast: $(STAMP)  ## backtest error (MAPE) of the 12-month forecasts on synthetic years
	$(BIN)/python -m tests.bench.forecast

bench-portal: $(STAMP)  ## dashboard and API under load (gunicorn on loopback): requests/s, p50/p95/p99
	$(BIN)/python -m tests.bench.portal

clean:  ## remove var/ (demo data) and the virtualenv
	rm -rf var $(VENV)

# --- provisioning ---
# Pulumi (infra/): the machines, disks and secrets of ENV (hardware/environments/ENV.yaml), guarded
# by the policy pack infra/policy. Both targets first check hardware/ without Pulumi; without a
# pulumi binary they then say how to get one and fail (script status 4, so make exits 2).
PULUMI ?= pulumi
.PHONY: plan deploy-infra

plan: $(STAMP)  ## preview ENV's machines and secrets with Pulumi and the guardrails (needs the pulumi CLI)
	@PULUMI='$(PULUMI)' BIN='$(CURDIR)/$(BIN)' bash infra/pulumi-stack.sh preview '$(ENV)'

deploy-infra: $(STAMP)  ## pulumi up for ENV (YES=1: no prompt), then hands its secrets to `make deploy ENV`
	@PULUMI='$(PULUMI)' BIN='$(CURDIR)/$(BIN)' YES='$(YES)' bash infra/pulumi-stack.sh up '$(ENV)'

# --- lab and deployment ---
# `make lab PROFILE=standard && make deploy ENV=lab && make verify ENV=lab` (README: Deployment).
PROFILE ?= standard
ENV ?= lab
DEPLOY_STAMP := $(VENV)/.deploy-installed
ARTIFACTS ?= artifacts
export ARTIFACTS

$(DEPLOY_STAMP): $(STAMP) playbooks/requirements.txt
	$(BIN)/pip install -q -r playbooks/requirements.txt
	@touch $@

.PHONY: lab-deps lab lab-destroy artifacts deploy verify yardsticks restore-drill

lab-deps:  ## install the Debian packages the lab needs (debootstrap, systemd-nspawn, tinyproxy) when missing
	bash hardware/lab-deps.sh

lab: lab-deps $(DEPLOY_STAMP)  ## boot PROFILE's servers (default standard) as Debian 13 containers on this machine
	$(BIN)/marsad hardware lab up --profile $(PROFILE)

lab-destroy: $(STAMP)  ## power off and remove every lab on this machine (the cached image stays)
	$(BIN)/marsad hardware lab down --all

artifacts: $(STAMP)  ## build the wheelhouse and SeaweedFS binary deployments install offline (artifacts/)
	bash hardware/artifacts.sh

deploy: $(DEPLOY_STAMP) artifacts  ## run playbooks/site.yml on ENV's servers (default lab); IDEMPOTENT=1 fails on any change
	$(BIN)/marsad hardware deploy $(ENV) $(if $(IDEMPOTENT),--expect-no-change)

verify: $(DEPLOY_STAMP)  ## check ENV's servers over SSH with the testinfra suites (tests/testinfra)
	$(BIN)/marsad hardware verify $(ENV)

yardsticks: $(STAMP)  ## Lynis, ssh-audit and testssl.sh on ENV's servers: a table, reports in var/yardsticks/ENV; exit 1 on a missed target
	$(BIN)/marsad hardware yardsticks $(ENV)

restore-drill: $(DEPLOY_STAMP)  ## restore ENV's latest backup onto a fresh server and compare row counts and checksums
	$(BIN)/marsad hardware deploy $(ENV) --playbook restore-drill.yml

# --- sandboxes ---
# Training sandboxes (services/sandbox, README: Training sandboxes): each with its own database,
# object store, accounts, portal port and expiry, under $(MARSAD_VAR_DIR)/sandboxes/NAME
# (MARSAD_SANDBOX_ROOT to put them elsewhere; MARSAD_SANDBOX_DATABASE_URL and MARSAD_SANDBOX_S3_*
# for PostgreSQL and S3). `make sandbox NAME=tunis-0325 TRAINEES=20`, then `make sandbox-serve NAME=...`.
TRAINEES ?= 20
.PHONY: sandbox sandbox-serve sandbox-reset sandbox-destroy bench-sandbox

sandbox: $(STAMP)  ## create training sandbox NAME with TRAINEES accounts (INSTITUTION, DAYS, TARGET=lab ENV=lab optional); prints its credentials sheet
	@test -n '$(NAME)' || { echo 'usage: make sandbox NAME=name [TRAINEES=20] [INSTITUTION=MI-PAF] [DAYS=14] [TARGET=lab [ENV=lab]]'; exit 2; }
	$(BIN)/marsad sandbox create '$(NAME)' --trainees '$(TRAINEES)' $(if $(INSTITUTION),--institution '$(INSTITUTION)') $(if $(DAYS),--days '$(DAYS)') $(if $(TARGET),--target '$(TARGET)') $(if $(filter lab,$(TARGET)),--env '$(ENV)')

sandbox-serve: $(STAMP)  ## run sandbox NAME's portal on its own port (Ctrl-C stops it)
	@test -n '$(NAME)' || { echo 'usage: make sandbox-serve NAME=name'; exit 2; }
	$(BIN)/marsad sandbox serve '$(NAME)'

sandbox-reset: $(STAMP)  ## restore sandbox NAME's seeded state (seconds)
	@test -n '$(NAME)' || { echo 'usage: make sandbox-reset NAME=name'; exit 2; }
	$(BIN)/marsad sandbox reset '$(NAME)'

sandbox-destroy: $(STAMP)  ## remove sandbox NAME entirely (files, database, buckets, accounts)
	@test -n '$(NAME)' || { echo 'usage: make sandbox-destroy NAME=name'; exit 2; }
	$(BIN)/marsad sandbox destroy '$(NAME)'

bench-sandbox: $(STAMP)  ## sandbox create and reset times; how many sandbox portals answer under 500 ms at p95
	$(BIN)/python -m tests.bench.sandbox $(if $(MAX),--max-sandboxes $(MAX))
