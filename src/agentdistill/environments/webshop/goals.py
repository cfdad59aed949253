"""Shopping goals: what to buy, as an instruction in the benchmark's words, and the splits.

    goals = generate_goals(catalog, GoalConfig())      # shuffled, deterministic
    split_goals(goals, GoalConfig())["test"]            # the first 500, as ReAct's test set

A goal names a target listing (its asin, title, query and category: what the reward compares
a purchase with), the attributes and option values the instruction asks for, and a price bound.
The instruction is written like WebShop's human instructions and always ends with the real
benchmark's price clause: `, and price lower than {X:.2f} dollars`.

The price bound follows the real `get_human_goals`: of the multiples of 10 above the target's
price, take the first four, draw two, keep the larger (so the bound is 10 to 40 dollars above
the price). Other products of the same type (near-duplicates) differ in attributes, offered
options and price, so the instruction is met by checking item pages, not by the title alone.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from agentdistill.config import Config
from agentdistill.environments.webshop import vocab
from agentdistill.environments.webshop.catalog import Catalog, Product
from agentdistill.environments.webshop.vocab import FOR_ATTRIBUTES

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
"""Candidate price bounds (the real engine's)."""
NO_PRICE_BOUND = 1_000_000.0
"""The real engine's bound when a product costs too much for `PRICE_RANGE` (no price clause)."""
SPLITS = ("train", "eval", "test")


class Goal(BaseModel):
    """One shopping goal with what the reward needs (the real engine's goal dict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    asin: str = Field(description="The listing the goal was written for.")
    instruction: str = Field(description="The instruction text, price clause included.")
    attributes: list[str] = Field(description="Attribute phrases the goal asks for.")
    options: list[str] = Field(default_factory=list, description="Option values it asks for.")
    price_upper: float = Field(description="Price bound in dollars.")
    name: str = Field(description="Title of the target listing (the type reward's reference).")
    query: str = Field(description="Product type of the target (its search query).")
    product_category: str = Field(description="Category path of the target 'A \u203a B \u203a C'.")
    category: str = Field(default="", description="Coarse category of the target.")


class GoalConfig(Config):
    """How goals are drawn from a generated catalog and split."""

    seed: int = Field(default=0, description="Random seed of the goals (and their order).")
    n_goals: int = Field(
        default=5000, ge=3, description="Number of goals (targets cycle through the catalog)."
    )
    n_test: int = Field(default=500, ge=1, description="Test goals: the first ones (ReAct's 500).")
    n_eval: int = Field(default=500, ge=1, description="Eval goals: the next ones.")

    def bounds(self, split: str) -> tuple[int, int]:
        """[start, end) of a split in the goal list: test, then eval, then train (the rest)."""
        if split == "test":
            return 0, self.n_test
        if split == "eval":
            return self.n_test, self.n_test + self.n_eval
        if split == "train":
            return self.n_test + self.n_eval, max(self.n_goals, self.n_test + self.n_eval)
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def price_bound(price: float, rng: random.Random) -> tuple[float, str]:
    """(bound, clause) as the real `get_human_goals` draws them."""
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) >= 2:
        _, upper = sorted(rng.sample(candidates, 2))
        return upper, f", and price lower than {upper:.2f} dollars"
    return NO_PRICE_BOUND, ""


# ---- instruction text ------------------------------------------------------------------------
_PACK_OF_ONE = " (pack of 1)"


def _article(phrase: str) -> str:
    """'a ' / 'an ' before a singular phrase; nothing before a plural or mass noun."""
    last = phrase.split(" ")[-1]
    if last in _MASS_NOUNS or (last.endswith("s") and not last.endswith("ss")):
        return ""
    return "an " if phrase[:1] in "aeiou" else "a "


_MASS_NOUNS = frozenset(
    {
        "lotion", "moisturizer", "cream", "shampoo", "conditioner", "oil", "wash", "balm",
        "polish", "foundation", "perfume", "coffee", "tea", "jerky", "granola", "mix", "sauce",
        "honey", "candy", "water", "toothpaste", "detergent", "soap", "sanitizer", "litter",
        "food", "deodorant",
    }
)  # fmt: skip


def _join(items: list[str], last: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def _option_phrase(rng: random.Random, group: str, value: str) -> str:
    """How an instruction asks for an option value ('in bright citrus scent')."""
    word = {"flavor name": "flavor", "color": "color", "scent": "scent", "style": "style"}.get(
        group, "size"
    )
    forms = (f"in {value} {word}", f"with {word} {value}", f"in {value}")
    if group == "size":
        forms = (f"in size {value}", f"in {value} size", f"in {value}")
    return rng.choice(forms)


def write_instruction(
    rng: random.Random, query: str, attributes: list[str], options: list[tuple[str, str]]
) -> str:
    """An instruction (without the price clause) asking for a product type, attribute phrases
    and option values, each written verbatim (a size value may drop its '(pack of 1)')."""
    adjectives = [a for a in attributes if a not in FOR_ATTRIBUTES]
    fors = [a for a in attributes if a in FOR_ATTRIBUTES]
    for_text = f" for {_join(fors)}" if fors else ""
    size = next((v for g, v in options if g == "size" and "(pack of" not in v), None)
    size = size or next((v for g, v in options if g == "size" and v.endswith(_PACK_OF_ONE)), None)
    container = next((t.container for t in vocab.TYPES if t.query == query), "")
    style = rng.randrange(6)
    if style == 5 and size is not None and container:
        # "i would like a 3 ounce stick of aluminum free deodorant ..." (a size as a container)
        rest = [(g, v) for g, v in options if (g, v) != ("size", size)]
        phrases = [_option_phrase(rng, g, v) for g, v in rest]
        core = size.removesuffix(_PACK_OF_ONE)
        head = f"i would like {_article(core) or 'a '}{core} {container} of "
        body = f"{' '.join(adjectives) + ' ' if adjectives else ''}{query}{for_text}"
        return head + body + (" " + _join(phrases) if phrases else "")
    phrases = [_option_phrase(rng, g, v) for g, v in options]
    option_text = (" " + _join(phrases)) if phrases else ""
    if style in (0, 5):
        adj = ", ".join(adjectives)
        noun = f"{adj} {query}" if adj else query
        return f"i need {_article(noun)}{noun}{for_text}{option_text}"
    if style == 1:
        that = f" that is {_join(adjectives)}" if adjectives else ""
        return f"i am looking for {_article(query)}{query}{that}{for_text}{option_text}"
    if style == 2:
        which = f" which is {_join(adjectives)}" if adjectives else ""
        tail = f", and it should be {_join([p.removeprefix('with ') for p in phrases])}"
        return f"i want to buy {_article(query)}{query}{which}{for_text}" + (
            tail if phrases else ""
        )
    if style == 3:
        adj = " and ".join(adjectives)
        noun = f"{adj} {query}" if adj else query
        named = [f"{group}: {value}" for group, value in options]
        with_text = f" with {_join(named)}" if named else ""
        return f"find me {_article(noun)}{noun}{for_text}{with_text}"
    adj = " ".join(adjectives)
    noun = f"{adj} {query}" if adj else query
    return f"show me {_article(noun)}{noun}{for_text}{option_text}"


def goal_for(rng: random.Random, product: Product) -> Goal:
    """A goal targeting `product`: one to three of its attributes, one or two option values."""
    k = min(len(product.attributes), rng.choice((1, 2, 2, 3)))
    attributes = rng.sample(product.attributes, k=k)
    groups = list(product.options)
    asked = rng.sample(groups, k=min(len(groups), rng.choice((1, 2, 2))))
    options = [(g, rng.choice(product.options[g])) for g in groups if g in asked]
    upper, clause = price_bound(product.price, rng)
    text = write_instruction(rng, product.query, attributes, options) + clause
    return Goal(
        asin=product.asin,
        instruction=text,
        attributes=attributes,
        options=[v for _, v in options],
        price_upper=upper,
        name=product.name,
        query=product.query,
        product_category=product.product_category,
        category=product.category,
    )


def generate_goals(catalog: Catalog, config: GoalConfig | None = None) -> list[Goal]:
    """`config.n_goals` goals, in their split order (test first, then eval, then train).

    Targets are the catalog's products in a shuffled order (cycling when there are more goals
    than products); everything is drawn from `config.seed`.
    """
    config = config or GoalConfig()
    rng = random.Random(config.seed)
    order = list(catalog.products)
    rng.shuffle(order)
    return [goal_for(rng, order[i % len(order)]) for i in range(config.n_goals)]


def split_goals(goals: list[Goal], config: GoalConfig) -> dict[str, list[tuple[int, Goal]]]:
    """(index in the goal list, goal) of each split."""
    out = {}
    for split in SPLITS:
        start, end = config.bounds(split)
        out[split] = [(i, goals[i]) for i in range(start, min(end, len(goals)))]
    return out
