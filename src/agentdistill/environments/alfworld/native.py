"""A pure-Python ALFWorld engine: the real engine's text and rules, without PDDL or a planner.

`NativeAlfworldEnv` plays generated games (`Game`s) exactly as TextWorld's PDDL backend with
ALFWorld's domain, grammar and demangler does (`TextWorldAlfworldEnv`): byte-identical
observations (the welcome banner and task line included), the same admissible commands in the
same (sorted) order and the same won flags, for any action sequence. It is about a thousand
times faster, because it keeps the state in plain lists and precomputes every per-game table
(names, locations, capabilities, static commands) once per game.

How the real engine works, and what this copies (see also `docs/alfworld_engine_facts.md`):

* Admissible commands are the grounded PDDL actions applicable in the planner's state,
  formatted with the grammar's templates, `sorted(set(...))`. Two quirks follow from the
  domain: `examine <object>` only works for the held object (the domain's other branch is
  dead), and `go to R` is not offered for a receptacle at the agent's own location (the
  translator drops the no-op move).
* Observations are produced by the grammar from a *separate* Python-side copy of the facts,
  into which every effect of an applied action is written, negative ones as `not_<pred>`
  facts. The only negative facts the grammar reads are `not_inreceptacle(o, r)`: a `take`
  adds one and a later `move` of the object to that same receptacle removes it. `look` lists
  objects "next to it" from them (an object placed in one receptacle of a location shows up
  once for every other receptacle there it was once taken from).
* Grammar lists iterate facts sorted by their lower-cased mangled ids, so every list here is
  kept in that order (`Game.sort_key`), and numbers come from `Game.names`.
"""

from __future__ import annotations

import bisect
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agentdistill.environments.alfworld import facts
from agentdistill.environments.alfworld.env import WELCOME, AlfworldEnv, task_game
from agentdistill.environments.alfworld.game import Game, Location
from agentdistill.records import Task

INVALID = "Nothing happens."
# The help text as the engine prints it: the grammar's rhs starts with "\n", but the grammar
# parser drops the leading newline; the trailing one stays, and so does the misaligned
# `move` line.
HELP = (
    "Available commands:\n"
    "  look:                             look around your current location\n"
    "  inventory:                        check your current inventory\n"
    "  go to (receptacle):               move to a receptacle\n"
    "  open (receptacle):                open a receptacle\n"
    "  close (receptacle):               close a receptacle\n"
    "  take (object) from (receptacle):  take an object from a receptacle\n"
    "  move (object) to (receptacle):  place an object in or on a receptacle\n"
    "  examine (something):              examine a receptacle or an object\n"
    "  use (object):                     use an object\n"
    "  heat (object) with (receptacle):  heat an object using a receptacle\n"
    "  clean (object) with (receptacle): clean an object using a receptacle\n"
    "  cool (object) with (receptacle):  cool an object using a receptacle\n"
    "  slice (object) with (object):     slice an object using a sharp object\n"
)

# Action kinds (the PDDL actions of the package domain that can ever fire).
LOOK, INVENTORY, HELP_, GOTO, EXAMINE_R, EXAMINE_O, OPEN, CLOSE = range(8)
TAKE, MOVE, HEAT, COOL, CLEAN, USE, SLICE = range(8, 15)
Action = tuple[int, int, int]
"""(kind, first argument index, second argument index); unused arguments are -1."""

# Appliance receptacle type of heat / cool / clean (the domain's `receptacleType` constants).
_APPLIANCE_KIND = {"Microwave": HEAT, "Fridge": COOL, "SinkBasin": CLEAN}
_APPLIANCE_VERB = {HEAT: "heat", COOL: "cool", CLEAN: "clean"}


def _join(items: list[str]) -> str:
    """A grammar list: `nothing`, `x`, `x, and y`, `x, y, and z` (comma even with two)."""
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


@dataclass(frozen=True)
class Snapshot:
    """A read-only view of an episode's state, by ALFRED ids (for tests and oracles)."""

    agent_location: Location
    held: str | None
    where: dict[str, str | None]
    """Object id -> id of the receptacle it is in (None while held)."""
    opened: frozenset[str]
    hot: frozenset[str]
    cool: frozenset[str]
    clean: frozenset[str]
    sliced: frozenset[str]
    toggled: frozenset[str]


