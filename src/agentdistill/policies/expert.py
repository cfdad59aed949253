"""Scripted experts as policies (one expert instance per episode)."""

from __future__ import annotations

from collections.abc import Sequence

from agentdistill.environments.alfworld.expert import AlfworldExpert, ExpertError
from agentdistill.policies.base import Policy, PolicySession, Turn
from agentdistill.records import PolicyInfo, Step, Task

EXPERTS = {"alfworld": AlfworldExpert}


class ExpertPolicy(Policy):
    """The environment's scripted expert; `seed` varies its wording (never its actions)."""

    def __init__(self, env_name: str, seed: int = 0) -> None:
        if env_name not in EXPERTS:
            raise ValueError(f"no expert for environment {env_name!r}; have {', '.join(EXPERTS)}")
        self.env_name = env_name
        self.seed = seed

    @property
    def info(self) -> PolicyInfo:
        return PolicyInfo(name="expert", kind="expert", model=self.env_name)

    def session(self, batch_size: int) -> PolicySession:
        return _ExpertSession(self)


class _ExpertSession(PolicySession):
    def __init__(self, policy: ExpertPolicy) -> None:
        self.policy = policy
        self.experts: dict[int, AlfworldExpert] = {}

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        # Each episode's wording depends on the seed and the task, not on batch placement.
        expert = EXPERTS[self.policy.env_name](seed=hash_seed(self.policy.seed, task.task_id))
        expert.reset(task.goal, first_observation, list(admissible or []))
        self.experts[slot] = expert

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        turns = {}
        for slot in slots:
            try:
                reasoning, action = self.experts[slot].act()
            except ExpertError as exc:
                turns[slot] = Turn(reasoning="", action="", raw=str(exc), parsed=False)
                continue
            turns[slot] = Turn(reasoning=reasoning, action=action)
        return turns

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        self.experts[slot].observe(step.observation, list(admissible or []))

    def finish(self, slot: int) -> None:
        self.experts.pop(slot, None)


def hash_seed(seed: int, key: str) -> int:
    """A stable per-episode seed (Python's hash() of str is salted per process)."""
    import hashlib

    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
