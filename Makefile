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

PHONY_STEPS := observe notebook doctor compat upload deploy undeploy cleanup serve predict simulate monitor retrain loop \
  image pipeline pipeline-local
PHONY_STEPS += train-distributed
.PHONY: $(PHONY_STEPS) help setup data train evaluate export all test test-slow test-all lint clean tensorboard bench bench-loop

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Bytecode is compiled at install (uv's --compile-bytecode; pip does it by default): machines with
# PYTHONDONTWRITEBYTECODE=1 would otherwise compile TensorFlow from source on every command.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@uv="$$(command -v uv || true)"; \
	if [ -z "$$uv" ] && [ "$(USE_UV)" != 0 ]; then \
	  $(BIN)/python -m pip install -q uv >/dev/null 2>&1 && uv=$(BIN)/uv; fi; \
	if [ -n "$$uv" ] && [ "$(USE_UV)" != 0 ]; then \
	  echo "installing with uv"; $$uv pip install --compile-bytecode --python $(BIN)/python -e '.[dev,bench]'; \
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

# A chief and WORKERS-1 workers as local processes on free 127.0.0.1 ports (TF_CONFIG each), the
# way Vertex AI runs `churn train` on every replica: the chief writes artifacts/runs/<id>.
train-distributed: setup ## Multi-worker training: chief + worker processes on 127.0.0.1 (WORKERS=2)
	$(BIN)/python -m pipeline.tools.local_cluster --workers $(or $(WORKERS),2) -- --data $(DATA) $(ARGS)

evaluate: setup ## Re-evaluate the newest run (RUN=dir to choose)
	@test -n "$(RUN)" || { echo "no run yet: make train first"; exit 2; }
	$(CHURN) evaluate $(RUN)

export: setup ## Re-export the newest run's SavedModel and model card
	@test -n "$(RUN)" || { echo "no run yet: make train first"; exit 2; }
	$(CHURN) export $(RUN)

upload: setup ## Register the newest run in the model registry (RUN=dir to choose)
	@test -n "$(RUN)" || { echo "no run yet: make train first"; exit 2; }
	$(CHURN) upload $(RUN) $(ARGS)

deploy: setup ## Deploy churn@champion (local: background server on 127.0.0.1:8080)
	$(CHURN) deploy $(ARGS)

undeploy: setup ## Stop the local endpoint / undeploy from Vertex AI
	$(CHURN) undeploy $(ARGS)

cleanup: setup ## Delete what the project created (local endpoint; Vertex endpoints, jobs, alerts)
	$(CHURN) cleanup $(ARGS)

serve: setup ## Serve churn@champion in the foreground (Ctrl-C to stop)
	$(CHURN) serve $(ARGS)

predict: setup ## Batch-score a CSV: make predict INPUT=in.csv OUTPUT=out.csv
	$(CHURN) predict --input $(or $(INPUT),$(DATA)) --output $(or $(OUTPUT),artifacts/predictions.csv --overwrite) $(ARGS)

simulate: setup ## Send drifted traffic (contract, fiber) to the local endpoint
	$(CHURN) simulate --drift $(or $(DRIFT),contract,fiber) --rows $(or $(ROWS),2000) $(ARGS)

monitor: setup ## Skew/drift of the last hour of logged predictions vs training
	$(CHURN) monitor --from-log --since $(or $(SINCE),1h) $(ARGS)

retrain: setup ## Train a challenger (DATA_NEW=labelled.csv) and gate it against the champion
	$(CHURN) retrain $(if $(DATA_NEW),--data $(DATA_NEW)) $(ARGS)

# The article's last steps on one machine: register, deploy, real requests, drifted traffic,
# drift detection, retraining with a champion/challenger gate; the endpoint always stops.
loop: setup
	@set -e; trap '$(CHURN) undeploy >/dev/null 2>&1 || true' EXIT; \
	run="$(RUN)"; test -n "$$run" || { echo "no run yet: make train first"; exit 2; }; \
	$(CHURN) upload "$$run"; \
	$(CHURN) deploy; \
	$(CHURN) simulate --rows 300 >/dev/null; \
	sim=$$($(CHURN) simulate --drift contract,fiber --rows 2000 | tail -n 1); \
	$(CHURN) monitor --from-log --since 15m --labels "$$sim/labels.csv"; \
	$(CHURN) retrain --data "$$sim/labelled.csv"; \
	$(CHURN) models list

all: setup data train loop ## Set up and run the whole local pipeline on the sample data
	@echo "done: runs in artifacts/runs/, registry in artifacts/registry/, drift reports in artifacts/monitoring/"

# The package's container image (Dockerfile). Without a usable docker (no command, or no
# daemon behind it) it says so in one line and exits 2: nothing was built.
IMAGE ?= churn-pipeline:local
image: ## Build the container image with docker (IMAGE=name:tag); `churn image push` uses Cloud Build
	@if docker info >/dev/null 2>&1; then docker build -t $(IMAGE) .; \
	else echo "make image: docker is not usable here (no docker command or no daemon): nothing built; \
	\`churn image push --config configs/vertex.yaml\` builds it with Cloud Build"; exit 2; fi

pipeline: setup ## Compile the KFP pipeline offline to artifacts/pipeline/churn_pipeline.yaml
	$(CHURN) pipeline compile $(ARGS)

# The whole KFP pipeline on this machine (kfp.local): validate, train, evaluate, gate, upload,
# deploy, monitoring setup; the endpoint its deploy step starts is stopped at the end.
pipeline-local: setup ## Run the KFP pipeline here with kfp.local on the sample data (ARGS="--set train.epochs=3")
	$(CHURN) pipeline run --target local --data $(DATA) --stop-endpoint $(ARGS)

# Side environment with the TensorFlow of Vertex's newest prebuilt serving image.
TF_SIDE ?= .venv-tf215
TF_SIDE_PKG ?= tensorflow-cpu==2.15.1
$(TF_SIDE)/.installed:
	@test -x $(TF_SIDE)/bin/python || $(PYTHON) -m venv $(TF_SIDE)
	@if [ -x $(BIN)/uv ] && [ "$(USE_UV)" != 0 ]; then $(BIN)/uv pip install -q --compile-bytecode --python $(TF_SIDE)/bin/python '$(TF_SIDE_PKG)'; \
	else $(TF_SIDE)/bin/python -m pip install -q '$(TF_SIDE_PKG)'; fi
	@touch $@

compat: setup $(TF_SIDE)/.installed ## Check the newest run's SavedModel predicts the same under TF 2.15
	@test -n "$(RUN)" || { echo "no run yet: make train first"; exit 2; }
	$(CHURN) compat $(RUN) --side-python $(TF_SIDE)/bin/python

notebook: setup ## Open the walkthrough notebook in JupyterLab
	$(BIN)/jupyter lab notebooks/churn_walkthrough.ipynb

doctor: setup ## Check the environment (and, in vertex mode, credentials, APIs, bucket)
	$(CHURN) doctor $(ARGS)

tensorboard: setup ## Open TensorBoard on all runs' logs (Profile tab: runs trained with --profile)
	$(BIN)/tensorboard --logdir artifacts/runs --host 127.0.0.1

# Tests run in parallel processes (pytest-xdist), one per core up to 4, an idle worker taking
# tests queued for a busy one (worksteal: the long training tests do not leave a core idle at
# the end); TEST_JOBS=0 runs them in this process.
TEST_JOBS ?= auto
test: setup ## Fast test suite
	$(BIN)/pytest -q -n $(TEST_JOBS) --maxprocesses 4 --dist worksteal

test-slow: setup ## Only the slow tests (CI runs them after `make test`)
	$(BIN)/pytest -q -m slow

test-all: setup ## Every test, slow ones included
	$(BIN)/pytest -q -m "slow or not slow"

lint: setup ## Ruff and mypy
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/mypy pipeline

bench-loop: setup ## Time each step of `make all` (after install): medians of 3 rounds
	$(BIN)/python bench/bench_loop.py --rounds 3

bench: setup ## Benchmarks (ratios against in-run baselines)
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_serve.py
	$(BIN)/python bench/bench_drift.py

observe: setup ## Prometheus scraping `churn serve` on :8080 (UI on 127.0.0.1:9090)
	@command -v prometheus >/dev/null || { echo "prometheus not found: apt-get install prometheus"; exit 2; }
	prometheus --config.file=configs/prometheus.yml --storage.tsdb.path=artifacts/prometheus \
	  --web.listen-address=127.0.0.1:9090

clean: ## Remove artifacts and caches (keeps .venv)
	rm -rf artifacts .pytest_cache .mypy_cache .ruff_cache
