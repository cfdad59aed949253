"""Look up environments and task suites by name (what the CLI and the pipeline use)."""

from __future__ import annotations

from agentdistill.environments.base import Environment, TaskSuite

ENGINES: dict[str, tuple[str, ...]] = {"alfworld": ("native", "textworld")}

#: Benchmarks whose trajectories are read, rendered and distilled like any other, though no
#: engine plays them here yet (ReAct's HotPotQA, FEVER and WebShop; `examples/` holds some).
RECORDED_ENVS: tuple[str, ...] = ("hotpotqa", "fever", "webshop")


def known_env_names() -> tuple[str, ...]:
    """Every environment name a trajectory file may carry: the playable ones, then the rest."""
    return (*ENGINES, *RECORDED_ENVS)


def check_env_name(name: str) -> None:
    if name not in ENGINES:
        raise ValueError(f"unknown environment {name!r}; expected one of {', '.join(ENGINES)}")


def make_env(name: str, engine: str | None = None) -> Environment:
    """A fresh environment; `engine` picks the implementation (default: the fastest)."""
    check_env_name(name)
    engine = engine or ENGINES[name][0]
    if engine not in ENGINES[name]:
        raise ValueError(
            f"{name}: unknown engine {engine!r}; expected one of {', '.join(ENGINES[name])}"
        )
    if engine == "native":
        from agentdistill.environments.alfworld.native import NativeAlfworldEnv

        return NativeAlfworldEnv()
    from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv

    return TextWorldAlfworldEnv()


def make_suite(name: str) -> TaskSuite:
    """The task suite of an environment (real data when its data variable is set)."""
    check_env_name(name)
    from agentdistill.environments.alfworld.env import AlfworldSuite

    return AlfworldSuite.from_environment()
