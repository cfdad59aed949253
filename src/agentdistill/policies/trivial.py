"""Trivial policies: the bar any teacher worth distilling must clear.

- `random_admissible`: a uniformly random admissible command each step (seeded per task);
  in environments that list no admissible commands it repeats the first observation's
  failure mode: it sends `look`.
- `repeat_first`: always the first admissible command (a "do one thing" policy).

They write no reasoning. The teacher floor of an experiment (`TeacherFloorConfig`) plays them
on the benchmark tasks and requires the teacher to beat the best of them by a margin.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pydantic import JsonValue

from agentdistill.policies.base import Policy, PolicySession, Turn, hash_seed
from agentdistill.records import PolicyInfo, Step, Task

TRIVIAL_POLICIES: tuple[str, ...] = ("random_admissible", "repeat_first")


class TrivialPolicy(Policy):
    """One of `TRIVIAL_POLICIES`, seeded."""

    def __init__(self, kind: str, seed: int = 0) -> None:
        if kind not in TRIVIAL_POLICIES:
            raise ValueError(f"unknown trivial policy {kind!r}; expected one of {TRIVIAL_POLICIES}")
        self.kind = kind
        self.seed = seed

    @property
    def info(self) -> PolicyInfo:
        return PolicyInfo(name=self.kind, kind="other")

    @property
    def settings(self) -> dict[str, JsonValue]:
        return {"seed": self.seed}

    def session(self, batch_size: int) -> PolicySession:
        return _TrivialSession(self)


class _TrivialSession(PolicySession):
    def __init__(self, policy: TrivialPolicy) -> None:
        self.policy = policy
        self.rngs: dict[int, random.Random] = {}
        self.admissible: dict[int, list[str]] = {}

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        self.rngs[slot] = random.Random(hash_seed(self.policy.seed, task.task_id))
        self.admissible[slot] = list(admissible or [])

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        turns = {}
        for slot in slots:
            options = self.admissible[slot]
            if not options:
                action = "look"
            elif self.policy.kind == "random_admissible":
                action = self.rngs[slot].choice(options)
            else:
                action = options[0]
            turns[slot] = Turn(reasoning="", action=action)
        return turns

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        self.admissible[slot] = list(admissible or [])
