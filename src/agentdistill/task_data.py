"""Task suites on disk: `data/<env>/<split>.jsonl` is the input of every run.

    tasks = load_tasks("alfworld", "valid_unseen", data_dir="data")
    tasks.tasks, tasks.path, tasks.sha256

The files under `data/` are tracked by DVC (`data.dvc`); every stage that plays tasks (the
expert, teacher rollouts, benchmarks) reads them from here, so the data version DVC records is
the data a run used, and the hash logged to MLflow is the hash of the bytes read. A missing
file is generated from the environment's suite (deterministic: generated games, or the real
benchmark files when the user has them), written atomically, and the log says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from agentdistill.environments.registry import check_env_name, make_suite
from agentdistill.fingerprints import file_sha256
from agentdistill.records import Task, read_jsonl, write_jsonl

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "data"


@dataclass(frozen=True)
class TaskFile:
    """The tasks of one split, where they were read from and the SHA-256 of that file."""

    tasks: list[Task]
    path: Path
    sha256: str


def task_file(env: str, split: str, data_dir: str | Path = DEFAULT_DATA_DIR) -> Path:
    """Where the tasks of `env`/`split` live: `<data_dir>/<env>/<split>.jsonl`."""
    return Path(data_dir) / env / f"{split}.jsonl"


def generate_task_file(env: str, split: str, data_dir: str | Path = DEFAULT_DATA_DIR) -> Path:
    """Write the environment suite's tasks of `split` to their data file (atomically)."""
    path = task_file(env, split, data_dir)
    write_jsonl(path, make_suite(env).tasks(split))
    return path


def load_tasks(
    env: str,
    split: str,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    limit: int | None = None,
    generate_missing: bool = True,
) -> TaskFile:
    """The tasks of `env`/`split` from `data_dir` (the first `limit`), with the file's hash.

    A missing file is generated from the suite when `generate_missing` (logged), else an error
    that names the file and how to make it. Every task must belong to `env` and `split`.
    """
    check_env_name(env)
    path = task_file(env, split, data_dir)
    if not path.exists():
        if not generate_missing:
            raise FileNotFoundError(
                f"{path}: no task file (run `make data`, `dvc pull`, or `agentdistill env "
                f"tasks {env} --split {split} --out {path}`)"
            )
        log.warning("%s is absent: generating it from the %s suite", path, env)
        generate_task_file(env, split, data_dir)
    tasks = read_jsonl(path, Task)
    for number, task in enumerate(tasks, 1):
        if task.env != env or task.split != split:
            raise ValueError(
                f"{path}:{number}: task {task.task_id!r} is {task.env}/{task.split}, "
                f"expected {env}/{split}"
            )
    if not tasks:
        raise ValueError(f"{path}: no tasks")
    return TaskFile(tasks=tasks[:limit], path=path, sha256=file_sha256(path))


def write_env_data(
    env: str, data_dir: str | Path = DEFAULT_DATA_DIR, force: bool = False
) -> list[Path]:
    """Every split's task file of `env` (the missing ones, or all with `force`) and what its
    tasks are drawn from (`TaskSuite.write_inputs`): the raw inputs `make data` writes."""
    suite = make_suite(env)
    written = []
    for split in suite.splits:
        path = task_file(env, split, data_dir)
        if force or not path.exists():
            write_jsonl(path, suite.tasks(split))
            written.append(path)
    folder = Path(data_dir) / env
    inputs = suite.write_inputs(folder)
    return written + inputs
