"""An ALFWorld game: its scene, its goal, the names the engine shows, and its files.

A `Game` holds everything both engines need: receptacles and objects with their ALFRED ids
(`Cabinet|+00.68|+00.50|-02.20`) and locations, the agent's start, and the goal. From it we
write the real benchmark's files (`initial_state.pddl`, `game.tw-pddl`) and derive the names
TextWorld's ALFWorld demangler prints (`cabinet 3`).

Naming facts (checked on the real engine): ids are mangled (`|`->`_bar_`, `-`->`_minus_`,
`+`->`_plus_`, `.`->`_dot_`) and lower-cased by the planner; a display name is the part before
the first `_bar_` (plus `basin` for sink/bathtub basins); instances of one name are numbered
over the sorted ids, the first id getting the highest number. Lists in observations follow the
sorted mangled ids too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cached_property
from pathlib import Path

from pydantic import Field

from agentdistill.environments.alfworld import facts
from agentdistill.files import write_text_atomic
from agentdistill.records import Record

Location = tuple[int, int, int, int]
"""ALFRED location: x/0.25, z/0.25, rotation/90, camera horizon."""

_MANGLE = (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_"))


def mangle(name: str) -> str:
    """ALFRED's PDDL-safe spelling of an id (PlannedGameState.fix_pddl_str_chars)."""
    for old, new in _MANGLE:
        name = name.replace(old, new)
    return name


def location_id(location: Location) -> str:
    return mangle("loc|" + "|".join(str(int(v)) for v in location))


class Receptacle(Record):
    """A static receptacle (countertop, cabinet, fridge, ...)."""

    id: str = Field(description="ALFRED object id, e.g. 'Cabinet|+00.68|+00.50|-02.20'.")
    type: str = Field(description="Receptacle type, e.g. 'Cabinet'.")
    location: Location
    opened: bool = Field(default=False, description="Initially open (openable types only).")

    @property
    def openable(self) -> bool:
        return self.type in facts.OPENABLE


class GameObject(Record):
    """An object in (or on) a receptacle."""

    id: str = Field(description="ALFRED object id, e.g. 'Apple|-00.48|+00.97|+00.41'.")
    type: str = Field(description="Object type, e.g. 'Apple'.")
    receptacle: str = Field(description="Id of the receptacle holding it.")
    pickupable: bool = True


