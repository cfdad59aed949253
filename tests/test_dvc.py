"""`dvc repro` of the smoke chain on a temporary copy of the repository (real DVC, real runs)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[1]
DVC = REPO / ".venv" / "bin" / "dvc"
VENV = REPO / ".venv"

pytestmark = pytest.mark.skipif(
    not DVC.exists(), reason="DVC is set up by `make setup` (.venv/bin/dvc -> .venv-dvc)"
)


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """The tracked files of this repository in a fresh git repo, with the smoke profile."""
    copy = tmp_path_factory.mktemp("repo")
    files = run(["git", "ls-files", "-z"], REPO).split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(VENV)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["profile"] = "smoke"
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], copy)
    # the raw inputs regenerate exactly as versioned in data.dvc
    for split in ("train", "valid_seen", "valid_unseen"):
        out = f"data/alfworld/{split}.jsonl"
        run([str(VENV / "bin" / "agentdistill"), "env", "tasks", "alfworld", "--split", split,
             "--out", out], copy)  # fmt: skip
    return copy


def test_regenerated_data_matches_data_dvc(repo_copy) -> None:
    versioned = yaml.safe_load((repo_copy / "data.dvc").read_text())["outs"][0]["md5"]
    run([str(DVC), "add", "data"], repo_copy)  # hashes the regenerated folder into the cache
    assert yaml.safe_load((repo_copy / "data.dvc").read_text())["outs"][0]["md5"] == versioned
    assert json.loads(run([str(DVC), "status", "data.dvc", "--json"], repo_copy)) == {}


def test_dvc_repro_runs_the_smoke_chain(repo_copy) -> None:
    run([str(DVC), "repro"], repo_copy)
    lock = yaml.safe_load((repo_copy / "dvc.lock").read_text())
    assert set(lock["stages"]) == {
        "teacher",
        "teacher_rollouts",
        "segments",
        "students",
        "benchmarks",
        "report",
    }
    # trajectory files are versioned outputs
    outs = {o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])}
    assert "runs/dvc/teacher_rollouts" in outs and "runs/dvc/segments" in outs
    leaderboard = json.loads((repo_copy / "runs/dvc/report/leaderboard.json").read_text())
    assert {"teacher", "sad-s0", "seqkd-s0", "token_kd-s0"} <= set(leaderboard)
    assert "alfworld_success_low" in leaderboard["sad-s0"]
    # nothing left to do, and the metrics are readable by DVC
    assert "up to date" in run([str(DVC), "status"], repo_copy)
    assert "sad-s0" in run([str(DVC), "metrics", "show"], repo_copy)


def test_push_and_pull_through_the_local_remote(repo_copy) -> None:
    remote = repo_copy.parent / "remote"
    run([str(DVC), "remote", "add", "-f", "-d", "scratch", str(remote)], repo_copy)
    run([str(DVC), "push", "data.dvc"], repo_copy)
    shutil.rmtree(repo_copy / "data")
    shutil.rmtree(repo_copy / ".dvc" / "cache")
    run([str(DVC), "pull", "data.dvc"], repo_copy)
    assert (repo_copy / "data/alfworld/valid_unseen.jsonl").exists()
