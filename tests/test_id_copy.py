"""benchmarks/id_copy.py: it finds every id the expert wrote and scores a model on each."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from agentdistill.config import FormatConfig
from agentdistill.environments.webshop.env import WebShopSuite
from agentdistill.models import build_model_for_tokenizer
from agentdistill.teacher import build_tokenizer, expert_trajectories

from .scripts import load_benchmark


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_benchmark("id_copy", monkeypatch)


def test_counts_every_id_the_expert_wrote(bench: ModuleType, tmp_path: Path) -> None:
    episodes = expert_trajectories(WebShopSuite().tasks("eval")[:6], seed=0)
    fmt = FormatConfig(name="webshop")
    tokenizer_dir = build_tokenizer(
        episodes, fmt.build(), 400, tmp_path / "model", isolate_chars="[A-Z0-9]"
    )
    from agentdistill.tokenizer import load_tokenizer

    model = build_model_for_tokenizer("student-30x", load_tokenizer(tokenizer_dir), seed=0)
    model.save_pretrained(tmp_path / "model")
    fmt.save(tmp_path / "model")
    score = bench.score_model(tmp_path / "model", episodes)
    asin = re.compile(r"\bB0[A-Z0-9]{8}\b")
    thought_ids = sum(len(asin.findall(s.reasoning)) for e in episodes for s in e.steps)
    clicks = sum(
        bool(asin.fullmatch(s.action[6:-1]))
        for e in episodes
        for s in e.steps
        if s.action.startswith("click[")
    )
    assert (score.thought_ids, score.click_ids) == (thought_ids, clicks)
    assert thought_ids > 0 and clicks > 0
    assert score.tokens_per_id == pytest.approx(10.0)  # isolated: one token per character
    # an untrained model copies no 10-character id (chance is 36**-8 per id)
    assert score.ids_copied == 0.0
    assert 0.0 <= score.other_token_accuracy < 0.5
    assert 0.0 <= score.id_token_accuracy < 0.5