@dataclass
class _Tables:
    """Everything about a game that never changes during an episode; built once per game.

    Receptacles and objects are indexed in sorted-id order, so any list built by ascending
    index is already in the order the engine prints it.
    """

    game: Game
    rec_ids: list[str]
    rec_names: list[str]
    rec_types: list[str]
    rec_loc: list[int]
    rec_openable: list[bool]
    rec_opened0: list[bool]
    rec_appliance: list[int]
    """HEAT / COOL / CLEAN for microwaves, fridges, sink basins; -1 otherwise."""
    obj_ids: list[str]
    obj_names: list[str]
    obj_a_names: list[str]
    """'a <name>', as lists print an object."""
    obj_types: list[str]
    obj_rec0: list[int]
    obj_pickupable: list[bool]
    obj_heatable: list[bool]
    obj_coolable: list[bool]
    obj_cleanable: list[bool]
    obj_toggleable: list[bool]
    obj_sliceable: list[bool]
    obj_sharp: list[bool]
    obj_receptacle_object: list[bool]
    holds_type: list[frozenset[int]]
    """Receptacle index -> object indices whose type the receptacle may contain."""
    locations: list[Location]
    loc_recs: list[list[int]]
    """Location index -> receptacles there (ascending)."""
    start: int
    static: list[dict[str, Action]]
    """Location index -> commands whose availability depends on the location only."""
    goal_objects: list[int] = field(default_factory=list)
    goal_receptacles: frozenset[int] = frozenset()
    lamps: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, game: Game) -> _Tables:
        names, keys = game.names, game.sort_key
        recs = sorted(game.receptacles, key=lambda r: keys[r.id])
        objs = sorted(game.objects, key=lambda o: keys[o.id])
        rec_index = {r.id: i for i, r in enumerate(recs)}
        locations: list[Location] = []
        loc_index: dict[Location, int] = {}
        for location in [game.agent_location, *(r.location for r in recs)]:
            if location not in loc_index:
                loc_index[location] = len(locations)
                locations.append(location)
        rec_loc = [loc_index[r.location] for r in recs]
        loc_recs: list[list[int]] = [[] for _ in locations]
        for i, loc in enumerate(rec_loc):
            loc_recs[loc].append(i)
        obj_types = [o.type for o in objs]
        tables = cls(
            game=game,
            rec_ids=[r.id for r in recs],
            rec_names=[names[r.id] for r in recs],
            rec_types=[r.type for r in recs],
            rec_loc=rec_loc,
            rec_openable=[r.openable for r in recs],
            rec_opened0=[r.openable and r.opened for r in recs],
            rec_appliance=[_APPLIANCE_KIND.get(r.type, -1) for r in recs],
            obj_ids=[o.id for o in objs],
            obj_names=[names[o.id] for o in objs],
            obj_a_names=["a " + names[o.id] for o in objs],
            obj_types=obj_types,
            obj_rec0=[rec_index[o.receptacle] for o in objs],
            obj_pickupable=[o.pickupable for o in objs],
            obj_heatable=[t in facts.HEATABLE for t in obj_types],
            obj_coolable=[t in facts.COOLABLE for t in obj_types],
            obj_cleanable=[t in facts.CLEANABLE for t in obj_types],
            obj_toggleable=[t in facts.TOGGLEABLE for t in obj_types],
            obj_sliceable=[t in facts.SLICEABLE for t in obj_types],
            obj_sharp=[t in facts.SHARP for t in obj_types],
            obj_receptacle_object=[t in facts.MOVABLE_RECEPTACLES for t in obj_types],
            holds_type=[
                frozenset(
                    i
                    for i, t in enumerate(obj_types)
                    if t in facts.RECEPTACLE_OBJECTS.get(r.type, frozenset())
                )
                for r in recs
            ],
            locations=locations,
            loc_recs=loc_recs,
            start=loc_index[game.agent_location],
            static=[],
        )
        tables.static = [tables._static_commands(loc) for loc in range(len(locations))]
        tables.goal_objects = [i for i, t in enumerate(obj_types) if t == game.goal_object]
        tables.goal_receptacles = frozenset(
            i for i, r in enumerate(recs) if r.type == game.goal_receptacle
        )
        tables.lamps = [
            i for i, t in enumerate(obj_types) if t == game.goal_toggle and t in facts.TOGGLEABLE
        ]
        return tables

    def _static_commands(self, loc: int) -> dict[str, Action]:
        """look/inventory/help, `go to` every receptacle elsewhere, `examine` those here."""
        commands: dict[str, Action] = {
            "look": (LOOK, -1, -1),
            "inventory": (INVENTORY, -1, -1),
            "help": (HELP_, -1, -1),
        }
        for r, name in enumerate(self.rec_names):
            if self.rec_loc[r] != loc:
                commands["go to " + name] = (GOTO, r, -1)
            else:
                commands["examine " + name] = (EXAMINE_R, r, -1)
        return commands


