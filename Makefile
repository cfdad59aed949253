# Usage:
#   make run    set up (first time) and run the main job (teacher bootstrap + evaluation)
#   make smoke  the same path on the smoke profile
#   make test   set up (first time) and run the test suite
#   make lint   ruff over the project
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run smoke test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: expert data -> tokenizer -> teacher (resumes if interrupted) -> the teacher's
# rollouts on ALFWorld valid_unseen -> their segmentation report. About 20 minutes on 2 cores.
run: setup
	$(BIN)/agentdistill teacher train --config configs/teacher/default.yaml --out runs/teacher
	$(BIN)/agentdistill rollout --policy runs/teacher/train/model --split valid_unseen \
		--batch-size 34 --out runs/teacher/valid_unseen.jsonl
	$(BIN)/agentdistill segment report runs/teacher/valid_unseen.jsonl --out runs/teacher/segments \
		--set format.name=alfworld --set tokenizer=runs/teacher/tokenizer

# The same path on the smoke profile, in about a minute.
smoke: setup
	$(BIN)/agentdistill teacher train --config configs/teacher/smoke.yaml --out runs/smoke
	$(BIN)/agentdistill rollout --policy runs/smoke/train/model --split valid_unseen --limit 8 \
		--out runs/smoke/valid_unseen.jsonl
	$(BIN)/agentdistill segment report runs/smoke/valid_unseen.jsonl --out runs/smoke/segments \
		--set format.name=alfworld --set tokenizer=runs/smoke/tokenizer

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs
