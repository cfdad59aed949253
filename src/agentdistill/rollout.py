"""The rollout engine: run many episodes of any policy on any environment, in batches.

    trajectories = run_rollouts(policy, make_env=lambda: make_env("alfworld"), tasks=tasks,
                                config=RolloutConfig(batch_size=16))

Episodes run in waves of `batch_size`: the policy acts for every active episode at once (a
model batches them), each environment steps, finished episodes leave the batch. An output
with no parseable action is sent to the environment as an empty (invalid) action and
recorded with `action_valid=False`; it never stops the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pydantic import Field
from rich.progress import Progress

from agentdistill.config import Config
from agentdistill.environments.base import Environment
from agentdistill.policies.base import Policy
from agentdistill.records import Step, Task, Timings, TokenCounts, Trajectory

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


def _waves(tasks: Sequence[Task], size: int) -> Iterator[Sequence[Task]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


def run_rollouts(
    policy: Policy,
    make_env: Callable[[], Environment],
    tasks: Sequence[Task],
    config: RolloutConfig | None = None,
    seed: int | None = None,
) -> list[Trajectory]:
    """Play every task once with `policy`; trajectories come back in task order."""
    config = config or RolloutConfig()
    results: list[Trajectory] = []
    envs = [make_env() for _ in range(min(config.batch_size, max(len(tasks), 1)))]
    try:
        with Progress(disable=not config.show_progress, transient=True) as progress:
            bar = progress.add_task(f"rollouts ({policy.info.name})", total=len(tasks))
            for wave in _waves(tasks, config.batch_size):
                results += _run_wave(policy, envs, wave, config, seed)
                progress.advance(bar, len(wave))
    finally:
        for env in envs:
            env.close()
    return results


def _run_wave(
    policy: Policy,
    envs: list[Environment],
    tasks: Sequence[Task],
    config: RolloutConfig,
    seed: int | None,
) -> list[Trajectory]:
    session = policy.session(len(tasks))
    live: dict[int, _Live] = {}
    for slot, task in enumerate(tasks):
        env = envs[slot]
        began = time.perf_counter()
        first = env.reset(task)
        live[slot] = _Live(task, env, first, began, env_s=time.perf_counter() - began)
        session.start(slot, task, first, env.admissible_commands)
    finished: dict[int, Trajectory] = {}
    while live:
        slots = sorted(live)
        began = time.perf_counter()
        turns = session.act(slots)
        share = (time.perf_counter() - began) / len(slots)
        for slot in slots:
            episode, turn = live[slot], turns[slot]
            episode.policy_s += share
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
            )
            episode.steps.append(step)
            capped = config.max_steps is not None and len(episode.steps) >= config.max_steps
            if result.done or capped:
                # An episode ends won, or out of steps (the env's cap or ours).
                stop = "done" if result.info.won else "step_cap"
                finished[slot] = _trajectory(
                    policy, episode, result.info.won, result.reward, stop, seed
                )
                session.finish(slot)
                del live[slot]
            else:
                session.observe(slot, step, result.info.admissible_commands)
    return [finished[slot] for slot in range(len(tasks))]


def _trajectory(
    policy: Policy, episode: _Live, won: bool, reward: float, stop: str, seed: int | None
) -> Trajectory:
    counts = None
    if episode.prompt_tokens or episode.generated_tokens:
        counts = TokenCounts(prompt=episode.prompt_tokens, generated=episode.generated_tokens)
    return Trajectory(
        task=episode.task,
        initial_observation=episode.first_observation,
        steps=episode.steps,
        success=won,
        reward=reward,
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
