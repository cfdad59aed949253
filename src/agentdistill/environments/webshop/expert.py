"""A scripted WebShop expert that plays fair: it knows only what a shopper could know.

The expert reads the instruction, the pages it is shown and the admissible commands, and the
shop's public vocabulary (`vocab`: the product types, attribute phrases and option values the
shop's listings use, as a shopper knows a shop's words); never the goal's hidden target. It

- reads the instruction: the price bound, the product type, the attribute phrases and the
  option values it asks for (the longest vocabulary phrases found in it, without overlaps);
- searches with the instruction's content words (ReAct's way: "3 ounce bright citrus
  deodorant sensitive skin"), and with shorter queries when a search shows nothing that fits;
- on a result page, picks the shown listing of the right type within the price bound whose
  title shows most of the asked attributes, skipping listings it has ruled out;
- on the item page, checks the asked option values (offered? a value equal to the asked one,
  else one the reward's fuzzy rule accepts), the price, and every asked attribute (in the
  title, else in the Features, else the Description page it opens to look); then selects the
  options and buys, or goes back (`< Prev`) and rules the listing out;
- with few steps left, buys the best it can reach (partial credit beats none).

It takes over from any history: `observe(..., action=...)` accepts actions someone else chose
(a student, a random agent: a bad query, a wrong listing, a wrong option, a sub-page, an
invalid action) and the expert replans from the page it is on, with what it has learned.

It thinks aloud like ReAct's WebShop prompt: when it picks a listing from the results ("B078GWRC1J
and B078GTKVXY are bright citrus deodorant less than 50 dollars. I can check B078GWRC1J
first."), when it looks at a sub-page, when it decides to buy ("For ..., the item has options
'bright citrus' and '3 ounce (pack of 1)' and seems good to buy."), when it rules a listing out
and when it searches again; every other step has empty reasoning. Wording is drawn from
paraphrase templates drawn from the seed and the instruction: same seed and task, same text;
actions never depend on the seed.

    trajectory = run_expert_episode(env, task, seed=3)  # agentdistill.policies.expert
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentdistill.environments.webshop import vocab
from agentdistill.environments.webshop.env import MAX_STEPS
from agentdistill.environments.webshop.pages import (
    BACK_TO_SEARCH,
    BUY_NOW,
    INVALID,
    NEXT_PAGE,
    PREV_PAGE,
    SCORE_LABEL,
    SUB_PAGES,
    THANKS,
    THINK_REPLY,
)
from agentdistill.environments.webshop.reward import fuzzy_match, normalize_color

_PRICE_CLAUSE = re.compile(r",? and price lower than (?P<price>[\d.]+) dollars\s*$")
_PRICE = re.compile(r"\$(?P<low>[\d.]+)(?: to \$(?P<high>[\d.]+))?")
_PAGE_LINE = re.compile(r"^Page (?P<page>\d+) \(Total results: (?P<total>\d+)\)$")
_CLICKED = re.compile(r"^You have clicked (?P<value>.*)\.$")
_OPTION_LINE = re.compile(r"^(?P<name>[^\[]*?) (?P<values>(?:\[[^\]]*\]|\[\[[^\]]*\]\])+)$")
_VALUE = re.compile(r"\[\[([^\]]*)\]\]|\[([^\]]*)\]")
_BUTTONS = frozenset({BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW, "Search", *SUB_PAGES})
_PACK_OF_ONE = " (pack of 1)"
# Words of instruction templates that carry nothing to search for.
_FILLER = frozenset(
    {
        "i", "im", "i'm", "am", "need", "want", "would", "like", "looking", "for", "a", "an",
        "the", "that", "is", "it", "which", "and", "to", "buy", "find", "me", "show", "should",
        "be", "in", "with", "of", "some", "please", "size", "color", "flavor", "scent",
        "style", "name", "colored",
    }
)  # fmt: skip


class ExpertError(RuntimeError):
    """The expert met a page it cannot read, or the episode is over."""


# ---- the instruction ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Wish:
    """What an instruction asks for, read with the shop's vocabulary."""

    text: str
    """The instruction without its price clause."""
    price: float
    """The price bound (infinity when the instruction gives none)."""
    product_type: str | None
    attributes: tuple[str, ...]
    options: tuple[str, ...]
    """Option values as the instruction writes them ('3 ounce' for '3 ounce (pack of 1)')."""
    words: tuple[str, ...]
    """Content words, in order: the full search query."""


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.])" + re.escape(phrase) + r"(?![\w])")


