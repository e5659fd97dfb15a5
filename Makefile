# FastAPI VM kit: every target creates what it needs (.venv, the docker engine, the base image).
#   make demo    the stack on a local systemd container standing in for a VM
#   make test    everything CI runs: lint, unit tests, the container image, molecule
#   make dev     the app with auto-reload on 127.0.0.1 (settings from .env); never in production
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# Molecule, ansible-lint and testinfra call ansible-* and docker by name.
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The Molecule scenario runs Debian 12 (bookworm) and Debian 13 (trixie) side by side.
KIT_SUITES ?= bookworm trixie
SCENARIO ?= default

# Development server (make dev, make dev-tls, python run.py): 127.0.0.1 only, settings from .env.
DEV_PORT ?= 8000
DEV_TLS_PORT ?= 8443
DEV_ENV_FILE ?= .env
DEV_TLS_DIR ?= .cache/dev-tls
DEV_UVICORN = $(BIN)/uvicorn app.main:app --reload --reload-dir app --host 127.0.0.1 \
	--env-file $(DEV_ENV_FILE)

# The app's container image (Dockerfile). make image builds IMAGE on IMAGE_BASE from wheels made
# here; make test-image builds TEST_IMAGE on the locally made Debian 12 image (no registry needed).
IMAGE ?= fastapi-kit/app:local
IMAGE_BASE ?= python:3.12-slim
IMAGE_WHEELS := .cache/image-wheels
TEST_IMAGE := fastapi-kit/app:test
TEST_IMAGE_BASE := fastapi-kit/debian-systemd:bookworm

.PHONY: help setup sslyze lint unit platform docker molecule test-cluster scenarios bench-cluster test demo demo-token demo-destroy bench bench-smoke bench-destroy lock \
	clean vault-rekey dev dev-tls image test-image

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# The app (with the controller and test tools), and the kit's own projects: runtime/ (the server of
# every release), harness/ (the test harness: kit_harness), kit/ (the operator's tools).
$(STAMP): pyproject.toml runtime/pyproject.toml harness/pyproject.toml kit/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[controller,test,bench]' -e runtime -e harness -e kit
	touch $@

# sslyze (the TLS scan of molecule's tests) pins its own cryptography: a venv of its own.
SSLYZE_VENV := .cache/sslyze
SSLYZE_VERSION ?= 6.3.1
$(SSLYZE_VENV)/.installed:
	$(PYTHON) -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/pip install --quiet sslyze==$(SSLYZE_VERSION)
	touch $@

sslyze: $(SSLYZE_VENV)/.installed ## Install sslyze in .cache/sslyze (the TLS scan of make molecule)

setup: $(STAMP) ## Create .venv with the app, Ansible and the test tools (pinned by constraints.txt)

