"""HotPotQA's episode scores (EM, F1) reach the trajectories, from the real environment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.environments.hotpotqa.env import MAX_STEPS, HotpotQAEnv, HotpotQASuite
from agentdistill.environments.hotpotqa.scoring import exact_match, f1_score
from agentdistill.policies.base import Policy, PolicySession, Turn
from agentdistill.policies.expert import ExpertPolicy, run_expert_episode
from agentdistill.records import PolicyInfo, Step, Task, Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, run_rollouts

QUIET = RolloutConfig(show_progress=False)


class Scripted(Policy):
    """Plays the same actions on every task, one per step (the last one repeated)."""

    info = PolicyInfo(name="scripted", kind="other")

    def __init__(self, actions: Sequence[str]) -> None:
        self.actions = list(actions)

    def session(self, batch_size: int) -> PolicySession:
        return _Session(self.actions)


class _Session(PolicySession):
    def __init__(self, actions: list[str]) -> None:
        self.actions = actions
        self.played: dict[int, int] = {}

    def start(self, slot: int, task: Task, first: str, admissible: object) -> None:
        self.played[slot] = 0

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        turns = {}
        for slot in slots:
            index = min(self.played[slot], len(self.actions) - 1)
            turns[slot] = Turn(reasoning="", action=self.actions[index])
            self.played[slot] += 1
        return turns

    def observe(self, slot: int, step: Step, admissible: object) -> None:
        pass


def _play(actions: Sequence[str], task: Task, config: RolloutConfig = QUIET) -> Trajectory:
    return run_rollouts(Scripted(actions), HotpotQAEnv, [task], config)[0]


@pytest.fixture
def avon(real_file: Path) -> Task:
    """'On which river is the town near Gull Rock Lighthouse?' (gold: Avon)."""
    return next(t for t in HotpotQASuite.from_environment().tasks("test") if t.task_id == "a1")


def test_the_environment_declares_em_and_f1() -> None:
    assert HotpotQAEnv.score_keys == ("em", "f1")


def test_the_expert_scores_full_marks(small_suite: HotpotQASuite) -> None:
    tasks = small_suite.tasks("test")[:5]
    env = HotpotQAEnv()
    for episode in [run_expert_episode(env, task, seed=0) for task in tasks]:
        assert episode.success and episode.scores == {"em": 1.0, "f1": 1.0}
    for episode in run_rollouts(ExpertPolicy("hotpotqa"), HotpotQAEnv, tasks, QUIET):
        assert episode.success and episode.scores == {"em": 1.0, "f1": 1.0}


def test_right_and_partial_answers(avon: Task) -> None:
    right = _play(["Search[Skerry Point]", "Finish[the Avon!]"], avon)
    assert right.success and right.scores == {"em": 1.0, "f1": 1.0}
    # 'the river Avon' -> 'river avon': precision 1/2, recall 1, F1 2/3; no exact match
    partial = _play(["Finish[the river Avon]"], avon)
    assert not partial.success and partial.reward == 0.0
    assert partial.scores == {"em": 0.0, "f1": pytest.approx(2 / 3)}
    wrong = _play(["Finish[Severn]"], avon)
    assert wrong.scores == {"em": 0.0, "f1": 0.0}
    # a wrong answer ends the episode on the agent's own terms: not cut by the cap
    assert wrong.stop_reason == partial.stop_reason == right.stop_reason == "done"


def test_a_forced_finish_scores_zero(avon: Task) -> None:
    # Never answered: the environment finishes with '' at its cap, whatever the 7th step was.
    forced = _play(["Think[hmm]", "Search[Skerry Point]"], avon)
    assert len(forced.steps) == MAX_STEPS and forced.stop_reason == "step_cap"
    assert forced.scores == {"em": 0.0, "f1": 0.0}


def test_an_episode_cut_by_the_runner_scores_zero(avon: Task) -> None:
    # Our own cap ends it before the environment did: the last answer has no scores.
    cut = _play(["Search[Skerry Point]"], avon, RolloutConfig(max_steps=2, show_progress=False))
    assert len(cut.steps) == 2 and cut.stop_reason == "step_cap"
    assert cut.scores == {"em": 0.0, "f1": 0.0}
    assert HotpotQAEnv().episode_scores(None) == {"em": 0.0, "f1": 0.0}


def test_scores_survive_the_file(avon: Task, tmp_path: Path) -> None:
    episodes = [_play(["Finish[the river Avon]"], avon), _play(["Finish[Avon]"], avon)]
    write_jsonl(tmp_path / "episodes.jsonl", episodes)
    again = read_jsonl(tmp_path / "episodes.jsonl", Trajectory)
    assert [e.scores for e in again] == [e.scores for e in episodes]
    assert '"scores":{"em":1.0,"f1":1.0}' in (tmp_path / "episodes.jsonl").read_text()


@settings(max_examples=25, deadline=None)
@given(answer=st.text(alphabet=st.characters(codec="ascii", exclude_characters="\n\r")))
def test_scores_are_the_official_ones_of_the_answer(
    small_suite: HotpotQASuite, answer: str
) -> None:
    task = small_suite.tasks("test")[0]
    gold = str(task.spec["answer"])
    action = f"Finish[{answer}]".strip()
    episode = _play([action], task)
    given_answer = action.removeprefix("Finish[").removesuffix("]")  # as the env reads it
    assert episode.scores == {
        "em": float(exact_match(given_answer, gold)),
        "f1": f1_score(given_answer, gold).f1,
    }
