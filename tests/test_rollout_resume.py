"""Rollouts with an output file: streamed episodes, resume after a kill, one writer at a time.

Real ALFWorld games and the scripted expert; a wrapper around the expert's session counts
the episodes it starts (a recovered episode must not be played again) and can fail the run
after a number of finished episodes (an in-process "kill"). The real kills and the second
writer are separate processes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pydantic import JsonValue
from typer.testing import CliRunner

import agentdistill
from agentdistill.cli import app
from agentdistill.environments.alfworld.env import AlfworldSuite
from agentdistill.environments.base import Environment
from agentdistill.environments.registry import make_env
from agentdistill.policies.base import Policy, PolicySession, Turn
from agentdistill.policies.expert import ExpertPolicy
from agentdistill.records import (
    PolicyInfo,
    RecordFileError,
    Step,
    Task,
    Trajectory,
    read_jsonl,
    write_jsonl,
)
from agentdistill.rollout import (
    OutputLockedError,
    ResumeMismatchError,
    RolloutConfig,
    lock_path,
    progress_path,
    run_rollouts,
)
from agentdistill.task_data import load_tasks
from agentdistill.teacher import load_policy  # noqa: F401 - what `rollout` imports, loaded once

CONFIG = RolloutConfig(batch_size=4, show_progress=False)
SRC = Path(agentdistill.__file__).parents[1]
runner = CliRunner()


class Crash(RuntimeError):
    """The in-process stand-in for a kill."""


class Counting(Policy):
    """The expert, counting the episodes it starts; optionally failing after N finished."""

    def __init__(
        self,
        seed: int = 0,
        crash_after: int | None = None,
        on_start: Callable[[], None] | None = None,
        noise: float = 0.0,
    ) -> None:
        self.inner = ExpertPolicy("alfworld", seed, noise)
        self.crash_after = crash_after
        self.on_start = on_start
        self.started: list[str] = []
        self.finished = 0

    @property
    def info(self) -> PolicyInfo:
        return self.inner.info

    @property
    def settings(self) -> dict[str, JsonValue]:
        return self.inner.settings

    def session(self, batch_size: int) -> PolicySession:
        return _CountingSession(self, self.inner.session(batch_size))


class _CountingSession(PolicySession):
    def __init__(self, owner: Counting, inner: PolicySession) -> None:
        self.owner = owner
        self.inner = inner

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        if self.owner.on_start is not None:
            self.owner.on_start()
        self.owner.started.append(task.task_id)
        self.inner.start(slot, task, first_observation, admissible)

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        crash_after = self.owner.crash_after
        if crash_after is not None and self.owner.finished >= crash_after:
            raise Crash(f"failed after {self.owner.finished} finished episodes")
        return self.inner.act(slots)

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        self.inner.observe(slot, step, admissible)

    def finish(self, slot: int) -> None:
        self.owner.finished += 1
        self.inner.finish(slot)


def env() -> Environment:
    return make_env("alfworld")


def untimed(trajectories: Sequence[Trajectory]) -> list[Trajectory]:
    """Records as compared across runs: everything but wall-clock timings."""
    return [t.model_copy(update={"timings": None}) for t in trajectories]


def episode_lines(out: Path) -> list[bytes]:
    """The complete episode lines of `out`'s progress file (its header left out)."""
    return progress_path(out).read_bytes().split(b"\n")[1:-1]


def crashed(out: Path, tasks: Sequence[Task], after: int, seed: int = 0) -> Counting:
    """A run of `tasks` into `out` that fails once `after` episodes have finished."""
    policy = Counting(seed, crash_after=after)
    with pytest.raises(Crash):
        run_rollouts(policy, env, tasks, CONFIG, seed=seed, out=out)
    assert not out.exists()
    assert len(episode_lines(out)) == after
    return policy


@pytest.fixture(scope="module")
def tasks(small_suite: AlfworldSuite) -> list[Task]:
    return small_suite.tasks("valid_unseen")  # 8 games


