"""Copy drill: teach a teacher trained from scratch to copy ids before it learns the task.

A WebShop agent must copy 10-character product ids (ASINs) from a results page into its
thought and its `click[...]`. A small model trained from scratch on expert games learns
everything else first: after 3 epochs on 1,000 games its next-character accuracy inside an
id it had written a few tokens earlier was at chance (1 in 36), and after 6 epochs on 3,000
it still wrote ids it never saw. Ids are a few percent of the imitated tokens, and copying
needs a circuit (an induction head) that forms only after a long plateau. The drill concentrates
that signal: it trains the teacher first on the openings of the expert's games (instruction,
search, results page, the thought naming candidates, the first click), each drawn `copies` times
with every id replaced by a fresh random one of the same shape (consistently within a game). No
id can be memorised, so the only way down is to copy; the ids are about half of the imitated
tokens. On 2 CPU cores a drill of 12,000 openings (817 steps) had not yet crossed the plateau
(README, WebShop).

    config = CopyDrillConfig(copies=4)
    drill = drill_trajectories(expert_games, config)   # then train_lm(model, ..., drill, ...)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import Field

from agentdistill.config import Config
from agentdistill.environments.webshop.catalog import ASIN_PATTERN, random_asin
from agentdistill.records import Step, Trajectory
from agentdistill.training import TrainConfig


@dataclass(frozen=True)
class IdShape:
    """What an environment's ids look like and how to draw a fresh one."""

    pattern: re.Pattern[str]
    draw: Callable[[random.Random], str]


ID_SHAPES: dict[str, IdShape] = {
    "webshop": IdShape(ASIN_PATTERN, random_asin),
}


class CopyDrillConfig(Config):
    """The copy drill before a teacher's first training (off by default)."""

    copies: int = Field(
        default=0,
        ge=0,
        description="Drill copies of each expert game's opening, each with fresh random ids "
        "(0: no drill). Only environments with ids (webshop) can drill.",
    )
    seed: int = Field(default=0, description="Seed of the fresh ids.")
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=1, max_length=1024),
        description="Optimisation of the drill (one pass over all copies by default).",
    )


def id_shape(env: str) -> IdShape:
    """The ids of `env`; an error for an environment whose agent copies none."""
    try:
        return ID_SHAPES[env]
    except KeyError:
        raise ValueError(
            f"copy_drill: environment {env!r} has no ids to copy (drillable: "
            f"{', '.join(sorted(ID_SHAPES))}); set copy_drill.copies to 0"
        ) from None


def opening(trajectory: Trajectory, pattern: re.Pattern[str]) -> Trajectory | None:
    """The game up to and including the first imitated step that writes an id (None: none)."""
    for k, step in enumerate(trajectory.steps):
        if step.imitate and (pattern.search(step.reasoning) or pattern.search(step.action)):
            return trajectory.model_copy(update={"steps": trajectory.steps[: k + 1]})
    return None


def _remap(text: str, pattern: re.Pattern[str], fresh: Callable[[str], str]) -> str:
    return pattern.sub(lambda match: fresh(match.group(0)), text)


def with_fresh_ids(trajectory: Trajectory, shape: IdShape, rng: random.Random) -> Trajectory:
    """`trajectory` with every id replaced by a fresh one, the same id by the same one."""
    mapping: dict[str, str] = {}
    used: set[str] = set()

    def fresh(old: str) -> str:
        if old not in mapping:
            new = shape.draw(rng)
            while new in used:
                new = shape.draw(rng)
            used.add(new)
            mapping[old] = new
        return mapping[old]

    def step(s: Step) -> Step:
        return s.model_copy(
            update={
                "reasoning": _remap(s.reasoning, shape.pattern, fresh),
                "action": _remap(s.action, shape.pattern, fresh),
                "observation": _remap(s.observation, shape.pattern, fresh),
                "oracle": None,
                "written": None,
            }
        )

    return trajectory.model_copy(
        update={
            "initial_observation": _remap(trajectory.initial_observation, shape.pattern, fresh),
            "steps": [step(s) for s in trajectory.steps],
        }
    )


def drill_trajectories(
    trajectories: Sequence[Trajectory], config: CopyDrillConfig
) -> list[Trajectory]:
    """`config.copies` fresh-id copies of every game's opening, games that write no id left
    out. Deterministic for the same games and seed."""
    if config.copies == 0 or not trajectories:
        return []
    shape = id_shape(trajectories[0].task.env)
    openings = [o for t in trajectories if (o := opening(t, shape.pattern)) is not None]
    if not openings:
        raise ValueError("copy_drill: no expert game writes an id; nothing to drill")
    rng = random.Random(config.seed)
    return [with_fresh_ids(o, shape, rng) for _ in range(config.copies) for o in openings]
