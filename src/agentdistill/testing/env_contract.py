"""The environment contract: checks every `Environment` + `TaskSuite` must pass.

Use it from a test module by subclassing `EnvironmentContract` and providing a `subject`
fixture:

    class TestAlfworldNative(EnvironmentContract):
        @pytest.fixture
        def subject(self) -> ContractSubject:
            return ContractSubject(make_env=NativeAlfworld, suite=AlfworldSuite(...), split="train")

Each check is also a plain function raising `ContractViolation`, so a broken environment can
be shown to fail it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from agentdistill.environments.base import (
    Environment,
    EnvironmentStateError,
    StepResult,
    TaskSuite,
)
from agentdistill.records import Task

GARBAGE_ACTIONS: tuple[str, ...] = (
    "",
    "   ",
    "xyzzy",
    "Nothing to see here 123",
    "search[",
    "]]]",
    "go to the moon 99",
    "\u00e9\u00e8\u4e2d\u6587 \U0001f600",
    "a" * 500,
)


class ContractViolation(AssertionError):
    """An environment broke a rule of the protocol."""


@dataclass
class ContractSubject:
    """An environment under test and where its tasks come from."""

    make_env: Callable[[], Environment]
    suite: TaskSuite
    split: str
    n_tasks: int = 5
    """How many tasks of the split the checks play."""
    solve: Callable[[Task], Sequence[str]] | None = None
    """Optional: actions that win a task (an expert's), to check that winning works."""
    garbage_actions: Sequence[str] = field(default_factory=lambda: GARBAGE_ACTIONS)
    seed: int = 0

    def tasks(self) -> list[Task]:
        return self.suite.tasks(self.split)[: self.n_tasks]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


def _check_result(result: object, context: str) -> StepResult:
    _require(isinstance(result, StepResult), f"{context}: step returned {type(result).__name__}")
    assert isinstance(result, StepResult)
    _require(isinstance(result.observation, str), f"{context}: observation is not text")
    _require(math.isfinite(result.reward), f"{context}: reward {result.reward} is not finite")
    _require(not result.info.won or result.done, f"{context}: won but not done")
    _require(not result.info.truncated or result.done, f"{context}: truncated but not done")
    _require(not (result.info.won and result.info.truncated), f"{context}: won and truncated")
    return result


def _check_scores(env: Environment, result: StepResult, context: str) -> None:
    """The step that ended an episode carries a finite number for every score key."""
    for key in env.score_keys:
        value = result.info.extra.get(key)
        _require(
            isinstance(value, int | float) and math.isfinite(value),
            f"{context}: score {key!r} of the last step is {value!r}, not a finite number",
        )


def check_task_suite(subject: ContractSubject) -> None:
    """Tasks exist, belong to the env and split, have unique ids, are deterministic, serialise."""
    suite = subject.suite
    tasks = suite.tasks(subject.split)
    _require(len(tasks) > 0, f"split {subject.split!r} has no tasks")
    env = subject.make_env()
    try:
        for task in tasks:
            _require(task.env == env.name, f"task {task.task_id}: env {task.env!r} != {env.name!r}")
            _require(task.split == subject.split, f"task {task.task_id}: split {task.split!r}")
            _require(
                Task.model_validate_json(task.model_dump_json()) == task,
                f"task {task.task_id} does not survive a JSON round trip",
            )
    finally:
        env.close()
    ids = [task.task_id for task in tasks]
    _require(len(set(ids)) == len(ids), "task ids are not unique within the split")
    _require(suite.tasks(subject.split) == tasks, "the same split gives different tasks twice")
    with pytest.raises(ValueError):
        suite.tasks("__no_such_split__")


def check_reset(subject: ContractSubject) -> None:
    """Reset returns text, deterministically, also from a fresh instance and a reloaded task."""
    first, second = subject.make_env(), subject.make_env()
    try:
        for task in subject.tasks():
            observation = first.reset(task)
            _require(
                isinstance(observation, str) and observation.strip() != "",
                f"task {task.task_id}: reset returned {observation!r}",
            )
            _require(first.reset(task) == observation, f"task {task.task_id}: reset twice differs")
            reloaded = Task.model_validate_json(task.model_dump_json())
            _require(
                second.reset(reloaded) == observation,
                f"task {task.task_id}: a fresh env on the reloaded task starts differently",
            )
        foreign = subject.tasks()[0].model_copy(update={"env": "__another_env__"})
        try:
            first.reset(foreign)
        except (EnvironmentStateError, ValueError):
            pass
        else:
            raise ContractViolation("reset accepted a task of another environment")
    finally:
        first.close()
        second.close()


def check_step_before_reset(subject: ContractSubject) -> None:
    """Stepping a fresh environment raises EnvironmentStateError."""
    env = subject.make_env()
    try:
        env.step("look")
    except EnvironmentStateError:
        return
    except Exception as exc:
        raise ContractViolation(
            f"step before reset raised {type(exc).__name__}, expected EnvironmentStateError"
        ) from exc
    finally:
        env.close()
    raise ContractViolation("step before reset did not raise")


def check_invalid_actions(subject: ContractSubject) -> None:
    """Garbage actions are answered, marked invalid, and never win."""
    env = subject.make_env()
    try:
        task = subject.tasks()[0]
        for action in subject.garbage_actions:
            env.reset(task)
            try:
                result = env.step(action)
            except Exception as exc:
                raise ContractViolation(f"step({action[:40]!r}) raised {exc!r}") from exc
            _check_result(result, f"step({action[:40]!r})")
            _require(not result.info.action_valid, f"garbage {action[:40]!r} marked valid")
            _require(not result.info.won, f"garbage {action[:40]!r} won the game")
    finally:
        env.close()


def check_admissible_commands(subject: ContractSubject) -> None:
    """If admissible commands are known, they are distinct non-empty strings, each valid."""
    env = subject.make_env()
    try:
        for task in subject.tasks()[:2]:
            env.reset(task)
            commands = env.admissible_commands
            if commands is None:
                continue
            _require(len(commands) > 0, f"task {task.task_id}: no admissible commands")
            _require(len(set(commands)) == len(commands), "duplicate admissible commands")
            _require(
                all(isinstance(c, str) and c.strip() for c in commands),
                "an admissible command is empty",
            )
            disagreements = []
            for command in commands:
                env.reset(task)
                result = _check_result(env.step(command), f"step({command!r})")
                _require(
                    result.info.action_valid,
                    f"task {task.task_id}: admissible {command!r} was marked invalid",
                )
                reported = result.info.admissible_commands
                if reported is not None and not result.done and reported != env.admissible_commands:
                    disagreements.append(command)
            _require(
                not disagreements,
                "info.admissible_commands disagrees with "
                f"env.admissible_commands after {disagreements[:3]}",
            )
    finally:
        env.close()


def check_step_cap_and_done(subject: ContractSubject) -> None:
    """The episode ends by max_steps (with its scores, marked `truncated`, and only the last
    step is); stepping after the end raises; reset starts afresh."""
    env = subject.make_env()
    try:
        _require(isinstance(env.max_steps, int) and env.max_steps > 0, "max_steps not set")
        task = subject.tasks()[0]
        for _ in range(2):  # the second round checks that reset also resets the step count
            env.reset(task)
            for number in range(1, env.max_steps + 1):
                result = _check_result(env.step("xyzzy"), f"step {number}")
                if result.done:
                    break
                _require(not result.info.truncated, f"step {number}: truncated before the end")
            _require(result.done, f"not done after max_steps={env.max_steps} steps")
            _check_scores(env, result, f"step {number} (the cap)")
            _require(
                number == env.max_steps,
                f"done after {number} invalid steps, before the cap of {env.max_steps}",
            )
            _require(result.info.truncated, f"step {number} (the cap): info.truncated is not set")
            try:
                env.step("xyzzy")
            except EnvironmentStateError:
                pass
            else:
                raise ContractViolation("step after the episode ended did not raise")
    finally:
        env.close()


def _random_walk(subject: ContractSubject, task: Task, seed: int) -> list[StepResult]:
    rng = random.Random(seed)
    env = subject.make_env()
    try:
        results = []
        env.reset(task)
        for _ in range(env.max_steps):
            commands = env.admissible_commands or []
            pool = list(commands) + list(subject.garbage_actions[:3])
            result = _check_result(env.step(rng.choice(pool)), "random walk")
            results.append(result)
            if result.done:
                break
        return results
    finally:
        env.close()


def check_determinism(subject: ContractSubject) -> None:
    """The same task and actions give the same observations, rewards and flags."""
    for offset, task in enumerate(subject.tasks()):
        first = _random_walk(subject, task, subject.seed + offset)
        second = _random_walk(subject, task, subject.seed + offset)
        _require(first == second, f"task {task.task_id}: same actions, different results")


def check_solution_wins(subject: ContractSubject) -> None:
    """When a solver is given, its actions win every checked task within the cap."""
    if subject.solve is None:
        pytest.skip("no solver given for this environment")
    env = subject.make_env()
    try:
        for task in subject.tasks():
            env.reset(task)
            result = None
            for action in subject.solve(task):
                result = _check_result(env.step(action), f"task {task.task_id}: {action!r}")
                if result.done:
                    break
            _require(
                result is not None and result.info.won,
                f"task {task.task_id}: the solver's actions did not win",
            )
            assert result is not None
            _check_scores(env, result, f"task {task.task_id}")
    finally:
        env.close()


CHECKS: tuple[Callable[[ContractSubject], None], ...] = (
    check_task_suite,
    check_reset,
    check_step_before_reset,
    check_invalid_actions,
    check_admissible_commands,
    check_step_cap_and_done,
    check_determinism,
    check_solution_wins,
)


class EnvironmentContract:
    """Subclass in a test module and define a `subject` fixture to run every check."""

    @pytest.fixture
    def subject(self) -> ContractSubject:
        raise NotImplementedError("define a `subject` fixture returning a ContractSubject")

    @pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
    def test_contract(
        self, subject: ContractSubject, check: Callable[[ContractSubject], None]
    ) -> None:
        check(subject)
