"""Rollout engine benchmark: batched KV-cache decoding vs a naive `generate` loop.

Usage:
    .venv/bin/python benchmarks/rollout_engine.py --model runs/teacher/train/model \
        --episodes 16 --batch-size 16 [--split valid_unseen] [--max-steps 50] [--out r.json]

Both engines play the same episodes greedily with the same model. The naive engine calls
`model.generate` on the whole prompt at every step (one episode at a time); the cached engine
keeps every episode's KV cache and batches episodes. Reported: generated tokens/s, prompt
tokens encoded, episodes/min, wall time, and whether both produced the same actions.
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
from agentdistill.policies.hf import DecodingConfig
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.task_data import load_tasks
from agentdistill.teacher import load_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="HF model folder (with tokenizer)")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--split", default="valid_unseen")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--format", default=None, help="default: the one the model records")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    tasks = load_tasks("alfworld", args.split, limit=args.episodes).tasks
    given = FormatConfig(name=args.format) if args.format else None
    settings = resolve_format(args.model, given)
    fmt = settings.build()
    results, moves = {}, {}
    for name, cached, batch in (("cached", True, args.batch_size), ("naive", False, 1)):
        policy = load_policy(
            args.model, fmt, DecodingConfig(), preamble=settings.preamble, cached=cached
        )
        config = RolloutConfig(batch_size=batch, max_steps=args.max_steps, show_progress=True)
        began = time.perf_counter()
        out = run_rollouts(policy, lambda: make_env("alfworld"), tasks, config)
        wall = time.perf_counter() - began
        generated = sum(t.token_counts.generated for t in out if t.token_counts)
        prompt = sum(t.token_counts.prompt for t in out if t.token_counts)
        results[name] = {
            "wall_s": wall,
            "episodes_per_min": len(out) / wall * 60,
            "generated_tokens": generated,
            "generated_tokens_per_s": generated / wall,
            "prompt_tokens_encoded": prompt,
            "success_rate": sum(t.success for t in out) / len(out),
        }
        moves[name] = [[(s.reasoning, s.action) for s in t.steps] for t in out]
    results["speedup_tokens_per_s"] = (
        results["cached"]["generated_tokens_per_s"] / results["naive"]["generated_tokens_per_s"]
    )
    results["same_actions"] = moves["cached"] == moves["naive"]
    results["episodes"] = len(tasks)
    table = Table(title=f"rollout engines, {len(tasks)} episodes of {args.split}")
    for column in ("engine", "wall s", "episodes/min", "gen tok/s", "prompt tokens", "success"):
        table.add_column(column, justify="right")
    for name in ("cached", "naive"):
        r = results[name]
        table.add_row(
            name,
            f"{r['wall_s']:.1f}",
            f"{r['episodes_per_min']:.1f}",
            f"{r['generated_tokens_per_s']:.0f}",
            f"{r['prompt_tokens_encoded']:,}",
            f"{r['success_rate']:.0%}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"speed-up {results['speedup_tokens_per_s']:.1f}x, "
        f"same greedy actions: {results['same_actions']}"
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