def _vocabulary() -> list[tuple[str, str]]:
    """(phrase, kind) of the shop's vocabulary, longest first."""
    entries = [(q, "type") for q in vocab.TYPE_QUERIES]
    entries += [(a, "attribute") for a in vocab.ATTRIBUTE_PHRASES]
    for value in vocab.OPTION_VALUES:
        entries.append((value, "option"))
        if value.endswith(_PACK_OF_ONE):
            entries.append((value.removesuffix(_PACK_OF_ONE), "option"))
    unique = dict.fromkeys(entries)
    return sorted(unique, key=lambda e: (-len(e[0]), e[0]))


_VOCABULARY = [(phrase, kind, _phrase_pattern(phrase)) for phrase, kind in _vocabulary()]


def read_wish(instruction: str) -> Wish:
    """Parse an instruction ('i need a long lasting ..., and price lower than 40.00 dollars')."""
    text = instruction.strip()
    price = float("inf")
    match = _PRICE_CLAUSE.search(text)
    if match:
        price = float(match.group("price"))
        text = text[: match.start()]
    lower = text.lower()
    taken = [False] * len(lower)
    found: list[tuple[int, str, str]] = []
    for phrase, kind, pattern in _VOCABULARY:
        for hit in pattern.finditer(lower):
            span = range(hit.start(), hit.end())
            if any(taken[i] for i in span):
                continue
            for i in span:
                taken[i] = True
            found.append((hit.start(), phrase, kind))
    found.sort()
    types = [p for _, p, k in found if k == "type"]
    words = [w for w in re.findall(r"[\w.'-]+", lower) if w not in _FILLER]
    return Wish(
        text=text,
        price=price,
        product_type=types[0] if types else None,
        attributes=tuple(p for _, p, k in found if k == "attribute"),
        options=tuple(p for _, p, k in found if k == "option"),
        words=tuple(words),
    )


def _strip_opening(text: str) -> str:
    """'i would like a 3 ounce bottle of ...' -> '3 ounce bottle of ...' (for thoughts)."""
    for opening in (
        "i would like ", "i need ", "i am looking for ", "i'm looking for ", "i want to buy ",
        "i want ", "find me ", "show me ",
    ):  # fmt: skip
        if text.startswith(opening):
            text = text[len(opening) :]
            break
    for article in ("a ", "an "):
        text = text.removeprefix(article)
    return text


# ---- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    asin: str
    title: str
    price: str


@dataclass
class Page:
    """What a page shows, read from its text (either rendering)."""

    kind: str
    """'search', 'results', 'item', 'sub', 'done'."""
    listings: list[Listing] = field(default_factory=list)
    title: str = ""
    price: str = ""
    options: dict[str, list[str]] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)
    text: str = ""
    """A sub-page's content."""


def _is_asin(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9]{10}", text)) and text not in _BUTTONS