class _Episode:
    """The mutable state of one episode and the rules that read and change it."""

    def __init__(self, tables: _Tables) -> None:
        t = self.t = tables
        n_objects = len(t.obj_ids)
        self.loc = t.start
        self.held = -1
        self.inrec = list(t.obj_rec0)
        self.contents: list[list[int]] = [[] for _ in t.rec_ids]
        for o, r in enumerate(self.inrec):
            self.contents[r].append(o)  # ascending, since objects are visited in order
        self.opened = list(t.rec_opened0)
        self.hot = [False] * n_objects
        self.cool = [False] * n_objects
        self.clean = [False] * n_objects
        self.sliced = [False] * n_objects
        self.toggled = [False] * n_objects
        # (object, receptacle) pairs of the Python-side `not_inreceptacle` facts.
        self.not_in: set[tuple[int, int]] = set()
        self.commands = self._admissible()
        self._handlers: dict[int, Callable[[int, int], str]] = {
            LOOK: self._look,
            INVENTORY: self._inventory,
            HELP_: lambda _a, _b: HELP,
            GOTO: self._goto,
            EXAMINE_R: lambda r, _b: self._describe(r),
            EXAMINE_O: self._examine_object,
            OPEN: self._open,
            CLOSE: self._close,
            TAKE: self._take,
            MOVE: self._move,
            HEAT: self._heat,
            COOL: self._cool,
            CLEAN: self._clean,
            USE: self._use,
            SLICE: self._slice,
        }

    # ---- admissible commands -------------------------------------------------------------
    def _admissible(self) -> dict[str, Action]:
        """Every applicable action, by command text (the PDDL preconditions, hand-grounded)."""
        t, held = self.t, self.held
        commands = dict(t.static[self.loc])
        for r in t.loc_recs[self.loc]:
            name = t.rec_names[r]
            accessible = True
            if t.rec_openable[r]:
                accessible = self.opened[r]
                if accessible:
                    commands["close " + name] = (CLOSE, r, -1)
                else:
                    commands["open " + name] = (OPEN, r, -1)
            for o in self.contents[r]:
                # `use` needs the lamp in a receptacle here, open or not.
                if t.obj_toggleable[o]:
                    commands["use " + t.obj_names[o]] = (USE, o, r)
                if held < 0 and accessible and t.obj_pickupable[o]:
                    commands[f"take {t.obj_names[o]} from {name}"] = (TAKE, o, r)
            if held >= 0:
                if accessible and held in t.holds_type[r]:
                    commands[f"move {t.obj_names[held]} to {name}"] = (MOVE, held, r)
                kind = t.rec_appliance[r]
                # heat/cool/clean need the held object's capability but not an open
                # appliance; the object stays in hand.
                if kind >= 0 and self._treatable(kind, held):
                    verb = _APPLIANCE_VERB[kind]
                    commands[f"{verb} {t.obj_names[held]} with {name}"] = (kind, held, r)
        if held >= 0:
            commands["examine " + t.obj_names[held]] = (EXAMINE_O, held, -1)
            if t.obj_sharp[held]:
                # Slicing needs the object at this location only: inside closed receptacles
                # too, never the held one.
                knife = t.obj_names[held]
                for r in t.loc_recs[self.loc]:
                    for o in self.contents[r]:
                        if t.obj_sliceable[o]:
                            commands[f"slice {t.obj_names[o]} with {knife}"] = (SLICE, o, held)
        return commands

    def _treatable(self, kind: int, o: int) -> bool:
        t = self.t
        if kind == HEAT:
            return t.obj_heatable[o]
        if kind == COOL:
            return t.obj_coolable[o]
        return t.obj_cleanable[o]

    def admissible(self) -> list[str]:
        return sorted(self.commands)

    # ---- one step ------------------------------------------------------------------------
    def step(self, command: str) -> str:
        action = self.commands.get(command)
        if action is None:
            return INVALID
        kind, a, b = action
        observation = self._handlers[kind](a, b)
        self.commands = self._admissible()
        return observation

    # ---- texts -----------------------------------------------------------------------------
    def _describe(self, r: int) -> str:
        """examineReceptacle.feedback."""
        t = self.t
        name = t.rec_names[r]
        if t.rec_openable[r]:
            if not self.opened[r]:
                return f"The {name} is closed."
            return f"The {name} is open. In it, you see {self._contents_text(r)}."
        return f"On the {name}, you see {self._contents_text(r)}."

    def _contents_text(self, r: int) -> str:
        names = self.t.obj_a_names
        return _join([names[o] for o in self.contents[r]])

    def look_text(self) -> str:
        """look.feedback (with the `look` action's binding of the agent's location)."""
        t = self.t
        here = t.loc_recs[self.loc]
        if not here:
            return "You are in the middle of a room. Looking quickly around you, you see nothing."
        facing = _join([t.rec_names[r] for r in here])
        return f"You are facing the {facing}. Next to it, you see {self._floor_text()}."

    def _floor_text(self) -> str:
        """list_objects_on_the_floor: one entry per (o, r) with o at this location, r here,
        and a `not_inreceptacle(o, r)` fact; ordered by o, then r."""
        if not self.not_in:
            return "nothing"
        t = self.t
        here = t.loc_recs[self.loc]
        entries = []
        for o, r_o in enumerate(self.inrec):
            if r_o < 0 or t.rec_loc[r_o] != self.loc:
                continue
            entries += [t.obj_a_names[o] for r in here if (o, r) in self.not_in]
        return _join(entries)

    def intro(self) -> str:
        """The reset text: banner, look.feedback without any binding, the task line."""
        t = self.t
        if t.loc_recs[self.loc]:
            middle = self.look_text()
        else:
            rooms = _join(["a " + name for name in t.rec_names])
            middle = (
                f"You are in the middle of a room. Looking quickly around you, you see {rooms}."
            )
        return f"{WELCOME}{middle}\n\nYour task is to: {t.game.goal}."

    # ---- action effects and feedback --------------------------------------------------------
    def _look(self, _a: int, _b: int) -> str:
        return self.look_text()

    def _inventory(self, _a: int, _b: int) -> str:
        if self.held < 0:
            return "You are not carrying anything."
        return f"You are carrying: {self.t.obj_a_names[self.held]}."

    def _goto(self, r: int, _b: int) -> str:
        self.loc = self.t.rec_loc[r]
        return f"You arrive at {self.t.rec_names[r]}. {self._describe(r)}"

    def _open(self, r: int, _b: int) -> str:
        self.opened[r] = True
        return f"You open the {self.t.rec_names[r]}. {self._describe(r)}"

    def _close(self, r: int, _b: int) -> str:
        self.opened[r] = False
        return f"You close the {self.t.rec_names[r]}."

    def _take(self, o: int, r: int) -> str:
        self.contents[r].remove(o)
        self.inrec[o] = -1
        self.held = o
        self.not_in.add((o, r))
        return f"You pick up the {self.t.obj_names[o]} from the {self.t.rec_names[r]}."

    def _move(self, o: int, r: int) -> str:
        bisect.insort(self.contents[r], o)
        self.inrec[o] = r
        self.held = -1
        self.not_in.discard((o, r))
        return f"You move the {self.t.obj_names[o]} to the {self.t.rec_names[r]}."

    def _heat(self, o: int, r: int) -> str:
        self.hot[o], self.cool[o] = True, False
        return f"You heat the {self.t.obj_names[o]} using the {self.t.rec_names[r]}."

    def _cool(self, o: int, r: int) -> str:
        self.cool[o], self.hot[o] = True, False
        return f"You cool the {self.t.obj_names[o]} using the {self.t.rec_names[r]}."

    def _clean(self, o: int, r: int) -> str:
        self.clean[o] = True
        return f"You clean the {self.t.obj_names[o]} using the {self.t.rec_names[r]}."

    def _use(self, o: int, _r: int) -> str:
        # `isOn` flips but is never shown; `isToggled` stays true, so the text says "on".
        self.toggled[o] = True
        return f"You turn on the {self.t.obj_names[o]}."

    def _slice(self, o: int, knife: int) -> str:
        self.sliced[o] = True
        return f"You sliced the {self.t.obj_names[o]} with the {self.t.obj_names[knife]}."

    def _examine_object(self, o: int, _b: int) -> str:
        """examineObject.feedback: the grammar's first matching rule."""
        t = self.t
        name = t.obj_names[o]
        if t.obj_receptacle_object[o]:
            # `inReceptacleObject` never holds in this domain: always empty.
            return f"This is a normal {name}. In it, you see nothing."
        clean, hot, cool, sliced = self.clean[o], self.hot[o], self.cool[o], self.sliced[o]
        if sliced:
            if clean and hot:
                return f"This is a hot and clean sliced {name}."
            if clean and cool:
                return f"This is a cool and clean sliced {name}."
            if clean:
                return f"This is a clean sliced {name}."
            if hot:
                return f"This is a hot sliced {name}."
            if cool:
                return f"This is a cool sliced {name}."
        if clean and hot:
            return f"This is a hot and clean {name}."
        if clean and cool:
            return f"This is a cool and clean {name}."
        if hot:
            return f"This is a hot {name}."
        if clean:
            return f"This is a clean {name}."
        if cool:
            return f"This is a cold {name}."
        if t.obj_toggleable[o] and self.toggled[o]:
            return f"This {name} is on."
        # `toggleable & not_istoggled` never fires: no action deletes `isToggled`.
        if sliced and t.obj_sliceable[o]:
            return f"This is a sliced {name}."
        return f"There's nothing special about {name}."

    # ---- goal ------------------------------------------------------------------------------
    def won(self) -> bool:
        """The task type's PDDL goal (alfworld/gen/goal_library.py) in the current state."""
        t = self.t
        task = t.game.task_type
        goal_recs, inrec = t.goal_receptacles, self.inrec
        if task == "look_at_obj_in_light":
            if self.held < 0 or t.obj_types[self.held] != t.game.goal_object:
                return False
            return any(
                self.toggled[lamp] and inrec[lamp] >= 0 and t.rec_loc[inrec[lamp]] == self.loc
                for lamp in t.lamps
            )
        if task == "pick_two_obj_and_place":
            placed = [inrec[o] for o in t.goal_objects if inrec[o] in goal_recs]
            return len(placed) > len(set(placed))
        state = {
            "pick_and_place_simple": None,
            "pick_clean_then_place_in_recep": (t.obj_cleanable, self.clean),
            "pick_heat_then_place_in_recep": (t.obj_heatable, self.hot),
            "pick_cool_then_place_in_recep": (t.obj_coolable, self.cool),
        }[task]
        for o in t.goal_objects:
            if inrec[o] in goal_recs and (state is None or (state[0][o] and state[1][o])):
                return True
        return False

    def snapshot(self) -> Snapshot:
        t = self.t

        def ids(flags: list[bool]) -> frozenset[str]:
            return frozenset(t.obj_ids[i] for i, flag in enumerate(flags) if flag)

        return Snapshot(
            agent_location=t.locations[self.loc],
            held=t.obj_ids[self.held] if self.held >= 0 else None,
            where={
                t.obj_ids[o]: (t.rec_ids[r] if r >= 0 else None) for o, r in enumerate(self.inrec)
            },
            opened=frozenset(t.rec_ids[r] for r, is_open in enumerate(self.opened) if is_open),
            hot=ids(self.hot),
            cool=ids(self.cool),
            clean=ids(self.clean),
            sliced=ids(self.sliced),
            toggled=ids(self.toggled),
        )


class NativeAlfworldEnv(AlfworldEnv):
    """ALFWorld on the pure-Python engine; generated games only (real files need TextWorld)."""

    cache_size = 256
    """Games whose tables are kept (about 40 KB each; rebuilding one takes about 0.4 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self._tables: OrderedDict[str, _Tables] = OrderedDict()
        self._episode: _Episode | None = None

    def _game_tables(self, task: Task) -> _Tables:
        if "generator" not in task.spec:
            raise ValueError(
                f"task {task.task_id}: the native ALFWorld engine plays generated games only; "
                "use the textworld engine for real game files (spec 'game_file')"
            )
        # Re-drawing a game costs 50 steps: keep the tables of recently played games.
        key = json.dumps([task.split, task.spec], sort_keys=True)
        tables = self._tables.get(key)
        if tables is None:
            tables = self._tables[key] = _Tables.build(task_game(task))
            if len(self._tables) > self.cache_size:
                self._tables.popitem(last=False)
        self._tables.move_to_end(key)
        return tables

    def reset_game(self, game: Game) -> str:
        """Start an episode of a `Game` itself, with no task (the generator's solvability
        check plays games before they become tasks); then `step` as after `reset`."""
        self._episode = _Episode(_Tables.build(game))
        self._started, self._done, self._steps = True, False, 0
        self._admissible = self._episode.admissible()
        return self._episode.intro().removeprefix(WELCOME)

    def _engine_reset(self, task: Task) -> tuple[str, list[str]]:
        self._episode = _Episode(self._game_tables(task))
        return self._episode.intro(), self._episode.admissible()

    def _engine_step(self, command: str) -> tuple[str, bool, list[str]]:
        episode = self._episode
        assert episode is not None  # the base class refuses to step before reset
        observation = episode.step(command)
        return observation, episode.won(), episode.admissible()

    def snapshot(self) -> Snapshot:
        """The current episode's state by ALFRED ids (privileged; for tests and oracles)."""
        if self._episode is None:
            raise RuntimeError("no episode: call reset first")
        return self._episode.snapshot()