@pytest.fixture(scope="module")
def reference(tasks: list[Task], tmp_path_factory: pytest.TempPathFactory) -> list[Trajectory]:
    """The file an uninterrupted run writes, read back."""
    out = tmp_path_factory.mktemp("reference") / "episodes.jsonl"
    returned = run_rollouts(ExpertPolicy("alfworld", 0), env, tasks, CONFIG, seed=0, out=out)
    on_disk = read_jsonl(out, Trajectory)
    assert on_disk == returned and not progress_path(out).exists()
    return on_disk


def test_a_failed_run_resumes_without_replaying_its_episodes(
    tmp_path: Path, tasks: list[Task], reference: list[Trajectory], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "episodes.jsonl"
    # 2 of the first 4 episodes in play finish (the shorter games), then the run fails
    crashed(out, tasks, after=2)
    before = [json.loads(line) for line in episode_lines(out)]
    saved = {entry["index"]: Trajectory.model_validate(entry["trajectory"]) for entry in before}
    assert len(saved) == 2 and set(saved) < {0, 1, 2, 3}

    resumed = Counting()
    with caplog.at_level(logging.INFO, logger="agentdistill.rollout"):
        returned = run_rollouts(resumed, env, tasks, CONFIG, seed=0, out=out)
    assert f"2 of 8 episodes recovered from {progress_path(out)}" in caplog.text
    # only the other 6 tasks were played; the recovered episodes are kept as recorded
    assert sorted(resumed.started) == sorted(
        t.task_id for i, t in enumerate(tasks) if i not in saved
    )
    for index, trajectory in saved.items():
        assert returned[index] == trajectory  # timings included: not played again
    on_disk = read_jsonl(out, Trajectory)
    assert on_disk == returned
    assert untimed(on_disk) == untimed(reference)
    assert not progress_path(out).exists()


def test_tasks_listed_twice_are_played_twice(tmp_path: Path, tasks: list[Task]) -> None:
    twice = [*tasks[:3], *tasks[:3]]
    out = tmp_path / "episodes.jsonl"
    crashed(out, twice, after=4)  # 4 episodes (positions) finished
    resumed = Counting()
    returned = run_rollouts(resumed, env, twice, CONFIG, seed=0, out=out)
    assert resumed.started == [t.task_id for t in twice[4:]]  # by position, not by task id
    assert [t.task for t in returned] == twice
    assert untimed(returned[:3]) == untimed(returned[3:])


@pytest.mark.parametrize(
    "torn",
    [b"", b'{"index": 5, "trajectory": {"task"', b'{"index": 5, "traj\n', b"\0\0\0\0"],
    ids=["half-line", "short-line", "cut-then-newline", "zeros"],
)
def test_a_torn_last_line_is_dropped(
    tmp_path: Path, tasks: list[Task], reference: list[Trajectory], torn: bytes
) -> None:
    out = tmp_path / "episodes.jsonl"
    crashed(out, tasks, after=2)
    with progress_path(out).open("ab") as handle:
        # a kill in the middle of writing the next episode
        whole = reference[5].model_dump_json().encode()
        handle.write(torn or b'{"index": 5, "trajectory": ' + whole[: len(whole) // 2])
    # fails again once more episodes finished (those ending at the same step): their lines
    # must follow the good ones, not the torn one (the third run would stop at a damaged line)
    again = Counting(crash_after=1)
    with pytest.raises(Crash):
        run_rollouts(again, env, tasks, CONFIG, seed=0, out=out)
    kept = len(episode_lines(out))
    assert 2 < kept < len(tasks)
    resumed = Counting()
    returned = run_rollouts(resumed, env, tasks, CONFIG, seed=0, out=out)
    assert len(resumed.started) == len(tasks) - kept
    assert untimed(read_jsonl(out, Trajectory)) == untimed(returned) == untimed(reference)


def test_a_damaged_line_before_the_last_is_an_error(tmp_path: Path, tasks: list[Task]) -> None:
    out = tmp_path / "episodes.jsonl"
    crashed(out, tasks, after=2)
    lines = progress_path(out).read_bytes().split(b"\n")
    lines[1] = lines[1][:40]
    progress_path(out).write_bytes(b"\n".join(lines))
    with pytest.raises(RecordFileError, match=r"episodes.jsonl.partial:2: not a finished episode"):
        run_rollouts(Counting(), env, tasks, CONFIG, seed=0, out=out)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seed": 1}, "seed: 0 != 1"),
        ({"noise": 0.2}, "policy: "),
        ({"max_steps": 30}, "max_steps: None != 30"),
        ({"tasks": 6}, "tasks: 8 != 6"),
    ],
    ids=["seed", "policy", "max_steps", "tasks"],
)
def test_another_run_is_refused_naming_what_differs(
    tmp_path: Path, tasks: list[Task], change: dict[str, int | float], field: str
) -> None:
    out = tmp_path / "episodes.jsonl"
    crashed(out, tasks, after=2)
    partial = progress_path(out).read_bytes()
    seed = int(change.get("seed", 0))
    policy = Counting(seed, noise=change.get("noise", 0.0))
    config = CONFIG.model_copy(update={"max_steps": change.get("max_steps")})
    played = tasks[: int(change.get("tasks", len(tasks)))]
    with pytest.raises(ResumeMismatchError, match="differs from this one") as refused:
        run_rollouts(policy, env, played, config, seed=seed, out=out)
    assert field in str(refused.value) and str(progress_path(out)) in str(refused.value)
    assert "restart" in str(refused.value)
    assert progress_path(out).read_bytes() == partial and not out.exists()
    assert policy.started == []
    # restart: the partial run is discarded and every task is played
    returned = run_rollouts(policy, env, played, config, seed=seed, out=out, restart=True)
    assert len(policy.started) == len(played)
    fresh = run_rollouts(Counting(seed, noise=change.get("noise", 0.0)), env, played, config, seed)
    assert untimed(read_jsonl(out, Trajectory)) == untimed(returned) == untimed(fresh)
    assert not progress_path(out).exists()


def test_out_is_written_only_when_every_task_is_done(
    tmp_path: Path, tasks: list[Task], reference: list[Trajectory]
) -> None:
    out = tmp_path / "episodes.jsonl"
    out.write_text("the previous run's file\n")
    seen: list[tuple[str, int]] = []
    # what is on disk each time an episode starts
    policy = Counting(on_start=lambda: seen.append((out.read_text(), len(episode_lines(out)))))
    run_rollouts(policy, env, tasks, CONFIG, seed=0, out=out)
    assert [text for text, _ in seen] == ["the previous run's file\n"] * len(tasks)
    # 4 slots: each later episode starts as soon as one ends, which is already on disk
    assert [count for _, count in seen] == [0] * 4 + [1, 2, 3, 4]
    assert untimed(read_jsonl(out, Trajectory)) == untimed(reference)
    assert not progress_path(out).exists()


def test_a_held_lock_is_a_clear_error(tmp_path: Path, tasks: list[Task]) -> None:
    out = tmp_path / "episodes.jsonl"
    out.write_text("the other writer's file\n")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
            "lock.acquire(); print('held', flush=True); sys.stdin.read()",
            str(lock_path(out)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        policy = Counting()
        with pytest.raises(OutputLockedError, match="another process is writing it") as locked:
            run_rollouts(policy, env, tasks, CONFIG, seed=0, out=out)
        assert str(out) in str(locked.value)
        assert policy.started == [] and not progress_path(out).exists()
        assert out.read_text() == "the other writer's file\n"
    finally:
        holder.communicate("")  # stdin closes: the holder exits and its lock goes
    assert holder.returncode == 0
    run_rollouts(Counting(), env, tasks, CONFIG, seed=0, out=out)
    assert len(read_jsonl(out, Trajectory)) == len(tasks)


# ---- the CLI, in real processes -----------------------------------------------------------


@pytest.fixture(scope="module")
def many(small_suite: AlfworldSuite, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose train split is long enough to kill a run in the middle."""
    data = tmp_path_factory.mktemp("data")
    write_jsonl(data / "alfworld" / "train.jsonl", small_suite.tasks("train") * 10)  # 640
    return data


@pytest.fixture(scope="module")
def many_reference(many: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Trajectory]:
    out = tmp_path_factory.mktemp("many") / "episodes.jsonl"
    tasks = load_tasks("alfworld", "train", many).tasks
    run_rollouts(ExpertPolicy("alfworld", 0), env, tasks, CONFIG, seed=0, out=out)
    return read_jsonl(out, Trajectory)


def cli_rollout(data: Path, out: Path, *extra: str, split: str = "train") -> list[str]:
    return [
        "rollout",
        "--policy",
        "expert",
        "--split",
        split,
        "--data",
        str(data),
        "--out",
        str(out),
        "--batch-size",
        "4",
        *extra,
    ]


def start_cli(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    paths = [str(SRC), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "agentdistill.cli", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )


def wait_for_an_episode(out: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if progress_path(out).exists() and episode_lines(out):
            return
        if process.poll() is not None:
            pytest.fail(f"the rollout ended ({process.returncode}) first:\n{log.read_text()}")
        time.sleep(0.005)
    process.kill()
    pytest.fail(f"no episode in {progress_path(out)} after 120 s:\n{log.read_text()}")


def test_kill_9_of_the_cli_and_resume(
    tmp_path: Path, many: Path, many_reference: list[Trajectory]
) -> None:
    out = tmp_path / "episodes.jsonl"
    log = tmp_path / "rollout.log"
    process = start_cli(cli_rollout(many, out), log)
    wait_for_an_episode(out, process, log)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not out.exists()
    recovered = len(episode_lines(out))  # a kill between write and newline: one line less
    assert 1 <= recovered < len(many_reference)

    tasks = load_tasks("alfworld", "train", many).tasks
    resumed = Counting()
    returned = run_rollouts(resumed, env, tasks, CONFIG, seed=0, out=out)
    assert len(resumed.started) == len(tasks) - recovered
    assert untimed(read_jsonl(out, Trajectory)) == untimed(returned) == untimed(many_reference)


def test_a_second_cli_writer_is_refused_and_the_first_finishes(
    tmp_path: Path, many: Path, many_reference: list[Trajectory]
) -> None:
    out = tmp_path / "episodes.jsonl"
    log = tmp_path / "rollout.log"
    first = start_cli(cli_rollout(many, out), log)
    try:
        wait_for_an_episode(out, first, log)
        second = runner.invoke(app, cli_rollout(many, out, "--seed", "1"))
        assert first.poll() is None  # still running: the refusal came from its lock
    finally:
        first.wait(timeout=300)
    assert second.exit_code == 2, second.output
    assert "error:" in second.output and "another process is writing it" in second.output
    assert first.returncode == 0, log.read_text()
    assert untimed(read_jsonl(out, Trajectory)) == untimed(many_reference)
    assert not progress_path(out).exists()


def test_cli_refuses_another_partial_run_and_restart_starts_over(
    tmp_path: Path, tasks: list[Task]
) -> None:
    data = tmp_path / "data"
    write_jsonl(data / "alfworld" / "valid_unseen.jsonl", tasks)
    out = tmp_path / "episodes.jsonl"
    crashed(out, load_tasks("alfworld", "valid_unseen", data).tasks, after=2)
    args = cli_rollout(data, out, "--seed", "1", split="valid_unseen")
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert "error:" in refused.output and "seed: 0 != 1" in refused.output
    assert len(episode_lines(out)) == 2
    restarted = runner.invoke(app, [*args, "--restart"])
    assert restarted.exit_code == 0, restarted.output
    written = read_jsonl(out, Trajectory)
    assert len(written) == len(tasks) and {t.seed for t in written} == {1}
    assert not progress_path(out).exists()
