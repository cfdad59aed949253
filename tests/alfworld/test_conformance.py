"""The judge: the native ALFWorld engine must behave exactly like the real one.

Both engines (`TextWorldAlfworldEnv` = TextWorld's PDDL backend, the ground truth, and
`NativeAlfworldEnv`) are driven in lockstep over generated games of all three splits. After
every step we compare the observation, done, reward, won, action_valid and the admissible
command list; after reset the raw first observation (welcome banner and task line included)
and the admissible list. Any difference fails with the game, step, action and both texts.

One episode per game, seeded by the game's name:

1. a random prefix of 0-30 actions: random admissible commands (picked by verb first, so
   that take/move/open/heat/slice/... are as frequent as `go to`) mixed with invalid ones
   (garbage, wrong case, doubled inner spaces, wrong or missing numbers, `examine` of an
   object not held, commands valid elsewhere, surrounding whitespace);
2. then a goal-directed oracle (`plan`, using privileged state) plays to a win, with
   harmless and invalid actions sprinkled in, so that winning steps are compared too.

Budget (2 cores): the real engine takes ~0.3 s a reset and ~25 ms a step, so the default of
`ALFWORLD_CONFORMANCE_GAMES=100` games per split (300 games, ~6,600 compared steps, ~1,000 of
them invalid actions) takes about 2.7 minutes on 2 worker processes
(`ALFWORLD_CONFORMANCE_WORKERS`, default: min(2, CPUs)); the whole module about 3.5 minutes.
Raise the games count for a deeper run (keep it >= 30 so every task type gets won). Targeted
scenarios (quirks random play rarely reaches: the "Next to it" list, slicing inside closed
receptacles, every examine text, a start at a receptacle, receptacles open from the start)
and the environment contract for both engines complete the module.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentdistill.environments.alfworld import facts
from agentdistill.environments.alfworld.env import AlfworldEnv, AlfworldSuite, task_game
from agentdistill.environments.alfworld.game import Game
from agentdistill.environments.alfworld.generator import SPLITS, GeneratorConfig
from agentdistill.environments.alfworld.native import NativeAlfworldEnv, Snapshot, _Tables
from agentdistill.environments.alfworld.textworld_engine import TextWorldAlfworldEnv
from agentdistill.environments.base import StepResult
from agentdistill.records import Task
from agentdistill.testing.env_contract import ContractSubject, EnvironmentContract

GAMES_PER_SPLIT = int(os.environ.get("ALFWORLD_CONFORMANCE_GAMES", "100"))
WORKERS = int(os.environ.get("ALFWORLD_CONFORMANCE_WORKERS", str(min(2, os.cpu_count() or 1))))
SEED = 1234
MAX_RANDOM_PREFIX = 30
NOISE_IN_PLAN = 0.15  # chance of a harmless or invalid action before each oracle action
INVALID_IN_PREFIX = 0.25  # chance that a random-prefix action is (meant to be) invalid
GARBAGE = ("", "xyzzy", "go to", "take", "look.", "LOOK", "help me", "\u00e9\u4e2d", "move to")
# Verbs that never change the state: the oracle's noise may use them freely.
HARMLESS = ("look", "inventory", "help")


# ---- engines that keep the raw first observation ------------------------------------------
class _RawIntro:
    """Mixin: remember the raw first observation (with the welcome banner)."""

    raw_intro = ""

    def _engine_reset(self, task: Task) -> tuple[str, list[str]]:
        observation, admissible = super()._engine_reset(task)  # type: ignore[misc]
        self.raw_intro = observation
        return observation, admissible


class RealEnv(_RawIntro, TextWorldAlfworldEnv):
    pass


class NativeEnv(_RawIntro, NativeAlfworldEnv):
    pass


# ---- the oracle -----------------------------------------------------------------------------
def initial_snapshot(game: Game) -> Snapshot:
    """The state a game starts in, in the native engine's snapshot form."""
    return Snapshot(
        agent_location=game.agent_location,
        held=None,
        where={o.id: o.receptacle for o in game.objects},
        opened=frozenset(r.id for r in game.receptacles if r.openable and r.opened),
        hot=frozenset(),
        cool=frozenset(),
        clean=frozenset(),
        sliced=frozenset(),
        toggled=frozenset(),
    )


