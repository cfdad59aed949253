"""The copy drill: expert openings with fresh ids, and the teacher that trains on them first."""

from __future__ import annotations

import random
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.config import FormatConfig
from agentdistill.copy_drill import (
    ID_SHAPES,
    CopyDrillConfig,
    drill_trajectories,
    opening,
    with_fresh_ids,
)
from agentdistill.environments.webshop.env import WebShopSuite
from agentdistill.models import load_model
from agentdistill.records import Step, Task, Trajectory
from agentdistill.run_folder import RunMismatchError
from agentdistill.teacher import TeacherConfig, bootstrap_teacher, expert_trajectories
from agentdistill.training import TrainConfig

SHAPE = ID_SHAPES["webshop"]
TASKS = WebShopSuite().tasks("train")[:6]


@pytest.fixture(scope="module")
def games() -> list[Trajectory]:
    return expert_trajectories(TASKS, seed=0)


def _skeleton(text: str) -> str:
    return SHAPE.pattern.sub("<id>", text)


def _texts(t: Trajectory) -> list[str]:
    return [t.initial_observation] + [
        x for s in t.steps for x in (s.reasoning, s.action, s.observation)
    ]


def test_fresh_ids_replace_every_id_consistently(games: list[Trajectory]) -> None:
    for game in games:
        fresh = with_fresh_ids(game, SHAPE, random.Random(0))
        old, new = _texts(game), _texts(fresh)
        # the text around the ids is untouched
        assert [_skeleton(x) for x in old] == [_skeleton(x) for x in new]
        pairs = {
            (a.group(0), b.group(0))
            for x, y in zip(old, new, strict=True)
            for a, b in zip(SHAPE.pattern.finditer(x), SHAPE.pattern.finditer(y), strict=True)
        }
        assert pairs, "the expert's game shows no id"
        olds = {a for a, _ in pairs}
        # one new id per old id, distinct ids stay distinct, no old id survives
        assert len(pairs) == len(olds) == len({b for _, b in pairs})
        assert not olds & {b for _, b in pairs}
        assert fresh.success == game.success and fresh.task == game.task


def test_opening_ends_at_the_first_id_the_expert_writes(games: list[Trajectory]) -> None:
    for game in games:
        cut = opening(game, SHAPE.pattern)
        assert cut is not None
        last = cut.steps[-1]
        assert SHAPE.pattern.search(last.reasoning + last.action)
        assert not any(SHAPE.pattern.search(s.reasoning + s.action) for s in cut.steps[:-1])
        assert game.steps[: len(cut.steps)] == cut.steps
    silent = games[0].model_copy(update={"steps": [Step(action="search[x]", observation="o")]})
    assert opening(silent, SHAPE.pattern) is None


def test_drill_is_seeded_and_sized(games: list[Trajectory]) -> None:
    config = CopyDrillConfig(copies=3, seed=5)
    drill = drill_trajectories(games, config)
    assert len(drill) == 3 * len(games)
    assert drill == drill_trajectories(games, config)
    assert drill != drill_trajectories(games, config.model_copy(update={"seed": 6}))
    # each copy of a game draws its own ids
    firsts = {
        SHAPE.pattern.search(t.steps[-1].action + t.steps[-1].reasoning).group(0) for t in drill
    }
    assert len(firsts) == len(drill)
    assert drill_trajectories(games, CopyDrillConfig(copies=0)) == []


def test_an_environment_without_ids_cannot_drill(games: list[Trajectory]) -> None:
    task = Task(env="alfworld", task_id="t", split="train", goal="g")
    game = games[0].model_copy(update={"task": task})
    with pytest.raises(ValueError, match="copy_drill: environment 'alfworld' has no ids"):
        drill_trajectories([game], CopyDrillConfig(copies=1))


_GAME = expert_trajectories(TASKS[:1], seed=0)[0]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["B0ABCDEFGH", "B012345678", "B0ZZZZZZZZ"]),
            st.text(alphabet=" []abc,.\n", max_size=8),
        ),
        max_size=12,
    )
)
def test_remapping_keeps_text_shape(parts: list[str]) -> None:
    text = " ".join(parts)
    game = _GAME.model_copy(update={"initial_observation": text, "steps": []})
    fresh = with_fresh_ids(game, SHAPE, random.Random(1)).initial_observation
    assert _skeleton(fresh) == _skeleton(text) and len(fresh) == len(text)
    olds = SHAPE.pattern.findall(text)
    news = SHAPE.pattern.findall(fresh)
    assert len(olds) == len(news)
    pairs = list(zip(olds, news, strict=True))
    assert all((a == b) == (c == d) for a, c in pairs for b, d in pairs)


def test_teacher_trains_from_the_drilled_weights(tmp_path) -> None:
    def teacher(copies: int) -> TeacherConfig:
        return TeacherConfig(
            train_tasks=6,
            vocab_size=400,
            preset="student-30x",
            isolate_chars="[A-Z0-9]",
            train=TrainConfig(epochs=1, batch_tokens=4096, max_steps=2, save_every=1),
            copy_drill=CopyDrillConfig(
                copies=copies, train=TrainConfig(batch_tokens=4096, max_steps=3)
            ),
        )

    fmt = FormatConfig(name="webshop")
    drilled = bootstrap_teacher(teacher(2), tmp_path / "drilled", fmt, tasks=TASKS)
    plain = bootstrap_teacher(teacher(0), tmp_path / "plain", fmt, tasks=TASKS)
    drill_model = tmp_path / "drilled" / "copy_drill" / "model"
    assert (drill_model / "config.json").exists()
    assert not (tmp_path / "plain" / "copy_drill").exists()
    assert drilled.train.steps == plain.train.steps == 2
    # same seed, data and order for the teacher's own training: only the start differs
    a, b = load_model(drilled.model_dir), load_model(plain.model_dir)
    assert not all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    # the drill is part of the teacher: another drill is another teacher
    with pytest.raises(RunMismatchError, match=r"teacher\.copy_drill\.copies: 2 -> 3"):
        bootstrap_teacher(teacher(3), tmp_path / "drilled", fmt, tasks=TASKS)
    again = bootstrap_teacher(teacher(2), tmp_path / "drilled", fmt, tasks=TASKS)
    assert again.model_dir == drilled.model_dir
    assert re.search("copy_drill", (tmp_path / "drilled" / "run.json").read_text())
