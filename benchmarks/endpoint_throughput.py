"""Endpoint teacher throughput: a model behind `agentdistill serve` vs the same model in-process.

Usage:
    .venv/bin/python benchmarks/endpoint_throughput.py --model runs/teacher/train/model \
        --episodes 16 [--split valid_unseen] [--max-steps 50] [--threads 1] [--out r.json]
        [--prefix-cache 0]   # the server encodes every prompt whole

Both play the same tasks greedily with the same weights: the in-process `HFPolicy` (batched
KV cache, `--batch-size` episodes at once) and the `EndpointPolicy` talking to `agentdistill
serve` started in its own process on a free localhost port (`--concurrency` requests in
flight; the server answers one at a time and reuses each episode's prefix KV cache).
`--threads` sets the torch threads of both (on a shared machine one thread avoids contention;
default: torch's own). Reported: wall time, episodes/min, steps/s, success, and whether both
played the same actions.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import torch
from rich.console import Console
from rich.table import Table

from agentdistill.config import resolve_format
from agentdistill.environments.registry import make_env
from agentdistill.policies.endpoint import EndpointConfig, EndpointPolicy
from agentdistill.policies.hf import DecodingConfig
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.task_data import load_tasks
from agentdistill.teacher import load_policy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: Path, port: int, threads: int | None, prefix: int) -> subprocess.Popen:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # the server's torch threads
    command = [sys.executable, "-m", "agentdistill.cli", "serve", str(model), "--port", str(port)]
    command += ["--model-name", "teacher", "--prefix-cache", str(prefix)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(1200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise RuntimeError("agentdistill serve exited") from None
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("agentdistill serve did not start in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="HF model folder")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--split", default="valid_unseen")
    parser.add_argument("--data", default="data", help="folder of the task files")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16, help="in-process episodes at once")
    parser.add_argument("--concurrency", type=int, default=16, help="endpoint requests at once")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of both")
    parser.add_argument("--prefix-cache", type=int, default=16, help="the server's (0: off)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = load_tasks("alfworld", args.split, args.data, limit=args.episodes).tasks
    settings = resolve_format(args.model, None)
    fmt, decoding = settings.build(), DecodingConfig()
    config = RolloutConfig(batch_size=args.batch_size, max_steps=args.max_steps)
    make = lambda: make_env("alfworld")  # noqa: E731

    port = free_port()
    server = start_server(args.model, port, args.threads, args.prefix_cache)
    try:
        endpoint = EndpointConfig(
            base_url=f"http://127.0.0.1:{port}/v1",
            model="teacher",
            max_concurrency=args.concurrency,
            decoding=decoding,
        )
        policies = {
            "in-process": load_policy(args.model, fmt, decoding, preamble=settings.preamble),
            "endpoint": EndpointPolicy(endpoint, fmt, preamble=settings.preamble),
        }
        results, moves = {}, {}
        for name, policy in policies.items():
            began = time.perf_counter()
            out = run_rollouts(policy, make, tasks, config)
            wall = time.perf_counter() - began
            steps = sum(len(t.steps) for t in out)
            results[name] = {
                "wall_s": wall,
                "episodes_per_min": len(out) / wall * 60,
                "steps": steps,
                "steps_per_s": steps / wall,
                "success_rate": sum(t.success for t in out) / len(out),
            }
            moves[name] = [[(s.reasoning, s.action) for s in t.steps] for t in out]
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["same_actions"] = moves["in-process"] == moves["endpoint"]
    results["episodes"] = len(tasks)
    results["threads"] = args.threads or torch.get_num_threads()
    results["prefix_cache"] = args.prefix_cache
    table = Table(title=f"{len(tasks)} episodes of {args.split}, {args.model}")
    for column in ("policy", "wall s", "episodes/min", "steps/s", "steps", "success"):
        table.add_column(column, justify="right")
    for name in policies:
        r = results[name]
        table.add_row(
            name,
            f"{r['wall_s']:.1f}",
            f"{r['episodes_per_min']:.2f}",
            f"{r['steps_per_s']:.2f}",
            str(r["steps"]),
            f"{r['success_rate']:.0%}",
        )
    console = Console()
    console.print(table)
    console.print(f"same greedy actions: {results['same_actions']}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
