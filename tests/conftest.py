"""Shared fixtures: small real ALFWorld expert data and a tokenizer trained on it; the smoke
chain every orchestrator test reads."""

from __future__ import annotations

import os

# `make test` runs one xdist worker per core: each keeps to one thread, in its subprocesses
# too (torch's pools would otherwise put workers x cores threads on the cores, spinning
# against each other: the suite ran 1.7x slower)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from agentdistill.environments.alfworld.env import AlfworldSuite
from agentdistill.environments.alfworld.generator import GeneratorConfig
from agentdistill.environments.registry import make_env
from agentdistill.formats import get_format
from agentdistill.policies.expert import ExpertPolicy
from agentdistill.records import Trajectory
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.tokenizer import train_byte_level_bpe

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # the variable is too late if torch came in before conftest

SMALL = GeneratorConfig(train=64, valid_seen=4, valid_unseen=8)


@pytest.fixture(scope="session")
def small_suite() -> AlfworldSuite:
    return AlfworldSuite(SMALL)


@pytest.fixture(scope="session")
def expert_train(small_suite: AlfworldSuite) -> list[Trajectory]:
    return run_rollouts(
        ExpertPolicy("alfworld"),
        lambda: make_env("alfworld"),
        small_suite.tasks("train"),
        RolloutConfig(show_progress=False),
    )


@pytest.fixture(scope="session")
def alfworld_tokenizer(expert_train: list[Trajectory]):
    fmt = get_format("alfworld")
    return train_byte_level_bpe(
        [fmt.render_trajectory(t).text for t in expert_train], vocab_size=512
    )


# ---- the smoke chain, built once per test session ---------------------------------------

SMOKE_PROFILE = Path(__file__).parents[1] / "configs" / "experiment" / "smoke.yaml"


@dataclass(frozen=True)
class SmokeChain:
    """The smoke profile's whole chain, every environment, as `agentdistill experiment` left
    it: artifacts under `root/<env>/`, MLflow runs in the sqlite store at `store`.

    Shared by every test of the session (and every xdist worker): read it, never write it;
    a test that reruns or edits stages works on `copy_to`'s copy."""

    root: Path
    store: Path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.store}"

    def copy_to(self, root: Path, store: Path, envs: tuple[str, ...] | None = None) -> SmokeChain:
        """A private copy: the given environments' artifacts in `root`, the MLflow store (its
        database and artifacts) in the folder `store`, its artifact paths pointed there."""
        for env in envs or tuple(p.name for p in self.root.iterdir() if p.is_dir()):
            shutil.copytree(self.root / env, root / env)
        shutil.copytree(self.store.parent, store, dirs_exist_ok=True)
        copy = SmokeChain(root, store / self.store.name)
        old, new = ((c.store.parent / "artifacts").as_uri() for c in (self, copy))
        with closing(sqlite3.connect(copy.store)) as db, db:
            for table, column in _ARTIFACT_COLUMNS:
                db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
        return copy


# where an MLflow sqlite store records artifact locations (MLflow 3's schema)
_ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


def _shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session sees (the session's own without xdist).

    $AGENTDISTILL_TEST_CHAIN names a folder that outlives sessions instead: while working on
    one test, `AGENTDISTILL_TEST_CHAIN=/tmp/chain pytest tests/test_dagster.py -k ...` builds
    the chain once and reuses it (delete the folder after changing what the chain runs)."""
    if kept := os.environ.get("AGENTDISTILL_TEST_CHAIN"):
        return Path(kept)
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def smoke_chain(tmp_path_factory: pytest.TempPathFactory) -> SmokeChain:
    """The smoke experiment through the CLI, once: the first worker to need it builds it
    under a file lock, the others wait for it and read it (`done` marks a finished build)."""
    from typer.testing import CliRunner

    from agentdistill.cli import app

    folder = _shared_folder(tmp_path_factory) / "smoke-chain"
    folder.mkdir(parents=True, exist_ok=True)
    chain = SmokeChain(folder / "artifacts", folder / "mlflow" / "mlflow.db")
    with FileLock(str(folder / "build.lock")):
        if not (folder / "done").exists():
            result = CliRunner().invoke(
                app,
                ["experiment", "--config", str(SMOKE_PROFILE), "--out", str(chain.root)],
                env={"MLFLOW_TRACKING_URI": chain.tracking_uri},
            )
            assert result.exit_code == 0, result.output
            (folder / "done").touch()
    return chain
