"""benchmarks/rollout_engine.py end to end on the smoke chain's ALFWorld teacher: both engines,
a two-value CONTEXT_COST sweep with repeats, and the figures it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "rollout_engine.py"


def test_engines_side_by_side_and_a_context_cost_sweep(smoke_chain, tmp_path: Path) -> None:
    out = tmp_path / "engines.json"
    args = [
        *("--model", str(smoke_chain.root / "alfworld" / "teacher" / "train" / "model")),
        *("--episodes", "3", "--batch-size", "3", "--max-steps", "2", "--naive-episodes", "2"),
        *("--threads", "1", "--context-costs", "0.125,0", "--repeats", "2"),
        *("--data-dir", str(REPO / "data"), "--out", str(out)),  # the chain's task files
    ]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "identical greedy actions on the 2 episodes both played: yes" in done.stdout
    results = json.loads(out.read_text())
    assert results["cached"]["episodes"] == 3 and results["naive"]["episodes"] == 2
    assert results["same_actions"] is True
    sweep = results["context_cost_sweep"]
    assert [(r["context_cost"], r["repeats"], r["episodes"]) for r in sweep] == [
        (0.125, 2, 3),
        (0.0, 2, 3),
    ]
    # the comparison uses the first value's (median) run
    assert results["cached"] == sweep[0]
    # feeding contexts at once or batched changes the schedule, never the greedy episodes
    assert {r["generated_tokens"] for r in sweep} == {results["cached"]["generated_tokens"]}
    naive, cached = results["naive"], results["cached"]
    assert naive["prompt_tokens_per_episode"] > cached["prompt_tokens_per_episode"]
    ratio = cached["episodes_per_min"] / naive["episodes_per_min"]
    assert results["speedup_episodes_per_min"] == ratio
