"""The scripted ALFWorld expert: solves every generated game fairly, thinks in varied words."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from agentdistill.environments.alfworld import facts
from agentdistill.environments.alfworld.env import AlfworldEnv, AlfworldSuite, game_to_task
from agentdistill.environments.alfworld.expert import (
    AlfworldExpert,
    ExpertError,
    Goal,
    format_places,
    parse_goal,
    parse_items,
    search_order,
)
from agentdistill.environments.alfworld.game import Game
from agentdistill.environments.alfworld.generator import GeneratorConfig, generate_game
from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv
from agentdistill.policies.expert import run_expert_episode
from agentdistill.records import Task, Trajectory

try:  # the fast engine, when present; the real one otherwise (fewer games)
    from agentdistill.environments.alfworld.native import NativeAlfworldEnv

    FAST: type[AlfworldEnv] = NativeAlfworldEnv
    GAMES = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}  # every default game
except ImportError:  # pragma: no cover - only before the native engine exists
    FAST = TextWorldAlfworldEnv
    GAMES = {"train": 12, "valid_seen": 6, "valid_unseen": 6}

CONFIG = GeneratorConfig(**GAMES)


def _check(trajectory: Trajectory) -> None:
    """Won within the cap, every action valid, reasoning single-line (the record checks)."""
    task = trajectory.task
    assert trajectory.success, f"{task.task_id} ({task.task_type}): {trajectory.stop_reason}"
    assert trajectory.stop_reason == "done"
    assert trajectory.reward == 1.0
    assert len(trajectory.steps) <= 50
    bad = [s.action for s in trajectory.steps if not s.action_valid]
    assert not bad, f"{task.task_id}: invalid actions {bad}"
    Trajectory.model_validate(trajectory.model_dump())


# ---- goals and helpers ----------------------------------------------------------------------


@pytest.mark.parametrize("task_type", facts.TASK_TYPES)
@pytest.mark.parametrize("template", [0, 1])
def test_parse_goal_every_template(task_type: str, template: int) -> None:
    text = facts.goal_templates(task_type)[template].format(
        obj="spraybottle", recep="diningtable", toggle="desklamp"
    )
    goal = parse_goal(text + ".")
    assert goal.task_type == task_type
    assert goal.obj == "spraybottle"
    if task_type == "look_at_obj_in_light":
        assert (goal.recep, goal.toggle) == (None, "desklamp")
    else:
        assert (goal.recep, goal.toggle) == ("diningtable", None)


def test_parse_goal_generated_games() -> None:
    for index in range(60):
        game = generate_game(CONFIG, "train", index)
        goal = parse_goal(game.goal)
        assert goal == Goal(
            game.task_type,
            game.goal_object.lower(),
            game.goal_receptacle.lower() if game.goal_receptacle else None,
            game.goal_toggle.lower() if game.goal_toggle else None,
        )


def test_parse_goal_rejects_unknown() -> None:
    with pytest.raises(ExpertError):
        parse_goal("juggle three apples")


def test_parse_items_and_places() -> None:
    assert parse_items("nothing") == []
    assert parse_items("a apple 2") == ["apple 2"]
    assert parse_items("a apple 2, and a knife 1") == ["apple 2", "knife 1"]
    assert parse_items("a cd 1, a egg 3, and a mug 1") == ["cd 1", "egg 3", "mug 1"]
    names = ["cabinet 1", "cabinet 2", "cabinet 3", "drawer 2", "drawer 4", "fridge 1"]
    assert format_places(names) == "cabinet (1-3), drawer (2, 4), fridge (1)"


def test_search_order_is_a_function_of_type_and_names() -> None:
    rooms = ["cabinet 2", "cabinet 1", "countertop 1", "fridge 1", "sinkbasin 1", "toaster 1"]
    order = search_order("apple", rooms)
    # surfaces (one step) before closed containers (two), each in the prior's order
    assert order.likely == ["countertop 1", "sinkbasin 1", "fridge 1"]
    assert order.other == []
    # cabinets cannot hold apples (ALFRED's table), the toaster neither: searched last.
    assert set(order.last) == {"cabinet 1", "cabinet 2", "toaster 1"}
    assert search_order("apple", list(reversed(rooms))) == order
    mug = search_order("mug", rooms, last_kinds=["countertop"])
    assert mug.likely[:3] == ["sinkbasin 1", "cabinet 1", "cabinet 2"]
    assert mug.last[0] == "countertop 1"


# ---- solving every game -----------------------------------------------------------------------


@pytest.mark.slow
def test_expert_solves_every_generated_game() -> None:
    suite = AlfworldSuite(CONFIG)
    env = FAST()
    steps: dict[str, list[int]] = defaultdict(list)
    solved: dict[str, int] = defaultdict(int)
    start = time.perf_counter()
    for split in suite.splits:
        tasks = suite.tasks(split)
        assert len(tasks) == GAMES[split]
        for task in tasks:
            trajectory = run_expert_episode(env, task, seed=0)
            _check(trajectory)
            solved[split] += 1
            steps[task.task_type].append(len(trajectory.steps))
    print(f"\nengine {FAST.__name__}, {time.perf_counter() - start:.1f} s")
    for split in suite.splits:
        print(f"  {split}: solved {solved[split]}/{GAMES[split]}")
    for task_type in facts.TASK_TYPES:
        counts = steps[task_type]
        print(
            f"  {task_type}: {len(counts)} games, mean steps {sum(counts) / len(counts):.2f}, "
            f"max {max(counts)}"
        )


def test_expert_on_the_real_engine() -> None:
    """One game of each task type on TextWorld; same trajectory as on the fast engine."""
    wanted = set(facts.TASK_TYPES)
    tasks: list[Task] = []
    for index in range(200):
        game = generate_game(CONFIG, "valid_seen", index)
        if game.task_type in wanted:
            wanted.discard(game.task_type)
            tasks.append(game_to_task(game, CONFIG, "valid_seen", index))
    assert not wanted
    real, fast = TextWorldAlfworldEnv(), FAST()
    try:
        for task in tasks:
            trajectory = run_expert_episode(real, task, seed=1)
            _check(trajectory)
            if FAST is not TextWorldAlfworldEnv:
                assert run_expert_episode(fast, task, seed=1).steps == trajectory.steps
    finally:
        real.close()


def test_trajectory_record() -> None:
    task = AlfworldSuite(CONFIG).tasks("valid_unseen")[0]
    trajectory = run_expert_episode(FAST(), task, seed=7)
    assert trajectory.policy.name == "expert"
    assert trajectory.policy.kind == "expert"
    assert trajectory.seed == 7
    assert trajectory.task == task
    assert trajectory.timings is not None
    assert trajectory.timings.wall_s >= 0.0
    assert trajectory.initial_observation.startswith("You are in the middle of a room.")


# ---- reasoning ---------------------------------------------------------------------------------


def _episodes(seed: int, count: int = 30) -> list[Trajectory]:
    suite = AlfworldSuite(CONFIG.model_copy(update={"train": count}))
    env = FAST()
    return [run_expert_episode(env, task, seed) for task in suite.tasks("train")[:count]]


def test_reasoning_depends_on_seed_only() -> None:
    first, again, other = _episodes(0), _episodes(0), _episodes(1)
    for a, b, c in zip(first, again, other, strict=True):
        assert [s.reasoning for s in a.steps] == [s.reasoning for s in b.steps]
        # the seed changes wording only, never the actions
        assert [s.action for s in a.steps] == [s.action for s in c.steps]
    differs = [
        a.task.task_id
        for a, c in zip(first, other, strict=True)
        if [s.reasoning for s in a.steps] != [s.reasoning for s in c.steps]
    ]
    assert len(differs) >= len(first) // 2


def test_reasoning_at_key_moments_only() -> None:
    total = thoughts = 0
    for trajectory in _episodes(3, count=100):
        steps = trajectory.steps
        assert steps[0].reasoning, "the first step states the plan"
        said = ""
        for index, step in enumerate(steps):
            total += 1
            thoughts += bool(step.reasoning)
            assert step.reasoning == step.reasoning.strip()
            assert "\n" not in step.reasoning and "{" not in step.reasoning
            said += " " + step.reasoning
            if step.action.startswith("take "):
                # "Now I find a mug (1)", now or when deciding to go back for it
                kind, number = step.action.split(" ")[1:3]
                assert f"{kind} ({number})" in said, step.action
            previous = steps[index - 1].action if index else ""
            if previous.startswith(("take ", "heat ", "cool ", "clean ")):
                assert step.reasoning, f"no thought after {previous!r}"
    assert thoughts < total * 0.6


def test_reasoning_mentions_plan_and_finding() -> None:
    trajectory = _episodes(0, count=1)[0]
    text = " ".join(s.reasoning for s in trajectory.steps)
    goal = parse_goal(trajectory.task.goal)
    assert goal.obj in text
    takes = [s for s in trajectory.steps if s.action.startswith("take ")]
    item = takes[0].action.split(" ")[1]
    assert item in text


# ---- no privileged knowledge ----------------------------------------------------------------


def _relocated(game: Game, kind: str, target: str, suffix: str) -> Game:
    """The same game with every object of `kind` moved to receptacle id `target`."""
    objects = [
        o.model_copy(update={"receptacle": target}) if o.type == kind else o for o in game.objects
    ]
    return game.model_copy(update={"objects": objects, "name": game.name + suffix})


def _twin_games() -> list[Game]:
    """A pick-and-place game and twins whose goal objects sit in other receptacles."""
    for index in range(300):
        game = generate_game(CONFIG, "train", index)
        if game.task_type != "pick_and_place_simple":
            continue
        holders = {o.receptacle for o in game.objects if o.type == game.goal_object}
        others = [
            r.id
            for r in game.receptacles
            if r.id not in holders
            and r.type != game.goal_receptacle
            and game.goal_object in facts.RECEPTACLE_OBJECTS.get(r.type, ())
        ]
        if len(holders) == 1 and len(others) >= 4:
            return [game] + [
                _relocated(game, game.goal_object, target, f"-{n}")
                for n, target in enumerate((others[0], others[len(others) // 2], others[-1]))
            ]
    raise AssertionError("no suitable game")


def _play_file(env: TextWorldAlfworldEnv, game: Game, folder: Path) -> Trajectory:
    path = game.write(folder)
    task = Task(
        env="alfworld",
        task_id=game.name,
        split="train",
        goal=game.goal,
        task_type=game.task_type,
        spec={"game_file": str(path)},
    )
    return run_expert_episode(env, task, seed=0)


def _same_until_seen_differs(one: Trajectory, two: Trajectory) -> bool:
    """Check the two episodes act alike while their observations agree; True if they diverge."""
    assert one.task.goal == two.task.goal
    assert one.initial_observation == two.initial_observation
    diverged = False
    for a, b in zip(one.steps, two.steps, strict=False):
        assert diverged or (a.action, a.reasoning) == (b.action, b.reasoning)
        diverged = diverged or a.observation != b.observation
    return diverged


def test_expert_uses_no_privileged_state(tmp_path: Path) -> None:
    """Games that look the same at the start but hide the object in different places: the
    expert acts identically until its observations differ."""
    games = _twin_games()
    env = TextWorldAlfworldEnv()
    try:
        runs = [_play_file(env, game, tmp_path) for game in games]
    finally:
        env.close()
    for run in runs:
        _check(run)
    for index, one in enumerate(runs):
        for two in runs[index + 1 :]:
            assert _same_until_seen_differs(one, two), "twins should look different somewhere"
    assert len({tuple(s.action for s in run.steps) for run in runs}) == len(runs)


def test_expert_does_not_read_the_game() -> None:
    """The expert's interface takes text only: goal, observations, admissible commands."""
    game = generate_game(CONFIG, "valid_unseen", 3)
    task = game_to_task(game, CONFIG, "valid_unseen", 3)
    env = FAST()
    observation = env.reset(task)
    expert = AlfworldExpert(seed=0)
    expert.reset(task.goal, observation, env.admissible_commands or [])
    assert not any(isinstance(v, Game | Task) for v in vars(expert).values())
    reasoning, action = expert.act()
    assert reasoning and action in (env.admissible_commands or [])