def read_page(observation: str, admissible: Sequence[str] = ()) -> Page | None:
    """The page an observation shows, or None when it shows none ('OK.', 'Invalid action!',
    'You have clicked ...', or text it cannot read)."""
    if " [SEP] " in observation or observation.startswith(("WebShop [SEP]", "Instruction:")):
        return _read_text_page(observation, admissible)
    text = observation.strip()
    if text.startswith(SCORE_LABEL) or text.startswith(THANKS):
        return Page("done")
    lines = [line.rstrip(" ") for line in observation.split("\n") if line.strip()]
    if not lines:
        return None
    if lines[0] == "WebShop" and "[Search]" in lines:
        return Page("search")
    if lines[0] != f"[{BACK_TO_SEARCH}]":
        return None
    if len(lines) > 1 and _PAGE_LINE.match(lines[1]):
        listings = []
        rest = [line for line in lines[2:] if line not in (f"[{PREV_PAGE}]", f"[{NEXT_PAGE}]")]
        i = 0
        while i < len(rest):
            line = rest[i]
            if line.startswith("[") and line.endswith("]") and _is_asin(line[1:-1]):
                title = rest[i + 1] if i + 1 < len(rest) else ""
                price = rest[i + 2] if i + 2 < len(rest) else ""
                listings.append(Listing(line[1:-1], title, price))
                i += 3
            else:
                i += 1
        return Page("results", listings=listings)
    if f"[{BUY_NOW}]" in lines:
        page = Page("item")
        body = [line for line in lines[1:] if line != f"[{PREV_PAGE}]"]
        plain = []
        for line in body:
            match = _OPTION_LINE.match(line)
            if match and not (line.startswith("[") and line[1:-1] in _BUTTONS):
                values = []
                for double, single in _VALUE.findall(match.group("values")):
                    values.append(double or single)
                    if double:
                        page.chosen[match.group("name")] = double
                page.options[match.group("name")] = values
            elif not (line.startswith("[") and line.endswith("]")):
                plain.append(line)
        for line in plain:
            if line.startswith("Price: "):
                page.price = line[len("Price: ") :]
            elif not line.startswith("Rating: ") and not page.title:
                page.title = line
        return page
    return Page("sub", text="\n".join(line.strip() for line in lines[2:]))


def _read_text_page(observation: str, admissible: Sequence[str]) -> Page | None:
    parts = observation.split(" [SEP] ")
    if parts[0] == "WebShop":
        return Page("search")
    if parts[0] == THANKS:
        return Page("done")
    if parts[0] != "Instruction:" or BACK_TO_SEARCH not in parts:
        return None
    rest = parts[parts.index(BACK_TO_SEARCH) + 1 :]
    if rest and _PAGE_LINE.match(rest[0]):
        body = [p for p in rest[1:] if p not in (PREV_PAGE, NEXT_PAGE)]
        listings = [Listing(*body[i : i + 3]) for i in range(0, len(body) - 2, 3)]
        return Page("results", listings=listings)
    rest = [p for p in rest if p != PREV_PAGE]
    if BUY_NOW in rest:
        page = Page("item")
        prices = [i for i, p in enumerate(rest) if p.startswith("Price: ")]
        end = prices[0] - 1 if prices else 0
        page.title = rest[end] if prices else ""
        page.price = rest[prices[0]][len("Price: ") :] if prices else ""
        clickable = {c[len("click[") : -1].lower() for c in admissible if c.startswith("click[")}
        group = None
        for part in rest[:end]:
            if part.lower() in clickable and group is not None:
                page.options[group].append(part)
            else:
                group = part
                page.options[group] = []
        return page
    return Page("sub", text="\n".join(rest))


def price_range(text: str) -> tuple[float, float] | None:
    """'$10.99' -> (10.99, 10.99); '$10.99 to $15.99' -> (10.99, 15.99); None if unreadable."""
    match = _PRICE.search(text)
    if match is None:
        return None
    low = float(match.group("low"))
    return low, float(match.group("high") or low)


# ---- memory ----------------------------------------------------------------------------------


@dataclass
class Seen:
    """What the expert knows about one listing."""

    title: str = ""
    price: str = ""
    options: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    """Sub-page name (or '?') -> its text."""
    ruled_out: str = ""
    """Why it does not fit ('' while it may)."""
    fits: bool = False
    """Checked: it has everything asked (the expert went on to buy it)."""
    query: str = ""
    """The first search whose results showed it (to find it again)."""


@dataclass
class Verdict:
    """How an item page fits the wish."""

    missing_options: list[str]
    clicks: list[str]
    """Option values to select, in page order."""
    chosen: list[str]
    """Every option value the purchase would have."""
    unverified: list[str]
    """Asked attributes not seen in the title or the sub-pages looked at."""
    too_expensive: bool


