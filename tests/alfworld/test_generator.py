import json
from collections import Counter

import pytest

from agentdistill.environments.alfworld import facts
from agentdistill.environments.alfworld.env import (
    AlfworldSuite,
    game_to_task,
    receptacle_count,
    receptacle_distribution,
    room_distribution,
    room_receptacles,
    task_game,
)
from agentdistill.environments.alfworld.game import Game, GameObject, Receptacle, mangle
from agentdistill.environments.alfworld.generator import SPLITS, GeneratorConfig, generate_game
from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv
from agentdistill.environments.registry import make_env

CONFIG = GeneratorConfig()


def games(split: str, n: int) -> list[Game]:
    return [generate_game(CONFIG, split, i) for i in range(n)]


def test_deterministic_from_seed() -> None:
    assert generate_game(CONFIG, "train", 7) == generate_game(GeneratorConfig(), "train", 7)
    assert generate_game(CONFIG, "train", 7) != generate_game(CONFIG, "train", 8)
    other = GeneratorConfig(seed=1)
    assert generate_game(CONFIG, "train", 7) != generate_game(other, "train", 7)


@pytest.mark.slow
def test_default_split_sizes_and_unique_ids() -> None:
    suite = AlfworldSuite(GeneratorConfig())
    sizes = {split: len(suite.tasks(split)) for split in SPLITS}
    assert sizes == {"train": 3553, "valid_seen": 140, "valid_unseen": 134}
    ids = [t.task_id for t in suite.tasks("train")]
    assert len(set(ids)) == len(ids)


def test_unseen_rooms_are_never_seen() -> None:
    for split in SPLITS:
        plans = {g.floorplan for g in games(split, 200)}
        if split == "valid_unseen":
            assert plans <= facts.UNSEEN_FLOORPLANS and len(plans) > 1
        else:
            assert not plans & facts.UNSEEN_FLOORPLANS


@pytest.mark.parametrize("split", SPLITS)
def test_games_are_solvable_and_not_already_solved(split: str) -> None:
    counts = Counter()
    for game in games(split, 300):
        counts[game.task_type] += 1
        assert game.room in facts.TASK_ROOMS[game.task_type]
        assert game.floorplan in facts.ROOM_FLOORPLANS[game.room]
        # the floorplan's full receptacle set (ALFRED's layouts), as in ALFWorld
        assert sorted(r.id for r in game.receptacles) == sorted(
            facts.floorplan_receptacles(game.floorplan)
        )
        holder = {r.id: r for r in game.receptacles}
        types = {r.type for r in game.receptacles}
        targets = [o for o in game.objects if o.type == game.goal_object]
        assert targets and all(o.pickupable for o in targets)
        for obj in game.objects:  # every object sits in a receptacle that may hold it
            receptacle = holder[obj.receptacle]
            allowed = facts.RECEPTACLE_OBJECTS.get(receptacle.type, frozenset())
            assert obj.type in allowed or obj.type in facts.TOGGLEABLE
        if game.task_type == "pick_two_obj_and_place":
            assert len(targets) >= 2
        if game.task_type in facts.TASK_APPLIANCE:
            assert facts.TASK_APPLIANCE[game.task_type] in types
            assert game.goal_object in facts.TASK_CAPABILITY[game.task_type]
        if game.task_type == "look_at_obj_in_light":
            lamps = [o for o in game.objects if o.type == game.goal_toggle]
            assert lamps and game.goal_toggle in facts.TOGGLEABLE
        else:
            assert game.goal_receptacle in types
            assert game.goal_object in facts.RECEPTACLE_OBJECTS[game.goal_receptacle]
            # not already solved: no goal object starts in a receptacle of the goal type
            assert all(holder[o.receptacle].type != game.goal_receptacle for o in targets)
        assert game.agent_location not in {r.location for r in game.receptacles}
    assert set(counts) == set(facts.TASK_TYPES)


def test_default_keeps_every_receptacle_and_a_cap_is_honoured() -> None:
    assert CONFIG.max_receptacles is None
    capped = GeneratorConfig(max_receptacles=8)
    sizes = []
    for index in range(40):
        full = generate_game(CONFIG, "valid_seen", index)
        layout = facts.floorplan_receptacles(full.floorplan)
        assert {r.id for r in full.receptacles} == set(layout)
        game = generate_game(capped, "valid_seen", index)
        assert len(game.receptacles) <= 8
        assert {r.id for r in game.receptacles} <= set(facts.floorplan_receptacles(game.floorplan))
        sizes.append(len(full.receptacles))
    assert max(sizes) > 12  # full-size kitchens are far bigger than the old cap
    assert generate_game(capped, "valid_seen", 5) == generate_game(capped, "valid_seen", 5)


