"""Several processes logging to one local SQLite MLflow store at once, as the students of a
backfill do (`make run JOBS=3`: one process per seed; `AGENTDISTILL_MAX_CONCURRENT` steps).

Each process does what a student's benchmark stage does with a new store: open it (the first
opening creates its schema), log a training run
with its checkpoint (a pyfunc model), log benchmark metrics into it, register it as a version
of the environment's model. They start together (a shared start file) so that their writes
overlap; nothing may be lost, failed or numbered twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from agentdistill.config import FormatConfig
from agentdistill.tracking import OFFLINE_ENV

from .test_tracking import write_training_dir

pytestmark = pytest.mark.slow  # four MLflow processes: about 30 s on 2 cores

WRITERS = 4
REPO = Path(__file__).resolve().parents[1]

# One student's stage, run as its own process; waits for the start file, prints its result.
WRITER = """
import json, sys, time
from pathlib import Path
from agentdistill.tracking import Tracker, TrackingConfig
store, train_dir, start, seed = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
import mlflow.pyfunc, agentdistill.mlflow_agent  # imported before the start: the store's
Path(f"{start}.ready-{seed}").touch()             # creation and the writes overlap
while not start.exists():
    time.sleep(0.01)
tracker = Tracker(TrackingConfig(root=store, experiment="concurrent"), env="alfworld")
run_id = tracker.log_training(f"sad-s{seed}", {"seed": seed}, train_dir, run_key=f"key-{seed}")
tracker.log_benchmark("benchmark", {"alfworld/success_rate": seed / 10}, run_id=run_id,
                      run_key=f"bench-{seed}")
version = tracker.register(run_id, {"seed": seed, "success_rate": seed / 10})
print(json.dumps({"seed": seed, "run_id": run_id, "version": version}))
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store, start = tmp_path / "store", tmp_path / "start"
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    writers = []
    for seed in range(WRITERS):
        train_dir = write_training_dir(tmp_path / f"train-{seed}", seed, FormatConfig(name="react"))
        args = [sys.executable, "-c", WRITER, str(store), str(train_dir), str(start), str(seed)]
        writers.append(
            subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        )
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("start.ready-*"))) < WRITERS:
        assert time.monotonic() < deadline, "the writers did not get ready"
        assert all(w.poll() is None for w in writers), "a writer died before the start"
        time.sleep(0.05)
    start.touch()
    results = []
    for writer in writers:
        out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0, f"a writer failed (exit {writer.returncode}); stdout: {out}"
        results.append(json.loads(out.strip().splitlines()[-1]))

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    # every run is there, finished, with its own metrics and checkpoint
    assert len({r["run_id"] for r in results}) == WRITERS
    for result in results:
        run = client.get_run(result["run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.metrics["alfworld/success_rate"] == pytest.approx(result["seed"] / 10)
        assert run.outputs.model_outputs, f"run of seed {result['seed']} lost its checkpoint"
    experiment = client.get_experiment_by_name("concurrent")
    assert experiment is not None
    assert len(client.search_runs([experiment.experiment_id])) == WRITERS
    # one version per run, numbered 1..N without a gap or a double, each pointing at its run
    assert sorted(r["version"] for r in results) == list(range(1, WRITERS + 1))
    versions = client.search_model_versions("name = 'agentdistill-alfworld-student'")
    assert {(v.run_id, int(v.version)) for v in versions} == {
        (r["run_id"], r["version"]) for r in results
    }
    for version in versions:
        seed = next(r["seed"] for r in results if r["run_id"] == version.run_id)
        assert version.tags["seed"] == str(seed)
