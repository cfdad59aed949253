"""A scripted ALFWorld expert that plays fair: it knows only what an agent could know.

The expert reads the goal sentence, the observations so far and the admissible commands the
environment exposes, and nothing else (never the game's hidden state). It

- parses the goal (the benchmark's 12 templates) into task type, object, receptacle and lamp;
- reads the room's receptacles from the first observation (and the `go to` commands);
- remembers what it has seen in every receptacle it looked into;
- searches receptacles in a fixed order of likelihood for the object type (a hand-made prior
  of where such things usually are, restricted to receptacle types that may hold the type by
  ALFRED's table), opening closed ones;
- takes the object, heats / cools / cleans it with a microwave / fridge / sink basin, carries
  it to a receptacle of the goal type (opening it when closed) and puts it there; for two
  objects it places the first, then takes a second it remembers or keeps searching; for
  `look_at_obj_in_light` it takes the object, then finds the lamp and switches it on.

It takes over from any history: `observe(..., action=...)` accepts actions someone else chose
(a student, exploration noise, a random agent) and the expert updates its memory from what
the observations say happened (objects picked up, moved, heated / cooled / cleaned), puts
down an object the goal does not need, fetches a goal object from wherever it was put, and
redoes an undone treatment.

It thinks aloud like the ReAct ALFWorld prompts: a plan at the start, where it expects the
object, "Now I find ...", "Now I take ...", after processing, and when its likely places run
out; every other step has empty reasoning. Wording is drawn from paraphrase templates with a
`random.Random(seed)`: same seed, same text; actions never depend on the seed.

    trajectory = run_expert_episode(env, task, seed=3)  # agentdistill.policies.expert
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from agentdistill.environments.alfworld import facts
from agentdistill.environments.alfworld.env import MAX_STEPS
from agentdistill.environments.alfworld.game import Game
from agentdistill.environments.alfworld.native import NativeAlfworldEnv

SIMPLE = "pick_and_place_simple"
LIGHT = "look_at_obj_in_light"
CLEAN = "pick_clean_then_place_in_recep"
HEAT = "pick_heat_then_place_in_recep"
COOL = "pick_cool_then_place_in_recep"
TWO = "pick_two_obj_and_place"

# task type -> (command verb, appliance kind, the object's state afterwards)
PROCESS: dict[str, tuple[str, str, str]] = {
    CLEAN: ("clean", "sinkbasin", "clean"),
    HEAT: ("heat", "microwave", "hot"),
    COOL: ("cool", "fridge", "cool"),
}
PROCESS_VERBS = frozenset(verb for verb, _, _ in PROCESS.values())


class ExpertError(RuntimeError):
    """The expert met a situation it cannot handle (unexpected text, nothing left to try)."""


# ---- goal --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """A parsed goal sentence; names are lower-case type names as the game prints them."""

    task_type: str
    obj: str
    recep: str | None = None
    toggle: str | None = None


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for slot in ("obj", "recep", "toggle"):
        pattern = pattern.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>[a-z]+)")
    return re.compile(pattern)


_GOAL_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (task_type, _template_regex(template))
    for task_type in facts.TASK_TYPES
    for template in facts.goal_templates(task_type)
]


def parse_goal(text: str) -> Goal:
    """Parse a goal sentence ('put a hot apple in diningtable', optional final '.')."""
    sentence = text.strip().removeprefix("Your task is to:").strip().rstrip(".").strip()
    for task_type, pattern in _GOAL_PATTERNS:
        match = pattern.fullmatch(sentence)
        if match:
            slots = match.groupdict()
            return Goal(task_type, slots["obj"], slots.get("recep"), slots.get("toggle"))
    raise ExpertError(f"unknown goal sentence: {text!r}")


# ---- where things usually are --------------------------------------------------------------

_FOOD = ("Fridge", "CounterTop", "DiningTable", "Microwave", "SinkBasin", "GarbageCan")
_DISHES = ("CounterTop", "DiningTable", "Cabinet", "SinkBasin", "CoffeeMachine", "Shelf")
_COOKWARE = ("StoveBurner", "CounterTop", "Cabinet", "SinkBasin", "DiningTable", "Shelf")
_UTENSILS = ("CounterTop", "DiningTable", "Drawer", "SinkBasin")
_KITCHEN_MISC = ("CounterTop", "DiningTable", "Cabinet", "Shelf", "Drawer", "Fridge")
_CLEANING = ("CounterTop", "SinkBasin", "Cabinet", "Shelf", "Drawer", "Toilet", "GarbageCan")
_BATHROOM = (
    "Toilet", "BathtubBasin", "CounterTop", "SinkBasin", "Cabinet", "Shelf", "Drawer",
    "HandTowelHolder", "TowelHolder", "ToiletPaperHanger", "Cart", "GarbageCan",
)  # fmt: skip
_SMALL = (
    "Desk", "SideTable", "Dresser", "Drawer", "CoffeeTable", "DiningTable", "Shelf",
    "Sofa", "ArmChair", "Bed", "Safe",
)  # fmt: skip
_READING = (
    "Bed", "Sofa", "ArmChair", "Desk", "SideTable", "CoffeeTable", "DiningTable", "Dresser",
    "Shelf", "Drawer", "Ottoman",
)  # fmt: skip
_DECOR = (
    "Shelf", "Dresser", "Desk", "SideTable", "CoffeeTable", "DiningTable", "TVStand",
    "Cabinet", "Safe",
)  # fmt: skip
_SPORTS = ("Bed", "Desk", "Dresser", "Sofa", "ArmChair", "CoffeeTable")
_LAMPS = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable")

_PRIOR_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("Apple", "Bread", "Egg", "Lettuce", "Potato", "Tomato"), _FOOD),
    (("Mug", "Cup", "Bowl", "Plate"), _DISHES),
    (("Pan", "Pot", "Kettle"), _COOKWARE),
    (("Fork", "Spoon", "Knife", "ButterKnife", "Spatula", "Ladle"), _UTENSILS),
    (("SaltShaker", "PepperShaker", "WineBottle", "Glassbottle"), _KITCHEN_MISC),
    (("DishSponge", "SoapBottle", "SprayBottle", "PaperTowel"), _CLEANING),
    (
        ("SoapBar", "Cloth", "HandTowel", "Towel", "ToiletPaper", "ToiletPaperRoll", "Plunger"),
        _BATHROOM,
    ),
    (
        ("KeyChain", "CreditCard", "CellPhone", "Watch", "CD", "Pen", "Pencil", "RemoteControl"),
        _SMALL,
    ),
    (("Book", "Laptop", "Newspaper", "Pillow"), _READING),
    (("Vase", "Statue", "Candle", "AlarmClock", "TissueBox", "WateringCan", "Box"), _DECOR),
    (("BaseballBat", "BasketBall", "TennisRacket"), _SPORTS),
    (tuple(sorted(facts.TOGGLEABLE)), _LAMPS),
)
PRIOR: dict[str, tuple[str, ...]] = {
    kind: places for kinds, places in _PRIOR_GROUPS for kind in kinds
}
"""Object type -> receptacle types where such an object usually is, most likely first."""

# Display kind ('countertop') -> type name ('CounterTop'), for objects and receptacles.
_TYPE_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        set(facts.RECEPTACLE_OBJECTS)
        | {t for types in facts.RECEPTACLE_OBJECTS.values() for t in types}
        | set(facts.TOGGLEABLE)
        | set(PRIOR)
    )
}


def type_name(kind: str) -> str:
    """'countertop' -> 'CounterTop'; unknown kinds come back unchanged."""
    return _TYPE_NAMES.get(kind, kind)


def kind_of(name: str) -> str:
    """'cabinet 12' -> 'cabinet'."""
    return name.rsplit(" ", 1)[0]


def number_of(name: str) -> int:
    """'cabinet 12' -> 12 (0 when the name has no number)."""
    tail = name.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def may_hold(recep_kind: str, obj_kind: str) -> bool:
    """Whether a receptacle type may hold an object type (ALFRED's table; lamps: the prior)."""
    obj_type = type_name(obj_kind)
    recep_type = type_name(recep_kind)
    if obj_type in facts.TOGGLEABLE:
        return recep_type in _LAMPS
    return obj_type in facts.RECEPTACLE_OBJECTS.get(recep_type, frozenset())


class SearchOrder(NamedTuple):
    """Receptacles to search, in three groups, each most likely first."""

    likely: list[str]
    """Receptacles of the types where such an object usually is (the prior's order)."""
    other: list[str]
    """Other receptacles that may hold the object type."""
    last: list[str]
    """Places that would make the goal trivial, then those that cannot hold the type."""

    def all(self) -> list[str]:
        return self.likely + self.other + self.last

    def keep(self, names: Iterable[str]) -> SearchOrder:
        """The same order restricted to `names`."""
        wanted = set(names)
        return SearchOrder(*([n for n in group if n in wanted] for group in self))


def search_order(
    obj_kind: str, receptacles: Sequence[str], last_kinds: Iterable[str] = ()
) -> SearchOrder:
    """Where to look for an object type: a deterministic function of the type and the
    receptacle names (never of hidden state). Within a type, lower numbers come first.
    """
    groups = _search_groups(obj_kind, tuple(receptacles), frozenset(last_kinds))
    return SearchOrder(*(list(group) for group in groups))  # fresh lists: callers may edit


@functools.lru_cache(maxsize=4096)
def _search_groups(
    obj_kind: str, receptacles: tuple[str, ...], avoid: frozenset[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """`search_order`'s groups, memoised: the expert asks for the same room and object type at
    almost every step (it was two thirds of the time of generating and checking the games)."""
    prior = [kind.lower() for kind in PRIOR.get(type_name(obj_kind), ())]

    def rank(name: str) -> tuple[int, int, int, str, int]:
        kind = kind_of(name)
        if not may_hold(kind, obj_kind):
            group = 3
        elif kind in avoid:
            group = 2
        else:
            group = 0 if kind in prior else 1
        # Within a group, surfaces (one step: go there) before closed containers (two steps:
        # go there, open): in rooms with dozens of cabinets and drawers this finds the object
        # sooner on average, and the search fits the 50-step cap.
        closed = int(type_name(kind) in facts.OPENABLE)
        position = prior.index(kind) if group == 0 else 0
        return group, closed, position, kind, number_of(name)

    # the index keeps equal ranks in the given order (a stable sort)
    ranked = sorted((rank(name), index, name) for index, name in enumerate(receptacles))
    return (
        tuple(n for r, _, n in ranked if r[0] == 0),
        tuple(n for r, _, n in ranked if r[0] == 1),
        tuple(n for r, _, n in ranked if r[0] >= 2),
    )


# ---- observations ----------------------------------------------------------------------------

_NAME = r"[a-z]+ \d+"
_CONTENTS = re.compile(
    rf"(?:On the (?P<on>{_NAME}), you see|The (?P<inside>{_NAME}) is open\. In it, you see) "
    r"(?P<items>[^.]*)\."
)
_ROOM = re.compile(r"Looking quickly around you, you see (?P<items>[^.]*)\.")
# What an action did, as the engine reports it (observed whoever chose the action).
_TOOK = re.compile(rf"You pick up the (?P<item>{_NAME}) from the (?P<place>{_NAME})\.")
_MOVED = re.compile(rf"You move the (?P<item>{_NAME}) to the (?P<place>{_NAME})\.")
_TREATED = re.compile(rf"You (?P<verb>heat|cool|clean) the (?P<item>{_NAME}) using the ")
_CARRYING = re.compile(rf"You are carrying: an? (?P<item>{_NAME})\.")
_EMPTY_HANDED = "You are not carrying anything."
# verb -> (state it gives, state it takes away); heating and cooling undo each other.
_TREATMENT: dict[str, tuple[str, str | None]] = {
    "heat": ("hot", "cool"),
    "cool": ("cool", "hot"),
    "clean": ("clean", None),
}
_FACING = re.compile(r"You are facing the (?P<items>[^.]*?)\. Next to it")


def parse_items(text: str) -> list[str]:
    """'a apple 2, a knife 1, and a cup 1' -> ['apple 2', 'knife 1', 'cup 1']; 'nothing' -> []."""
    text = text.strip()
    if text in ("", "nothing"):
        return []
    items = []
    for part in text.split(", "):
        part = part.strip().removeprefix("and ").strip()
        for article in ("a ", "an "):
            part = part.removeprefix(article)
        items.append(part)
    return items


def _first_observation_receptacles(observation: str, admissible: Sequence[str]) -> list[str]:
    """The room's receptacles: the intro's list, then any `go to`/`examine` target not in it."""
    names: list[str] = []
    match = _ROOM.search(observation) or _FACING.search(observation)
    if match:
        names = parse_items(match.group("items"))
    extra = sorted(
        {
            command.split(" ", 2)[2] if command.startswith("go to ") else command[len("examine ") :]
            for command in admissible
            if command.startswith(("go to ", "examine "))
        }
        - set(names)
    )
    return names + extra


# ---- wording ---------------------------------------------------------------------------------

_PLAN = {
    SIMPLE: (
        "To solve the task, I need to find and take {a_obj}, then put it {prep} {recep}.",
        "My plan: locate {a_obj}, pick it up, and place it {prep} the {recep}.",
        "The goal is to get {a_obj} {prep} the {recep}, so first I have to find one and take it.",
        "I need to find {a_obj}, take it, and then put it {prep} {recep}.",
    ),
    TWO: (
        "To solve the task, I need to find and take the first {obj}, then put it {prep} {recep}, "
        "then find and take the second {obj}, then put it {prep} {recep} too.",
        "I have to bring two {objs} to the {recep}: find one, put it {prep} the {recep}, "
        "then do the same with a second one.",
        "Plan: find a first {obj} and put it {prep} {recep}, then find another {obj} and put "
        "it {prep} the same {recep}.",
    ),
    LIGHT: (
        "To solve the task, I need to find and take {a_obj}, then find and use {a_toggle}.",
        "I should pick up {a_obj} and then switch on {a_toggle} while holding it.",
        "My plan: get {a_obj} in hand, then go to {a_toggle} and turn it on.",
    ),
    "process": (
        "To solve the task, I need to find and take {a_obj}, then {verb} it with {a_app}, "
        "then put it {prep} {recep}.",
        "My plan: find {a_obj}, take it, {verb} it using {a_app}, and put it {prep} the {recep}.",
        "First I must get {a_obj}; after that I will {verb} it with {a_app} and place it "
        "{prep} {recep}.",
    ),
}
_SEARCH = (
    "First I need to find {a_obj}. {A_obj} is more likely to appear in {places}. "
    "I can check one by one, starting with {first}.",
    "I should look for {a_obj} first. Likely places are {places}; I will start with {first}.",
    "Where could {a_obj} be? Probably in {places}. Let me check them in turn, beginning with "
    "{first}.",
    "{A_obj} is usually found in {places}. I will search them one by one, starting with {first}.",
)
_FOUND = (
    "Now I find {a_item}. Next, I need to take it.",
    "There is {a_item} here. Next, I will pick it up.",
    "I found {a_item} {prep} {place}. Next, I need to take it.",
    "{A_item} is {prep} {place}. I will take it.",
)
_REMEMBER = (
    "I saw {a_item} {prep} {place} earlier. I will go back there and take it.",
    "{A_item} was {prep} {place}, so I can go there and take it.",
    "I remember {a_item} {prep} {place}. Next, I need to go there and take it.",
)
_TAKEN = (
    "Now I take {a_item}. Next, I need to {next}.",
    "I am holding {a_item} now. Next, I will {next}.",
    "Got {a_item}. Now I need to {next}.",
)
_PROCESSED = (
    "Now I {verb} {a_item}. Next, I need to {next}.",
    "The {item} is {state} now. Next, I will {next}.",
    "Done: the {item} is {state}. Now I need to {next}.",
)
_FIRST_PLACED = (
    "Now I put the first {obj} {prep} {target}. Next, I need to find the second {obj}. {rest}",
    "One {obj} is {prep} {target}. Now I need to find another {obj}. {rest}",
    "The first {obj} is in place. Next, I need a second {obj}. {rest}",
)
_SEARCH_MORE = (
    "{A_obj} is more likely to appear in {places}. I can check one by one, starting with {first}.",
    "It may be in {places}; I will start with {first}.",
    "The places left to check are {places}, starting with {first}.",
)
_NOT_FOUND = (
    "There is no {obj} in the places I expected. It might still be in {places}; I will check "
    "{first} next.",
    "I have not found {a_obj} yet. Other places that could hold it are {places}, starting with "
    "{first}.",
    "No {obj} so far. Next, I will try {places}, beginning with {first}.",
)
_DROP = (
    "I am holding {a_item}, which the task does not need. I will put it down first.",
    "{A_item} is not what I need. Let me put it down before going on.",
    "I do not need {a_item}. First I will put it down.",
)
_LAMP_FOUND = (
    "Now I find {a_item}. Next, I need to use it.",
    "There is {a_item} here. I will turn it on while holding the {obj}.",
    "I found {a_item}. Next, I will switch it on.",
)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _a(word: str) -> str:
    """'apple' -> 'an apple'."""
    return f"{_article(word)} {word}"


def _plural(word: str) -> str:
    """'pan' -> 'pans', 'box' -> 'boxes', 'butterknife' -> 'butterknives'."""
    if word.endswith("knife"):
        return word[:-2] + "ves"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _item(name: str) -> str:
    """'apple 2' -> 'apple (2)'."""
    return f"{kind_of(name)} ({number_of(name)})"


def _an_item(name: str) -> str:
    """'apple 2' -> 'an apple (2)' (ReAct's way of naming an instance)."""
    return f"{_article(name)} {_item(name)}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def preposition(recep: str) -> str:
    """'in' for containers, 'on' for surfaces."""
    kind = type_name(kind_of(recep) if recep[-1:].isdigit() else recep)
    containers = facts.OPENABLE | {"SinkBasin", "BathtubBasin", "GarbageCan", "LaundryHamper"}
    return "in" if kind in containers else "on"


def format_places(names: Sequence[str]) -> str:
    """['countertop 1', 'countertop 2', 'cabinet 4'] -> 'countertop (1-2), cabinet (4)'."""
    groups: dict[str, list[int]] = {}
    for name in names:
        groups.setdefault(kind_of(name), []).append(number_of(name))
    parts = []
    for kind, numbers in groups.items():
        numbers = sorted(numbers)
        contiguous = numbers == list(range(numbers[0], numbers[-1] + 1))
        if len(numbers) == 1:
            shown = str(numbers[0])
        elif contiguous:
            shown = f"{numbers[0]}-{numbers[-1]}"
        else:
            shown = ", ".join(str(n) for n in numbers)
        parts.append(f"{kind} ({shown})")
    return ", ".join(parts)


# ---- the expert --------------------------------------------------------------------------------


@dataclass
class _Memory:
    """What the expert knows about the room, from observations and admissible commands."""

    receptacles: list[str] = field(default_factory=list)
    contents: dict[str, list[str]] = field(default_factory=dict)
    here: set[str] = field(default_factory=set)
    holding: str | None = None
    processed: set[str] = field(default_factory=set)
    """Objects in the state the goal asks for (hot / cool / clean)."""
    placed: list[str] = field(default_factory=list)
    """Goal objects in a receptacle of the goal's type."""
    states: dict[str, set[str]] = field(default_factory=dict)
    """Object -> states it is in ('hot', 'cool', 'clean'), from the treatments seen."""
    took_from: dict[str, str] = field(default_factory=dict)
    """Object -> the receptacle it was last taken from (where it can be put back)."""


class AlfworldExpert:
    """Scripted ALFWorld policy using only the goal, the observations and admissible commands.

    Usage: `reset(goal, first_observation, admissible)`, then alternate `act()` (returns
    `(reasoning, action)`) and `observe(observation, admissible)`.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.goal = Goal(SIMPLE, "")
        self.memory = _Memory()
        self.admissible: list[str] = []
        self.target: str | None = None
        self.bad_targets: set[str] = set()
        self.steps = 0
        self.last_action: str | None = None
        self.announced: set[str] = set()
        self.said_not_found: set[str] = set()
        self.searching: str | None = None
        self.bad_drops: set[str] = set()

    # -- episode -----------------------------------------------------------------------------
    def reset(self, goal: str, observation: str, admissible: Sequence[str]) -> None:
        """Start an episode: parse the goal and the room from the first observation."""
        self.rng = random.Random(self.seed)
        self.goal = parse_goal(goal)
        self.memory = _Memory(receptacles=_first_observation_receptacles(observation, admissible))
        self.target = None
        self.bad_targets = set()
        self.steps = 0
        self.last_action = None
        self.announced = set()
        self.said_not_found = set()
        self.bad_drops = set()
        self._update_admissible(admissible)

    def act(self) -> tuple[str, str]:
        """The next (reasoning, action)."""
        action = self._decide()
        if action not in self.admissible:
            raise ExpertError(f"chose {action!r}, which is not admissible")
        reasoning = " ".join(self._thought(action).split())
        self.last_action = action
        self.steps += 1
        return reasoning, action

    def observe(
        self, observation: str, admissible: Sequence[str], action: str | None = None
    ) -> None:
        """Learn from the answer to the last action.

        `action` is what was actually executed when someone else chose it (a student model,
        exploration noise): any command, valid or not. The expert updates its memory from
        what the observation says happened (a pick-up, a move, a treatment, a look inside),
        not from what it meant to do, so it can take over from any history.
        """
        if action is not None:
            self.last_action = action
        self._update_admissible(admissible)
        text = observation.strip()
        if text == "Nothing happens.":
            return  # nothing changed (an invalid command, or one made invalid by others)
        memory = self.memory
        self._read_contents(observation)
        took, moved, treated = _TOOK.match(text), _MOVED.match(text), _TREATED.match(text)
        carrying = _CARRYING.match(text)
        if took:
            item, place = took.group("item", "place")
            memory.holding = item
            memory.took_from[item] = place
            if item in memory.contents.get(place, []):
                memory.contents[place].remove(item)
            if item in memory.placed:
                memory.placed.remove(item)
        elif moved:
            item, place = moved.group("item", "place")
            memory.holding = None
            if item not in memory.contents.setdefault(place, []):
                memory.contents[place].append(item)
            if kind_of(item) == self.goal.obj and kind_of(place) == self.goal.recep:
                memory.placed.append(item)
        elif treated:
            verb, item = treated.group("verb", "item")
            gained, lost = _TREATMENT[verb]
            states = memory.states.setdefault(item, set())
            states.add(gained)
            states.discard(lost or "")
            self._update_processed(item)
        elif carrying:
            memory.holding = carrying.group("item")
        elif text == _EMPTY_HANDED:
            memory.holding = None

    def _update_processed(self, item: str) -> None:
        """Whether `item` is in the state the goal asks for, after a treatment."""
        if self.goal.task_type not in PROCESS:
            return
        wanted = PROCESS[self.goal.task_type][2]
        if wanted in self.memory.states.get(item, set()):
            self.memory.processed.add(item)
        else:
            self.memory.processed.discard(item)

    def _update_admissible(self, admissible: Sequence[str]) -> None:
        self.admissible = list(admissible)
        known = set(self.memory.receptacles)
        self.memory.here = {
            command[len("examine ") :]
            for command in admissible
            if command.startswith("examine ") and command[len("examine ") :] in known
        }

    def _read_contents(self, observation: str) -> None:
        for match in _CONTENTS.finditer(observation):
            place = match.group("on") or match.group("inside")
            self.memory.contents[place] = parse_items(match.group("items"))

    # -- decisions ---------------------------------------------------------------------------
    def _decide(self) -> str:
        self.searching = None
        goal, memory = self.goal, self.memory
        holding = memory.holding
        if holding is not None and kind_of(holding) != goal.obj:
            return self._drop(holding)  # picked up by someone else: put it down first
        if goal.task_type == LIGHT:
            return self._decide_light()
        if holding is not None:
            if goal.task_type in PROCESS and holding not in memory.processed:
                return self._process(holding)
            return self._put(holding)
        source = self._known_source()
        if source is not None:
            return self._take(*source)
        return self._search(goal.obj)

    def _decide_light(self) -> str:
        memory, toggle = self.memory, self.goal.toggle or ""
        if memory.holding is None:
            source = self._known_source()
            return self._take(*source) if source else self._search(self.goal.obj)
        lamp = self._known(toggle)
        if lamp is None:
            return self._search(toggle)
        name, place = lamp
        if f"use {name}" in self.admissible:
            return f"use {name}"
        return f"go to {place}"

    def _known(self, kind: str, exclude: Iterable[str] = ()) -> tuple[str, str] | None:
        """A seen instance of `kind` (item, receptacle), nearest first, else in search order."""
        skip = set(exclude)
        order = search_order(kind, self.memory.receptacles).all()
        ranked = [r for r in order if r in self.memory.here]
        ranked += [r for r in order if r not in self.memory.here]
        for place in ranked:
            if place in skip:
                continue
            for item in sorted(self.memory.contents.get(place, []), key=number_of):
                if kind_of(item) == kind:
                    return item, place
        return None

    def _known_source(self) -> tuple[str, str] | None:
        """Where to take the goal object from: never from the receptacle being filled for two
        objects (elsewhere a goal object in the goal's receptacle type means the task is won,
        or, for a treatment task, that someone put it there untreated: take it)."""
        exclude = [self._two_target()] if self.goal.task_type == TWO else []
        return self._known(self.goal.obj, [r for r in exclude if r])

    def _two_target(self) -> str | None:
        """For two objects: the receptacle holding the most goal objects seen, when some
        are placed (possibly by someone else), else the chosen target."""
        counts = {
            r: sum(kind_of(item) == self.goal.obj for item in self.memory.contents.get(r, []))
            for r in self.memory.receptacles
            if kind_of(r) == self.goal.recep and r not in self.bad_targets
        }
        best = max(counts.values(), default=0)
        if best == 0 or counts.get(self.target or "", 0) == best:
            return self.target
        self.target = min((r for r, n in counts.items() if n == best), key=number_of)
        return self.target

    def _drop(self, item: str) -> str:
        """Put down an object the goal does not need: here when a receptacle here takes it,
        else back where it was taken from (it fitted there), else wherever it may go."""
        moves = [c for c in self.admissible if c.startswith(f"move {item} to ")]
        if moves:
            source = f"move {item} to {self.memory.took_from.get(item)}"
            return source if source in moves else moves[0]
        places = [self.memory.took_from.get(item, "")]
        places += [
            r for r in search_order(kind_of(item), self.memory.receptacles).all()
            if may_hold(kind_of(r), kind_of(item))
        ]  # fmt: skip
        for place in places:
            if not place or place in self.bad_drops:
                continue
            if place not in self.memory.here:
                return f"go to {place}"
            if self._closed(place):
                return f"open {place}"
            self.bad_drops.add(place)  # here and open, yet it does not take the object
        raise ExpertError(f"nowhere to put down {item!r}")

    def _reach(self, place: str) -> str | None:
        """The command that brings the agent to `place`, or None when already there."""
        return None if place in self.memory.here else f"go to {place}"

    def _take(self, item: str, place: str) -> str:
        return self._reach(place) or (
            f"open {place}" if self._closed(place) else f"take {item} from {place}"
        )

    def _closed(self, place: str) -> bool:
        """Whether a receptacle at the agent's location is closed (it offers `open`)."""
        return f"open {place}" in self.admissible

    def _process(self, item: str) -> str:
        verb, kind, _ = PROCESS[self.goal.task_type]
        for command in self.admissible:
            if command.startswith(f"{verb} {item} with "):
                return command
        appliances = [r for r in self.memory.receptacles if kind_of(r) == kind]
        if not appliances:
            raise ExpertError(f"no {kind} in the room")
        return f"go to {min(appliances, key=number_of)}"

    def _choose_target(self) -> str:
        if self.goal.task_type == TWO:
            self._two_target()
        if self.target is None or self.target in self.bad_targets:
            options = [
                r
                for r in self.memory.receptacles
                if kind_of(r) == self.goal.recep and r not in self.bad_targets
            ]
            if not options:
                raise ExpertError(f"no usable {self.goal.recep} in the room")
            nearby = [r for r in options if r in self.memory.here]
            self.target = min(nearby or options, key=number_of)
        return self.target

    def _put(self, item: str) -> str:
        target = self._choose_target()
        step = self._reach(target)
        if step:
            return step
        if self._closed(target):
            return f"open {target}"
        command = f"move {item} to {target}"
        if command not in self.admissible:
            self.bad_targets.add(target)
            return self._put(item)
        return command

    def _search_plan(self, kind: str) -> SearchOrder:
        """The receptacles not looked into yet, in search order for `kind`."""
        memory = self.memory
        avoid = self._avoid()
        order = search_order(kind, memory.receptacles, [avoid] if avoid else [])
        return order.keep(r for r in memory.receptacles if r not in memory.contents)

    def _next_place(self, kind: str) -> str:
        plan = self._search_plan(kind)
        if not plan.all():
            raise ExpertError(f"searched every receptacle, found no {kind}")
        # Look into receptacles right here first, unless they belong to the last group.
        nearby = [r for r in plan.likely + plan.other if r in self.memory.here]
        return (nearby or plan.all())[0]

    def _avoid(self) -> str | None:
        """The receptacle kind searched last: the goal's, for the put-only tasks."""
        return self.goal.recep if self.goal.task_type in (SIMPLE, TWO) else None

    def _search(self, kind: str) -> str:
        self.searching = kind
        place = self._next_place(kind)
        step = self._reach(place)
        if step:
            return step
        return f"open {place}" if self._closed(place) else f"examine {place}"

    # -- thoughts ----------------------------------------------------------------------------
    def _pick(self, options: Sequence[str], **slots: str) -> str:
        return self.rng.choice(options).format(**slots)

    def _thought(self, action: str) -> str:
        """ReAct-style reasoning for the chosen action; empty on most steps."""
        goal, memory, last = self.goal, self.memory, self.last_action or ""
        holding = memory.holding
        if holding and kind_of(holding) != goal.obj:
            # picked up by someone else: say why it goes back, once (with the plan, if first)
            if not (last.startswith("take ") or self.steps == 0):
                return ""
            drop = self._pick(_DROP, a_item=_an_item(holding), A_item=_capital(_an_item(holding)))
            return self._plan_thought() + " " + drop if self.steps == 0 else drop
        if self.steps == 0:
            # taking over with the object in hand: the plan, then what comes next
            then = self._taken_thought(action) if holding else ""
            return self._plan_thought() + " " + (then or self._search_thought(goal.obj, _SEARCH))
        if last.startswith("take ") and holding:
            return self._taken_thought(action)
        if last.split(" ")[0] in PROCESS_VERBS and holding and holding in memory.processed:
            return self._processed_thought()
        if (
            goal.task_type == TWO
            and last.startswith(f"move {goal.obj} ")
            and len(memory.placed) == 1
        ):
            return self._first_placed_thought()
        if action.startswith("take "):
            return self._found_thought(action)
        if action.startswith("use ") and self._lamp_new(action):
            name = action[len("use ") :]
            return self._pick(_LAMP_FOUND, a_item=_an_item(name), obj=goal.obj)
        if action.startswith("go to ") and memory.holding is None:
            return self._remember_thought(action)
        return self._not_found_thought(action)

    def _plan_thought(self) -> str:
        goal = self.goal
        slots = {
            "obj": goal.obj,
            "objs": _plural(goal.obj),
            "a_obj": _a(goal.obj),
            "recep": goal.recep or "",
            "prep": preposition(goal.recep or "countertop"),
            "a_toggle": _a(goal.toggle or "lamp"),
        }
        if goal.task_type in PROCESS:
            verb, appliance, _ = PROCESS[goal.task_type]
            return self._pick(_PLAN["process"], verb=verb, a_app=_a(appliance), **slots)
        return self._pick(_PLAN[goal.task_type], **slots)

    def _search_thought(self, kind: str, options: Sequence[str]) -> str:
        plan = self._search_plan(kind)
        places = plan.likely or plan.other
        if not places:
            return ""
        first = self._next_place(kind)
        return self._pick(
            options,
            a_obj=_a(kind),
            A_obj=_capital(_a(kind)),
            obj=kind,
            places=format_places(places),
            first=first,
        )

    def _next_goal_text(self, action: str) -> tuple[str, str]:
        """What comes after taking the object: a clause ('go to X and heat it') and an
        optional extra sentence (where to look for a lamp)."""
        goal, memory = self.goal, self.memory
        if goal.task_type == LIGHT:
            toggle = goal.toggle or ""
            lamp = self._known(toggle)
            if lamp is None:
                return f"find {_a(toggle)}", self._search_thought(toggle, _SEARCH_MORE)
            name, place = lamp
            self.announced.add(name)
            if action.startswith("use "):
                return f"use the {name}", ""
            return f"go to {place} and use the {name}", ""
        if goal.task_type in PROCESS and memory.holding not in memory.processed:
            verb, _, _ = PROCESS[goal.task_type]
            if action.startswith(f"{verb} "):
                return f"{verb} it with {action.split(' with ')[-1]}", ""
            return f"go to {action[len('go to ') :]} and {verb} it", ""
        target = self._choose_target()
        return f"put it {preposition(target)} {target}", ""

    def _taken_thought(self, action: str) -> str:
        item = self.memory.holding or ""
        clause, extra = self._next_goal_text(action)
        return self._pick(_TAKEN, a_item=_an_item(item), next=clause) + " " + extra

    def _processed_thought(self) -> str:
        item = self.memory.holding or ""
        verb, _, state = PROCESS[self.goal.task_type]
        target = self._choose_target()
        return self._pick(
            _PROCESSED,
            verb=verb,
            a_item=_an_item(item),
            item=_item(item),
            state=state,
            next=f"put it {preposition(target)} {target}",
        )

    def _first_placed_thought(self) -> str:
        target, obj = self.target or "", self.goal.obj
        known = self._known_source()
        if known is not None:
            item, place = known
            self.announced.add(item)
            rest = self._pick(
                _REMEMBER, a_item=_an_item(item), A_item=_capital(_an_item(item)),
                prep=preposition(place), place=place,
            )  # fmt: skip
        else:
            rest = self._search_thought(obj, _SEARCH_MORE)
        return self._pick(
            _FIRST_PLACED, obj=obj, prep=preposition(target), target=target, rest="{rest}"
        ).replace("{rest}", rest)

    def _found_thought(self, action: str) -> str:
        item, place = action[len("take ") :].split(" from ")
        if item in self.announced:
            return ""
        self.announced.add(item)
        return self._pick(
            _FOUND,
            a_item=_an_item(item),
            A_item=_capital(_an_item(item)),
            prep=preposition(place),
            place=place,
        )

    def _remember_thought(self, action: str) -> str:
        """Going back to an object seen earlier (not the one just seen)."""
        place = action[len("go to ") :]
        known = self._known_source()
        if known is None or known[1] != place or known[0] in self.announced:
            return self._not_found_thought(action)
        item = known[0]
        self.announced.add(item)
        return self._pick(
            _REMEMBER,
            a_item=_an_item(item),
            A_item=_capital(_an_item(item)),
            prep=preposition(place),
            place=place,
        )

    def _lamp_new(self, action: str) -> bool:
        """Whether the lamp being used was first seen in the last observation."""
        name = action[len("use ") :]
        if name in self.announced:
            return False
        self.announced.add(name)
        return True

    def _not_found_thought(self, action: str) -> str:
        """When the likely places are used up, say where the search goes next."""
        kind, memory = self.searching, self.memory
        if kind is None or not action.startswith(("go to ", "open ", "examine ")):
            return ""
        plan = self._search_plan(kind)
        if plan.likely or not plan.other or kind in self.said_not_found:
            return ""
        if not search_order(kind, memory.receptacles).likely:
            return ""  # there were no likely places to begin with
        self.said_not_found.add(kind)
        return self._pick(
            _NOT_FOUND,
            obj=kind,
            a_obj=_a(kind),
            places=format_places(plan.other),
            first=self._next_place(kind),
        )


# ---- episodes ----------------------------------------------------------------------------------


def expert_wins(game: Game, max_steps: int = MAX_STEPS) -> bool:
    """Whether the expert wins `game` within `max_steps` on the native engine.

    The generator's witness that a game is solvable by an agent without privileged knowledge:
    the expert still reads only the text the engine prints, never the game itself.
    """
    env = NativeAlfworldEnv()
    observation = env.reset_game(game)
    expert = AlfworldExpert()
    try:
        expert.reset(game.goal, observation, env.admissible_commands or [])
        for _ in range(max_steps):
            _, action = expert.act()
            result = env.step(action)
            if result.info.won:
                return True
            if result.done:
                return False
            expert.observe(result.observation, result.info.admissible_commands or [])
    except ExpertError:
        return False
    return False
