"""Generate ALFWorld games offline, deterministically from a seed.

A game is drawn as ALFRED draws its scenes: a task type (weighted like ALFWorld's train
split), a room type where that task occurs, a floorplan of that room type (valid_unseen uses
only ALFRED's unseen floorplans, train and valid_seen never do), the floorplan's real
receptacles and agent poses (`alfworld/gen/layouts`), objects of the floorplan's types placed
in receptacles that may hold them, and a goal sentence from the benchmark's templates.

Every emitted game is solvable by construction (the goal object exists, is pickupable and sits
in an openable-or-open receptacle; the target receptacle exists and may hold it; the needed
appliance or lamp is there), not already solved at the start, and won within the 50-step cap
by the scripted expert, which knows only what an agent knows (a draw it cannot win is
redrawn, as ALFWorld keeps only games its expert solves). A game keeps its floorplan's
full receptacle set, as ALFWorld's games do (`receptacle_distribution` in env.py measures it);
`max_receptacles` optionally caps it (the task's receptacles, then a random subset of the
rest), for curricula or smoke runs with smaller rooms.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pydantic import Field

from agentdistill.config import Config
from agentdistill.environments.alfworld import facts
from agentdistill.environments.alfworld.game import Game, GameObject, Location, Receptacle

SPLITS: tuple[str, ...] = ("train", "valid_seen", "valid_unseen")
# Task mix of ALFWorld's train split (games per task type).
TASK_WEIGHTS: dict[str, int] = {
    "pick_and_place_simple": 790,
    "look_at_obj_in_light": 308,
    "pick_clean_then_place_in_recep": 650,
    "pick_heat_then_place_in_recep": 459,
    "pick_cool_then_place_in_recep": 533,
    "pick_two_obj_and_place": 813,
}
LAMP_RECEPTACLES = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable")


class GeneratorConfig(Config):
    """How many games each split has and how big they are."""

    seed: int = Field(default=0, description="Master seed; same seed, same games.")
    train: int = Field(default=3553, ge=0, description="Games in the train split.")
    valid_seen: int = Field(default=140, ge=0, description="Games in valid_seen (seen rooms).")
    valid_unseen: int = Field(
        default=134, ge=0, description="Games in valid_unseen (unseen rooms)."
    )
    max_receptacles: int | None = Field(
        default=None,
        ge=4,
        description="Cap on the receptacles kept per game; None keeps the floorplan's full set "
        "(as ALFWorld does).",
    )
    distractor_types: tuple[int, int] = Field(
        default=(4, 9), description="Range of distractor object types per game."
    )

    def count(self, split: str) -> int:
        if split not in SPLITS:
            raise ValueError(f"unknown ALFWorld split {split!r}; expected one of {SPLITS}")
        return int(getattr(self, split))


def _floorplans(room: str, split: str) -> list[int]:
    plans = facts.ROOM_FLOORPLANS[room]
    if split == "valid_unseen":
        return [p for p in plans if p in facts.UNSEEN_FLOORPLANS]
    return [p for p in plans if p not in facts.UNSEEN_FLOORPLANS]


def _location(pose: tuple[float, float, int, int]) -> Location:
    x, z, rotation, horizon = pose
    return (round(x / 0.25), round(z / 0.25), round(rotation / 90) % 4, int(horizon))


def _coordinate(rng: random.Random, centre: float) -> str:
    return f"{centre + rng.uniform(-0.4, 0.4):+06.2f}"


def _object_id(rng: random.Random, kind: str, near: str, taken: set[str]) -> str:
    parts = near.split("|")
    centre = [float(p) if p[:1] in "+-" else 0.0 for p in parts[1:4]]
    while True:
        candidate = "|".join([kind, *(_coordinate(rng, c) for c in centre)])
        if candidate not in taken:
            taken.add(candidate)
            return candidate


class _Draw:
    """One attempt at a game; `None` from `make` means retry with the next attempt."""

    def __init__(self, rng: random.Random, split: str, config: GeneratorConfig) -> None:
        self.rng = rng
        self.split = split
        self.config = config

    def make(self, name: str, task: str) -> Game | None:
        rng = self.rng
        rooms = sorted(facts.TASK_ROOMS[task])
        room = rng.choice(rooms)
        floorplan = rng.choice(_floorplans(room, self.split))
        poses = facts.floorplan_receptacles(floorplan)
        present = set(facts.floorplan_object_types(floorplan))
        all_receptacles = sorted(poses)
        by_type: dict[str, list[str]] = {}
        for rid in all_receptacles:
            by_type.setdefault(facts.receptacle_type(rid), []).append(rid)

        # -- goal ---------------------------------------------------------------------------
        candidates = sorted(t for t in present if t in facts.PICKUPABLE)
        if task in facts.TASK_CAPABILITY:
            candidates = [t for t in candidates if t in facts.TASK_CAPABILITY[task]]
            if facts.TASK_APPLIANCE[task] not in by_type:
                return None
        lamp = None
        if task == "look_at_obj_in_light":
            lamps = sorted(t for t in present if t in facts.TOGGLEABLE)
            if not lamps:
                return None
            lamp = rng.choice(lamps)
        if not candidates:
            return None
        goal_object = rng.choice(candidates)
        holders = sorted(
            t for t in by_type if goal_object in facts.RECEPTACLE_OBJECTS.get(t, frozenset())
        )
        goal_receptacle = None
        if task != "look_at_obj_in_light":
            targets = [t for t in holders if t != facts.TASK_APPLIANCE.get(task)]
            if not targets:
                return None
            goal_receptacle = rng.choice(targets)
        sources = [t for t in holders if t != goal_receptacle]
        if not sources:
            return None

        # -- receptacles: the ones the task needs, then all (or a random subset) of the rest ---
        keep: list[str] = []

        def need(kind: str) -> None:
            options = [r for r in by_type.get(kind, []) if r not in keep]
            if options:
                keep.append(rng.choice(options))

        if goal_receptacle:
            need(goal_receptacle)
        if task in facts.TASK_APPLIANCE:
            need(facts.TASK_APPLIANCE[task])
        source_type = rng.choice(sources)
        need(source_type)
        lamp_holder = None
        if lamp:
            lamp_types = [t for t in LAMP_RECEPTACLES if t in by_type]
            if not lamp_types:
                return None
            lamp_type = rng.choice(lamp_types)
            need(lamp_type)
            lamp_holder = next(r for r in reversed(keep) if facts.receptacle_type(r) == lamp_type)
        rest = [r for r in all_receptacles if r not in keep]
        cap = self.config.max_receptacles
        if cap is None:
            keep += rest
        else:
            # The draws of the capped rooms are unchanged, so a cap of 12 gives the old games.
            rng.shuffle(rest)
            size = rng.randint(max(len(keep), 5), cap)
            keep += rest[: max(0, size - len(keep))]
        receptacles = [
            Receptacle(id=rid, type=facts.receptacle_type(rid), location=_location(poses[rid]))
            for rid in sorted(keep)
        ]
        kept_types = {r.type for r in receptacles}

        # -- objects -----------------------------------------------------------------------
        taken: set[str] = set()
        objects: list[GameObject] = []

        def place(kind: str, allowed: list[Receptacle]) -> None:
            holder = rng.choice(allowed)
            objects.append(
                GameObject(
                    id=_object_id(rng, kind, holder.id, taken), type=kind, receptacle=holder.id
                )
            )

        goal_sources = [
            r
            for r in receptacles
            if r.type != goal_receptacle
            and goal_object in facts.RECEPTACLE_OBJECTS.get(r.type, ())
            and r.type not in facts.TASK_APPLIANCE.values()
        ] or [
            r
            for r in receptacles
            if r.type != goal_receptacle and goal_object in facts.RECEPTACLE_OBJECTS.get(r.type, ())
        ]
        if not goal_sources:
            return None
        n_goal = rng.randint(2, 3) if task == "pick_two_obj_and_place" else rng.randint(1, 2)
        for _ in range(n_goal):
            place(goal_object, goal_sources)
        if lamp and lamp_holder:
            holder = next(r for r in receptacles if r.id == lamp_holder)
            objects.append(
                GameObject(
                    id=_object_id(rng, lamp, holder.id, taken),
                    type=lamp,
                    receptacle=holder.id,
                    pickupable=False,
                )
            )
        distractors = sorted(
            t
            for t in present
            if t in facts.PICKUPABLE
            and t != goal_object
            and any(t in facts.RECEPTACLE_OBJECTS.get(k, ()) for k in kept_types)
        )
        low, high = self.config.distractor_types
        rng.shuffle(distractors)
        for kind in distractors[: rng.randint(low, high)]:
            allowed = [r for r in receptacles if kind in facts.RECEPTACLE_OBJECTS.get(r.type, ())]
            for _ in range(rng.choice((1, 1, 2))):
                place(kind, allowed)

        # -- agent start: a reachable pose where no receptacle is ----------------------------
        taken_locations = {r.location for r in receptacles}
        while True:
            start: Location = (rng.randint(-12, 12), rng.randint(-12, 12), rng.randint(0, 3), 30)
            if start not in taken_locations:
                break
        return Game(
            name=name,
            floorplan=floorplan,
            room=room,  # type: ignore[arg-type]
            task_type=task,  # type: ignore[arg-type]
            goal_object=goal_object,
            goal_receptacle=goal_receptacle,
            goal_toggle=lamp,
            template=rng.randint(0, 1),
            agent_location=start,
            receptacles=receptacles,
            objects=sorted(objects, key=lambda o: o.id),
        )


def generate_game(config: GeneratorConfig, split: str, index: int) -> Game:
    """Game `index` of `split`: a pure function of (seed, split, index)."""
    config.count(split)  # validates the split name
    # The task type is drawn once, so that retries do not skew the task distribution.
    task = random.Random(f"alfworld:{config.seed}:{split}:{index}:task").choices(
        list(TASK_WEIGHTS), weights=list(TASK_WEIGHTS.values())
    )[0]
    # Imported here: the expert plays on the native engine, which imports this module.
    from agentdistill.environments.alfworld.expert import expert_wins

    for attempt in range(1000):
        rng = random.Random(f"alfworld:{config.seed}:{split}:{index}:{attempt}")
        game = _Draw(rng, split, config).make(f"{split}-{index:05d}", task)
        # Full-size rooms can hide the object so deep (dozens of closed cabinets and drawers)
        # that no agent without privileged knowledge finds it within the step cap: like
        # ALFWorld's `solvable` flag, a draw counts only when the fair expert wins it.
        if game is not None and expert_wins(game):
            return game
    raise RuntimeError(f"could not draw a solvable game for {split} #{index}")


def generate_split(config: GeneratorConfig, split: str) -> Iterator[Game]:
    """All games of a split, in order."""
    for index in range(config.count(split)):
        yield generate_game(config, split, index)
