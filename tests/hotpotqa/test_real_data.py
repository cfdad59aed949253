"""Real HotPotQA files: their questions over a wiki of their own paragraphs, ReAct's splits."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agentdistill.environments.hotpotqa.env import HotpotQAEnv, HotpotQASuite
from agentdistill.environments.hotpotqa.expert import ExpertError, HotpotQAExpert
from agentdistill.environments.hotpotqa.real_data import (
    REACT_SAMPLE,
    load_file,
    react_order,
    split_indices,
)

from .conftest import RECORDS, write_fixture


def test_react_sample_is_the_first_500_of_its_shuffle() -> None:
    indices = list(range(7405))  # the dev file's size, as ReAct's notebook hard-codes
    random.Random(233).shuffle(indices)
    assert react_order(7405) == indices
    test, dev, train = (split_indices(7405, s) for s in ("test", "dev", "train"))
    assert test == indices[:500] and len(test) == REACT_SAMPLE
    assert len(dev) == 500 and len(train) == 7405 - 1000
    assert sorted(test + dev + train) == list(range(7405))
    with pytest.raises(ValueError):
        split_indices(10, "valid")


def test_suite_serves_the_file(real_file: Path) -> None:
    suite = HotpotQASuite.from_environment()
    assert suite.data_file == real_file
    tasks = suite.tasks("test")
    assert suite.tasks("dev") == [] and suite.tasks("train") == []  # only 4 records
    by_id = {t.task_id: t for t in tasks}
    assert set(by_id) == {"a1", "a2", "a3"}  # a4 has no answer (a fullwiki test record)
    task = by_id["a2"]
    assert task.goal == RECORDS[1]["question"] and task.task_type == "comparison"
    assert task.spec["answer"] == "no" and task.spec["level"] == "hard"
    assert task.spec["supporting_facts"] == [
        ["Old Mill Bridge (Avon)", 1],
        ["Old Mill Bridge (Severn)", 1],
    ]
    assert task.spec["data"] == {
        "file": real_file.name,
        "sha256": load_file(real_file).sha256,
        "index": 1,
    }
    assert str(real_file.parent) not in json.dumps(task.model_dump())
    order = react_order(len(RECORDS))
    assert [t.task_id for t in tasks] == [RECORDS[i]["_id"] for i in order if i != 3]


def test_wiki_holds_every_title_of_the_file(real_file: Path) -> None:
    corpus = load_file(real_file).corpus
    assert set(corpus.titles) == {
        "Gull Rock Lighthouse", "Skerry Point", "Old Mill Bridge (Avon)",
        "Old Mill Bridge (Severn)", "Ann Hale",
    }  # fmt: skip
    assert (
        corpus.text("Ann Hale")
        == "Ann Hale (1801-1870) was an engineer. She designed several bridges."
    )


def test_episode_over_a_real_file(real_file: Path) -> None:
    task = next(t for t in HotpotQASuite.from_environment().tasks("test") if t.task_id == "a3")
    env = HotpotQAEnv()
    assert env.reset(task) == (
        "Question: When was the designer of the Old Mill Bridge over the Avon born?"
    )
    assert env.step("Search[Old Mill Bridge (Avon)]").observation == (
        "Old Mill Bridge is a stone bridge over the Avon. It was designed by Ann Hale.."
    )
    assert env.step("Search[Ann Hale]").observation == (
        "Ann Hale (1801-1870) was an engineer. She designed several bridges.."
    )
    result = env.step("Finish[1801]")
    assert result.info.won and result.observation == "Episode finished, reward = 1"


def test_folder_form_and_missing_variable(real_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = HotpotQASuite.from_environment().tasks("test")[0]
    monkeypatch.setenv("HOTPOTQA_DATA", str(real_file.parent))
    assert HotpotQAEnv().reset(task).startswith("Question: ")
    monkeypatch.delenv("HOTPOTQA_DATA")
    with pytest.raises(ValueError, match="HOTPOTQA_DATA"):
        HotpotQAEnv().reset(task)
    assert HotpotQASuite.from_environment().data_file is None  # generated questions again


def test_a_changed_file_is_refused(real_file: Path, tmp_path: Path, monkeypatch) -> None:
    task = HotpotQASuite.from_environment().tasks("test")[0]
    other = tmp_path / "other"
    other.mkdir()
    changed = write_fixture(other)
    changed.write_text(changed.read_text(encoding="utf-8") + " ", encoding="utf-8")
    monkeypatch.setenv("HOTPOTQA_DATA", str(changed))
    with pytest.raises(ValueError, match="differs"):
        HotpotQAEnv().reset(task)


def test_bad_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a HotPotQA JSON file"):
        load_file(broken)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps([{"_id": "x", "question": "q"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="no 'context'"):
        load_file(incomplete)


def test_expert_declines_real_questions_when_acting(real_file: Path) -> None:
    task = HotpotQASuite.from_environment().tasks("test")[0]
    expert = HotpotQAExpert()
    expert.reset(task.goal, "Question: " + task.goal)  # never raises on reset
    with pytest.raises(ExpertError, match="no known pattern"):
        expert.act()
