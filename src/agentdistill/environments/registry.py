"""Look up environments and task suites by name (what the CLI and the pipeline use)."""

from __future__ import annotations

from agentdistill.environments.base import Environment, TaskSuite
from agentdistill.environments.names import (
    ENGINES,
    RECORDED_ENVS,
    check_env_name,
    known_env_names,
)

__all__ = [
    "ENGINES",
    "RECORDED_ENVS",
    "check_env_name",
    "episode_cap",
    "known_env_names",
    "make_env",
    "make_suite",
]


def make_env(name: str, engine: str | None = None) -> Environment:
    """A fresh environment; `engine` picks the implementation (default: the fastest)."""
    check_env_name(name)
    engine = engine or ENGINES[name][0]
    if engine not in ENGINES[name]:
        raise ValueError(
            f"{name}: unknown engine {engine!r}; expected one of {', '.join(ENGINES[name])}"
        )
    if name == "webshop":
        from agentdistill.environments.webshop.env import WebShopEnv

        return WebShopEnv()
    if name == "hotpotqa":
        from agentdistill.environments.hotpotqa.env import HotpotQAEnv

        return HotpotQAEnv()
    if engine == "native":
        from agentdistill.environments.alfworld.native import NativeAlfworldEnv

        return NativeAlfworldEnv()
    from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv

    return TextWorldAlfworldEnv()


def make_suite(name: str) -> TaskSuite:
    """The task suite of an environment (real data when its data variable is set)."""
    check_env_name(name)
    if name == "webshop":
        from agentdistill.environments.webshop.env import WebShopSuite

        return WebShopSuite.from_environment()
    if name == "hotpotqa":
        from agentdistill.environments.hotpotqa.env import HotpotQASuite

        return HotpotQASuite.from_environment()
    from agentdistill.environments.alfworld.env import AlfworldSuite

    return AlfworldSuite.from_environment()


def episode_cap(name: str, max_steps: int | None, engine: str | None = None) -> int | None:
    """The step cap an episode of `name` really has under a rollout cap `max_steps`: the
    smaller of it and the environment's own (None: no rollout cap, the env's own applies)."""
    return None if max_steps is None else min(max_steps, make_env(name, engine).max_steps)
