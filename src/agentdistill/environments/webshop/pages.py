"""The shop's pages: the state machine an agent browses, and its two text renderings.

Pages (the real site's): the search page; result pages (`Back to Search`, `< Prev` after page
1, `Next >`, then each hit's asin, title and price, 10 a page out of the top 50); an item page
(option groups with their values, title, `Price: $x`, `Rating: N.A.`, `Description`,
`Features`, `Reviews`, `Buy Now`, with `Back to Search` and `< Prev` on top); the three
sub-pages (`< Prev` returns to the item); and the page after `Buy Now`, which ends the episode.

Actions are parsed as the real text environment parses them: `re.match(r"(.+)\\[(.+)\\]")`
gives the verb and argument, the argument is lower-cased, `search[keywords]` searches from the
search page, and `click[x]` clicks the button, asin or option value whose lower-cased text is
`x`. Anything else leaves the page as it is, with reward 0.

Two renderings of a page (`Mode`):

- "react" (the default: what ReAct's WebShop agents read): the text ReAct's notebook makes of
  the real pages (`webshop_text`): each visible string on its own line as `\\n` + text + ` `,
  buttons and asins as `[Text]`, option values as `[v]` run together after their group's name
  (`[[v]]` when chosen), the instruction hidden after the first page, only the first 3 results
  of a page shown. Its protocol (`webshopEnv.step`): `think[...]` is answered `OK.`, an option
  click `You have clicked {v}.`, `Buy Now` with the score, and an action the page does not
  allow `Invalid action!`; `Next >` and `< Prev` on result pages are not allowed (ReAct's "ad
  hoc page limitation"; `paging=True` allows them).
- "text" (the gym text mode of AgentBench and AgentGym): the visible strings, stripped,
  joined by ` [SEP] `; an invalid action or an option click answers with the current page.

Deviations, kept small and deliberate: searching is allowed from the search page only, in
both modes (ReAct's rule; the gym environment lists `search` as available there only, though
its `step` would search from anywhere); clicks that ReAct's code lets through on pages where
nothing happens (an unknown click on the search page or a sub-page re-renders the page there)
are invalid here; text mode's last page shows the score without the MTurk code and the hidden
debugging block of the real `done_page.html`; the `Attributes` sub-page (hidden on the real
site) does not exist; ReAct's `clean_str` (an escape-decoding round trip that garbles
non-ASCII text) is not applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from agentdistill.environments.webshop.catalog import Product
from agentdistill.environments.webshop.goals import Goal
from agentdistill.environments.webshop.reward import NounExtractor, RewardInfo, get_reward
from agentdistill.environments.webshop.shop import Shop

Mode = Literal["react", "text"]

ACTION_PATTERN = re.compile(r"(.+)\[(.+)\]")
BACK_TO_SEARCH = "Back to Search"
NEXT_PAGE = "Next >"
PREV_PAGE = "< Prev"
BUY_NOW = "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
SEARCH_BUTTON = "Search"
INVALID = "Invalid action!"
THINK_REPLY = "OK."
PRODUCT_WINDOW = 10
"""Hits per result page (the real engine's)."""
REACT_SHOWN = 3
"""Hits of a page ReAct's observation shows."""
SCORE_LABEL = "Your score (min 0.0, max 1.0)"
THANKS = "Thank you for shopping with us!"


class PageKind(StrEnum):
    SEARCH = "search"
    RESULTS = "results"
    ITEM = "item"
    SUB = "item_sub"
    DONE = "done"


def parse_action(action: str) -> tuple[str, str | None]:
    """(verb, argument) as the real engine's `parse_action`: `search[red shoes]` ->
    ('search', 'red shoes'); text without `x[y]` -> (text, None). The match is greedy and
    anchored at the start only: `click[a] extra` is ('click', 'a')."""
    match = ACTION_PATTERN.match(action)
    if match is None:
        return action, None
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Transition:
    """What one action did."""

    observation: str
    valid: bool
    done: bool = False
    reward: float = 0.0
    purchase: RewardInfo | None = None


@dataclass
class Browser:
    """One shopper's session on a shop, for one goal."""

    shop: Shop
    goal: Goal
    nouns: NounExtractor
    mode: Mode = "react"
    paging: bool = False
    """ReAct mode only: allow `Next >` / `< Prev` on result pages (ReAct forbids them)."""
    kind: PageKind = PageKind.SEARCH
    keywords: str = ""
    hits: list[Product] = field(default_factory=list)
    page: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    sub_page: str = ""
    reward: float | None = None

    # ---- acting ------------------------------------------------------------------------------
    def step(self, action: str) -> Transition:
        """Apply an action (already stripped of surrounding whitespace)."""
        if self.kind == PageKind.DONE:
            raise RuntimeError("the session is over")
        verb, argument = parse_action(action)
        if verb == "think" and argument is not None and self.mode == "react":
            return Transition(THINK_REPLY, valid=True)
        if verb == "search" and argument is not None:
            if self.kind != PageKind.SEARCH or not argument.strip():
                return self._invalid()
            self._search(argument.lower())
            return Transition(self.observation(), valid=True)
        if verb == "click" and argument is not None:
            return self._click(argument.lower())
        return self._invalid()

    def _invalid(self) -> Transition:
        return Transition(INVALID if self.mode == "react" else self.observation(), valid=False)

    def _search(self, keywords: str) -> None:
        self.keywords = keywords
        self.hits = self.shop.search(keywords)
        self.page = 1
        self.asin = None
        self.options = {}
        self.kind = PageKind.RESULTS

    def _click(self, target: str) -> Transition:
        kind = self.kind
        if target == BACK_TO_SEARCH.lower() and kind != PageKind.SEARCH:
            self.kind, self.keywords, self.hits = PageKind.SEARCH, "", []
            self.asin, self.options = None, {}
            return Transition(self.observation(), valid=True)
        if kind == PageKind.RESULTS:
            return self._click_results(target)
        if kind == PageKind.ITEM:
            return self._click_item(target)
        if kind == PageKind.SUB and target == PREV_PAGE.lower():
            self.kind = PageKind.ITEM
            return Transition(self.observation(), valid=True)
        return self._invalid()

    def _click_results(self, target: str) -> Transition:
        paging = self.mode == "text" or self.paging
        if target == NEXT_PAGE.lower() and paging:
            self.page += 1
            return Transition(self.observation(), valid=True)
        if target == PREV_PAGE.lower() and paging and self.page > 1:
            self.page -= 1
            return Transition(self.observation(), valid=True)
        for product in self.page_hits():
            if product.asin.lower() == target:
                self.kind, self.asin, self.options = PageKind.ITEM, product.asin, {}
                return Transition(self.observation(), valid=True)
        return self._invalid()

    def _click_item(self, target: str) -> Transition:
        if target == BUY_NOW.lower():
            return self._buy()
        if target == PREV_PAGE.lower():
            self.kind, self.asin, self.options = PageKind.RESULTS, None, {}
            return Transition(self.observation(), valid=True)
        for name in SUB_PAGES:
            if target == name.lower():
                self.kind, self.sub_page = PageKind.SUB, name
                return Transition(self.observation(), valid=True)
        # Option values: a value listed in two groups belongs to the last (the original's
        # clickable table is a dict filled group by group).
        group = None
        for name, values in self.product.options.items():
            if target in (v.lower() for v in values):
                group = name
        if group is None:
            return self._invalid()
        value = next(v for v in self.product.options[group] if v.lower() == target)
        self.options[group] = value
        if self.mode == "react":
            return Transition(f"You have clicked {value}.", valid=True)
        return Transition(self.observation(), valid=True)

    def _buy(self) -> Transition:
        product = self.product
        info = get_reward(product, self.goal, product.price, dict(self.options), self.nouns)
        self.kind, self.reward = PageKind.DONE, info.total
        observation = self.observation()
        return Transition(observation, valid=True, done=True, reward=info.total, purchase=info)

    # ---- reading -----------------------------------------------------------------------------
    @property
    def product(self) -> Product:
        if self.asin is None:
            raise RuntimeError("no item is open")
        return self.shop.products[self.asin]

    def page_hits(self) -> list[Product]:
        """The hits of the current result page (all 10, shown or not)."""
        start = (self.page - 1) * PRODUCT_WINDOW
        return self.hits[start : start + PRODUCT_WINDOW]

    def clickables(self) -> list[str] | None:
        """What can be clicked on the page, as its text shows it (None on the search page,
        where the action is a free-text search). In ReAct mode: only the shown hits, and no
        paging buttons unless `paging`."""
        if self.kind in (PageKind.SEARCH, PageKind.DONE):
            return None
        found = [BACK_TO_SEARCH]
        if self.kind == PageKind.RESULTS:
            if self.mode == "text" or self.paging:
                found += [PREV_PAGE] if self.page > 1 else []
                found.append(NEXT_PAGE)
            hits = self.page_hits()
            found += [p.asin for p in (hits[:REACT_SHOWN] if self.mode == "react" else hits)]
        elif self.kind == PageKind.ITEM:
            found.append(PREV_PAGE)
            for values in self.product.options.values():
                found += values
            found += [*SUB_PAGES, BUY_NOW]
        else:
            found.append(PREV_PAGE)
        unique: dict[str, str] = {}
        for text in found:
            unique.setdefault(text.lower(), text)
        return list(unique.values())

    def observation(self) -> str:
        """The current page's text in the session's mode."""
        return self._react() if self.mode == "react" else self._text()

    def _react(self) -> str:
        """ReAct's `webshop_text` of the real page."""

        def line(text: str) -> str:  # a regular string: '\n' + text + ' ' (blank ones vanish)
            return "" if not text.replace("\n", "").replace(" ", "") else f"\n{text} "

        instruction = self.goal.instruction
        if self.kind == PageKind.SEARCH:
            return line("WebShop") + line("Instruction: ") + line(instruction) + "\n[Search] "
        if self.kind == PageKind.DONE:
            return f"{SCORE_LABEL}: {self.reward}"
        out = f"\n[{BACK_TO_SEARCH}] "
        if self.kind == PageKind.RESULTS:
            out += line(f"Page {self.page} (Total results: {len(self.hits)})")
            out += f"\n[{PREV_PAGE}] " if self.page > 1 else ""
            out += f"\n[{NEXT_PAGE}] "
            for product in self.page_hits()[:REACT_SHOWN]:
                out += f"\n[{product.asin}] " + line(product.name) + line(product.price_tag)
            return out
        out += f"\n[{PREV_PAGE}] "
        product = self.product
        if self.kind == PageKind.ITEM:
            chosen = set(self.options.values())
            for name, values in product.options.items():
                out += line(name)
                out += "".join(f"[[{v}]]" if v in chosen else f"[{v}]" for v in values)
            out += line(product.name) + line(f"Price: {product.price_tag}") + line("Rating: N.A.")
            out += "".join(f"\n[{b}] " for b in (*SUB_PAGES, BUY_NOW))
            return out
        if self.sub_page == "Description":
            return out + line(product.description)
        if self.sub_page == "Features":
            return out + "".join(line(f" {b}") for b in product.bullet_points)
        return out  # Reviews: the shop has none

    def _text(self) -> str:
        """The gym text mode: visible strings joined by ' [SEP] '."""
        instruction = self.goal.instruction
        if self.kind == PageKind.SEARCH:
            parts = ["WebShop", "Instruction:", instruction, SEARCH_BUTTON]
        elif self.kind == PageKind.DONE:
            parts = [THANKS, SCORE_LABEL, str(self.reward)]
        else:
            parts = ["Instruction:", instruction, BACK_TO_SEARCH]
            if self.kind == PageKind.RESULTS:
                parts.append(f"Page {self.page} (Total results: {len(self.hits)})")
                parts += [PREV_PAGE] if self.page > 1 else []
                parts.append(NEXT_PAGE)
                for product in self.page_hits():
                    parts += [product.asin, product.name, product.price_tag]
            else:
                parts.append(PREV_PAGE)
                product = self.product
                if self.kind == PageKind.ITEM:
                    for name, values in product.options.items():
                        parts += [name, *values]
                    parts += [product.name, f"Price: {product.price_tag}", "Rating: N.A."]
                    parts += [*SUB_PAGES, BUY_NOW]
                elif self.sub_page == "Description":
                    parts.append(product.description)
                elif self.sub_page == "Features":
                    parts += product.bullet_points
        return " [SEP] ".join(p.strip() for p in parts if p.strip())