def test_receptacle_count_reads_the_first_observation() -> None:
    assert room_receptacles(
        "You are in the middle of a room. Looking quickly around you, you see a cabinet 2, "
        "a fridge 1, and a sinkbasin 1.\n\nYour task is to: put a mug in fridge."
    ) == ["cabinet 2", "fridge 1", "sinkbasin 1"]
    assert room_receptacles("Looking quickly around you, you see a bed 1.") == ["bed 1"]
    with pytest.raises(ValueError):
        room_receptacles("You arrive at cabinet 1.")
    suite = AlfworldSuite(GeneratorConfig(train=0, valid_seen=12, valid_unseen=0))
    tasks = suite.tasks("valid_seen")
    counts = [receptacle_count(task) for task in tasks]
    assert counts == [len(task_game(task).receptacles) for task in tasks]
    summary = receptacle_distribution(tasks)
    assert summary["games"] == 12
    assert summary["min"] == min(counts) and summary["max"] == max(counts)
    assert summary["min"] <= summary["q1"] <= summary["median"] <= summary["q3"] <= summary["max"]
    assert summary["mean"] == pytest.approx(sum(counts) / 12)
    one = receptacle_distribution(tasks[:1])
    assert one["q1"] == one["median"] == one["q3"] == counts[0]
    # the same summary from games already played (the report reads their first observations)
    env = make_env("alfworld")
    assert room_distribution(env.reset(task) for task in tasks) == summary


def test_task_round_trip() -> None:
    game = generate_game(CONFIG, "valid_seen", 3)
    task = game_to_task(game, CONFIG, "valid_seen", 3)
    assert task_game(type(task).model_validate_json(task.model_dump_json())) == game
    assert task.goal == game.goal and task.task_type == game.task_type


def test_display_names_follow_the_demangler() -> None:
    receptacles = [
        Receptacle(id=f"Cabinet|{x}|+00.50|-02.20", type="Cabinet", location=(i, 0, 0, 30))
        for i, x in enumerate(["+00.68", "-00.20", "+01.10"])
    ] + [
        Receptacle(
            id="Sink|-00.11|+00.89|-02.01|SinkBasin", type="SinkBasin", location=(9, 9, 0, 30)
        )
    ]
    game = Game(
        name="t",
        floorplan=1,
        room="Kitchen",
        task_type="pick_and_place_simple",
        goal_object="Mug",
        goal_receptacle="Cabinet",
        agent_location=(5, 5, 0, 30),
        receptacles=receptacles,
        objects=[
            GameObject(id="Mug|+00.10|+00.20|+00.30", type="Mug", receptacle=receptacles[3].id)
        ],
    )
    # sorted mangled ids: _minus_ < _plus_00 < _plus_01; the first gets the highest number
    assert [game.names[r.id] for r in receptacles] == [
        "cabinet 2",
        "cabinet 3",
        "cabinet 1",
        "sinkbasin 1",
    ]
    assert game.sort_key[receptacles[0].id] == mangle(receptacles[0].id).lower()
    assert game.goal == "put a mug in cabinet"


def test_game_file_runs_on_the_real_engine(tmp_path) -> None:
    seen = set()
    env = TextWorldAlfworldEnv()
    try:
        for index in range(60):
            game = generate_game(CONFIG, "valid_unseen", index)
            if game.task_type in seen:
                continue
            seen.add(game.task_type)
            path = game.write(tmp_path)
            data = json.loads(path.read_text())
            assert set(data) == {
                "pddl_domain",
                "grammar",
                "pddl_problem",
                "solvable",
                "walkthrough",
            }
            assert f"Your task is to: {game.goal}." in data["grammar"]
            first = env.reset(game_to_task(game, CONFIG, "valid_unseen", index))
            listed = sorted(game.receptacles, key=lambda r: game.sort_key[r.id])
            names = [game.names[r.id] for r in listed]
            expected = ", ".join(f"a {n}" for n in names[:-1]) + f", and a {names[-1]}"
            assert first == (
                "You are in the middle of a room. Looking quickly around you, you see "
                f"{expected}.\n\nYour task is to: {game.goal}."
            )
    finally:
        env.close()
    assert seen == set(facts.TASK_TYPES)


def test_real_data_layout_is_loaded_and_played(tmp_path, monkeypatch) -> None:
    # Lay out game files the way `alfworld-download` does: json_2.1.1/<split>/<task>/<trial>/
    games_by_dir = {}
    for index in range(2):
        game = generate_game(CONFIG, "valid_seen", index)
        task_dir = (
            f"{game.task_type}-{game.goal_object}-None-{game.goal_receptacle}-{game.floorplan}"
        )
        folder = tmp_path / "json_2.1.1" / "valid_seen" / task_dir
        game.write(folder)
        games_by_dir[f"{task_dir}/{game.name}"] = game
    unsolvable = tmp_path / "json_2.1.1" / "valid_seen" / "x-None" / "trial" / "game.tw-pddl"
    unsolvable.parent.mkdir(parents=True)
    unsolvable.write_text(json.dumps({"solvable": False}))
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    suite = AlfworldSuite.from_environment()
    tasks = suite.tasks("valid_seen")
    assert {t.task_id for t in tasks} == set(games_by_dir)  # the unsolvable file is skipped
    env = TextWorldAlfworldEnv()
    try:
        for task in tasks:
            game = games_by_dir[task.task_id]
            assert task.goal == game.goal and task.task_type == game.task_type
            assert env.reset(task).endswith(f"Your task is to: {game.goal}.")
    finally:
        env.close()
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "nothing-here"))
    assert AlfworldSuite.from_environment().data_root is None  # falls back to generated games
