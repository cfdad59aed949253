"""Speed of the two ALFWorld engines: the real one (TextWorld PDDL) and the native one.

Both engines play the same N generated games with the same action sequences: for every game
a random walk over admissible commands (seeded by the game; up to the 50-step cap or a win)
is recorded once on the native engine, then replayed and timed on each engine. Each engine
starts from a fresh instance, so its resets include drawing the game (and, for the real
engine, writing the game file and running the PDDL translator). The native engine is replayed
`--native-repeats` times because one pass is too quick to time well.

Usage:

    .venv/bin/python benchmarks/alfworld_engines.py                      # 20 train games
    .venv/bin/python benchmarks/alfworld_engines.py --games 50 --split valid_unseen
    .venv/bin/python benchmarks/alfworld_engines.py --out benchmarks/alfworld_engines.json

Prints a table (resets/s, steps/s, ms per step) and the native/real speed ratio; `--out`
also writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentdistill.environments.alfworld.env import AlfworldEnv, AlfworldSuite
from agentdistill.environments.alfworld.generator import SPLITS, GeneratorConfig
from agentdistill.environments.alfworld.native import NativeAlfworldEnv
from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv
from agentdistill.records import Task


@dataclass
class Timing:
    """One engine's totals over all games (and repeats)."""

    engine: str
    resets: int
    reset_seconds: float
    steps: int
    step_seconds: float

    @property
    def resets_per_second(self) -> float:
        return self.resets / self.reset_seconds

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.step_seconds

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.step_seconds / self.steps


def record_walks(tasks: list[Task], seed: int) -> list[list[str]]:
    """A random admissible walk per game, recorded on the native engine."""
    env = NativeAlfworldEnv()
    walks = []
    for task in tasks:
        rng = random.Random(f"{seed}:{task.split}:{task.task_id}")
        env.reset(task)
        walk: list[str] = []
        done = False
        while not done:
            action = rng.choice(env.admissible_commands or ["look"])
            walk.append(action)
            done = env.step(action).done
        walks.append(walk)
    return walks


def replay(
    name: str, make_env: Callable[[], AlfworldEnv], tasks: list[Task], walks: list[list[str]]
) -> Timing:
    """Time resets and steps of one engine on every game's walk (fresh instance)."""
    timing = Timing(name, 0, 0.0, 0, 0.0)
    env = make_env()
    clock = time.perf_counter
    try:
        for task, walk in zip(tasks, walks, strict=True):
            start = clock()
            env.reset(task)
            timing.reset_seconds += clock() - start
            timing.resets += 1
            start = clock()
            for action in walk:
                env.step(action)
            timing.step_seconds += clock() - start
            timing.steps += len(walk)
    finally:
        env.close()
    return timing


def merge(timings: list[Timing]) -> Timing:
    first = timings[0]
    return Timing(
        first.engine,
        sum(t.resets for t in timings),
        sum(t.reset_seconds for t in timings),
        sum(t.steps for t in timings),
        sum(t.step_seconds for t in timings),
    )


def show(console: Console, real: Timing, native: Timing, games: int, split: str) -> None:
    table = Table(title=f"ALFWorld engines: {games} generated {split} games, same random walks")
    for column in ("engine", "resets", "resets/s", "steps", "steps/s", "ms/step"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for t in (real, native):
        table.add_row(
            t.engine,
            str(t.resets),
            f"{t.resets_per_second:,.1f}",
            str(t.steps),
            f"{t.steps_per_second:,.0f}",
            f"{t.ms_per_step:.4f}",
        )
    console.print(table)
    console.print(
        f"native / real: steps {native.steps_per_second / real.steps_per_second:,.0f}x, "
        f"resets {native.resets_per_second / real.resets_per_second:,.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--games", type=int, default=20, help="generated games to play")
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--seed", type=int, default=0, help="generator and walk seed")
    parser.add_argument("--native-repeats", type=int, default=20, help="native replays")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    config = GeneratorConfig(
        seed=args.seed, **{s: args.games if s == args.split else 0 for s in SPLITS}
    )
    tasks = AlfworldSuite(config).tasks(args.split)
    walks = record_walks(tasks, args.seed)
    real = replay("textworld (real)", TextWorldAlfworldEnv, tasks, walks)
    native = merge(
        [replay("native", NativeAlfworldEnv, tasks, walks) for _ in range(args.native_repeats)]
    )
    console = Console()
    show(console, real, native, len(tasks), args.split)
    if args.out:
        result = {
            "games": len(tasks),
            "split": args.split,
            "seed": args.seed,
            "native_repeats": args.native_repeats,
            "machine": platform.platform(),
            "python": platform.python_version(),
            "engines": {
                t.engine: {
                    **asdict(t),
                    "resets_per_second": t.resets_per_second,
                    "steps_per_second": t.steps_per_second,
                    "ms_per_step": t.ms_per_step,
                }
                for t in (real, native)
            },
            "step_speedup": native.steps_per_second / real.steps_per_second,
            "reset_speedup": native.resets_per_second / real.resets_per_second,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
