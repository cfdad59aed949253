"""Rollout engine benchmark: the batched KV-cache engine vs a naive `generate` loop, side by side.

Usage:
    .venv/bin/python benchmarks/rollout_engine.py --model runs/teacher/train/model \
        --episodes 64 --batch-size 64 [--max-steps 20] [--naive-episodes 16] \
        [--split valid_unseen] [--data-dir data] [--threads N] [--engines cached,naive] \
        [--context-costs 0.0625,0.125,0.25] [--repeats 3] [--out r.json]

Both engines play the same ALFWorld episodes greedily with the same model, in one process
(so a machine's load weighs on both alike). The naive engine calls `model.generate` on the
whole prompt at every step, one episode at a time; the cached engine keeps every episode's
KV cache, batches up to `--batch-size` episodes, refills a slot as soon as its episode ends
and returns each turn as soon as it is complete (continuous batching). `--naive-episodes`
plays only the first N episodes with the slow naive engine; rates are then compared per
episode and per token, and actions on those N episodes.

Reported per engine: wall time, episodes/min, generated tokens/s, prompt tokens encoded,
success rate; then the speed-up (episodes/min and tokens/s ratios) and whether both engines
chose identical actions.

`--context-costs` replays the cached engine once per value of `CachedSession.CONTEXT_COST`
(how many decode steps waiting rows may lose before their contexts are fed) and prints one
row each: the sweep behind that constant. Values are played in turn, `--repeats` rounds
(so a change of the machine's load hits every value), after an untimed warm-up pass, and
each reports its median run. The comparison with the naive engine uses the first value.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from agentdistill.config import FormatConfig, resolve_format
from agentdistill.environments.registry import make_env
from agentdistill.policies.hf import CachedSession, DecodingConfig
from agentdistill.records import Task
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.task_data import load_tasks
from agentdistill.teacher import load_policy

Moves = list[list[tuple[str, str]]]  # every episode's (thought, action) per step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="HF model folder (with tokenizer)")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--naive-episodes", type=int, default=None, help="default: all")
    parser.add_argument("--split", default="valid_unseen")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--format", default=None, help="default: the one the model records")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--engines", default="cached,naive", help="comma-separated; both for the comparison"
    )
    parser.add_argument(
        "--context-costs",
        default=str(CachedSession.CONTEXT_COST),
        help="comma-separated CONTEXT_COST values, one cached run each (a sweep)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="cached runs per value; the median is reported"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    costs = [float(c) for c in args.context_costs.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = load_tasks("alfworld", args.split, args.data_dir, limit=args.episodes).tasks
    given = FormatConfig(name=args.format) if args.format else None
    settings = resolve_format(args.model, given)
    fmt = settings.build()
    naive_count = min(args.naive_episodes or len(tasks), len(tasks))
    wanted = args.engines.split(",")

    def play(
        cached: bool, batch: int, played: list[Task], cost: float | None
    ) -> tuple[dict[str, float], Moves]:
        """One engine over `played`: its figures and every episode's (thought, action)s."""
        if cost is not None:
            CachedSession.CONTEXT_COST = cost
        policy = load_policy(
            args.model, fmt, DecodingConfig(), preamble=settings.preamble, cached=cached
        )
        config = RolloutConfig(batch_size=batch, max_steps=args.max_steps, show_progress=True)
        began = time.perf_counter()
        out = run_rollouts(policy, lambda: make_env("alfworld"), played, config)
        wall = time.perf_counter() - began
        generated = sum(t.token_counts.generated for t in out if t.token_counts)
        prompt = sum(t.token_counts.prompt for t in out if t.token_counts)
        figures = {
            "episodes": len(out),
            "batch_size": batch,
            "wall_s": wall,
            "episodes_per_min": len(out) / wall * 60,
            "generated_tokens": generated,
            "generated_tokens_per_s": generated / wall,
            "prompt_tokens_encoded": prompt,
            "prompt_tokens_per_episode": prompt / len(out),
            "success_rate": sum(t.success for t in out) / len(out),
        }
        return figures, [[(s.reasoning, s.action) for s in t.steps] for t in out]

    results, moves = {}, {}
    sweep: dict[float, dict[str, float]] = {}
    if "cached" in wanted:
        # a first, untimed pass: the first run of a process pays allocator and cache warm-up
        play(True, args.batch_size, tasks[: min(8, len(tasks))], costs[0])
        runs: dict[float, list[tuple[dict[str, float], Moves]]] = {cost: [] for cost in costs}
        for _ in range(args.repeats):  # interleaved, so a change of load hits every value
            for cost in costs:
                runs[cost].append(play(True, args.batch_size, tasks, cost))
        for cost, of_cost in runs.items():
            median = sorted(of_cost, key=lambda run: run[0]["wall_s"])[len(of_cost) // 2]
            sweep[cost] = median[0] | {"context_cost": cost, "repeats": len(of_cost)}
        results["cached"], moves["cached"] = sweep[costs[0]], runs[costs[0]][0][1]
    if "naive" in wanted:
        results["naive"], moves["naive"] = play(False, 1, tasks[:naive_count], None)
    console = Console()
    if len(sweep) > 1:
        results["context_cost_sweep"] = list(sweep.values())
        table = Table(title="cached engine, CONTEXT_COST sweep")
        for column in ("CONTEXT_COST", "wall s", "episodes/min", "gen tok/s", "success"):
            table.add_column(column, justify="right")
        for cost, r in sweep.items():
            table.add_row(
                f"{cost:g}",
                f"{r['wall_s']:.1f}",
                f"{r['episodes_per_min']:.1f}",
                f"{r['generated_tokens_per_s']:.0f}",
                f"{r['success_rate']:.0%}",
            )
        console.print(table)
    if len(results) < 2 or "naive" not in results:  # one engine: its figures only
        console.print_json(data=results)
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
        return
    cached, naive = results["cached"], results["naive"]
    results["speedup_episodes_per_min"] = cached["episodes_per_min"] / naive["episodes_per_min"]
    results["speedup_tokens_per_s"] = (
        cached["generated_tokens_per_s"] / naive["generated_tokens_per_s"]
    )
    results["same_actions"] = moves["cached"][:naive_count] == moves["naive"]
    results["max_steps"] = args.max_steps
    results["threads"] = torch.get_num_threads()
    table = Table(title=f"rollout engines, episodes of alfworld {args.split}")
    columns = ("engine", "episodes", "batch", "wall s", "episodes/min", "gen tok/s")
    for column in (*columns, "prompt tok/episode", "success"):
        table.add_column(column, justify="right")
    for name in ("cached", "naive"):
        r = results[name]
        table.add_row(
            name,
            str(r["episodes"]),
            str(r["batch_size"]),
            f"{r['wall_s']:.1f}",
            f"{r['episodes_per_min']:.1f}",
            f"{r['generated_tokens_per_s']:.0f}",
            f"{r['prompt_tokens_per_episode']:,.0f}",
            f"{r['success_rate']:.0%}",
        )
    table.add_row(
        "cached/naive",
        "",
        "",
        "",
        f"{results['speedup_episodes_per_min']:.1f}x",
        f"{results['speedup_tokens_per_s']:.1f}x",
        f"{cached['prompt_tokens_per_episode'] / naive['prompt_tokens_per_episode']:.2f}x",
        "",
    )
    console.print(table)
    console.print(
        f"identical greedy actions on the {naive_count} episodes both played: "
        + ("yes" if results["same_actions"] else "NO")
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
