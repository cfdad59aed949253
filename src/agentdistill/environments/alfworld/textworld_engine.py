"""The real ALFWorld engine: TextWorld's PDDL backend with ALFWorld's domain, grammar and
demangler, as the benchmark runs it. Plays generated games (their files are written to a
private temporary folder) and real `game.tw-pddl` files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from agentdistill.environments.alfworld.env import MAX_STEPS, AlfworldEnv, task_game
from agentdistill.records import Task


class TextWorldAlfworldEnv(AlfworldEnv):
    """ALFWorld on the real engine (about 20-80 ms a step, 0.2-1 s a reset)."""

    def __init__(self) -> None:
        super().__init__()
        # Game files of generated tasks; removed on close() or when the env is collected.
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._env: Any = None
        self._files: dict[tuple[str, str], Path] = {}

    def _game_file(self, task: Task) -> Path:
        if "game_file" in task.spec:
            return Path(str(task.spec["game_file"]))
        key = (task.split, task.task_id)
        if key not in self._files:
            if self._workdir is None:
                self._workdir = tempfile.TemporaryDirectory(prefix="agentdistill-alfworld-")
            game = task_game(task)
            self._files[key] = game.write(Path(self._workdir.name) / task.split)
        return self._files[key]

    def _engine_reset(self, task: Task) -> tuple[str, list[str]]:
        import textworld
        import textworld.gym
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

        path = self._game_file(task)
        if self._env is not None:
            self._env.close()
        infos = textworld.EnvInfos(won=True, admissible_commands=True)
        env_id = textworld.gym.register_game(
            str(path),
            infos,
            max_episode_steps=MAX_STEPS,
            wrappers=[AlfredDemangler(), AlfredInfos],
        )
        self._env = textworld.gym.make(env_id)
        observation, info = self._env.reset()
        return observation, list(info["admissible_commands"])

    def _engine_step(self, command: str) -> tuple[str, bool, list[str]]:
        observation, _score, _done, info = self._env.step(command)
        return observation, bool(info["won"]), list(info["admissible_commands"])

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self._files.clear()
