# FastAPI VM kit: every target creates what it needs (.venv, the docker engine, the base image).
#   make demo    the stack on a local systemd container standing in for a VM
#   make test    everything CI runs: lint, unit tests, molecule on systemd containers
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

.PHONY: help setup lint unit platform molecule test demo demo-token demo-destroy bench lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[controller,test]'
	touch $@

setup: $(STAMP) ## Create .venv with the app, Ansible and the test tools (pinned by constraints.txt)

lint: setup ## yamllint, ansible-lint (production profile), ruff, mypy, shell syntax
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .
	mypy
	for script in scripts/*.sh scripts/image/*.sh .ci/run; do bash -n "$$script"; done

unit: setup ## Unit tests of the reference app and the harness
	pytest

platform: ## Make sure docker runs and the base image(s) exist (cached by recipe hash)
	scripts/ensure-docker.sh
	for suite in $(KIT_SUITES); do scripts/build-image.sh "$$suite"; done

molecule: setup platform ## molecule test (SCENARIO=default)
	molecule test --scenario-name $(SCENARIO)

test: lint unit molecule ## Everything CI runs

demo: setup platform ## site.yml on a local systemd container (VM stand-in); prints an https URL
	scripts/demo.sh

demo-token: setup ## Print the demo's API token (decrypted from the test vault)
	@ansible-vault view --vault-password-file molecule/default/vault-password.test-only \
	  molecule/default/inventory/group_vars/all/vault.yml | sed -n 's/^ *API_TOKEN: *"\(.*\)"$$/\1/p'

demo-destroy: setup ## Remove the demo container
	molecule destroy --scenario-name demo

bench: ## Performance figures of the deployed stack (not built yet)
	@echo "make bench is not built yet (see the performance issue); nothing was measured." >&2
	@exit 1

lock: ## Re-resolve every Python dependency and rewrite constraints.txt
	rm -rf .cache/lock && $(PYTHON) -m venv .cache/lock
	.cache/lock/bin/pip install --quiet -e '.[controller,test]'
	{ echo "# Pinned versions of everything .venv installs (reference app + controller + test tools)."; \
	  echo "# Regenerate with 'make lock' after changing pyproject.toml; review the diff before committing."; \
	  .cache/lock/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .cache/lock

clean: ## Remove .venv and caches (docker images stay: they are the cache)
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
