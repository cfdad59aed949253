# Usage:
#   make run        set up (first time) and run the main job: the whole Dagster chain on the
#                   default profile (local sqlite MLflow, local Dagster storage, local DVC cache)
#   make test       set up (first time) and run the test suite (ruff + pytest), as CI does
#   make test-fast  the same without the slow tests (deep engine conformance): the edit loop
#   make smoke      the same chain on the smoke profile, in a few minutes
#                   (JOBS=n: n seeds' students at once, each its own Dagster run)
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
# seeds whose students train at once (one Dagster run, one process each): make run JOBS=3
JOBS ?= 1

.PHONY: setup bench-setup data run smoke dvc-repro ui mlflow-ui test test-fast lint clean

setup: $(STAMP) $(DVC_STAMP) $(DAGSTER_HOME)/dagster.yaml

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,k8s]'
	touch $(STAMP)

# TRL for the trainer benchmark; an extra, so the runtime never depends on it
bench-setup: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,k8s,bench]'

$(DVC_STAMP): $(STAMP)
	test -x $(DVC_VENV)/bin/python || $(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DVC_VENV)/bin/python -m pip install --quiet 'dvc>=3.67,<4'
	ln -sf ../../$(DVC_VENV)/bin/dvc $(BIN)/dvc
	touch $(DVC_STAMP)

# Telemetry off; runs at once from the queue (a UI backfill: one run per partition) = JOBS.
$(DAGSTER_HOME)/dagster.yaml: Makefile
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\nconcurrency:\n  runs:\n    max_concurrent_runs: %s\n' \
		$(JOBS) > $@

# Raw inputs (tracked by data.dvc): every environment's task files and what they are drawn
# from (ALFWorld games, WebShop's catalog, HotPotQA's wiki). Deterministic, so a fresh clone
# regenerates exactly the versioned data (or `dvc pull` fetches it).
data: setup
	$(BIN)/agentdistill env data

# A profile's environments and seeds (every environment trains the same students).
envs = $$($(BIN)/python -c "from agentdistill.profile import load_profile; \
	print(*load_profile('$(1)').envs)")
seeds = $$($(BIN)/python -c "from agentdistill.profile import load_profile; \
	p = load_profile('$(1)'); print(*p.config(p.envs[0]).seeds)")

# The whole chain of each environment in turn, one Dagster job per partitioning: the
# environment's teacher chain (partition `<env>`), then its students and their benchmarks, one
# run per seed (partition `<env>|<seed>`; JOBS of them at once, each its own process), then
# its report. `dg dev`'s UI does the same as one asset backfill (README, "Dagster").
define chain
for env in $(call envs,$(1)); do \
	$(BIN)/dg launch --job teacher_chain --partition $$env || exit 1; \
	for seed in $(call seeds,$(1)); do echo "$$env|$$seed"; done \
		| xargs -P $(JOBS) -I{} $(BIN)/dg launch --job student_chain --partition {} || exit 1; \
	$(BIN)/dg launch --job report_chain --partition $$env || exit 1; \
done
endef

run: setup data
	@$(call chain,configs/experiment/default.yaml)

smoke: export AGENTDISTILL_PROFILE := configs/experiment/smoke.yaml
smoke: export AGENTDISTILL_ROOT := runs/dagster-smoke
smoke: setup data
	@$(call chain,configs/experiment/smoke.yaml)

dvc-repro: setup data
	$(if $(PROFILE),$(BIN)/dvc exp run -S profile=$(PROFILE),$(BIN)/dvc repro)

ui: setup
	# `dg dev` expects src/dagster_project when a src/ folder exists; dagster dev loads the module
	$(BIN)/dagster dev -m dagster_project.definitions

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

# One pytest worker per core (pytest-xdist); a test file stays on one worker, so its module
# fixtures are built once, and the smoke chain is built once for all (tests/conftest.py).
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup
	$(BIN)/ruff check .
	$(PYTEST)

test-fast: setup
	$(BIN)/ruff check .
	$(PYTEST) -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(DVC_VENV) runs .dagster_home
