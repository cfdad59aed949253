"""Facts about ALFWorld taken from the `alfworld` package: vocabulary, compatibility, layouts.

Everything here is read from the installed package (`alfworld/gen/constants.py`,
`alfworld/gen/goal_library.py`, `alfworld/gen/layouts/`, `alfworld/data/`), so the generated
games use exactly the benchmark's object/receptacle tables, goal PDDL and goal templates.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from alfworld.gen import constants as _constants
from alfworld.gen import goal_library as _goal_library

TaskType = Literal[
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
]
TASK_TYPES: tuple[TaskType, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
RoomType = Literal["Kitchen", "LivingRoom", "Bedroom", "Bathroom"]
ROOM_TYPES: tuple[RoomType, ...] = ("Kitchen", "LivingRoom", "Bedroom", "Bathroom")

# receptacle type -> object types it may hold (ALFRED's VAL_RECEPTACLE_OBJECTS)
RECEPTACLE_OBJECTS: dict[str, frozenset[str]] = {
    k: frozenset(v) for k, v in _constants.VAL_RECEPTACLE_OBJECTS.items()
}
# Movable receptacles (bowl, mug, ...) are objects in ALFWorld's text games.
MOVABLE_RECEPTACLES: frozenset[str] = frozenset(_constants.MOVABLE_RECEPTACLES)
STATIC_RECEPTACLES: frozenset[str] = frozenset(RECEPTACLE_OBJECTS) - MOVABLE_RECEPTACLES
OPENABLE: frozenset[str] = frozenset(_constants.OPENABLE_CLASS_LIST)
HEATABLE: frozenset[str] = frozenset(_constants.VAL_ACTION_OBJECTS["Heatable"])
COOLABLE: frozenset[str] = frozenset(_constants.VAL_ACTION_OBJECTS["Coolable"])
CLEANABLE: frozenset[str] = frozenset(_constants.VAL_ACTION_OBJECTS["Cleanable"])
TOGGLEABLE: frozenset[str] = frozenset(_constants.VAL_ACTION_OBJECTS["Toggleable"])
SLICEABLE: frozenset[str] = frozenset(_constants.VAL_ACTION_OBJECTS["Sliceable"])
SHARP: frozenset[str] = frozenset({"Knife", "ButterKnife"})
# An object type is pickupable when some receptacle may hold it (ALFRED's rule of thumb);
# sliced variants only exist after slicing.
PICKUPABLE: frozenset[str] = frozenset(
    t for types in RECEPTACLE_OBJECTS.values() for t in types if not t.endswith("Sliced")
)
# Task type -> room types it occurs in (ALFRED's GOALS_VALID).
TASK_ROOMS: dict[str, frozenset[str]] = {
    t: frozenset(_constants.GOALS_VALID[t]) for t in TASK_TYPES
}
ROOM_FLOORPLANS: dict[str, tuple[int, ...]] = {
    room: tuple(_constants.SCENE_TYPE[room]) for room in ROOM_TYPES
}
# ALFRED's valid_unseen scenes: one floorplan per room type that train never uses.
UNSEEN_FLOORPLANS: frozenset[int] = frozenset({10, 219, 308, 424})
# Appliance a task type needs, and the goal-state predicate it sets.
TASK_APPLIANCE: dict[str, str] = {
    "pick_clean_then_place_in_recep": "SinkBasin",
    "pick_heat_then_place_in_recep": "Microwave",
    "pick_cool_then_place_in_recep": "Fridge",
}
TASK_CAPABILITY: dict[str, frozenset[str]] = {
    "pick_clean_then_place_in_recep": CLEANABLE,
    "pick_heat_then_place_in_recep": HEATABLE,
    "pick_cool_then_place_in_recep": COOLABLE,
}


def goal_templates(task_type: str) -> list[str]:
    """The benchmark's goal sentences for a task type (`{obj}`, `{recep}`, `{toggle}`)."""
    return list(_goal_library.gdict[task_type]["templates"])


def goal_pddl(task_type: str, obj: str, recep: str | None, toggle: str | None) -> str:
    """The PDDL goal of a task type, filled in (`#` in the library stands for `-`)."""
    text = _goal_library.gdict[task_type]["pddl"].replace("#", "-")
    return text.format(obj=obj, recep=recep or "", toggle=toggle or "")


def package_file(*parts: str) -> Path:
    return Path(str(resources.files("alfworld").joinpath(*parts)))


@cache
def pddl_domain() -> str:
    return package_file("data", "alfred.pddl").read_text(encoding="utf-8")


@cache
def grammar() -> str:
    return package_file("data", "alfred.twl2").read_text(encoding="utf-8")


@cache
def floorplan_receptacles(floorplan: int) -> dict[str, tuple[float, float, int, int]]:
    """Receptacle object ids of a floorplan with the agent pose used to interact with them."""
    path = package_file("gen", "layouts", f"FloorPlan{floorplan}-openable.json")
    return {k: tuple(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


@cache
def floorplan_object_types(floorplan: int) -> tuple[str, ...]:
    """Object types present in a floorplan."""
    path = package_file("gen", "layouts", f"FloorPlan{floorplan}-objects.json")
    return tuple(json.loads(path.read_text(encoding="utf-8")))


def receptacle_type(object_id: str) -> str:
    """`Cabinet|+00.68|...` -> Cabinet; `Sink|...|SinkBasin` -> SinkBasin."""
    parts = object_id.split("|")
    return parts[-1] if len(parts) > 4 else parts[0]
