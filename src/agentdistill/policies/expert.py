"""Scripted experts as policies (one expert instance per episode)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from pydantic import JsonValue

from agentdistill.environments.alfworld.expert import AlfworldExpert
from agentdistill.environments.alfworld.expert import ExpertError as AlfworldExpertError
from agentdistill.environments.base import Environment, StepResult
from agentdistill.environments.hotpotqa.expert import HotpotQAExpert
from agentdistill.environments.webshop.expert import ExpertError as WebShopExpertError
from agentdistill.environments.webshop.expert import WebShopExpert
from agentdistill.policies.base import Policy, PolicySession, Turn, hash_seed
from agentdistill.records import PolicyInfo, Step, Task, Timings, Trajectory


class Expert(Protocol):
    """What every environment's scripted expert offers (see `AlfworldExpert`)."""

    def reset(self, goal: str, observation: str, admissible: Sequence[str]) -> None: ...

    def act(self) -> tuple[str, str]: ...

    def observe(
        self, observation: str, admissible: Sequence[str], action: str | None = None
    ) -> None: ...


#: A fresh expert from its wording seed and the episode's step cap (None: the env's own).
ExpertFactory = Callable[[int, "int | None"], Expert]


def _webshop_expert(seed: int, max_steps: int | None) -> Expert:
    # The one expert that plans against the cap: it buys the best item seen before the
    # steps run out, so it must know the episode's cap, not only the env's default.
    return WebShopExpert(seed) if max_steps is None else WebShopExpert(seed, max_steps=max_steps)


# ALFWorld's and HotPotQA's experts take the shortest plan whatever the cap. HotpotQAExpert
# thinks every step, so exploration noise (only over silent steps) never applies to it; its
# ExpertError subclasses ALFWorld's.
EXPERTS: dict[str, ExpertFactory] = {
    "alfworld": lambda seed, _max_steps: AlfworldExpert(seed),
    "webshop": _webshop_expert,
    "hotpotqa": lambda seed, _max_steps: HotpotQAExpert(seed),
}
#: What an expert raises when it cannot go on (each environment's own error class).
EXPERT_ERRORS = (AlfworldExpertError, WebShopExpertError)
# Exploration actions that leave an expert's plan intact (ALFWorld's verbs).
SAFE_VERBS = frozenset({"go", "open", "close", "examine", "look", "inventory"})
# Environments whose exploration noise `_ExpertSession._noise` knows how to draw.
NOISY_ENVS = frozenset({"alfworld"})


class ExpertPolicy(Policy):
    """The environment's scripted expert; `seed` varies its wording (never its actions).

    With `noise > 0` (DART-style data collection) a share of the expert's silent steps is
    replaced by an exploration action: another harmless admissible command or a repeated
    `go to` (invalid once there). Those turns are recorded with `imitate=False`; the expert
    then recovers from wherever it is, and a student trained on the data learns to recover.
    """

    def __init__(
        self, env_name: str, seed: int = 0, noise: float = 0.0, max_steps: int | None = None
    ) -> None:
        if env_name not in EXPERTS:
            raise ValueError(f"no expert for environment {env_name!r}; have {', '.join(EXPERTS)}")
        if not 0.0 <= noise < 1.0:
            raise ValueError(f"noise must be in [0, 1), got {noise}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be at least 1 or None, got {max_steps}")
        self.env_name = env_name
        self.seed = seed
        self.noise = noise
        self.max_steps = max_steps  # the episodes' step cap, when the rollouts set their own

    @property
    def info(self) -> PolicyInfo:
        name = "expert" if self.noise == 0 else f"expert-noise{self.noise:g}"
        return PolicyInfo(name=name, kind="expert", model=self.env_name)

    @property
    def settings(self) -> dict[str, JsonValue]:
        return {"seed": self.seed, "noise": self.noise, "max_steps": self.max_steps}

    def session(self, batch_size: int) -> PolicySession:
        return _ExpertSession(self)


