# churn pipeline: every step is a make target over a `churn` command.
# `make all` creates .venv, installs, and runs the whole local pipeline on the sample data.
# `make test` runs the fast test suite. Override variables: make train ARGS="--set train.epochs=3"

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHURN := $(BIN)/churn
STAMP := $(VENV)/.installed
CONFIG ?= configs/local.yaml
DATA ?= data/sample/customer_churn.csv
ARGS ?=
# The newest run directory (names start with a UTC timestamp, so they sort by time).
RUN ?= $(shell ls -d artifacts/runs/2*/ 2>/dev/null | sort | tail -n 1 | sed 's:/$$::')
USE_UV ?= 1
export CHURN_CONFIG ?= $(CONFIG)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup data train evaluate export all test test-slow test-all lint clean tensorboard bench

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@uv="$$(command -v uv || true)"; \
	if [ -z "$$uv" ] && [ "$(USE_UV)" != 0 ]; then \
	  $(BIN)/python -m pip install -q uv >/dev/null 2>&1 && uv=$(BIN)/uv; fi; \
	if [ -n "$$uv" ] && [ "$(USE_UV)" != 0 ]; then \
	  echo "installing with uv"; $$uv pip install --python $(BIN)/python -e '.[dev,bench]'; \
	else \
	  echo "installing with pip"; $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/python -m pip install -e '.[dev,bench]'; \
	fi
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the project (quick when already done)

data: setup ## Regenerate the sample data (seeded: same file every time)
	$(CHURN) data --rows 7043 --seed 42 --out $(DATA)

train: setup ## Train Keras + baselines, evaluate and export into artifacts/runs/<id>
	$(CHURN) train --data $(DATA) $(ARGS)

evaluate: setup ## Re-evaluate the newest run (RUN=dir to choose)
	@test -n "$(RUN)" || { echo "no run yet: make train first"; exit 2; }
	$(CHURN) evaluate $(RUN)

export: setup ## Re-export the newest run's SavedModel and model card
	@test -n "$(RUN)" || { echo "no run yet: make train first"; exit 2; }
	$(CHURN) export $(RUN)

all: setup data train ## Set up and run the whole local pipeline on the sample data
	@echo "done: see the newest run in artifacts/runs/"

tensorboard: setup ## Open TensorBoard on all runs' logs
	$(BIN)/tensorboard --logdir artifacts/runs --host 127.0.0.1

test: setup ## Fast test suite
	$(BIN)/pytest -q

test-slow: setup ## Only the slow tests (CI runs them after `make test`)
	$(BIN)/pytest -q -m slow

test-all: setup ## Every test, slow ones included
	$(BIN)/pytest -q -m "slow or not slow"

lint: setup ## Ruff and mypy
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/mypy pipeline

bench: setup ## Benchmarks (ratios against in-run baselines)
	$(BIN)/python bench/bench_train.py

clean: ## Remove artifacts and caches (keeps .venv)
	rm -rf artifacts .pytest_cache .mypy_cache .ruff_cache