class _Planner:
    """Plans a winning command sequence from a state, with privileged knowledge.

    This is a test oracle only (go where the goal object is, open, take, treat it, go to a
    target, open, move); it is not the benchmark's expert.
    """

    def __init__(self, game: Game, state: Snapshot) -> None:
        self.game = game
        self.names = game.names
        self.recs = {r.id: r for r in game.receptacles}
        self.types = {o.id: o.type for o in game.objects}
        self.location = state.agent_location
        self.held = state.held
        self.where = dict(state.where)
        self.opened = set(state.opened)
        self.commands: list[str] = []

    def emit(self, command: str) -> None:
        self.commands.append(command)

    def goto(self, rid: str) -> None:
        # `go to` a receptacle at the current location is not a command; nor needed.
        if self.recs[rid].location != self.location:
            self.emit(f"go to {self.names[rid]}")
            self.location = self.recs[rid].location

    def open(self, rid: str) -> None:
        if self.recs[rid].openable and rid not in self.opened:
            self.emit(f"open {self.names[rid]}")
            self.opened.add(rid)

    def take(self, oid: str) -> None:
        rid = self.where[oid]
        assert rid is not None and self.held is None
        self.goto(rid)
        self.open(rid)
        self.emit(f"take {self.names[oid]} from {self.names[rid]}")
        self.held, self.where[oid] = oid, None

    def put(self, rid: str) -> None:
        assert self.held is not None
        self.goto(rid)
        self.open(rid)
        self.emit(f"move {self.names[self.held]} to {self.names[rid]}")
        self.where[self.held], self.held = rid, None

    def can_hold(self, rid: str, oid: str) -> bool:
        allowed = facts.RECEPTACLE_OBJECTS.get(self.recs[rid].type, frozenset())
        return self.types[oid] in allowed

    def drop(self) -> None:
        """Put the held object somewhere that may hold it, preferably right here."""
        assert self.held is not None
        held = self.held
        options = sorted(
            (self.recs[rid].location != self.location, rid)
            for rid in self.recs
            if self.can_hold(rid, held)
        )
        self.put(options[0][1])

    def hold(self, oid: str) -> None:
        if self.held == oid:
            return
        if self.held is not None:
            self.drop()
        self.take(oid)

    def of_type(self, kind: str) -> list[str]:
        return sorted(oid for oid, t in self.types.items() if t == kind)

    def receptacles(self, kind: str | None) -> list[str]:
        return sorted(rid for rid, r in self.recs.items() if r.type == kind)

    def solve(self) -> list[str]:
        game = self.game
        task = game.task_type
        goal_objects = self.of_type(game.goal_object)
        if task == "look_at_obj_in_light":
            lamp = self.of_type(str(game.goal_toggle))[0]
            self.hold(self.held if self.held in goal_objects else goal_objects[0])
            rid = self.where[lamp]
            assert rid is not None
            self.goto(rid)
            self.emit(f"use {self.names[lamp]}")
            return self.commands
        targets = self.receptacles(game.goal_receptacle)
        if task == "pick_two_obj_and_place":
            inside = Counter(self.where[o] for o in goal_objects)
            target = max(targets, key=lambda rid: (inside[rid], rid))
            # The held object first (if it is one), then the nearest others by id.
            todo = [o for o in goal_objects if self.where[o] != target]
            todo.sort(key=lambda o: o != self.held)
            for oid in todo[: max(0, 2 - inside[target])]:
                self.hold(oid)
                self.put(target)
            return self.commands
        oid = self.held if self.held in goal_objects else goal_objects[0]
        self.hold(oid)
        appliance = facts.TASK_APPLIANCE.get(task)
        if appliance:
            rid = self.receptacles(appliance)[0]
            self.goto(rid)
            verb = {"SinkBasin": "clean", "Microwave": "heat", "Fridge": "cool"}[appliance]
            self.emit(f"{verb} {self.names[oid]} with {self.names[rid]}")
        self.put(targets[0])
        return self.commands


def plan(game: Game, state: Snapshot | None = None) -> list[str]:
    """Commands that win `game` from `state` (default: the start)."""
    return _Planner(game, state or initial_snapshot(game)).solve()


def solve_task(task: Task) -> list[str]:
    """The contract's solver: the oracle's plan from the start of the task's game."""
    return plan(task_game(task))