class _ExpertSession(PolicySession):
    def __init__(self, policy: ExpertPolicy) -> None:
        self.policy = policy
        self.experts: dict[int, Expert] = {}
        self.rngs: dict[int, random.Random] = {}
        self.admissible: dict[int, list[str]] = {}
        self.previous: dict[int, str] = {}

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        # Each episode's wording depends on the seed and the task, not on batch placement.
        seed = hash_seed(self.policy.seed, task.task_id)
        expert = new_expert(self.policy.env_name, seed, self.policy.max_steps)
        expert.reset(task.goal, first_observation, list(admissible or []))
        self.experts[slot] = expert
        self.rngs[slot] = random.Random(hash_seed(self.policy.seed + 1, task.task_id))
        self.admissible[slot] = list(admissible or [])

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        turns = {}
        for slot in slots:
            try:
                reasoning, action = self.experts[slot].act()
            except EXPERT_ERRORS as exc:
                turns[slot] = Turn(reasoning="", action="", raw=str(exc), parsed=False)
                continue
            noise = self._noise(slot, reasoning, action)
            turns[slot] = (
                Turn(reasoning="", action=noise, imitate=False)
                if noise
                else Turn(reasoning=reasoning, action=action)
            )
        return turns

    def _noise(self, slot: int, reasoning: str, action: str) -> str | None:
        """An exploration action instead of the expert's, or None (never over a thought)."""
        rng = self.rngs[slot]
        if self.policy.noise == 0 or reasoning or slot not in self.previous:
            return None
        if self.policy.env_name not in NOISY_ENVS:
            return None  # WebShop: no harmless exploration action is defined; noise is a no-op
        if rng.random() >= self.policy.noise:
            return None
        previous = self.previous[slot]
        if previous.startswith("go to ") and rng.random() < 0.4:
            return previous  # going where it already is: "Nothing happens."
        harmless = [
            c for c in self.admissible[slot] if c != action and c.split(" ", 1)[0] in SAFE_VERBS
        ]
        return rng.choice(harmless) if harmless else None

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        self.experts[slot].observe(step.observation, list(admissible or []), action=step.action)
        self.admissible[slot] = list(admissible or [])
        self.previous[slot] = step.action

    def finish(self, slot: int) -> None:
        for table in (self.experts, self.rngs, self.admissible, self.previous):
            table.pop(slot, None)


def new_expert(env_name: str, seed: int = 0, max_steps: int | None = None) -> Expert:
    """A fresh expert of `env_name` for episodes of `max_steps` steps (None: the env's cap)."""
    if env_name not in EXPERTS:
        raise ValueError(f"no expert for environment {env_name!r}; have {', '.join(EXPERTS)}")
    return EXPERTS[env_name](seed, max_steps)


def run_expert_episode(env: Environment, task: Task, seed: int = 0) -> Trajectory:
    """One episode of `task` played by its environment's expert (`env` already made).

    The expert sees what an agent sees: the goal, the observations and the admissible
    commands; `seed` varies its wording, never its actions. An expert failure (a page it
    cannot read, nothing left to try) ends the episode with stop_reason 'error'; an episode
    the environment cut at its step cap (`StepInfo.truncated`) with 'step_cap'.
    """
    start = time.perf_counter()
    first = env.reset(task)
    env_s = time.perf_counter() - start
    policy_s = 0.0
    expert = new_expert(task.env, seed, env.max_steps)
    steps: list[Step] = []
    stop = "done"
    last: StepResult | None = None  # the answer to the last step: success, reward, scores
    try:
        began = time.perf_counter()
        expert.reset(task.goal, first, env.admissible_commands or [])
        while True:
            reasoning, action = expert.act()
            stepped = time.perf_counter()
            policy_s += stepped - began
            last = env.step(action)
            began = time.perf_counter()
            env_s += began - stepped
            steps.append(
                Step(
                    reasoning=reasoning,
                    action=action,
                    observation=last.observation,
                    action_valid=last.info.action_valid,
                )
            )
            if last.done:
                stop = "step_cap" if last.info.truncated else "done"
                break
            expert.observe(last.observation, last.info.admissible_commands or [])
    except EXPERT_ERRORS:
        stop = "error"
    return Trajectory(
        task=task,
        initial_observation=first,
        steps=steps,
        success=last is not None and last.info.won,
        reward=last.reward if last is not None else 0.0,
        scores=env.episode_scores(last.info if last is not None else None),
        policy=PolicyInfo(name="expert", kind="expert", model=task.env),
        seed=seed,
        stop_reason=stop,  # type: ignore[arg-type]
        timings=Timings(wall_s=time.perf_counter() - start, policy_s=policy_s, env_s=env_s),
    )