lint: setup ## yamllint, ansible-lint (production profile), ruff, mypy, shell syntax
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .
	mypy
	for script in .ci/*.sh .ci/image/*.sh .ci/run molecule/demo/demo.sh bench/run.sh; do bash -n "$$script"; done

unit: setup ## Unit tests of the reference app and the harness (no docker)
	pytest -m 'not image'

platform: $(addprefix platform-,$(KIT_SUITES)) ## Make sure docker runs and the base image(s) exist (cached by recipe hash)

docker:
	.ci/ensure-docker.sh

platform-%: docker
	.ci/build-image.sh $*

molecule: setup platform sslyze ## molecule test (SCENARIO=default)
	.ci/molecule-test.sh $(SCENARIO)

test-cluster: setup platform ## molecule test of the proxy tier (1 proxy + 2 app hosts, rolling releases; ~22 min)
	.ci/molecule-test.sh cluster

test-image: setup platform ## Build the app image on the local Debian 12 base; run it and test it
	$(MAKE) --no-print-directory image IMAGE=$(TEST_IMAGE) IMAGE_BASE=$(TEST_IMAGE_BASE)
	KIT_APP_IMAGE=$(TEST_IMAGE) pytest -m image

scenarios: setup platform sslyze ## molecule test of default and cluster at once (logs: .cache/results/molecule-<scenario>.log)
	.ci/molecule-scenarios.sh default cluster

# The venvs and the base images (debootstrap, mostly waiting on the archive) at once, each
# target's output in one piece; then both scenarios, with the unit tests, lint and the image's
# test running meanwhile, one after another (the first failure stops the scenarios).
test: ## Everything CI runs: lint, unit tests, the container image, both molecule scenarios
	$(MAKE) --no-print-directory --jobs=4 --output-sync=target setup platform sslyze
	.ci/molecule-scenarios.sh --while '$(MAKE) --no-print-directory unit' \
	  --while '$(MAKE) --no-print-directory lint' \
	  --while '$(MAKE) --no-print-directory test-image' default cluster

$(DEV_ENV_FILE):
	cp .env.example $@
	@echo "make: created $@ from .env.example (git-ignored; edit it)" >&2

dev: setup | $(DEV_ENV_FILE) ## The app on http://127.0.0.1:8000 (DEV_PORT), reloading on app/ changes; never in production
	$(BIN)/python run.py --check --env-file $(DEV_ENV_FILE)
	exec $(DEV_UVICORN) --port $(DEV_PORT)

dev-tls: setup | $(DEV_ENV_FILE) ## make dev over https://127.0.0.1:8443, self-signed (production: TLS ends at nginx)
	$(BIN)/python run.py --check --env-file $(DEV_ENV_FILE) --tls --tls-dir $(DEV_TLS_DIR)
	exec $(DEV_UVICORN) --port $(DEV_TLS_PORT) \
	  --ssl-keyfile $(DEV_TLS_DIR)/key.pem --ssl-certfile $(DEV_TLS_DIR)/cert.pem

image: setup ## Build the container image (IMAGE=fastapi-kit/app:local) from wheels made here
	.ci/ensure-docker.sh
	PYTHONPATH=$(CURDIR)/roles/app/files $(BIN)/python -m kit_harness.image_wheels --base $(IMAGE_BASE) --out $(IMAGE_WHEELS)
	# The wheels are for this base only: gone after the build, whatever its outcome.
	status=0; docker build --build-arg BASE_IMAGE=$(IMAGE_BASE) --tag $(IMAGE) . || status=$$?; \
	  rm -rf $(IMAGE_WHEELS); exit $$status

demo: setup platform ## site.yml on a local systemd container (VM stand-in); prints an https URL
	molecule/demo/demo.sh

demo-token: setup ## Print the demo's API token (decrypted from the test vault)
	@ansible-vault view --vault-id test@molecule/default/vault-password.test-only \
	  molecule/default/inventory/group_vars/all/vault.yml | sed -n 's/^ *API_TOKEN: *"\(.*\)"$$/\1/p'

vault-rekey: setup ## New password for every vault file of INVENTORY (VAULT_ID=label@old NEW_VAULT_ID=label@new)
	@test -n "$(INVENTORY)" -a -n "$(NEW_VAULT_ID)" || \
	  { echo "usage: make vault-rekey INVENTORY=inventory/<env> VAULT_ID=<id>@<old> NEW_VAULT_ID=<id>@<new>" >&2; exit 2; }
	$(BIN)/python -m fastapi_vm_kit.vault rekey $(INVENTORY) $(if $(VAULT_ID),--vault-id $(VAULT_ID)) \
	  --new-vault-id $(NEW_VAULT_ID)

demo-destroy: setup ## Remove the demo container
	molecule destroy --scenario-name demo

bench: setup platform ## Performance figures of the stack in a local container: bench/results/ (about 12 min)
	bench/run.sh

bench-cluster: setup platform ## The proxy tier's test plus its figures (deploy timings; req/s, p99, errors through the proxy to 2 app hosts vs 1): .cache/results/cluster.jsonl, tier.md
	KIT_CLUSTER_TIMING=1 .ci/molecule-test.sh cluster

bench-smoke: setup ## The bench's smoke test (seconds, no container; part of make unit)
	pytest tests/bench

bench-destroy: setup ## Remove the bench container
	molecule destroy --scenario-name bench

lock: ## Re-resolve every Python dependency and rewrite constraints.txt
	rm -rf .cache/lock && $(PYTHON) -m venv .cache/lock
	.cache/lock/bin/pip install --quiet -e '.[controller,test,bench]' -e runtime -e harness -e kit
	{ echo "# Pinned versions of everything .venv installs (reference app + controller + test tools)."; \
	  echo "# Regenerate with 'make lock' after changing pyproject.toml; review the diff before committing."; \
	  .cache/lock/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .cache/lock

clean: ## Remove .venv and caches (docker images stay: they are the cache)
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