# ---- wording ---------------------------------------------------------------------------------
_PICK_MANY = (
    "{asins} are {what} less than {price} dollars. I can check {first} first.",
    "{asins} look like {what} under {price} dollars. Let me check {first} first.",
    "{asins} seem to be {what} below {price} dollars. I will look at {first} first.",
)
_PICK_ONE = (
    "{first} is {what} less than {price} dollars. I can check it.",
    "{first} looks like {what} under {price} dollars. Let me check it.",
    "{first} seems to be {what} below {price} dollars. I will look at it.",
)
_PICK_NEXT = (
    "I can check {first} next.",
    "{first} is the next one to check.",
    "Let me look at {first} now.",
)
_NO_FIT = (
    "None of these results is {what} less than {price} dollars that I have not ruled out. "
    "I should search again.",
    "These results do not fit. I should go back and search with other words.",
    "Nothing here matches {what} under {price} dollars. I will search again.",
)
_BUY = (
    "For {goal}, the item has {has} and seems good to buy.",
    "This item fits {goal}: it has {has}. I can buy it.",
    "The item has {has}, which matches {goal}. It seems good to buy.",
)
_CHECK = (
    "I need to check whether it is {attrs}. I can look at the {page}.",
    "The title does not say if it is {attrs}. Let me check the {page}.",
    "To be sure it is {attrs}, I will read the {page}.",
)
_REJECT = (
    "This item {why}. I should go back and check another one.",
    "It {why}, so it does not fit. I will go back.",
    "The item {why}. Let me go back to the results.",
)
_SWITCH = (
    "{other} shows more of what I need in its title. I should go back and check it instead.",
    "This item's title shows less of what I need than {other}. Let me check {other} first.",
)
_AGAIN = (
    "I found an item that fits earlier. I will search for it again.",
    "An earlier search showed an item with everything I need. Let me find it again.",
)
_SETTLE = (
    "I have tried my searches and this item is the closest match, so I will buy it.",
    "Nothing found fits every detail. This item comes closest, so I will buy it.",
)
_HURRY = (
    "I am running out of steps, so I will buy this item.",
    "Few steps are left. This item is the best I have found, so I will buy it.",
)
_HURRY_PICK = (
    "I am running out of steps, so I will take {first}.",
    "Few steps are left; {first} is the best choice here.",
)


