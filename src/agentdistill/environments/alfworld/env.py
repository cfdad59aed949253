"""ALFWorld on the environment protocol: the task suite and what both engines share.

Tasks carry either a generated game's coordinates (`{"generator": {...}, "index": i}`, the
game is re-drawn from them) or the path of a real ALFWorld `game.tw-pddl`
(`{"game_file": path}`). Both engines (`textworld` = the real one, `native` = ours) turn a task
into the same episode: the first observation is the engine's text without the welcome banner
(as ReAct does), actions are stripped of surrounding whitespace like the real engine, every
step counts towards the 50-step cap, reward is 1.0 on the winning step.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path

from agentdistill.environments.alfworld.game import Game
from agentdistill.environments.alfworld.generator import SPLITS, GeneratorConfig, generate_game
from agentdistill.environments.base import (
    Environment,
    EnvironmentStateError,
    StepInfo,
    StepResult,
    TaskSuite,
)
from agentdistill.records import Task

ENV_NAME = "alfworld"
MAX_STEPS = 50
WELCOME = "-= Welcome to TextWorld, ALFRED! =-\n\n"
INVALID = "Nothing happens."
_ROOM = re.compile(r"Looking quickly around you, you see (?P<items>[^.]*)\.")
# Real ALFWorld data: split name -> folder under $ALFWORLD_DATA.
REAL_SPLIT_FOLDERS = {
    "train": "json_2.1.1/train",
    "valid_seen": "json_2.1.1/valid_seen",
    "valid_unseen": "json_2.1.1/valid_unseen",
}


def game_to_task(game: Game, config: GeneratorConfig, split: str, index: int) -> Task:
    return Task(
        env=ENV_NAME,
        task_id=game.name,
        split=split,
        goal=game.goal,
        task_type=game.task_type,
        spec={"generator": config.model_dump(mode="json"), "index": index},
    )


def task_game(task: Task) -> Game:
    """Re-draw the generated game of a task."""
    if "generator" not in task.spec:
        raise ValueError(f"task {task.task_id}: not a generated game (spec has no 'generator')")
    config = GeneratorConfig.model_validate(task.spec["generator"])
    return generate_game(config, task.split, int(task.spec["index"]))  # type: ignore[arg-type]


def room_receptacles(observation: str) -> list[str]:
    """The receptacles a first observation lists ("Looking quickly around you, you see a
    cabinet 2, a fridge 1, and a sinkbasin 1.") -> ['cabinet 2', 'fridge 1', 'sinkbasin 1']."""
    match = _ROOM.search(observation)
    if match is None:
        raise ValueError(f"no room listing in observation: {observation[:120]!r}")
    names = []
    for part in match.group("items").split(", "):
        part = part.strip().removeprefix("and ").strip()
        names.append(part.split(" ", 1)[1] if part.startswith(("a ", "an ")) else part)
    return [] if names == ["nothing"] else names


def _engine_for(task: Task) -> AlfworldEnv:
    # Imported here: both engine modules import this one.
    if "generator" in task.spec:
        from agentdistill.environments.alfworld.native import NativeAlfworldEnv

        return NativeAlfworldEnv()
    from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv

    return TextWorldAlfworldEnv()


def receptacle_count(task: Task, env: AlfworldEnv | None = None) -> int:
    """How many receptacles an agent sees listed in the task's first observation (the room's
    size as the agent meets it). `env` plays the task; default: the native engine for
    generated games, TextWorld for game files."""
    engine = env or _engine_for(task)
    try:
        return len(room_receptacles(engine.reset(task)))
    finally:
        if env is None:
            engine.close()


def receptacle_distribution(
    tasks: Iterable[Task], env: AlfworldEnv | None = None
) -> dict[str, float]:
    """Summary of `receptacle_count` over tasks: games, mean, min, q1, median, q3, max."""
    engines: dict[bool, AlfworldEnv] = {}
    counts = []
    try:
        for task in tasks:
            engine = env
            if engine is None:  # one engine per kind of task, reused over all tasks
                kind = "generator" in task.spec
                engine = engines.get(kind) or engines.setdefault(kind, _engine_for(task))
            counts.append(receptacle_count(task, engine))
    finally:
        for engine in engines.values():
            engine.close()
    return _summary(counts)


def room_distribution(observations: Iterable[str]) -> dict[str, float]:
    """`receptacle_distribution` of games already played, from their first observations
    (`Trajectory.initial_observation`): no game is drawn or reset again."""
    return _summary([len(room_receptacles(o)) for o in observations])


def _summary(counts: list[int]) -> dict[str, float]:
    if not counts:
        raise ValueError("no tasks")
    q1, _, q3 = statistics.quantiles(counts, n=4) if len(counts) > 1 else counts * 3
    return {
        "games": float(len(counts)),
        "mean": statistics.fmean(counts),
        "min": float(min(counts)),
        "q1": float(q1),
        "median": float(statistics.median(counts)),
        "q3": float(q3),
        "max": float(max(counts)),
    }


class AlfworldSuite(TaskSuite):
    """Generated ALFWorld games per split (or real game files under `data_root`)."""

    env_name = ENV_NAME
    splits = SPLITS

    def __init__(self, config: GeneratorConfig | None = None, data_root: str | Path | None = None):
        self.config = config or GeneratorConfig()
        self.data_root = Path(data_root) if data_root else None

    @classmethod
    def from_environment(cls, config: GeneratorConfig | None = None) -> AlfworldSuite:
        """Real data when downloaded (`$ALFWORLD_DATA/json_2.1.1` exists), else generated games.

        `import alfworld` sets ALFWORLD_DATA to ~/.cache/alfworld when unset, so the variable
        alone does not mean the data is there: the split folders decide.
        """
        root = Path(os.environ.get("ALFWORLD_DATA") or Path.home() / ".cache" / "alfworld")
        has_data = (root / "json_2.1.1").is_dir()
        return cls(config, data_root=root if has_data else None)

    def tasks(self, split: str) -> list[Task]:
        self.check_split(split)
        if self.data_root is not None:
            return self._real_tasks(split)
        return [
            game_to_task(generate_game(self.config, split, i), self.config, split, i)
            for i in range(self.config.count(split))
        ]

    def _real_tasks(self, split: str) -> list[Task]:
        assert self.data_root is not None
        folder = self.data_root / REAL_SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise FileNotFoundError(f"ALFWORLD_DATA: no split folder {folder}")
        tasks = []
        for path in sorted(folder.glob("*/*/game.tw-pddl")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if not data.get("solvable", False):
                continue  # ALFWorld's own loader skips these too
            goal = data["grammar"].split("Your task is to: ", 1)[-1].split('"', 1)[0].rstrip(".")
            task_dir = path.parent.parent.name
            tasks.append(
                Task(
                    env=ENV_NAME,
                    task_id=f"{task_dir}/{path.parent.name}",
                    split=split,
                    goal=goal,
                    task_type=task_dir.split("-", 1)[0],
                    spec={"game_file": str(path)},
                )
            )
        return tasks


class AlfworldEnv(Environment):
    """Shared episode bookkeeping of both engines; subclasses implement the engine calls."""

    name = ENV_NAME
    max_steps = MAX_STEPS

    def __init__(self) -> None:
        self._started = False
        self._done = True
        self._steps = 0
        self._admissible: list[str] = []

    def reset(self, task: Task) -> str:
        if task.env != ENV_NAME:
            raise EnvironmentStateError(
                f"task {task.task_id} is for env {task.env!r}, not alfworld"
            )
        observation, admissible = self._engine_reset(task)
        self._started, self._done, self._steps = True, False, 0
        self._admissible = admissible
        return observation.removeprefix(WELCOME)

    def step(self, action: str) -> StepResult:
        if not self._started:
            raise EnvironmentStateError("step before reset")
        if self._done:
            raise EnvironmentStateError("the episode is over; call reset")
        command = action.strip()
        valid = command in self._admissible
        observation, won, admissible = self._engine_step(command)
        self._steps += 1
        self._admissible = admissible
        self._done = won or self._steps >= self.max_steps
        return StepResult(
            observation=observation,
            done=self._done,
            reward=1.0 if won else 0.0,
            info=StepInfo(
                won=won,
                action_valid=valid,
                admissible_commands=list(admissible),
                truncated=self._done and not won,  # only a win ends a game before the cap
            ),
        )

    @property
    def admissible_commands(self) -> list[str] | None:
        return list(self._admissible) if self._started and not self._done else None

    @abstractmethod
    def _engine_reset(self, task: Task) -> tuple[str, list[str]]:
        """Start the engine on a task: (raw first observation, admissible commands)."""

    @abstractmethod
    def _engine_step(self, command: str) -> tuple[str, bool, list[str]]:
        """Apply a stripped command: (observation, won, admissible commands)."""
