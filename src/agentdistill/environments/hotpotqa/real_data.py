"""Real HotPotQA questions: a user's official JSON file, served over its own paragraphs.

Point `HOTPOTQA_DATA` at an official HotPotQA file (the distractor or fullwiki format:
a list of `{_id, question, answer, supporting_facts, context, type, level}`), e.g.
`hotpot_dev_distractor_v1.json`; `HotpotQASuite.from_environment()` then serves its questions.

The wiki is every context paragraph of the file: one page per title (the first paragraph
the file gives for it), its text the paragraph's sentences joined as the file writes them
(HotPotQA keeps each sentence's leading space), so `wikienv`'s sentence cutting applies to it
as to a Wikipedia page. A question's supporting pages are in its own context (HotPotQA's
distractor setting), and the other questions' paragraphs make the search space large.

Splits follow ReAct: its evaluation shuffles the indices `0..n-1` of the dev file with
`random.Random(233)` and plays the first 500; that is the `test` split here (in that order).
`dev` is the next 500 of the same shuffle and `train` the rest. Questions without an answer
(the fullwiki test file has none) are left out.

Tasks keep the file's name and SHA-256 (never its path): the environment finds the file
through `HOTPOTQA_DATA` again (the file itself, or a folder holding it) and refuses one whose
content differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from agentdistill.environments.hotpotqa.pages import WikiCorpus
from agentdistill.records import Task

DATA_VARIABLE = "HOTPOTQA_DATA"
REACT_SEED = 233
REACT_SAMPLE = 500
ENV_NAME = "hotpotqa"


@dataclass
class HotpotFile:
    """A loaded HotPotQA file."""

    path: Path
    sha256: str
    records: list[dict[str, Any]]

    @cached_property
    def corpus(self) -> WikiCorpus:
        pages: dict[str, str] = {}
        for record in self.records:
            for title, sentences in record.get("context", []):
                if title not in pages:
                    pages[title] = "".join(sentences)
        return WikiCorpus(pages)

    def identity(self) -> dict[str, JsonValue]:
        return {"file": self.path.name, "sha256": self.sha256}


def react_order(count: int) -> list[int]:
    """ReAct's question order: indices 0..count-1 shuffled by `random.Random(233)`."""
    indices = list(range(count))
    random.Random(REACT_SEED).shuffle(indices)
    return indices


def split_indices(count: int, split: str) -> list[int]:
    """The file indices of a split: test = ReAct's 500, dev = the next 500, train = the rest."""
    order = react_order(count)
    if split == "test":
        return order[:REACT_SAMPLE]
    if split == "dev":
        return order[REACT_SAMPLE : 2 * REACT_SAMPLE]
    if split == "train":
        return order[2 * REACT_SAMPLE :]
    raise ValueError(f"{ENV_NAME}: unknown split {split!r}; expected one of train, dev, test")


def load_file(path: str | Path) -> HotpotFile:
    """Read (once per file version) an official HotPotQA JSON file."""
    path = Path(path).resolve()
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=2)
def _load(path: str, mtime_ns: int, size: int) -> HotpotFile:
    data = Path(path).read_bytes()
    try:
        records = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a HotPotQA JSON file ({exc})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: expected a JSON list of question records")
    for number, record in enumerate(records):
        for key in ("_id", "question", "context"):
            if key not in record:
                raise ValueError(f"{path}: record {number} has no {key!r}")
    return HotpotFile(Path(path), hashlib.sha256(data).hexdigest(), records)


def real_tasks(path: str | Path, split: str) -> list[Task]:
    """The tasks of a split of a real file (questions with an answer only)."""
    loaded = load_file(path)
    tasks = []
    for index in split_indices(len(loaded.records), split):
        record = loaded.records[index]
        if not isinstance(record.get("answer"), str):
            continue
        tasks.append(
            Task(
                env=ENV_NAME,
                task_id=str(record["_id"]),
                split=split,
                goal=record["question"],
                task_type=str(record.get("type", "")),
                spec={
                    "data": {**loaded.identity(), "index": index},
                    "question": record["question"],
                    "answer": record["answer"],
                    "type": str(record.get("type", "")),
                    "level": str(record.get("level", "")),
                    "supporting_facts": [
                        [str(title), int(sent)]
                        for title, sent in record.get("supporting_facts", [])
                    ],
                },
            )
        )
    return tasks


def locate(identity: dict[str, Any]) -> Path:
    """The file a task names, found through `HOTPOTQA_DATA` (the file or its folder)."""
    name = str(identity.get("file", ""))
    value = os.environ.get(DATA_VARIABLE)
    if not value:
        raise ValueError(
            f"this task is a question of the real HotPotQA file {name!r}: set {DATA_VARIABLE} "
            "to that file (or its folder)"
        )
    path = Path(value)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise ValueError(f"{DATA_VARIABLE}={value}: no file {name!r} there")
    return path


def corpus_for(identity: JsonValue) -> WikiCorpus:
    """The wiki of a real file named by a task's `spec.data` (checked by its SHA-256)."""
    if not isinstance(identity, dict):
        raise ValueError("spec.data must be an object with 'file' and 'sha256'")
    loaded = load_file(locate(identity))
    if loaded.sha256 != identity.get("sha256"):
        raise ValueError(
            f"{loaded.path}: its content differs from the file the task was made from "
            f"(sha256 {loaded.sha256[:12]}..., task: {str(identity.get('sha256'))[:12]}...)"
        )
    return loaded.corpus
