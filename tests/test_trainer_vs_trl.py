"""benchmarks/trainer_vs_trl.py without TRL (CI has none): it imports, parses its arguments,
and stops before any work with a message naming the `bench` extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .scripts import load_benchmark


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_benchmark("trainer_vs_trl", monkeypatch)  # imports nothing of TRL


def test_arguments_parse(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.steps, args.warmup, args.device, args.json) == (30, 3, "cpu", None)
    args = bench.parse_args(["--steps", "5", "--threads", "1", "--json", "out.json"])
    assert (args.steps, args.threads, args.json) == (5, 1, Path("out.json"))
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "0"])


def test_without_trl_names_the_bench_extra(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def no_trl(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "trl" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_trl)
    # a missing teacher would fail later: the TRL check comes first, before any work
    with pytest.raises(SystemExit) as stop:
        bench.main(["--teacher", "no/such/teacher", "--trajectories", "no/such.jsonl"])
    message = str(stop.value)
    assert "`bench` extra" in message
    assert "make bench-setup" in message
    assert "pip install -e '.[dev,bench]'" in message
