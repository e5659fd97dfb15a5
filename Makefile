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
# Debian 12 (bookworm) is the default platform; scripts/build-image.sh also builds trixie.
KIT_SUITES ?= bookworm
SCENARIO ?= default

.PHONY: help setup lint unit platform molecule test demo demo-destroy bench lock clean

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

demo: setup platform ## Boot the VM stand-in and converge site.yml on it (left running)
	molecule create --scenario-name default
	molecule prepare --scenario-name default
	molecule converge --scenario-name default
	@echo
	@echo "The VM stand-in 'fastapi-kit-debian12' is converged and running."
	@echo "  shell:    docker exec -it fastapi-kit-debian12 bash"
	@echo "  ports:    $$(docker port fastapi-kit-debian12 | tr '\n' ' ')"
	@echo "  remove:   make demo-destroy"

demo-destroy: setup ## Remove the demo container
	molecule destroy --scenario-name default

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
