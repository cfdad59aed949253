"""A policy whose visited states an oracle labels: DAgger's data collection.

    policy = OracleLabelledPolicy(learner, "alfworld", expert_share=0.5, seed=1)
    episodes = run_rollouts(policy, make_env_fn, tasks, RolloutConfig())

Each episode is played either by the environment's scripted expert (with probability
`expert_share`, drawn per task from `seed`: DAgger's mixture of the oracle and the learner,
mixed per episode so the learner's batched KV-cache session never has to swap a turn it
generated for one it did not) or by the learner. In a learner episode a shadow expert follows
every step: before each turn it says what it would do (`Turn.oracle`, recorded as
`Step.oracle`; the expert's own turns are labelled with themselves, its exploration noise is
not), then it observes what the learner actually did and replans from there
(`AlfworldExpert.observe(..., action=...)`), using only what an agent can know. A shadow
expert that cannot go on (`ExpertError`) stops labelling that episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import JsonValue

from agentdistill.policies.base import Policy, PolicySession, Turn, hash_seed
from agentdistill.policies.expert import (
    EXPERT_ERRORS,
    EXPERTS,
    Expert,
    ExpertPolicy,
    new_expert,
)
from agentdistill.records import OracleLabel, PolicyInfo, Step, Task


class OracleLabelledPolicy(Policy):
    """The learner's episodes labelled by the expert, mixed with the expert's own episodes."""

    def __init__(
        self,
        learner: Policy,
        env_name: str,
        expert_share: float = 0.0,
        seed: int = 0,
        expert_seed: int = 0,
        expert_noise: float = 0.0,
        max_steps: int | None = None,
    ) -> None:
        if env_name not in EXPERTS:
            raise ValueError(f"no expert for environment {env_name!r}; have {', '.join(EXPERTS)}")
        if not 0.0 <= expert_share <= 1.0:
            raise ValueError(f"expert_share must be in [0, 1], got {expert_share}")
        self.learner = learner
        self.env_name = env_name
        self.expert_share = expert_share
        self.seed = seed
        # the episodes' step cap, which the expert plans against (None: the env's own)
        self.expert = ExpertPolicy(env_name, expert_seed, expert_noise, max_steps)

    @property
    def info(self) -> PolicyInfo:
        learner = self.learner.info
        return learner.model_copy(
            update={"name": f"{learner.name}+oracle(expert_share={self.expert_share:g})"}
        )

    @property
    def settings(self) -> dict[str, JsonValue]:
        return {
            "learner": self.learner.settings,
            "expert": self.expert.settings,
            "expert_share": self.expert_share,
            "seed": self.seed,
        }

    def expert_plays(self, task: Task) -> bool:
        """Whether the expert plays `task` (a fixed draw per task and seed)."""
        return hash_seed(self.seed, task.task_id) / 2**32 < self.expert_share

    def session(self, batch_size: int) -> PolicySession:
        return _LabelledSession(self, batch_size)


class _LabelledSession(PolicySession):
    def __init__(self, policy: OracleLabelledPolicy, batch_size: int) -> None:
        self.policy = policy
        self.learner = policy.learner.session(batch_size)
        self.expert = policy.expert.session(batch_size)
        self.expert_slots: set[int] = set()
        self.shadows: dict[int, Expert | None] = {}  # slot -> labeller (None: gave up)

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        if self.policy.expert_plays(task):
            self.expert_slots.add(slot)
            self.expert.start(slot, task, first_observation, admissible)
            return
        self.learner.start(slot, task, first_observation, admissible)
        # worded as the expert's own episodes of this task are
        seed = hash_seed(self.policy.expert.seed, task.task_id)
        shadow: Expert | None = new_expert(self.policy.env_name, seed, self.policy.expert.max_steps)
        try:
            shadow.reset(task.goal, first_observation, list(admissible or []))
        except EXPERT_ERRORS:
            shadow = None
        self.shadows[slot] = shadow

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        by_expert = [s for s in slots if s in self.expert_slots]
        by_learner = [s for s in slots if s not in self.expert_slots]
        turns = self.expert.act(by_expert) if by_expert else {}
        for slot, turn in turns.items():
            if turn.imitate and turn.action:  # the expert's own turn is its label
                turns[slot] = replace(
                    turn, oracle=OracleLabel(reasoning=turn.reasoning, action=turn.action)
                )
        learned = self.learner.act(by_learner) if by_learner else {}
        for slot, turn in learned.items():
            turns[slot] = replace(turn, oracle=self._label(slot))
        return turns

    def _label(self, slot: int) -> OracleLabel | None:
        shadow = self.shadows.get(slot)
        if shadow is None:
            return None
        try:
            reasoning, action = shadow.act()
        except EXPERT_ERRORS:
            self.shadows[slot] = None
            return None
        return OracleLabel(reasoning=reasoning, action=action)

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        if slot in self.expert_slots:
            self.expert.observe(slot, step, admissible)
            return
        self.learner.observe(slot, step, admissible)
        shadow = self.shadows.get(slot)
        if shadow is None:
            return
        try:  # what the learner did is a foreign action to the expert: it replans from it
            shadow.observe(step.observation, list(admissible or []), action=step.action)
        except EXPERT_ERRORS:
            self.shadows[slot] = None

    def finish(self, slot: int) -> None:
        if slot in self.expert_slots:
            self.expert_slots.discard(slot)
            self.expert.finish(slot)
            return
        self.shadows.pop(slot, None)
        self.learner.finish(slot)
