# Usage:
#   make run    set up (first time) and run the main job
#   make test   set up (first time) and run the test suite
#   make lint   ruff over the project
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/agentdistill validate examples/trajectories.jsonl
	$(BIN)/agentdistill segment report examples/trajectories.jsonl --out runs/segment_report
	$(BIN)/agentdistill segment report examples/alfworld.jsonl --out runs/segment_report_alfworld \
		--set format.name=alfworld --set vocab_size=400

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs
