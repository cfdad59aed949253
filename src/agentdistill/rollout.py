"""The rollout engine: run many episodes of any policy on any environment, in batches.

    trajectories = run_rollouts(policy, make_env=lambda: make_env("alfworld"), tasks=tasks,
                                config=RolloutConfig(batch_size=16))
    run_rollouts(policy, make_env, tasks, config, seed=0, out=Path("episodes.jsonl"))

Up to `batch_size` episodes play at once (continuous batching): the policy acts for the
active episodes together (a model batches them), each environment steps, and an episode that
ends hands its slot to the next task at once; no episode waits for another to finish. An output
with no parseable action is sent to the environment as an empty (invalid) action and
recorded with `action_valid=False`; it never stops the run.

With `out` a run survives being killed and never shares its output file:
- `<out>.lock` is held for the whole run (filelock, never waited for): a second process
  writing the same file gets `OutputLockedError` instead of silently replacing one run's
  records with the other's. The empty lock file stays: deleting it on release would let two
  later writers lock two different files.
- Every finished episode is appended at once (flushed and fsync'd) to `<out>.partial`, whose
  first line is the run's `RunIdentity`. A run started again with the same identity keeps
  those episodes and plays only the other tasks; another identity is refused
  (`ResumeMismatchError`) unless `restart`.
- `out` is written (atomically, in task order) only when every task is done: it is absent,
  the previous complete file, or this run's complete file, never a part of a run.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from filelock import FileLock, Timeout
from pydantic import BaseModel, Field, JsonValue, ValidationError
from rich.progress import Progress

from agentdistill.config import Config
from agentdistill.environments.base import Environment, StepResult
from agentdistill.files import write_text_atomic
from agentdistill.fingerprints import config_sha256
from agentdistill.policies.base import Policy
from agentdistill.records import (
    PolicyInfo,
    Record,
    RecordFileError,
    Step,
    Task,
    Timings,
    TokenCounts,
    Trajectory,
    write_jsonl,
)

log = logging.getLogger(__name__)


class RolloutConfig(Config):
    """How episodes are run."""

    batch_size: int = Field(default=16, ge=1, description="Episodes played at once.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Step cap; None uses the environment's own cap."
    )
    show_progress: bool = Field(default=True, description="Show a progress bar.")


@dataclass
class _Live:
    task: Task
    env: Environment
    first_observation: str
    started: float
    steps: list[Step] = field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    policy_s: float = 0.0
    env_s: float = 0.0


class RunIdentity(Record):
    """What a rollout run is; a run resumes only from the progress of the same identity.

    Batch size and the progress bar are not part of it: every episode's sampling is seeded
    by (seed, task id), never by its batch, so they do not change episodes.
    """

    policy: PolicyInfo = Field(description="The policy's `info`, as its trajectories record.")
    policy_settings: dict[str, JsonValue] = Field(
        description="The policy's `settings` (sampling, seed, noise: what `info` leaves out)."
    )
    seed: int | None = Field(description="The seed recorded in every trajectory.")
    max_steps: int | None = Field(description="`RolloutConfig.max_steps`.")
    tasks: int = Field(ge=0, description="How many tasks; an episode is keyed by its position.")
    tasks_sha256: str = Field(description="Hash of the task list, in order.")

    @classmethod
    def of(
        cls, policy: Policy, tasks: Sequence[Task], config: RolloutConfig, seed: int | None
    ) -> RunIdentity:
        identity = cls(
            policy=policy.info,
            policy_settings=policy.settings,
            seed=seed,
            max_steps=config.max_steps,
            tasks=len(tasks),
            tasks_sha256=config_sha256({"tasks": [t.model_dump(mode="json") for t in tasks]}),
        )
        # Through JSON and back, so that it compares equal to the identity read from disk.
        return cls.model_validate_json(identity.model_dump_json())

    def differences(self, other: RunIdentity) -> list[str]:
        """`field: this != other` for every field that differs."""

        def shown(value: object) -> str:
            if isinstance(value, BaseModel):
                return value.model_dump_json(exclude_none=True)
            if isinstance(value, str) and len(value) == 64:
                return value[:12]  # a hash
            return repr(value)

        return [
            f"{name}: {shown(getattr(self, name))} != {shown(getattr(other, name))}"
            for name in type(self).model_fields
            if getattr(self, name) != getattr(other, name)
        ]


class RolloutOutputError(RuntimeError):
    """This run cannot write its output file (see the subclasses)."""


class OutputLockedError(RolloutOutputError):
    """Another process is writing the same output file."""


class ResumeMismatchError(RolloutOutputError):
    """The output's progress file holds a partial run of another identity."""


class _Header(Record):
    """The first line of a progress file."""

    rollout_progress: Literal[1] = Field(default=1, description="Layout version of the file.")
    identity: RunIdentity


class _Finished(Record):
    """Every other line of a progress file: a finished episode and its task's position.

    Positions, not task ids, key episodes: a task list may hold a task twice.
    """

    index: int = Field(ge=0)
    trajectory: Trajectory


def lock_path(out: str | Path) -> Path:
    """The lock file of an output file: `<out>.lock`."""
    out = Path(out)
    return out.with_name(out.name + ".lock")


def progress_path(out: str | Path) -> Path:
    """The progress file of an output file: `<out>.partial`."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def run_rollouts(
    policy: Policy,
    make_env: Callable[[], Environment],
    tasks: Sequence[Task],
    config: RolloutConfig | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    restart: bool = False,
) -> list[Trajectory]:
    """Play every task once with `policy`; trajectories come back in task order.

    With `out`, the run locks it, appends each finished episode to its progress file, and
    writes it (atomically, in task order) once every task is done. A progress file of the
    same `RunIdentity`, left by a killed or failed run, is resumed: its episodes are kept and
    only the other tasks are played. They play as in a fresh run: each episode's sampling is
    seeded by (seed, task id) (`ExpertPolicy`, `HFPolicy`), not by the episodes that share
    its batch. `restart` discards a progress file instead of resuming it.

    Raises `OutputLockedError` when another process writes `out`, `ResumeMismatchError` when
    its progress file is another run's (the message names the fields that differ), and
    `RecordFileError` for a progress file damaged elsewhere than in its last line.
    """
    config = config or RolloutConfig()
    if out is None:
        return _play(policy, make_env, tasks, config, seed, {}, None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    identity = RunIdentity.of(policy, tasks, config, seed)
    progress = progress_path(out)
    with _locked(out):
        done, handle = _open_progress(progress, identity, tasks, restart)
        with handle:

            def keep(index: int, trajectory: Trajectory) -> None:
                # On disk before the run goes on: a kill loses at most the episodes in play.
                handle.write(_Finished(index=index, trajectory=trajectory).model_dump_json())
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())

            results = _play(policy, make_env, tasks, config, seed, done, keep)
        write_jsonl(out, results)
        progress.unlink()
    return results


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold `out`'s lock file, or raise `OutputLockedError` at once."""
    lock = FileLock(str(lock_path(out)), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise OutputLockedError(
            f"{out}: another process is writing it (it holds {lock_path(out)}); wait for it "
            "to finish or write somewhere else"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _open_progress(
    path: Path, identity: RunIdentity, tasks: Sequence[Task], restart: bool
) -> tuple[dict[int, Trajectory], TextIO]:
    """The episodes already in the progress file, and the file open for appending."""
    done: dict[int, Trajectory] = {}
    if restart and path.exists():
        log.info("restart: discarding the partial run in %s", path)
        path.unlink()
    if path.exists():
        done, good = _recover(path, identity, tasks)
        os.truncate(path, good)  # a new line must not continue a torn one
        log.info(
            "resuming: %d of %d episodes recovered from %s; playing the other %d",
            len(done),
            len(tasks),
            path,
            len(tasks) - len(done),
        )
    else:
        # Atomic: a progress file always starts with a whole header.
        write_text_atomic(path, _Header(identity=identity).model_dump_json() + "\n")
    return done, path.open("a", encoding="utf-8")


def _recover(
    path: Path, identity: RunIdentity, tasks: Sequence[Task]
) -> tuple[dict[int, Trajectory], int]:
    """The finished episodes of a progress file, and the byte length of its good part.

    Only the last line can be torn (a kill mid-write): it is dropped, and its episode is
    played again. A bad line before it is damage from elsewhere: an error.
    """
    *lines, tail = path.read_bytes().split(b"\n")
    fix = "delete it, or start over with restart (CLI: --restart)"
    try:
        header = _Header.model_validate_json(lines[0]) if lines else None
    except ValidationError:
        header = None
    if header is None:
        raise RecordFileError(path, 1, f"not a rollout progress file (no header): {fix}")
    if header.identity != identity:
        raise ResumeMismatchError(
            f"{path} holds a partial run that differs from this one (on disk != now: "
            + "; ".join(header.identity.differences(identity))
            + f"): {fix}"
        )
    done: dict[int, Trajectory] = {}
    good = len(lines[0]) + 1
    torn = bool(tail)  # text after the last newline: a line cut short
    for number, line in enumerate(lines[1:], start=2):
        try:
            finished = _Finished.model_validate_json(line)
        except ValidationError as exc:
            if number == len(lines) and not torn:
                torn = True
                break
            raise RecordFileError(
                path, number, f"not a finished episode ({exc.error_count()} errors): {fix}"
            ) from exc
        index = finished.index
        if index >= len(tasks) or finished.trajectory.task != tasks[index]:
            raise RecordFileError(path, number, f"episode {index} is not task {index}: {fix}")
        done.setdefault(index, finished.trajectory)
        good += len(line) + 1
    if torn:
        log.warning("%s: dropped a torn last line (its episode is played again)", path)
    return done, good


def _play(
    policy: Policy,
    make_env: Callable[[], Environment],
    tasks: Sequence[Task],
    config: RolloutConfig,
    seed: int | None,
    done: dict[int, Trajectory],
    keep: Callable[[int, Trajectory], None] | None,
) -> list[Trajectory]:
    """Play the tasks whose position is not in `done`; `keep` gets each finished episode.

    Continuous batching: up to `batch_size` episodes are in play, each in a slot with its own
    environment; when one ends, the next task starts in its slot at once. Episodes start in
    task order; results do not depend on slots or timing (sampling is seeded per episode).
    """
    todo = deque(index for index in range(len(tasks)) if index not in done)
    results = dict(done)
    envs = [make_env() for _ in range(min(config.batch_size, len(todo)))]
    try:
        with Progress(disable=not config.show_progress, transient=True) as progress:
            bar = progress.add_task(
                f"rollouts ({policy.info.name})", total=len(tasks), completed=len(done)
            )

            def finished(index: int, trajectory: Trajectory) -> None:
                results[index] = trajectory
                if keep is not None:
                    keep(index, trajectory)
                progress.advance(bar)

            if envs:
                _run_slots(policy, envs, tasks, todo, config, seed, finished)
    finally:
        for env in envs:
            env.close()
    return [results[index] for index in range(len(tasks))]


def _run_slots(
    policy: Policy,
    envs: list[Environment],
    tasks: Sequence[Task],
    todo: deque[int],
    config: RolloutConfig,
    seed: int | None,
    finished: Callable[[int, Trajectory], None],
) -> None:
    """Play the task positions in `todo`, one slot per environment, refilling freed slots.

    `session.act` may return turns for only some of the asked slots (a model session returns
    the rows whose turn is complete and keeps decoding the others): the slots it answered
    step their environments and are asked again with the rest.
    """
    session = policy.session(len(envs))
    live: dict[int, tuple[int, _Live]] = {}  # slot -> (task position, episode)

    def begin(slot: int) -> None:
        index = todo.popleft()
        env = envs[slot]
        began = time.perf_counter()
        first = env.reset(tasks[index])
        live[slot] = (index, _Live(tasks[index], env, first, began))
        live[slot][1].env_s = time.perf_counter() - began
        session.start(slot, tasks[index], first, env.admissible_commands)

    for slot in range(len(envs)):
        if todo:
            begin(slot)
    while live:
        slots = sorted(live)
        began = time.perf_counter()
        turns = session.act(slots)
        if not turns or not set(turns) <= set(slots):
            raise RuntimeError(f"{type(session).__name__}.act answered no asked slot")
        share = (time.perf_counter() - began) / len(slots)  # every asked row was advanced
        for slot in slots:
            live[slot][1].policy_s += share
        for slot in sorted(turns):
            index, episode = live[slot]
            turn = turns[slot]
            episode.prompt_tokens += turn.prompt_tokens
            episode.generated_tokens += turn.generated_tokens
            began = time.perf_counter()
            command = turn.action if turn.command is None else turn.command
            result = episode.env.step(command)
            episode.env_s += time.perf_counter() - began
            step = Step(
                reasoning=turn.reasoning,
                action=turn.action,
                observation=result.observation,
                action_valid=result.info.action_valid and turn.parsed,
                imitate=turn.imitate,
                grounded_from=turn.grounded_from,
                oracle=turn.oracle,
            )
            episode.steps.append(step)
            capped = config.max_steps is not None and len(episode.steps) >= config.max_steps
            if result.done or capped:
                # An episode ends on its own (won or not), or out of steps (the env's cap or
                # ours, when the env did not end it).
                cut = result.info.truncated or not result.done
                stop = "step_cap" if cut else "done"
                trajectory = _trajectory(policy, episode, result, stop, seed)
                session.finish(slot)
                del live[slot]
                finished(index, trajectory)
                if todo:
                    begin(slot)  # no wave barrier: the next task takes the slot now
            else:
                session.observe(slot, step, result.info.admissible_commands)


def _trajectory(
    policy: Policy, episode: _Live, last: StepResult, stop: str, seed: int | None
) -> Trajectory:
    counts = None
    if episode.prompt_tokens or episode.generated_tokens:
        counts = TokenCounts(prompt=episode.prompt_tokens, generated=episode.generated_tokens)
    return Trajectory(
        task=episode.task,
        initial_observation=episode.first_observation,
        steps=episode.steps,
        success=last.info.won,
        reward=last.reward,
        # From the last answer: an episode our cap cut before the env ended it scores 0.
        scores=episode.env.episode_scores(last.info),
        policy=policy.info,
        seed=seed,
        stop_reason=stop,  # type: ignore[arg-type]
        timings=Timings(
            wall_s=time.perf_counter() - episode.started,
            policy_s=episode.policy_s,
            env_s=episode.env_s,
        ),
        token_counts=counts,
    )


def is_invalid_step(step: Step) -> bool:
    """Whether the action the policy wrote was invalid: the environment refused it, or action
    grounding had to replace it by the closest admissible command (the environment accepted
    what was sent, but the policy's own action was not valid). Unknown validity is valid.
    """
    return step.action_valid is False or step.grounded_from is not None


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Success rate, mean reward, mean steps, invalid-action rate, token throughput."""
    n = max(len(trajectories), 1)
    steps = sum(len(t.steps) for t in trajectories)
    invalid = sum(is_invalid_step(s) for t in trajectories for s in t.steps)
    generated = sum(t.token_counts.generated for t in trajectories if t.token_counts)
    policy_s = sum(t.timings.policy_s or 0.0 for t in trajectories if t.timings)
    return {
        "episodes": len(trajectories),
        "success_rate": sum(t.success for t in trajectories) / n,
        "mean_reward": sum(t.reward for t in trajectories) / n,
        "mean_steps": steps / n,
        "invalid_action_rate": invalid / max(steps, 1),
        "generated_tokens": generated,
        "generated_tokens_per_s": generated / policy_s if policy_s else 0.0,
    }