class WebShopExpert:
    """Scripted WebShop policy using only the instruction, the pages and admissible commands.

    Usage: `reset(goal, first_observation, admissible)`, then alternate `act()` (returns
    `(reasoning, action)`) and `observe(observation, admissible, action=...)`.
    """

    def __init__(self, seed: int = 0, max_steps: int = MAX_STEPS) -> None:
        self.seed = seed
        self.max_steps = max_steps
        self.rng = random.Random(seed)
        self.wish = read_wish("")
        self.page = Page("search")
        self.admissible: list[str] = []
        self.seen: dict[str, Seen] = {}
        self.current: str | None = None
        self.chosen: dict[str, str] = {}
        self.queries: list[str] = []
        self.searched: list[str] = []
        self.results: list[Listing] = []
        """The clickable listings of the last result page seen."""
        self.steps = 0
        self.last_action: str | None = None
        self.picked = False
        self.committed: str | None = None
        self._commit: str | None = None
        self._picking: bool = False
        self._planned: str | None = None

    # -- episode -----------------------------------------------------------------------------
    def reset(self, goal: str, observation: str, admissible: Sequence[str]) -> None:
        """Start an episode: read the instruction and the first page."""
        # wording varies with the seed and the instruction (a str seed is hashed stably)
        self.rng = random.Random(f"{self.seed}:{goal}")
        self.wish = read_wish(goal)
        self.seen, self.current, self.chosen = {}, None, {}
        self.queries, self.results = self._queries(), []
        self.searched, self.steps, self.last_action, self.picked = [], 0, None, False
        self.committed = self._commit = None
        self._picking = False
        self.admissible = list(admissible)
        page = read_page(observation, admissible)
        if page is None:
            raise ExpertError(f"cannot read the first page: {observation[:120]!r}")
        self._enter(page, None)

    def act(self) -> tuple[str, str]:
        """The next (reasoning, action)."""
        self._commit, self._picking = None, False
        reasoning, action = self._decide()
        self.last_action = action
        self._planned = action
        return " ".join(reasoning.split()), action

    def observe(
        self, observation: str, admissible: Sequence[str], action: str | None = None
    ) -> None:
        """Learn from the answer to the last action.

        `action` is what was executed when someone else chose it; the expert reads the new
        page (or what the answer says happened) and replans from there.
        """
        if action is not None:
            self.last_action = action
        if self._planned is not None and self.last_action == self._planned:
            # what the last act() decided to say once happened: do not say it again
            self.picked = self.picked or self._picking
            self.committed = self._commit or self.committed
        self._planned = None
        self.steps += 1
        self.admissible = list(admissible)
        text = observation.strip()
        if text in (THINK_REPLY, INVALID):
            return  # nothing changed
        clicked = _CLICKED.match(text)
        if clicked:
            self._select(clicked.group("value"))
            return
        page = read_page(observation, admissible)
        if page is None:
            return  # unreadable: keep the last page (the environment leaves it on bad input)
        self._enter(page, self.last_action)

    # -- reading -----------------------------------------------------------------------------
    def _select(self, value: str) -> None:
        for group, values in self.page.options.items():
            if value in values:
                self.chosen[group] = value

    def _enter(self, page: Page, action: str | None) -> None:
        previous = self.page
        verb, _, argument = (action or "").partition("[")
        argument = argument.removesuffix("]")
        if verb == "search" and page.kind == "results":
            self.searched.append(argument.lower())
        if page.kind == "results":
            for listing in page.listings:
                seen = self.seen.setdefault(listing.asin, Seen())
                seen.title, seen.price = listing.title, listing.price
            self.current, self.chosen = None, {}
            self.results = self._visible(page)
            for listing in self.results:
                seen = self.seen[listing.asin]
                seen.query = seen.query or (self.searched[-1] if self.searched else "")
        elif page.kind == "item":
            asin = self._opened_asin(page, previous, verb, argument)
            if asin != self.current:
                self.chosen = {}
            self.current = asin
            seen = self.seen.setdefault(asin, Seen())
            seen.title, seen.price, seen.options = page.title, page.price, page.options
            if previous.kind == "item" and verb == "click":  # text mode: the page came back
                self._select_text_mode(argument, page)
            self.chosen.update(page.chosen)
        elif page.kind == "sub" and self.current is not None:
            name = next((s for s in SUB_PAGES if s.lower() == argument.lower()), "?")
            self.seen[self.current].texts[name] = page.text
        elif page.kind == "search":
            self.current, self.chosen = None, {}
        self.page = page

    def _opened_asin(self, page: Page, previous: Page, verb: str, argument: str) -> str:
        if previous.kind in ("item", "sub") and self.current is not None:
            return self.current
        if verb == "click" and _is_asin(argument):
            return argument.upper()
        for asin, seen in self.seen.items():  # opened by someone else: know it by its title
            if seen.title == page.title:
                return asin
        return f"?{page.title}"

    def _select_text_mode(self, argument: str, page: Page) -> None:
        for group, values in page.options.items():
            for value in values:
                if value.lower() == argument.lower():
                    self.chosen[group] = value

    # -- deciding ----------------------------------------------------------------------------
    @property
    def left(self) -> int:
        return self.max_steps - self.steps

    def _queries(self) -> list[str]:
        wish = self.wish
        full = " ".join(wish.words)
        kind = wish.product_type or ""
        queries = [full]
        queries.append(" ".join([*wish.attributes, kind]).strip())
        queries.append(" ".join([kind, *wish.options]).strip())
        queries.append(" ".join([kind, *wish.options, *wish.attributes]).strip())
        return [q for q in dict.fromkeys(queries) if q]

    def _decide(self) -> tuple[str, str]:
        kind = self.page.kind
        if kind == "search":
            return self._search()
        if kind == "results":
            return self._pick()
        if kind == "item":
            return self._judge()
        if kind == "sub":
            return "", f"click[{PREV_PAGE}]"
        raise ExpertError("the episode is over")

    def _search(self) -> tuple[str, str]:
        known = [seen for seen in self.seen.values() if seen.fits and seen.query]
        if known:  # a listing already checked and found right: search it again
            return self._say(_AGAIN), f"search[{known[0].query}]"
        untried = [q for q in self.queries if q not in self.searched]
        query = untried[0] if untried else self.queries[len(self.searched) % len(self.queries)]
        return "", f"search[{query}]"

    def _what(self) -> str:
        wish = self.wish
        adjectives = [a for a in wish.attributes if a not in vocab.FOR_ATTRIBUTES]
        words = [*wish.options[:1], *adjectives[:1], wish.product_type or "items"]
        return " ".join(words)

    def _fits_listing(
        self, listing: Listing, position: int = 0
    ) -> tuple[int, int, int, int] | None:
        """A score for a result (higher: likelier to fit), None when it cannot fit."""
        seen = self.seen.get(listing.asin)
        if seen is not None and seen.ruled_out:
            return None
        title = listing.title.lower()
        if self.wish.product_type and self.wish.product_type not in title:
            return None
        prices = price_range(listing.price)
        if prices is not None and prices[0] > self.wish.price:
            return None
        sure = int(prices is None or prices[1] <= self.wish.price)
        shown = sum(a in title for a in self.wish.attributes)
        known = int(seen is not None and seen.fits)
        return known, shown, sure, -position

    def _visible(self, page: Page | None = None) -> list[Listing]:
        """The listings a results page shows that can be clicked (ReAct shows 3)."""
        admitted = {c.lower() for c in self.admissible}
        listings = (page or self.page).listings
        if admitted:
            listings = [x for x in listings if f"click[{x.asin}]".lower() in admitted]
        return listings

    def _pick(self) -> tuple[str, str]:
        visible = self._visible()
        scored = [
            (score, x)
            for i, x in enumerate(visible)
            if (score := self._fits_listing(x, i)) is not None
        ]
        scored.sort(key=lambda pair: pair[0], reverse=True)
        budget_for_new_search = self.left >= 6
        if not scored:
            if budget_for_new_search or not self._visible():
                what, price = self._what(), self._price_text()
                return self._say(_NO_FIT, what=what, price=price), f"click[{BACK_TO_SEARCH}]"
            first = self._best_effort()
            return self._say(_HURRY_PICK, first=first), f"click[{first}]"
        first = scored[0][1].asin
        if self.picked:
            return self._say(_PICK_NEXT, first=first), f"click[{first}]"
        self._picking = True
        fitting = [x.asin for s, x in scored][:3]  # named in the thought: the best three
        what, price = self._what(), self._price_text()
        if len(fitting) > 1:
            names = " and ".join([", ".join(fitting[:-1]), fitting[-1]])
            return self._say(_PICK_MANY, asins=names, what=what, price=price, first=first), (
                f"click[{first}]"
            )
        return self._say(_PICK_ONE, what=what, price=price, first=first), f"click[{first}]"

    def _best_effort(self) -> str:
        """With no fitting listing and no steps for another search: the right type first."""
        listings = self._visible()
        kind = self.wish.product_type or ""
        typed = [x for x in listings if kind and kind in x.title.lower()]
        return (typed or listings)[0].asin

    def _price_text(self) -> str:
        price = self.wish.price
        return "any price" if price == float("inf") else f"{price:g}"

    def _verdict(self, lenient: bool = False) -> Verdict:
        """How the open item fits; `lenient`: an asked option value may be given by a value
        the reward's fuzzy rule matches ('3 ounce (pack of 1)' for '1 ounce'), which the expert
        settles for only when it cannot look further."""
        wish, page = self.wish, self.page
        seen = self.seen[self.current] if self.current else Seen()
        missing, clicks, chosen = [], [], dict(self.chosen)
        for wanted in wish.options:
            value = _offered(wanted, page.options, fuzzy=lenient)
            if value is None:
                missing.append(wanted)
                continue
            group, text = value
            if chosen.get(group) != text:
                chosen[group] = text
                clicks.append(text)
        # attribute phrases: in the title, or in a sub-page looked at (the reward's rule too)
        haystacks = [page.title.lower(), *(t.lower() for t in seen.texts.values())]
        unverified = [a for a in wish.attributes if not any(a in h for h in haystacks)]
        prices = price_range(page.price)
        too_expensive = prices is not None and prices[0] > wish.price
        order = [v for values in page.options.values() for v in values]
        clicks.sort(key=lambda v: order.index(v) if v in order else len(order))
        return Verdict(missing, clicks, list(chosen.values()), unverified, too_expensive)

    def _problem(self, verdict: Verdict) -> str:
        if verdict.too_expensive:
            return f"costs more than {self._price_text()} dollars"
        if verdict.missing_options:
            return f"does not have the {' or '.join(verdict.missing_options)} option"
        return ""

    def _judge(self) -> tuple[str, str]:
        verdict = self._verdict()
        seen = self.seen.setdefault(self.current or "?", Seen())
        finish = len(verdict.clicks) + 1  # option clicks, then Buy Now
        retry = 2 + len(self.wish.options) + 1  # back, open another listing, options, buy
        problem = self._problem(verdict)
        if problem and self.left >= finish + retry and not self._desperate():
            seen.ruled_out = problem
            return self._say(_REJECT, why=problem), f"click[{PREV_PAGE}]"
        if problem:  # no other listing to try: settle for fuzzy matches of the options
            verdict = self._verdict(lenient=True)
            problem = self._problem(verdict)
            finish = len(verdict.clicks) + 1
        if not problem and verdict.unverified:
            attrs = " and ".join(verdict.unverified)
            better = self._better_listing()
            if better and not seen.texts and self.left >= finish + retry:
                return self._say(_SWITCH, other=better), f"click[{PREV_PAGE}]"
            # Features first (listings list their attributes there); the Description only
            # with steps to spare for two more listings after it (it rarely adds any).
            if "Features" not in seen.texts and self.left >= finish + 2:
                return self._say(_CHECK, attrs=attrs, page="features"), "click[Features]"
            if "Description" not in seen.texts and self.left >= finish + 2 + 2 * retry:
                return self._say(_CHECK, attrs=attrs, page="description"), "click[Description]"
            if self.left >= finish + retry and not self._desperate():
                problem = f"is not {attrs}"
                seen.ruled_out = problem
                return self._say(_REJECT, why=problem), f"click[{PREV_PAGE}]"
        action = f"click[{verdict.clicks[0]}]" if verdict.clicks else f"click[{BUY_NOW}]"
        seen.fits = not (problem or verdict.unverified)
        if self.committed == self.current:
            return "", action
        # the first step of buying this listing says why (once: applied when it is taken)
        self._commit = self.current
        return self._buy_thought(verdict, problem, verdict.unverified), action

    def _better_listing(self) -> str | None:
        """A listing of the last results that shows more of the asked attributes in its title
        than the open item (which someone else may have opened), or None."""
        title = self.page.title.lower()
        here = sum(a in title for a in self.wish.attributes)
        best = None
        for listing in self.results:
            score = self._fits_listing(listing)
            if listing.asin == self.current or score is None or score[1] <= here:
                continue
            if best is None or score[1] > best[0]:
                best = (score[1], listing.asin)
        return best[1] if best else None

    def _desperate(self) -> bool:
        """Every query tried and no other listing of the last results left to check: take a
        listing that has all but some unseen attributes."""
        if not all(q in self.searched for q in self.queries):
            return False
        others = [x for x in self.results if x.asin != self.current]
        return all(self._fits_listing(x) is None for x in others)

    def _buy_thought(self, verdict: Verdict, problem: str, unverified: list[str]) -> str:
        if problem or unverified:
            return self._say(_SETTLE if self._desperate() else _HURRY)
        goal = _strip_opening(self.wish.text)
        if verdict.chosen:
            quoted = [f"'{v}'" for v in verdict.chosen]
            has = "options " + " and ".join(quoted) if len(quoted) > 1 else f"option {quoted[0]}"
        else:
            has = "what I need"
        return self._say(_BUY, goal=goal, has=has)

    def _say(self, templates: Sequence[str], **slots: str) -> str:
        return self.rng.choice(templates).format(**slots)


def _offered(
    wanted: str, options: dict[str, list[str]], fuzzy: bool = False
) -> tuple[str, str] | None:
    """(group, value) of the item's option that gives `wanted`: the same text (or the text
    with ' (pack of 1)'), else, when `fuzzy`, a value the reward's fuzzy rule matches; None."""
    for group, values in options.items():
        for value in values:
            if value == wanted or value == wanted + _PACK_OF_ONE:
                return group, value
    if not fuzzy:
        return None
    for group, values in options.items():
        for value in values:
            if fuzzy_match(normalize_color(value), normalize_color(wanted)):
                return group, value
    return None