# ---- random and invalid actions -------------------------------------------------------------
def random_admissible(rng: random.Random, commands: list[str]) -> str:
    """An admissible command, verb first, so rare verbs are tried as often as `go to`."""
    by_verb: dict[str, list[str]] = {}
    for command in commands:
        by_verb.setdefault(command.split(" ", 1)[0], []).append(command)
    verbs = sorted(by_verb)
    weights = [0.3 if verb in HARMLESS else 1.0 for verb in verbs]
    verb = rng.choices(verbs, weights=weights)[0]
    return rng.choice(by_verb[verb])


def near_miss(rng: random.Random, commands: list[str], game: Game) -> str:
    """An action that is (almost always) not admissible; some variants are valid on purpose
    (surrounding whitespace is stripped; a wrong number may name another receptacle)."""
    base = rng.choice(commands)
    objects = [game.names[o.id] for o in game.objects]
    receptacles = [game.names[r.id] for r in game.receptacles]
    variants: list[Callable[[], str]] = [
        lambda: rng.choice(GARBAGE),
        lambda: rng.choice((base.upper(), base.capitalize(), base.title())),
        lambda: base.replace(" ", "  ", 1),
        lambda: re.sub(r"\d+$", lambda m: str(int(m.group()) + rng.randint(1, 9)), base),
        lambda: base.rstrip("0123456789").rstrip(),
        lambda: re.sub(r" (\d+)$", r"\1", base),
        lambda: base + ".",
        lambda: f"  {base}\t",
        lambda: f"examine {rng.choice(objects)}",
        lambda: f"take {rng.choice(objects)} from {rng.choice(receptacles)}",
        lambda: f"move {rng.choice(objects)} to {rng.choice(receptacles)}",
        lambda: f"{rng.choice(('open', 'close', 'go to', 'examine'))} {rng.choice(receptacles)}",
        lambda: (
            f"{rng.choice(('heat', 'cool', 'clean', 'slice'))} {rng.choice(objects)} with "
            f"{rng.choice(receptacles + objects)}"
        ),
        lambda: f"use {rng.choice(objects)}",
    ]
    return rng.choice(variants)()


# ---- lockstep play ---------------------------------------------------------------------------
@dataclass
class EpisodeReport:
    game: str
    task_type: str
    steps: int
    invalid: int
    won: bool
    mismatch: str | None = None


class Mismatch(AssertionError):
    pass


class Lockstep:
    """Both engines on one task; every call compares their answers."""

    def __init__(self, real: RealEnv, native: NativeEnv, task: Task) -> None:
        self.real, self.native, self.task = real, native, task
        self.game = task.task_id
        self.steps = self.invalid = 0
        self.result: StepResult | None = None
        first = (real.reset(task), real.raw_intro, real.admissible_commands)
        second = (native.reset(task), native.raw_intro, native.admissible_commands)
        self._compare("reset", "(reset)", first, second)

    @property
    def admissible(self) -> list[str]:
        return self.real.admissible_commands or []

    @property
    def done(self) -> bool:
        return self.result is not None and self.result.done

    def step(self, action: str) -> StepResult:
        self.steps += 1
        first, second = self.real.step(action), self.native.step(action)
        self._compare(f"step {self.steps}", action, first, second)
        self.result = first
        self.invalid += not first.info.action_valid
        return first

    def _compare(self, where: str, action: str, first: object, second: object) -> None:
        if first == second:
            return
        raise Mismatch(
            f"{self.game} ({self.task.split}, {self.task.task_type}) {where}, "
            f"action {action!r}:\n  real:   {first!r}\n  native: {second!r}"
        )


def play_episode(real: RealEnv, native: NativeEnv, task: Task) -> EpisodeReport:
    """Random prefix, then the oracle's plan with noise; compared at every step."""
    rng = random.Random(f"{SEED}:{task.split}:{task.task_id}")
    game = task_game(task)
    report = EpisodeReport(task.task_id, task.task_type, 0, 0, False)
    try:
        play = Lockstep(real, native, task)
        for _ in range(rng.randint(0, MAX_RANDOM_PREFIX)):
            if play.done:
                break
            if rng.random() < INVALID_IN_PREFIX:
                play.step(near_miss(rng, play.admissible, game))
            else:
                play.step(random_admissible(rng, play.admissible))
        for command in [] if play.done else plan(game, native.snapshot()):
            while rng.random() < NOISE_IN_PLAN and not play.done:
                noise = rng.choice(HARMLESS) if rng.random() < 0.5 else None
                play.step(noise or near_miss(rng, play.admissible, game))
            if play.done:
                break
            play.step(command)
        report.won = bool(play.result and play.result.info.won)
        report.steps, report.invalid = play.steps, play.invalid
    except Mismatch as exc:
        report.mismatch = str(exc)
    return report


