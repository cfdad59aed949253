"""DAgger: labelled learner episodes -> training data; a round of the teacher bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

from agentdistill.config import FormatConfig
from agentdistill.dagger import DaggerConfig, corrections, round_tasks, training_trajectories
from agentdistill.environments.alfworld.env import AlfworldSuite
from agentdistill.environments.alfworld.generator import GeneratorConfig
from agentdistill.profile import load_profile
from agentdistill.records import OracleLabel, PolicyInfo, Step, Task, Trajectory, read_jsonl
from agentdistill.teacher import bootstrap_teacher

CONFIGS = Path(__file__).parents[1] / "configs" / "experiment"


def _episode(steps: list[Step]) -> Trajectory:
    task = Task(env="alfworld", task_id="t0", split="train", goal="put a mug in sinkbasin.")
    return Trajectory(
        task=task,
        initial_observation="You are in the middle of a room.",
        steps=steps,
        success=False,
        reward=0.0,
        policy=PolicyInfo(name="learner", kind="hf"),
        stop_reason="step_cap",
    )


def test_training_trajectories_relabel_agreements_and_teach_corrections() -> None:
    go = OracleLabel(reasoning="First I need to find a mug.", action="go to cabinet 1")
    steps = [
        Step(reasoning="I think mug", action="go to cabinet 1", observation="obs 1", oracle=go),
        Step(
            action="take apple 1 from cabinet 1",
            observation="obs 2",
            oracle=OracleLabel(action="open cabinet 1"),
        ),
        Step(action="look", observation="obs 3", oracle=OracleLabel(action="go to sinkbasin 1")),
        Step(action="look", observation="obs 4"),  # the shadow expert had given up
    ]
    out = training_trajectories([_episode(steps)], max_corrections=6)
    full, *corrections = out
    # agreement: the expert's thought, imitated; disagreements and unlabelled: context only
    assert [s.imitate for s in full.steps] == [True, False, False, False]
    assert full.steps[0].reasoning == go.reasoning
    assert full.steps[1].reasoning == "" and full.steps[1].action.startswith("take apple")
    assert all(s.oracle is None for t in out for s in t.steps)
    # one corrective trajectory per disagreement: the history, then the expert's turn
    assert [len(t.steps) for t in corrections] == [2, 3]
    assert [t.steps[-1].action for t in corrections] == ["open cabinet 1", "go to sinkbasin 1"]
    assert all(t.steps[-1].imitate and not t.success for t in corrections)
    assert corrections[1].steps[:2] == full.steps[:2]
    # capped: the earliest disagreement
    capped = training_trajectories([_episode(steps)], max_corrections=1)
    assert len(capped) == 2 and capped[1].steps[-1].action == "open cabinet 1"
    # an episode without any label teaches nothing
    assert training_trajectories([_episode([Step(action="look", observation="o")])], 6) == []


def test_corrections_teach_where_a_loop_starts_before_its_repeats() -> None:
    label = OracleLabel(action="go to shelf 1")
    loop = [Step(action="go to diningtable 1", observation="Nothing happens.", oracle=label)] * 6
    detour = Step(action="look", observation="o", oracle=OracleLabel(action="go to shelf 2"))
    steps = [*loop, detour, *loop]
    # the two loops' onsets and the detour first, then the earliest repeats
    assert corrections(steps, 3) == [0, 6, 7]
    assert corrections(steps, 5) == [0, 1, 2, 6, 7]
    assert corrections(steps, 0) == []


def test_round_tasks_are_a_seeded_draw() -> None:
    tasks = AlfworldSuite(GeneratorConfig(train=30, valid_seen=0, valid_unseen=0)).tasks("train")
    config = DaggerConfig(tasks=10, seed=1)
    first = round_tasks(config, tasks, 1)
    assert len(first) == 10 and first == round_tasks(config, tasks, 1)
    assert first != round_tasks(config, tasks, 2)
    assert DaggerConfig(expert_share=0.8, decay=0.5).share(3) == 0.2


def test_a_dagger_round_on_the_smoke_teacher_adds_labelled_states(tmp_path) -> None:
    smoke = load_profile(CONFIGS / "smoke.yaml").config("alfworld")
    dagger = DaggerConfig(
        rounds=1, tasks=8, expert_share=0.25, max_steps=8, batch_size=8, epochs=1.0
    )
    config = smoke.teacher_config().model_copy(update={"dagger": dagger, "train_tasks": 24})
    tasks = AlfworldSuite(GeneratorConfig(train=24, valid_seen=0, valid_unseen=0)).tasks("train")
    summary = bootstrap_teacher(config, tmp_path, FormatConfig(name="alfworld"), tasks=tasks)

    folder = tmp_path / "dagger" / "round-1"
    episodes = read_jsonl(folder / "episodes.jsonl", Trajectory)
    assert len(episodes) == 8
    learner = [e for e in episodes if e.policy.kind == "hf" and e.steps[0].oracle is not None]
    assert learner, "the learner played none of the round's games"
    # every learner step before the shadow expert gave up carries the expert's label
    labelled = [s for e in episodes for s in e.steps if s.oracle is not None]
    assert len(labelled) >= len(learner)
    data = read_jsonl(folder / "train.jsonl", Trajectory)
    assert data and sum(s.imitate for t in data for s in t.steps) > 0
    (round_summary,) = summary.rounds
    assert round_summary.aggregate_trajectories == summary.expert_trajectories + len(data)
    assert round_summary.labels["learner_episodes"] + round_summary.labels["expert_episodes"] == 8
    assert summary.model_dir == str(tmp_path / "train" / "model")
    assert (tmp_path / "dagger" / "round-0" / "train" / "model" / "config.json").exists()
    written = json.loads((folder / "summary.json").read_text())
    assert written["training_trajectories"] == len(data)
    # a rerun finds every round done: same summary, nothing played again
    before = (folder / "episodes.jsonl").stat().st_mtime_ns
    again = bootstrap_teacher(config, tmp_path, FormatConfig(name="alfworld"), tasks=tasks)
    assert (folder / "episodes.jsonl").stat().st_mtime_ns == before
    assert again.rounds[0].training_trajectories == len(data)
