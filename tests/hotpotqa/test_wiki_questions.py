"""The generated wiki and its questions: size, coherence, determinism, answerability."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import agentdistill
from agentdistill.environments.hotpotqa.env import HotpotQASuite
from agentdistill.environments.hotpotqa.pages import SUMMARY_SENTENCES, lookup_sentences, title_base
from agentdistill.environments.hotpotqa.questions import (
    BRIDGE,
    COMPARISON,
    LEVELS,
    PATTERN_BY_KEY,
    PATTERNS,
    QuestionConfig,
    generate_questions,
    parse_question,
)
from agentdistill.environments.hotpotqa.relations import (
    BY_KIND,
    FACT_SENTENCE,
    FILLERS,
    KEYWORDS,
    KINDS,
)
from agentdistill.environments.hotpotqa.wiki import WikiConfig, _Builder, build_world

_DIGEST = """
import hashlib, json
from agentdistill.environments.hotpotqa.env import HotpotQASuite
from agentdistill.environments.hotpotqa.wiki import build_world
world = build_world()
pages = json.dumps([(t, world.corpus.text(t)) for t in world.corpus.titles])
tasks = json.dumps([t.model_dump() for t in HotpotQASuite().tasks("test")])
print(hashlib.sha256((pages + tasks).encode()).hexdigest())
"""


def _digest() -> str:
    world = build_world()
    pages = json.dumps([(t, world.corpus.text(t)) for t in world.corpus.titles])
    tasks = json.dumps([t.model_dump() for t in HotpotQASuite().tasks("test")])
    return hashlib.sha256((pages + tasks).encode()).hexdigest()


def test_size_and_kinds() -> None:
    world = build_world()
    assert len(world.entities) >= 3000 and len(world.corpus) == len(world.entities)
    kinds = Counter(e.kind for e in world.entities)
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 30
    titles = [e.title for e in world.entities]
    assert len(set(titles)) == len(titles)
    assert len({t.casefold() for t in titles}) == len(titles)
    ambiguous = [e for e in world.entities if e.ambiguous]
    assert Counter(e.kind for e in ambiguous).keys() >= {"film", "novel", "person"}
    assert len(ambiguous) >= 150


def test_facts_beyond_the_summary_exist() -> None:
    world = build_world()
    positions = [p for e in world.entities for p in e.positions.values() if p > 0]
    late = sum(p >= SUMMARY_SENTENCES for p in positions) / len(positions)
    assert 0.2 < late < 0.6


def test_every_fact_sentence_reads_back_and_its_keyword_finds_it() -> None:
    world = build_world()
    for entity in world.entities:
        sentences = world.corpus.sentences(entity.title)
        assert sentences[0].startswith(("The ", entity.name))
        for fact, position in entity.positions.items():
            reader = FACT_SENTENCE[(entity.kind, fact)]
            assert reader.read(sentences[position])[fact] == entity.facts[fact], entity.title
            if reader.keyword is not None:
                found = lookup_sentences(world.corpus.text(entity.title), reader.keyword)
                assert found == [sentences[position]], (entity.title, reader.keyword)


def test_links_are_coherent() -> None:
    world = build_world()
    for entity in world.entities:
        for fact, index in entity.links.items():
            assert world.entities[index].name == entity.facts[fact]
    for person in world.of_kind("person"):
        city = world.link(person, "birth_city")
        country = world.link(city, "country")
        assert person.facts["nationality"] == country.facts["nationality"]
        if "death_year" in person.numbers:
            assert person.numbers["death_year"] > person.numbers["birth_year"]
    for film in world.of_kind("film"):
        if "based_on" in film.links:
            novel = world.link(film, "based_on")
            assert novel.name == film.name and novel.numbers["year"] < film.numbers["year"]


def test_fillers_and_names_hold_no_keyword() -> None:
    for kind, fillers in FILLERS.items():
        for filler in fillers:
            assert not any(k in filler.lower() for k in KEYWORDS), (kind, filler)
    for kind in KINDS:
        assert BY_KIND[kind][0].keyword is None  # the introduction comes first
    world = build_world()
    for entity in world.entities:
        name = entity.name.removesuffix(" River").lower()
        assert not any(k in name for k in KEYWORDS), entity.name


def test_wiki_is_deterministic_and_fast() -> None:
    start = time.perf_counter()
    fresh = _Builder(WikiConfig()).build()
    elapsed = time.perf_counter() - start
    assert elapsed < 15  # ~1.3 s unloaded; generous for a loaded machine
    cached = build_world()
    assert fresh.corpus.titles == cached.corpus.titles
    assert all(fresh.corpus.text(t) == cached.corpus.text(t) for t in cached.corpus.titles)
    other = _Builder(WikiConfig(seed=1, people=200, films=40, novels=40)).build()
    assert other.corpus.titles != cached.corpus.titles


def test_same_world_and_questions_in_another_process() -> None:
    source = str(Path(agentdistill.__file__).resolve().parent.parent)  # this checkout's src
    path = os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, "-c", _DIGEST], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == _digest()


def test_default_splits() -> None:
    suite = HotpotQASuite()
    counts = {split: len(suite.tasks(split)) for split in suite.splits}
    assert counts == {"train": 3000, "dev": 500, "test": 500}
    questions = [t.goal for split in suite.splits for t in suite.tasks(split)]
    assert len(set(questions)) == len(questions)  # no question in two splits


def test_question_mix() -> None:
    tasks = HotpotQASuite().tasks("test")
    types = Counter(t.spec["type"] for t in tasks)
    assert types[BRIDGE] > types[COMPARISON] > 100
    levels = Counter(t.spec["level"] for t in tasks)
    assert set(levels) == set(LEVELS) and levels["hard"] >= 20
    answers = Counter(t.spec["answer"] for t in tasks if t.spec["type"] == COMPARISON)
    assert answers["yes"] >= 10 and answers["no"] >= 10
    train = HotpotQASuite().tasks("train")
    phrasings = Counter((t.spec["pattern"], parse_question(t.goal)[0].key) for t in train)
    assert {key for key, _ in phrasings} == set(PATTERN_BY_KEY)
    for pattern in PATTERNS:
        assert len(pattern.templates) >= 2
        used = {
            next(i for i, r in enumerate(pattern.regexes) if r.fullmatch(t.goal))
            for t in train
            if t.spec["pattern"] == pattern.key
        }
        assert len(used) >= 2, pattern.key


def test_questions_parse_back_and_are_answerable() -> None:
    world = build_world()
    for task in HotpotQASuite().tasks("test"):
        spec = task.spec
        parsed = parse_question(task.goal)
        assert parsed is not None and parsed[0].key == spec["pattern"]
        supporting = spec["supporting_facts"]
        assert len(supporting) == 2
        for title, index in supporting:
            assert index < len(world.corpus.sentences(title))
        answer = spec["answer"]
        if spec["type"] == BRIDGE:
            title, index = supporting[1]
            assert answer in world.corpus.sentences(title)[index]
            assert title_base(supporting[0][0]) == parsed[1]["a"]
        elif answer not in ("yes", "no"):
            assert answer in parsed[1].values()


def test_question_draw_is_deterministic_and_prefix_stable() -> None:
    world = build_world()
    small = generate_questions(world, QuestionConfig(train=10, dev=10, test=20))
    again = generate_questions(world, QuestionConfig(train=10, dev=10, test=20))
    assert small == again
    bigger = generate_questions(world, QuestionConfig(train=40, dev=10, test=20))
    assert bigger["test"] == small["test"] and bigger["dev"] == small["dev"]
    reseeded = generate_questions(world, QuestionConfig(seed=1, train=10, dev=10, test=20))
    assert reseeded["test"] != small["test"]


def test_task_spec_rebuilds_the_episode() -> None:
    task = HotpotQASuite().tasks("test")[0]
    assert set(task.spec) == {
        "wiki", "question", "answer", "type", "level", "pattern", "supporting_facts",
    }  # fmt: skip
    assert WikiConfig.model_validate(task.spec["wiki"]) == WikiConfig()
    assert task.goal == task.spec["question"] and task.task_type == task.spec["type"]
    assert "/" not in json.dumps(task.spec["wiki"])  # no paths
