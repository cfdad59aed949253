# Usage:
#   make run        set up (first time) and run the main job: the whole Dagster chain on the
#                   default profile (local sqlite MLflow, local Dagster storage, local DVC cache)
#   make test       set up (first time) and run the test suite (ruff + pytest)
#   make smoke      the same chain on the smoke profile, in a few minutes
#   make dvc-repro  the chain through DVC (PROFILE=smoke|default, default: params.yaml)
#   make ui         the Dagster UI (http://127.0.0.1:3000)
#   make mlflow-ui  the MLflow UI on the local store (http://127.0.0.1:5000)
#   make lint       ruff over the project
#   make bench-setup  the `bench` extra (TRL) for benchmarks/trainer_vs_trl.py
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DVC pins antlr4 4.9 (hydra), Dagster's selection parser needs 4.13: DVC gets its own venv
# and `.venv/bin/dvc` points at it (see README, "Dagster and DVC side by side").
DVC_VENV := .venv-dvc
DVC_STAMP := $(DVC_VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export MLFLOW_DISABLE_TELEMETRY := true
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1

.PHONY: setup bench-setup data run smoke dvc-repro ui mlflow-ui test lint clean

setup: $(STAMP) $(DVC_STAMP) $(DAGSTER_HOME)/dagster.yaml

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# TRL for the trainer benchmark; an extra, so the runtime never depends on it
bench-setup: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'

$(DVC_STAMP): $(STAMP)
	test -x $(DVC_VENV)/bin/python || $(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DVC_VENV)/bin/python -m pip install --quiet 'dvc>=3.67,<4'
	ln -sf ../../$(DVC_VENV)/bin/dvc $(BIN)/dvc
	touch $(DVC_STAMP)

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

# Raw inputs (tracked by data.dvc): every environment's task files and what they are drawn
# from (ALFWorld games, WebShop's catalog, HotPotQA's wiki). Deterministic, so a fresh clone
# regenerates exactly the versioned data (or `dvc pull` fetches it).
data: setup
	$(BIN)/agentdistill env data

# The environments of a profile: each is a partition of every asset, launched in turn.
envs = $$($(BIN)/python -c "from agentdistill.profile import load_profile; \
	print(*load_profile('$(1)').envs)")

run: setup data
	@for env in $(call envs,configs/experiment/default.yaml); do \
		$(BIN)/dg launch --job distillation_chain --partition $$env || exit 1; \
	done

smoke: setup data
	@for env in $(call envs,configs/experiment/smoke.yaml); do \
		AGENTDISTILL_PROFILE=configs/experiment/smoke.yaml AGENTDISTILL_ROOT=runs/dagster-smoke \
		$(BIN)/dg launch --job distillation_chain --partition $$env || exit 1; \
	done

dvc-repro: setup data
	$(if $(PROFILE),$(BIN)/dvc exp run -S profile=$(PROFILE),$(BIN)/dvc repro)

ui: setup
	# `dg dev` expects src/dagster_project when a src/ folder exists; dagster dev loads the module
	$(BIN)/dagster dev -m dagster_project.definitions

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(DVC_VENV) runs .dagster_home
