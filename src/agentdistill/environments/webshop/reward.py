"""The purchase reward: the real benchmark's `get_reward` (web_agent_site/engine/goal.py).

    info = get_reward(product, goal, price=product.price, options={"size": "3 ounce"}, nouns=n)
    info.total   # in [0, 1]; an episode is a success when it is exactly 1.0

    r_type   title_score = |nouns(bought title) & nouns(goal name)| / |nouns(goal name)| (0.2
             when the goal name has no noun); r_type = 1, then 0.5 unless (same query, or >= 2
             shared category path parts, or title_score > 0.2), then 0.1 if title_score < 0.1,
             then 0 if title_score == 0
    attr     a goal attribute matches when token_set_ratio(product attribute, it) > 85 for some
             attribute of the product, else when it is a substring of the lower-cased title,
             bullet points (joined by spaces) or description
    option   a goal option matches when token_set_ratio(normalize_color(bought value),
             normalize_color(it)) > 85 for some chosen value
    price    1 when the charged price <= the goal's bound
    total    r_type * (attr matches + option matches + price) / (attributes + options + 1)

Fuzzy scores are thefuzz's, which the original calls: both strings processed (non-ASCII
dropped, non-word characters to spaces, lower case, trimmed), rapidfuzz's token_set_ratio of
them, rounded to an integer. Nouns come from a pluggable extractor: spaCy's tagger (tags NOUN,
PROPN) when spaCy and an English model are installed, as the original; otherwise
`LexiconNouns`, exact for the generated shop's titles (the generator knows which of its title
words are nouns), or `HeuristicNouns` for real product titles (approximate: see its doc).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from rapidfuzz import fuzz

from agentdistill.environments.webshop.catalog import Product
from agentdistill.environments.webshop.goals import Goal

MATCH_THRESHOLD = 85
"""A fuzzy score above this is a match (the original's)."""

# web_agent_site/engine/normalize.py: the base colours `normalize_color` looks for, in order
# (the first one contained in a value, as a substring, stands for it).
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black",
    "blue", "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel",
    "champagne", "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee",
    "cognac", "copper", "coral", "cranberry", "cream", "crystal", "dark", "denim", "eggplant",
    "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite", "grass", "gray",
    "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon",
    "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight",
    "mint", "mocha", "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive",
    "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow", "red", "rose", "royal",
    "rust", "sand", "sapphire", "seashell", "silver", "skull", "slate", "steel", "stone",
    "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet", "walnut",
    "wheat", "white", "wine", "yellow",
)  # fmt: skip

NOUN_TAGS = frozenset({"PNOUN", "NOUN", "PROPN"})
"""The part-of-speech tags the original counts as nouns ('PNOUN' is not a spaCy tag, kept
as the original lists it)."""


def normalize_color(value: str) -> str:
    """The first base colour contained in `value`, else `value` (the original's)."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


_NON_WORD = re.compile(r"(?ui)\W")


def _full_process(text: str) -> str:
    """thefuzz's `full_process` with force_ascii: drop non-ASCII, non-word chars -> spaces,
    lower case, trim."""
    ascii_text = "".join(c for c in text if ord(c) < 128)
    return _NON_WORD.sub(" ", ascii_text).lower().strip()


def token_set_ratio(a: str, b: str) -> int:
    """thefuzz's `fuzz.token_set_ratio(a, b)` (processed, integer score)."""
    return round(fuzz.token_set_ratio(_full_process(a), _full_process(b)))


def fuzzy_match(a: str, b: str) -> bool:
    return token_set_ratio(a, b) > MATCH_THRESHOLD


# ---- nouns ---------------------------------------------------------------------------------


class NounExtractor(Protocol):
    """Lower-cased nouns of a title, in order (duplicates allowed)."""

    def __call__(self, text: str) -> list[str]: ...


class SpacyNouns:
    """spaCy's tagger, as the original (`en_core_web_sm`, tags NOUN/PROPN)."""

    def __init__(self, model: str = "en_core_web_sm") -> None:
        import spacy  # optional: only when a model is installed

        self.nlp = spacy.load(model)
        self._cache: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        if text not in self._cache:
            self._cache[text] = [t.text.lower() for t in self.nlp(text) if t.pos_ in NOUN_TAGS]
        return self._cache[text]


_WORD = re.compile(r"[a-z0-9]+")


class LexiconNouns:
    """The words of a text that a lexicon lists as nouns.

    Exact for the generated catalog: its titles are built from parts whose nouns the generator
    knows (brand names, the product type's words, the nouns of attribute phrases and
    catch-phrases; `Catalog.noun_lexicon`), so extracting them needs no tagger.
    """

    def __init__(self, lexicon: Iterable[str]) -> None:
        self.lexicon = frozenset(w.lower() for w in lexicon)

    def __call__(self, text: str) -> list[str]:
        return [w for w in _WORD.findall(text.lower()) if w in self.lexicon]


