"""The protocol every benchmark environment implements.

An environment plays one episode at a time:

    first_observation = env.reset(task)
    result = env.step("go to fridge 1")   # -> StepResult(observation, done, reward, info)

and a `TaskSuite` produces the tasks of each split, deterministically from a seed (or from
files a user provides). The rules every implementation must follow are written down, and
checked, in `agentdistill.testing.env_contract`:

- `reset` accepts any task of the environment's suite and returns the first observation;
  the same task always gives the same first observation.
- `step` before `reset`, or after the episode ended, raises `EnvironmentStateError`.
- `step` never raises for a bad action: unknown, empty or garbled text is answered with an
  observation and `info.action_valid = False`, and the episode goes on.
- `done` becomes True when the goal is reached (`info.won`, which implies done) or the
  environment's step cap `max_steps` is used up; every step counts towards the cap.
- The same task and the same actions give the same observations, rewards and flags.
- When the environment knows its admissible commands, `info.admissible_commands` lists them;
  stepping any of them is a valid action.
- The step that ends an episode has, in `info.extra`, a number for each of `score_keys`
  (the environment's episode scores, e.g. HotPotQA's `em` and `f1`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agentdistill.records import Task


class EnvironmentStateError(RuntimeError):
    """A protocol misuse: stepping before reset or after the episode ended, or a foreign task."""


class StepInfo(BaseModel):
    """What an environment tells besides the observation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    won: bool = Field(default=False, description="The goal is reached.")
    action_valid: bool = Field(description="The environment understood and accepted the action.")
    admissible_commands: list[str] | None = Field(
        default=None, description="Valid actions in the new state, when the environment knows them."
    )
    truncated: bool = Field(
        default=False,
        description="The episode ended at the step cap, not by reaching an end of its own "
        "(gym's `truncated`): a won, bought or answered episode is not truncated.",
    )
    extra: dict[str, JsonValue] = Field(default_factory=dict, description="Environment-specific.")


class StepResult(BaseModel):
    """The answer to one action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    observation: str
    done: bool
    reward: float
    info: StepInfo


class Environment(ABC):
    """One episode at a time of a text environment."""

    name: str
    """Environment name; equals `Task.env` of the tasks it plays."""
    max_steps: int
    """Step cap: the episode is done after this many steps at the latest."""
    score_keys: tuple[str, ...] = ()
    """Keys of `info.extra` that are episode scores: numbers, fractions in [0, 1] (reports show
    them as %), on the step that ends an episode; trajectories keep them (`Trajectory.scores`)
    and benchmarks report their means beside success."""

    @abstractmethod
    def reset(self, task: Task) -> str:
        """Start an episode of `task`; return the first observation."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Apply an action."""

    def episode_scores(self, info: StepInfo | None) -> dict[str, float]:
        """`Trajectory.scores` of an episode whose last step was answered with `info` (None:
        no step): each of `score_keys`, 0.0 where `info` lacks it (an episode cut before the
        environment ended it scores nothing)."""
        extra = info.extra if info is not None else {}
        scores = {}
        for key in self.score_keys:
            value = extra.get(key, 0.0)
            if not isinstance(value, int | float):  # bool is an int: a won flag scores 1.0
                raise TypeError(f"{self.name}: score {key!r} is {value!r}, not a number")
            scores[key] = float(value)
        return scores

    @property
    def admissible_commands(self) -> list[str] | None:
        """Valid actions in the current state, when the environment knows them."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most environments hold nothing
        """Release resources (processes, files)."""

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TaskSuite(ABC):
    """The tasks of an environment, per split."""

    env_name: str
    splits: tuple[str, ...]

    @abstractmethod
    def tasks(self, split: str) -> list[Task]:
        """All tasks of `split`, in a fixed order. Raises ValueError for an unknown split."""

    def write_inputs(self, folder: Path) -> list[Path]:
        """Write what the tasks are drawn from, beside the task files in `folder` (a WebShop
        catalog, a HotPotQA wiki), so DVC versions it with them; the files written."""
        return []

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ValueError(
                f"{self.env_name}: unknown split {split!r}; "
                f"expected one of {', '.join(self.splits)}"
            )