def play_chunk(tasks: list[Task]) -> list[EpisodeReport]:
    """Worker: one engine pair for a chunk of games."""
    real, native = RealEnv(), NativeEnv()
    try:
        return [play_episode(real, native, task) for task in tasks]
    finally:
        real.close()
        native.close()


def _chunks(tasks: list[Task], size: int) -> Iterator[list[Task]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


@pytest.fixture(scope="module")
def reports() -> dict[str, list[EpisodeReport]]:
    """Play every game of every split once (in worker processes: the real engine is slow).

    Half the games of each split have full-size rooms (the default), half rooms capped at 12
    receptacles (the `max_receptacles` option): the real engine's PDDL search grows with the
    room, so full-size games cost several times more to play on it.
    """
    full = GAMES_PER_SPLIT - GAMES_PER_SPLIT // 2
    capped = GAMES_PER_SPLIT // 2
    suites = [
        AlfworldSuite(GeneratorConfig(seed=SEED, train=full, valid_seen=full, valid_unseen=full)),
        AlfworldSuite(
            GeneratorConfig(
                seed=SEED, train=capped, valid_seen=capped, valid_unseen=capped, max_receptacles=12
            )
        ),
    ]
    tasks = [task for split in SPLITS for suite in suites for task in suite.tasks(split)]
    chunks = list(_chunks(tasks, 10))
    if WORKERS <= 1:
        played = [report for chunk in chunks for report in play_chunk(chunk)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
            played = [report for result in pool.map(play_chunk, chunks) for report in result]
    by_split: dict[str, list[EpisodeReport]] = {split: [] for split in SPLITS}
    for task, report in zip(tasks, played, strict=True):
        by_split[task.split].append(report)
    return by_split


@pytest.mark.slow
@pytest.mark.parametrize("split", SPLITS)
def test_native_matches_real_engine(reports: dict[str, list[EpisodeReport]], split: str) -> None:
    played = reports[split]
    assert len(played) == GAMES_PER_SPLIT
    mismatches = [r.mismatch for r in played if r.mismatch]
    steps = sum(r.steps for r in played)
    assert not mismatches, f"{len(mismatches)} of {len(played)} games differ ({steps} steps):\n" + (
        "\n".join(mismatches[:3])
    )


@pytest.mark.slow
def test_winning_episodes_are_compared(reports: dict[str, list[EpisodeReport]]) -> None:
    """The oracle wins nearly every game, on both engines, in every task type."""
    played = [r for split in SPLITS for r in reports[split]]
    won = [r for r in played if r.won]
    print(  # shown with `pytest -s`: the coverage of this run
        f"\nconformance: {len(played)} games, {sum(r.steps for r in played)} steps compared "
        f"({sum(r.invalid for r in played)} invalid), {len(won)} won, "
        f"{sum(bool(r.mismatch) for r in played)} mismatching; won per task type: "
        f"{dict(sorted(Counter(r.task_type for r in won).items()))}"
    )
    assert len(won) >= 0.9 * len(played), f"only {len(won)} of {len(played)} games won"
    assert {r.task_type for r in won} == set(facts.TASK_TYPES)
    # Invalid actions were compared too, in quantity.
    assert sum(r.invalid for r in played) >= 2 * len(played)


# ---- targeted scenarios ----------------------------------------------------------------------
SCENARIO_CONFIG = GeneratorConfig(seed=7, train=150, valid_seen=0, valid_unseen=0)


def _scenario_tasks() -> list[tuple[Task, Game]]:
    suite = AlfworldSuite(SCENARIO_CONFIG)
    return [(task, task_game(task)) for task in suite.tasks("train")]


def _shared_location_moves(game: Game) -> list[str] | None:
    """Take an object from one receptacle, put it in another at the same location, look,
    and back: the `not_inreceptacle` quirk ("Next to it, you see a mug 1.")."""
    for src in game.receptacles:
        for dst in game.receptacles:
            if src.id == dst.id or src.location != dst.location:
                continue
            allowed = facts.RECEPTACLE_OBJECTS.get(dst.type, frozenset())
            for obj in game.objects:
                if obj.receptacle == src.id and obj.pickupable and obj.type in allowed:
                    p = _Planner(game, initial_snapshot(game))
                    p.take(obj.id)
                    p.emit("look")
                    p.open(dst.id)
                    p.put(dst.id)
                    p.emit("look")
                    p.emit(f"examine {game.names[dst.id]}")
                    p.take(obj.id)
                    p.put(src.id)
                    p.emit("look")
                    p.take(obj.id)
                    p.put(dst.id)
                    p.emit("look")
                    # A third receptacle there: the object shows up once per receptacle it
                    # was taken from ("a vase 1, and a vase 1").
                    for third in game.receptacles:
                        if third.location == src.location and third.id not in (src.id, dst.id):
                            p.take(obj.id)
                            p.open(third.id)
                            p.emit(f"move {game.names[obj.id]} to {game.names[third.id]}")
                            p.emit("look")
                            break
                    p.emit("inventory")
                    return p.commands
    return None


def _slice_and_treat(game: Game) -> list[str] | None:
    """Take a knife, slice food (also inside a closed receptacle), then take the food and
    examine it after heating / cooling / cleaning it."""
    knives = [o for o in game.objects if o.type in facts.SHARP]
    foods = [o for o in game.objects if o.type in facts.SLICEABLE]
    if not knives or not foods:
        return None
    # Prefer food that can be heated, cooled and cleaned, for every examine variant.
    treatable = facts.HEATABLE & facts.COOLABLE & facts.CLEANABLE
    knife, food = knives[0], min(foods, key=lambda o: (o.type not in treatable, o.id))
    names = game.names
    k, f = names[knife.id], names[food.id]
    p = _Planner(game, initial_snapshot(game))
    p.take(knife.id)
    p.emit(f"examine {k}")
    p.goto(food.receptacle)
    p.emit("look")
    p.emit(f"slice {f} with {k}")
    p.emit(f"examine {names[food.receptacle]}")
    p.put(knife.receptacle)
    p.take(food.id)
    p.emit(f"examine {f}")
    for kind, verb in (("SinkBasin", "clean"), ("Microwave", "heat"), ("Fridge", "cool")):
        for rid in p.receptacles(kind)[:1]:
            p.goto(rid)
            p.emit(f"{verb} {f} with {names[rid]}")
            p.emit(f"examine {f}")
            p.emit(f"examine {names[rid]}")
    p.emit(f"slice {f} with {k}")  # not holding the knife: invalid
    p.emit("inventory")
    p.emit("help")
    return p.commands


def _treat_whole(game: Game) -> list[str] | None:
    """Every examine text of unsliced objects: cold, hot, hot and clean, cool and clean,
    clean, and the "normal" text of movable receptacles (mug, bowl, ...)."""
    p = _Planner(game, initial_snapshot(game))
    appliances = {kind: p.receptacles(kind) for kind in ("SinkBasin", "Microwave", "Fridge")}
    if not all(appliances.values()):
        return None
    sink, microwave, fridge = (appliances[k][0] for k in ("SinkBasin", "Microwave", "Fridge"))
    treatable = facts.HEATABLE & facts.COOLABLE & facts.CLEANABLE
    foods = [o for o in game.objects if o.type in treatable and o.type in facts.SLICEABLE]
    containers = [o for o in game.objects if o.type in facts.MOVABLE_RECEPTACLES]
    only_clean = [
        o for o in game.objects if o.type in facts.CLEANABLE - facts.HEATABLE - facts.COOLABLE
    ]
    if not foods:
        return None
    name = game.names[foods[0].id]
    p.hold(foods[0].id)
    for rid, verb in ((fridge, "cool"), (microwave, "heat"), (sink, "clean"), (fridge, "cool")):
        p.goto(rid)
        p.emit(f"{verb} {name} with {game.names[rid]}")
        p.emit(f"examine {name}")
    for other in containers[:1] + only_clean[:1]:
        p.hold(other.id)
        p.goto(sink)
        p.emit(f"clean {game.names[other.id]} with {game.names[sink]}")
        p.emit(f"examine {game.names[other.id]}")
    return p.commands


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [_shared_location_moves, _slice_and_treat, _treat_whole])
def test_targeted_scenarios(scenario: Callable[[Game], list[str] | None]) -> None:
    """Scripted sequences on the first few games where they apply; compared step by step."""
    real, native = RealEnv(), NativeEnv()
    played = 0
    try:
        for task, game in _scenario_tasks():
            commands = scenario(game)
            if commands is None:
                continue
            play = Lockstep(real, native, task)
            for command in commands:
                if play.done:
                    break
                play.step(command)
            played += 1
            if played == 4:
                break
    finally:
        real.close()
        native.close()
    assert played == 4, f"only {played} games fit the scenario"


class _FixedGameNative(NativeEnv):
    """The native engine on a hand-modified `Game` (the generator never makes these)."""

    def __init__(self, game: Game) -> None:
        super().__init__()
        self._fixed = _Tables.build(game)

    def _game_tables(self, task: Task) -> _Tables:
        return self._fixed


@pytest.mark.slow
def test_states_the_generator_never_makes(tmp_path: Path) -> None:
    """Start at a receptacle's location (the intro is then the `look` text), with every
    openable receptacle already open; then a random walk, compared step by step."""
    for _task, base in _scenario_tasks():
        shared, count = Counter(r.location for r in base.receptacles).most_common(1)[0]
        if count >= 2 and any(r.openable for r in base.receptacles):
            break
    game = base.model_copy(
        update={
            "name": "modified",
            "agent_location": shared,
            "receptacles": [r.model_copy(update={"opened": r.openable}) for r in base.receptacles],
        }
    )
    assert any(r.opened for r in game.receptacles)
    task = Task(
        env="alfworld",
        task_id="modified",
        split="train",
        goal=game.goal,
        spec={"game_file": str(game.write(tmp_path))},
    )
    real, native = RealEnv(), _FixedGameNative(game)
    rng = random.Random(SEED)
    try:
        play = Lockstep(real, native, task)
        assert "You are facing the" in real.raw_intro, real.raw_intro
        while not play.done:
            if rng.random() < INVALID_IN_PREFIX:
                play.step(near_miss(rng, play.admissible, game))
            else:
                play.step(random_admissible(rng, play.admissible))
    finally:
        real.close()
        native.close()


# ---- unit checks of the native engine (fast) ----------------------------------------------
def test_native_refuses_real_game_files() -> None:
    task = Task(env="alfworld", task_id="x", split="train", goal="g", spec={"game_file": "f"})
    with pytest.raises(ValueError, match="textworld engine"):
        NativeAlfworldEnv().reset(task)


def test_oracle_wins_on_native_engine() -> None:
    """The oracle's plan wins every game of a bigger sample on the native engine alone."""
    suite = AlfworldSuite(GeneratorConfig(train=200, valid_seen=50, valid_unseen=50))
    env = NativeAlfworldEnv()
    for split in SPLITS:
        for task in suite.tasks(split):
            env.reset(task)
            results = [env.step(command) for command in solve_task(task)]
            assert all(r.info.action_valid for r in results), task.task_id
            assert results[-1].info.won and results[-1].done, task.task_id
            assert not any(r.info.won for r in results[:-1]), task.task_id


# ---- the environment contract ------------------------------------------------------------
CONTRACT_SUITE = AlfworldSuite(GeneratorConfig(train=20, valid_seen=5, valid_unseen=5))


class TestNativeContract(EnvironmentContract):
    @pytest.fixture(params=SPLITS)
    def subject(self, request: pytest.FixtureRequest) -> ContractSubject:
        return ContractSubject(
            make_env=NativeAlfworldEnv, suite=CONTRACT_SUITE, split=request.param, solve=solve_task
        )


@pytest.mark.slow
class TestTextWorldContract(EnvironmentContract):
    """The real engine, on few tasks (about 0.3 s a reset, 25 ms a step)."""

    @pytest.fixture
    def subject(self) -> ContractSubject:
        return ContractSubject(
            make_env=TextWorldAlfworldEnv,
            suite=CONTRACT_SUITE,
            split="valid_seen",
            n_tasks=2,
            solve=solve_task,
        )


def test_engines_share_the_base_class() -> None:
    assert issubclass(NativeAlfworldEnv, AlfworldEnv)
    assert issubclass(TextWorldAlfworldEnv, AlfworldEnv)