# Words real titles are full of that are not nouns (determiners, prepositions, adjectives and
# marketing words); everything else alphabetic counts as a noun in `HeuristicNouns`.
_NOT_NOUNS = frozenset(
    {
        "a", "an", "and", "or", "the", "of", "for", "with", "without", "in", "on", "at", "to",
        "by", "from", "into", "per", "as", "is", "are", "be", "it", "its", "this", "that",
        "these", "those", "your", "our", "my", "his", "her", "their", "new", "natural",
        "organic", "premium", "best", "great", "high", "low", "long", "short", "large",
        "small", "big", "little", "mini", "extra", "super", "ultra", "soft", "hard", "light",
        "dark", "fresh", "free", "non", "easy", "quick", "fast", "slow", "durable", "portable",
        "adjustable", "compatible", "waterproof", "lightweight", "heavy", "duty",
        "professional", "original", "classic", "modern", "vintage", "cute", "pure", "deep",
        "full", "half", "double", "single", "multi", "anti", "all", "more", "most", "plus",
        "pro", "max", "x", "xl", "xxl", "s", "m", "l", "one", "two", "three", "four", "five",
        "six", "ten", "pack", "count", "ounce", "oz", "fl", "inch", "inches", "ft", "feet",
        "lb", "lbs", "pound", "pounds", "ml", "g", "kg", "mm", "cm",
    }
)  # fmt: skip


class HeuristicNouns:
    """Fallback for real product titles without spaCy: alphabetic words of two letters or
    more that are not common function words, adjectives or units. Approximate: it keeps some
    adjectives spaCy would not count, so title scores of real purchases may differ slightly
    from the original's (install spaCy and `en_core_web_sm` for the exact ones)."""

    def __call__(self, text: str) -> list[str]:
        words = re.findall(r"[a-z][a-z']+", text.lower())
        return [w for w in (w.removesuffix("'s") for w in words) if w not in _NOT_NOUNS]


@lru_cache(maxsize=1)
def spacy_nouns(model: str = "en_core_web_sm") -> SpacyNouns | None:
    """spaCy's extractor when spaCy and its English model load, else None."""
    # Importing spaCy takes seconds: look for the model's package first.
    if importlib.util.find_spec("spacy") is None or importlib.util.find_spec(model) is None:
        return None
    try:
        return SpacyNouns(model)
    except (ImportError, OSError):  # a broken install (OSError: model not loadable)
        return None


# ---- reward --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardInfo:
    """The reward and its parts (the original's `verbose` info)."""

    total: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: bool
    query_match: bool
    category_match: bool
    title_score: float
    attr_matches: int
    option_matches: int

    def as_dict(self) -> dict[str, float | bool | None]:
        return {
            "r_type": self.r_type,
            "r_att": self.r_att,
            "r_option": self.r_option,
            "r_price": self.r_price,
            "query_match": self.query_match,
            "category_match": self.category_match,
            "title_score": self.title_score,
        }


def _category_parts(path: str) -> set[str]:
    return {part.strip() for part in path.split("\u203a")}


def type_reward(
    product: Product, goal: Goal, nouns: NounExtractor
) -> tuple[float, bool, bool, float]:
    """(r_type, query_match, category_match, title_score) of the original's get_type_reward."""
    query_match = product.query == goal.query
    shared = _category_parts(product.product_category) & _category_parts(goal.product_category)
    category_match = len(shared) >= 2
    bought = set(nouns(product.name))
    wanted = nouns(goal.name)
    title_score = 0.2 if not wanted else len(bought & set(wanted)) / len(wanted)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(product: Product, goal_attributes: list[str]) -> int:
    """How many goal attributes the product has: fuzzily among its attributes, else as a
    substring of its lower-cased title, bullet points or description."""
    title = product.name.lower()
    bullets = " ".join(product.bullet_points).lower()
    description = product.description.lower()
    count = 0
    for wanted in goal_attributes:
        fuzzy = any(fuzzy_match(have, wanted) for have in product.attributes)
        if fuzzy or wanted in title or wanted in bullets or wanted in description:
            count += 1
    return count


def option_matches(chosen: list[str], goal_options: list[str]) -> int:
    """How many goal options some chosen option value matches (colours normalised)."""
    have = [normalize_color(v) for v in chosen]
    count = 0
    for wanted in (normalize_color(v) for v in goal_options):
        if any(fuzzy_match(value, wanted) for value in have):
            count += 1
    return count


def get_reward(
    product: Product,
    goal: Goal,
    price: float,
    options: dict[str, str],
    nouns: NounExtractor | Callable[[str], list[str]],
) -> RewardInfo:
    """The reward of buying `product` at `price` with `options` chosen, for `goal`."""
    r_type, query_match, category_match, title_score = type_reward(product, goal, nouns)
    r_price = price <= goal.price_upper if goal.price_upper > 0 else False
    n_attr = attribute_matches(product, goal.attributes)
    n_option = option_matches(list(options.values()), goal.options)
    total = (n_attr + n_option + int(r_price)) / (len(goal.attributes) + len(goal.options) + 1)
    total *= r_type
    return RewardInfo(
        total=total,
        r_type=r_type,
        r_att=n_attr / len(goal.attributes) if goal.attributes else 0.0,
        r_option=n_option / len(goal.options) if goal.options else None,
        r_price=r_price,
        query_match=query_match,
        category_match=category_match,
        title_score=title_score,
        attr_matches=n_attr,
        option_matches=n_option,
    )


def is_success(reward: float) -> bool:
    """An episode succeeds when its purchase earns exactly 1.0 (the benchmark's success rate)."""
    return reward == 1.0


def score(rewards: Sequence[float]) -> float:
    """The benchmark's score: the mean final reward x 100 (an episode without a purchase
    counts 0)."""
    return 100.0 * sum(rewards) / len(rewards) if rewards else 0.0
