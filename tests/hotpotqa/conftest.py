"""Shared fixtures: a small generated suite and a small file in the official HotPotQA format.

The fixture file is hand-written (fictional places, HotPotQA's layout: `context` paragraphs
as lists of sentences, each but the first with its leading space).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentdistill.environments.hotpotqa.env import HotpotQAConfig, HotpotQASuite
from agentdistill.environments.hotpotqa.questions import QuestionConfig

SMALL = HotpotQAConfig(questions=QuestionConfig(train=30, dev=20, test=100))

SKERRY = [
    "Skerry Point is a fishing town on the river Avon.",
    " It has a population of 4,210.",
    " The harbour was dredged in 1871.",
    " A ferry links it to the islands.",
    " The town hosts a regatta each summer.",
    " Its church dates from 1402.",
    " Skerry Point was granted a charter in 1610.",
]
GULL_ROCK = [
    "Gull Rock Lighthouse is a lighthouse near Skerry Point.",
    " It was built in 1902.",
    " The light was rebuilt in 1950.",
]
AVON_BRIDGE = ["Old Mill Bridge is a stone bridge over the Avon.", " It was designed by Ann Hale."]
SEVERN_BRIDGE = [
    "Old Mill Bridge is a footbridge over the Severn.",
    " It was designed by Tom Bray.",
]
ANN_HALE = ["Ann Hale (1801-1870) was an engineer.", " She designed several bridges."]


def _record(_id: str, question: str, answer: str | None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "_id": _id,
        "question": question,
        "type": fields.pop("type", "bridge"),
        "level": fields.pop("level", "medium"),
        "supporting_facts": fields.pop("supporting_facts", []),
        "context": fields.pop("context"),
    }
    if answer is not None:
        record["answer"] = answer
    return record


RECORDS = [
    _record(
        "a1",
        "On which river is the town near Gull Rock Lighthouse?",
        "Avon",
        supporting_facts=[["Gull Rock Lighthouse", 0], ["Skerry Point", 0]],
        context=[["Gull Rock Lighthouse", GULL_ROCK], ["Skerry Point", SKERRY]],
    ),
    _record(
        "a2",
        "Were both Old Mill Bridges designed by the same engineer?",
        "no",
        type="comparison",
        level="hard",
        supporting_facts=[["Old Mill Bridge (Avon)", 1], ["Old Mill Bridge (Severn)", 1]],
        context=[
            ["Old Mill Bridge (Avon)", AVON_BRIDGE],
            ["Old Mill Bridge (Severn)", SEVERN_BRIDGE],
            ["Skerry Point", ["A different paragraph that is ignored."]],
        ],
    ),
    _record(
        "a3",
        "When was the designer of the Old Mill Bridge over the Avon born?",
        "1801",
        level="easy",
        supporting_facts=[["Old Mill Bridge (Avon)", 1], ["Ann Hale", 0]],
        context=[["Old Mill Bridge (Avon)", AVON_BRIDGE], ["Ann Hale", ANN_HALE]],
    ),
    _record(
        "a4",
        "A fullwiki test question without an answer?",
        None,
        context=[["Ann Hale", ANN_HALE]],
    ),
]


def write_fixture(folder: Path, name: str = "hotpot_dev_distractor_v1.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


@pytest.fixture
def real_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture file, with HOTPOTQA_DATA pointing at it."""
    path = write_fixture(tmp_path)
    monkeypatch.setenv("HOTPOTQA_DATA", str(path))
    return path


@pytest.fixture(scope="session")
def small_suite() -> HotpotQASuite:
    return HotpotQASuite(SMALL)
