"""A small, complete text environment used to exercise the environment contract suite.

It is not a benchmark: it exists so the contract checks run against a working implementation
(and, in `test_env_contract.py`, against deliberately broken ones). A chest is locked; its key
lies in one of several containers, chosen from the task's seed; the goal is to open the chest.
"""

from __future__ import annotations

import random

from agentdistill.environments.base import (
    Environment,
    EnvironmentStateError,
    StepInfo,
    StepResult,
    TaskSuite,
)
from agentdistill.records import Task

CONTAINERS = ("drawer", "box", "basket", "jar")


class KeyChestSuite(TaskSuite):
    env_name = "keychest"
    splits = ("train", "test")

    def __init__(self, n_tasks: int = 6, seed: int = 0) -> None:
        self.n_tasks = n_tasks
        self.seed = seed

    def tasks(self, split: str) -> list[Task]:
        self.check_split(split)
        offset = 0 if split == "train" else 1000
        return [
            Task(
                env=self.env_name,
                task_id=f"{split}-{i}",
                split=split,
                goal="open the chest",
                task_type="unlock",
                spec={"seed": self.seed * 7919 + offset + i},
            )
            for i in range(self.n_tasks)
        ]


class KeyChestEnv(Environment):
    name = "keychest"
    max_steps = 8

    def __init__(self) -> None:
        self._task: Task | None = None
        self._done = True

    def reset(self, task: Task) -> str:
        if task.env != self.name:
            raise EnvironmentStateError(f"task of env {task.env!r} given to {self.name!r}")
        rng = random.Random(task.spec["seed"])
        self._containers = rng.sample(CONTAINERS, k=3)
        self._key_in = rng.choice(self._containers)
        self._open: set[str] = set()
        self._holding = False
        self._unlocked = False
        self._steps = 0
        self._done = False
        self._task = task
        return f"You see a chest, a {', a '.join(self._containers)}.\nYour task is to: {task.goal}."

    @property
    def admissible_commands(self) -> list[str] | None:
        return self._commands()

    def _commands(self) -> list[str] | None:
        if self._task is None or self._done:
            return None
        commands = ["look"]
        commands += [f"open {c}" for c in self._containers if c not in self._open]
        if self._key_in in self._open and not self._holding:
            commands.append("take key")
        if self._holding and not self._unlocked:
            commands.append("unlock chest")
        if self._unlocked:
            commands.append("open chest")
        return sorted(commands)

    def step(self, action: str) -> StepResult:
        if self._task is None:
            raise EnvironmentStateError("step before reset")
        if self._done:
            raise EnvironmentStateError("the episode is over; call reset")
        valid = action in (self._commands() or [])
        won = False
        if not valid:
            observation = "Nothing happens."
        elif action == "look":
            observation = "You see a chest."
        elif action.startswith("open ") and action != "open chest":
            container = action.removeprefix("open ")
            self._open.add(container)
            observation = f"You open the {container}." + (
                " There is a key." if container == self._key_in else " It is empty."
            )
        elif action == "take key":
            self._holding = True
            observation = "You take the key."
        elif action == "unlock chest":
            self._unlocked = True
            observation = "You unlock the chest."
        else:
            won = True
            observation = "You open the chest. Well done!"
        self._steps += 1
        self._done = won or self._steps >= self.max_steps
        return StepResult(
            observation=observation,
            done=self._done,
            reward=float(won),
            info=StepInfo(
                won=won,
                action_valid=valid,
                admissible_commands=self._commands(),
                truncated=self._done and not won,
            ),
        )


def solve(task: Task) -> list[str]:
    """Expert actions for a task (uses the seed: fine for a test oracle)."""
    rng = random.Random(task.spec["seed"])
    containers = rng.sample(CONTAINERS, k=3)
    key_in = rng.choice(containers)
    return [f"open {key_in}", "take key", "unlock chest", "open chest"]