class Game(Record):
    """A complete ALFWorld game."""

    name: str = Field(description="Unique name, used as folder name of the game files.")
    floorplan: int = Field(description="ALFRED floorplan (scene) number.")
    room: facts.RoomType
    task_type: facts.TaskType
    goal_object: str = Field(description="Object type of the goal, e.g. 'Apple'.")
    goal_receptacle: str | None = Field(default=None, description="Receptacle type of the goal.")
    goal_toggle: str | None = Field(default=None, description="Lamp type (look_at_obj_in_light).")
    template: int = Field(default=0, ge=0, le=1, description="Which goal sentence template.")
    agent_location: Location
    receptacles: list[Receptacle]
    objects: list[GameObject]

    # ---- derived views -------------------------------------------------------------------
    @property
    def goal(self) -> str:
        """The goal sentence, as the engine prints it after 'Your task is to: '."""
        template = facts.goal_templates(self.task_type)[self.template]
        return template.format(
            obj=self.goal_object.lower(),
            recep=(self.goal_receptacle or "").lower(),
            toggle=(self.goal_toggle or "").lower(),
        )

    @cached_property
    def names(self) -> dict[str, str]:
        """Display name of every receptacle and object id (e.g. 'cabinet 3')."""
        ids = [r.id for r in self.receptacles] + [o.id for o in self.objects]
        keys = {i: mangle(i).lower() for i in ids}
        # Locations also carry `_bar_` and are numbered as `loc N`; they never share a name
        # with an object, so they need not be counted here.
        ordered = sorted(keys.values())
        base = {}
        for key in ordered:
            name = key.split("_bar_", 1)[0]
            base[key] = name + "basin" if "basin" in key else name
        counts: dict[str, int] = defaultdict(int)
        for key in ordered:
            counts[base[key]] += 1
        numbers = {name: list(range(1, n + 1)) for name, n in counts.items()}
        shown = {key: f"{base[key]} {numbers[base[key]].pop()}" for key in ordered}
        return {i: shown[keys[i]] for i in ids}

    @cached_property
    def sort_key(self) -> dict[str, str]:
        """The key observation lists are sorted by (lower-cased mangled id)."""
        return {i: mangle(i).lower() for i in self.names}

    # ---- files ---------------------------------------------------------------------------
    def pddl_problem(self) -> str:
        """The PDDL problem, in the shape of ALFWorld's `initial_state.pddl`."""
        objects = ["agent1 - agent"]
        object_types = sorted({o.type for o in self.objects})
        receptacle_types = sorted({r.type for r in self.receptacles})
        objects += [f"{t}Type - otype" for t in object_types]
        objects += [f"{t}Type - rtype" for t in receptacle_types]
        # Types the goal names must be declared even when absent from the scene.
        for extra, kind in (
            (self.goal_object, "otype"),
            (self.goal_toggle, "otype"),
            (self.goal_receptacle, "rtype"),
        ):
            if extra and f"{extra}Type - {kind}" not in objects:
                objects.append(f"{extra}Type - {kind}")
        objects += [f"{mangle(o.id)} - object" for o in self.objects]
        objects += [f"{mangle(r.id)} - receptacle" for r in self.receptacles]
        locations = [location_id(r.location) for r in self.receptacles]
        locations.append(location_id(self.agent_location))
        objects += [f"{loc} - location" for loc in dict.fromkeys(locations)]

        where = {r.id: r for r in self.receptacles}
        init = [f"(receptacleType {mangle(r.id)} {r.type}Type)" for r in self.receptacles]
        init += [f"(objectType {mangle(o.id)} {o.type}Type)" for o in self.objects]
        for r in self.receptacles:
            allowed = facts.RECEPTACLE_OBJECTS.get(r.type, frozenset())
            init += [f"(canContain {r.type}Type {t}Type)" for t in object_types if t in allowed]
        for o in self.objects:
            oid = mangle(o.id)
            if o.pickupable:
                init.append(f"(pickupable {oid})")
            if o.type in facts.MOVABLE_RECEPTACLES:
                init.append(f"(isReceptacleObject {oid})")
        init += [f"(openable {mangle(r.id)})" for r in self.receptacles if r.openable]
        init.append(f"(atLocation agent1 {location_id(self.agent_location)})")
        init += [f"(opened {mangle(r.id)})" for r in self.receptacles if r.openable and r.opened]
        for o in self.objects:
            for predicate, members in (
                ("cleanable", facts.CLEANABLE),
                ("heatable", facts.HEATABLE),
                ("coolable", facts.COOLABLE),
                ("toggleable", facts.TOGGLEABLE),
                ("sliceable", facts.SLICEABLE),
            ):
                if o.type in members:
                    init.append(f"({predicate} {mangle(o.id)})")
        init += [f"(inReceptacle {mangle(o.id)} {mangle(o.receptacle)})" for o in self.objects]
        init += [
            f"(receptacleAtLocation {mangle(r.id)} {location_id(r.location)})"
            for r in self.receptacles
        ]
        init += [
            f"(objectAtLocation {mangle(o.id)} {location_id(where[o.receptacle].location)})"
            for o in self.objects
        ]
        goal = facts.goal_pddl(
            self.task_type, self.goal_object, self.goal_receptacle, self.goal_toggle
        )
        body = "\n        ".join
        return (
            f"\n(define (problem plan_{self.name})\n(:domain alfred)\n(:objects\n        "
            f"{body(objects)}\n        )\n\n(:init\n        {body(init)}\n        )\n{goal}"
        )

    def game_file(self) -> dict[str, object]:
        """The `game.tw-pddl` content the real engine loads."""
        return {
            "pddl_domain": facts.pddl_domain(),
            "grammar": facts.grammar().replace("UNKNOWN GOAL", self.goal),
            "pddl_problem": self.pddl_problem(),
            "solvable": True,
            "walkthrough": None,
        }

    def write(self, directory: str | Path) -> Path:
        """Write `game.tw-pddl`, `initial_state.pddl` and `game.json` under `directory/name`."""
        folder = Path(directory) / self.name
        write_text_atomic(folder / "initial_state.pddl", self.pddl_problem())
        write_text_atomic(folder / "game.json", self.model_dump_json(indent=1))
        return write_text_atomic(folder / "game.tw-pddl", json.dumps(self.game_file()))
