"""The shop's products: the record, and a deterministic generator of a WebShop-like catalog.

    catalog = generate_catalog(CatalogConfig(seed=0))     # 5,000 products, well under a second
    catalog.products[0].name, catalog.by_asin["B0..."]
    write_catalog("data")                                 # data/webshop/catalog.jsonl

A `Product` carries what the real benchmark's loader keeps of an Amazon listing (title,
description, bullet points, price or price range, category path, search query, attributes,
option groups). The generator draws near-duplicates from each product type of `vocab`: same
type, different brand, attributes, offered option values and price, so that the listing that
fits an instruction is found by opening item pages, not by reading the result list alone.

Where the text of a product tells its attributes: the title shows one to three of them, the
bullet points (Features) and the description show all of them, and no product's text shows an
attribute of its type that it lacks (the reward's substring rule would credit it otherwise).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agentdistill.config import Config
from agentdistill.environments.webshop import vocab
from agentdistill.environments.webshop.vocab import FOR_ATTRIBUTES, SEP, TypeSpec
from agentdistill.records import read_jsonl, write_jsonl

CATALOG_VERSION = 1
"""Bumped whenever the generator's output changes for a seed: a task records the version of
the catalog it was drawn from, and an environment refuses a task of another version (its
products would not be the ones the goal was written for)."""

CATALOG_FILE = "catalog.jsonl"
MAX_TITLE_NOUNS = 10
_ASIN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ASIN_PATTERN = re.compile(r"\bB0[A-Z0-9]{8}\b")
"""An ASIN in text: the generated catalog's, and the real benchmark's B0 ids."""
# Words written in capitals in titles (the rest is title-cased).
_ACRONYMS = {
    "usb": "USB", "hdmi": "HDMI", "led": "LED", "spf": "SPF", "bpa": "BPA", "gmo": "GMO",
    "ul": "UL", "rgb": "RGB", "uv": "UV", "dpi": "DPI", "d3": "D3", "4k": "4K", "xl": "XL",
}  # fmt: skip


class Product(BaseModel):
    """One listing, with the fields the real loader keeps (`engine.load_products`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    asin: str = Field(description="Product id: 10 characters, e.g. 'B078GWRC1J'.")
    name: str = Field(description="Title (the real data's `name`, the engine's `Title`).")
    description: str = Field(description="Full description (the Description page).")
    bullet_points: list[str] = Field(description="Bullet points (the Features page).")
    pricing: list[float] = Field(
        min_length=1, max_length=2, description="One price, or a [low, high] price range."
    )
    price: float = Field(
        description="What a purchase is charged: the single price, or a price drawn once "
        "within the range (hidden from the agent, as in the real engine)."
    )
    category: str = Field(description="Coarse category, e.g. 'beauty' (the real `category`).")
    query: str = Field(description="Product type: the search query the listing was found by.")
    product_category: str = Field(description="Category path 'A \u203a B \u203a C'.")
    attributes: list[str] = Field(description="Attribute phrases (hidden; used by the reward).")
    options: dict[str, list[str]] = Field(
        default_factory=dict, description="Option groups: name -> values (lower case)."
    )

    @property
    def price_tag(self) -> str:
        """The price as pages show it: '$10.99' or '$10.99 to $15.99' (the engine's format)."""
        return price_tag(self.pricing)

    def search_text(self) -> str:
        """The text the search engine indexes, as the real index builder writes it:
        lower-cased title, description, first bullet point and option values."""
        option_text = ", and ".join(
            f"{name}: {', '.join(values)}" for name, values in self.options.items()
        )
        first_bullet = self.bullet_points[0] if self.bullet_points else ""
        return " ".join([self.name, self.description, first_bullet, option_text]).lower()


def price_tag(pricing: list[float]) -> str:
    """'$10.99' or '$10.99 to $15.99': the real engine formats Python floats (so 100.0 shows as
    '$100.0'), and so does this."""
    if len(pricing) == 1:
        return f"${pricing[0]}"
    return f"${pricing[0]} to ${pricing[1]}"


class CatalogConfig(Config):
    """Which generated catalog: everything its products depend on."""

    seed: int = Field(default=0, description="Random seed of the generator.")
    n_products: int = Field(
        default=5000, ge=100, le=200_000, description="Number of products to generate."
    )
    range_share: float = Field(
        default=0.12,
        ge=0.0,
        le=1.0,
        description="Share of products listed with a price range (the charged price is hidden).",
    )

    def identity(self) -> dict[str, object]:
        """What a task records to rebuild this catalog (see `CATALOG_VERSION`)."""
        return {"source": "generated", "version": CATALOG_VERSION, **self.model_dump()}


@dataclass
class Catalog:
    """A set of products with lookups, and the noun lexicon of their titles."""

    products: list[Product]
    noun_lexicon: frozenset[str] = frozenset()
    """Lower-case title words that are nouns (the fallback noun extractor's lexicon)."""
    by_asin: dict[str, Product] = field(init=False)

    def __post_init__(self) -> None:
        self.by_asin = {p.asin: p for p in self.products}


# ---- generation ------------------------------------------------------------------------------


def title_case(text: str) -> str:
    """'men's t-shirt' -> "Men's T-Shirt"; acronyms in capitals ('usb c cable' -> 'USB C Cable')."""

    def word(w: str) -> str:
        if w in _ACRONYMS:
            return _ACRONYMS[w]
        return "-".join(part[:1].upper() + part[1:] for part in w.split("-"))

    return " ".join(word(w) for w in text.split(" "))


def _brand_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        parts = (vocab.BRAND_HEADS, vocab.BRAND_MIDS, vocab.BRAND_TAILS)
        name = "".join(rng.choice(part) for part in parts).capitalize()
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def random_asin(rng: random.Random) -> str:
    """A fresh ASIN-like id: B0 and 8 of [A-Z0-9]."""
    return "B0" + "".join(rng.choices(_ASIN_CHARS, k=8))


def _asin(rng: random.Random, taken: set[str]) -> str:
    while True:
        asin = random_asin(rng)
        if asin not in taken:
            taken.add(asin)
            return asin


def _round_price(value: float) -> float:
    """A shop-like price: whole dollars plus .99, .49, .95 or .97 cents."""
    cents = (0.99, 0.49, 0.95, 0.97)
    return round(max(1.0, float(int(value))) + cents[int(value * 100) % len(cents)], 2)


def _draw_pricing(rng: random.Random, spec: TypeSpec, range_share: float) -> list[float]:
    low, high = spec.price
    base = _round_price(rng.uniform(low, high))
    if rng.random() < range_share:
        return [base, _round_price(base * rng.uniform(1.2, 1.7))]
    return [base]


def _a(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


_ADJ_SENTENCES = (
    "This one is {attr}.",
    "{Attr} by design.",
    "Enjoy {attr} {noun} every day.",
    "Everything in this line is {attr}.",
)
_FOR_SENTENCES = (
    "Made for {attr}.",
    "A great pick for {attr}.",
    "Ideal for {attr}.",
)
_BULLET_BODIES = (
    "Thoughtfully made and carefully packed.",
    "Tested by our team before it ships.",
    "A detail our customers ask for.",
    "Made to the same standard every time.",
    "Part of what makes this one different.",
)


def _attribute_sentence(rng: random.Random, attr: str, noun: str) -> str:
    templates = _FOR_SENTENCES if attr in FOR_ATTRIBUTES else _ADJ_SENTENCES
    text = rng.choice(templates).format(noun=noun, attr=attr, Attr=attr.capitalize())
    return text


def _title(brand: str, spec: TypeSpec, shown: list[str], descriptor: str) -> str:
    adjectives = [title_case(a) for a in shown if a not in FOR_ATTRIBUTES]
    fors = [title_case(a) for a in shown if a in FOR_ATTRIBUTES]
    words = [brand, *adjectives, title_case(spec.query)]
    title = " ".join(words)
    if fors:
        title += " for " + " and ".join(fors)
    return f"{title}, {descriptor}"


def _make_product(
    rng: random.Random,
    spec: TypeSpec,
    brand: str,
    asin: str,
    range_share: float,
    lexicon: frozenset[str],
) -> Product:
    attributes = rng.sample(spec.attributes, k=min(len(spec.attributes), rng.choice((2, 3, 3, 4))))
    shown = rng.sample(attributes, k=min(len(attributes), rng.choice((1, 2, 2, 3))))
    descriptor = rng.choice(vocab.DESCRIPTORS)
    title = _title(brand, spec, shown, descriptor)
    # At most MAX_TITLE_NOUNS nouns: a near-duplicate sharing one noun with the goal's title
    # (its type) then keeps title_score >= 0.1, so the type reward still counts it as the type.
    while len({w for w in _words(title) if w in lexicon}) > MAX_TITLE_NOUNS and len(shown) > 1:
        shown.pop()
        title = _title(brand, spec, shown, descriptor)
    options: dict[str, list[str]] = {}
    for name, values in spec.options:
        count = rng.randint(min(3, len(values)), min(6, len(values)))
        chosen = set(rng.sample(values, k=count))
        options[name] = [v for v in values if v in chosen]  # the pool's order, like a listing
    pricing = _draw_pricing(rng, spec, range_share)
    # The real engine draws the charged price of a range uniformly; drawn here once per
    # product (the catalog is deterministic), to the cent.
    price = pricing[0] if len(pricing) == 1 else round(rng.uniform(pricing[0], pricing[1]), 2)
    noun = spec.query
    sentences = [_attribute_sentence(rng, a, noun) for a in attributes]
    sentences += rng.sample(vocab.FILLER, k=2)
    rng.shuffle(sentences)
    description = f"{brand} {title_case(noun)}. " + " ".join(sentences)
    bullets = [f"{a.upper()}: {rng.choice(_BULLET_BODIES)}" for a in attributes]
    unit = _a(f"{spec.container} of {noun}") if spec.container else noun
    bullets.append(f"WHAT YOU GET: {unit} from {brand}.")
    rng.shuffle(bullets)
    department = spec.path[0]
    return Product(
        asin=asin,
        name=title,
        description=description,
        bullet_points=bullets,
        pricing=pricing,
        price=price,
        category=vocab.DEPARTMENTS[department],
        query=spec.query,
        product_category=SEP.join(spec.path),
        attributes=attributes,
        options=options,
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def generate_catalog(config: CatalogConfig | None = None) -> Catalog:
    """Draw the catalog of `config`: the same products for the same config, in a fixed order.

    Products are spread evenly over the product types (near-duplicates within each), each
    department has its own brands, and the order is shuffled (as the real items file is).
    """
    config = config or CatalogConfig()
    rng = random.Random(config.seed)
    brands_taken: set[str] = set()
    brands = {department: _brand_names(rng, 24, brands_taken) for department in vocab.DEPARTMENTS}
    nouns = {w for spec in vocab.TYPES for w in vocab.type_nouns(spec)}
    nouns |= {b.lower() for names in brands.values() for b in names}
    lexicon = frozenset(nouns | vocab.ATTRIBUTE_NOUNS)
    asins: set[str] = set()
    products = []
    for index in range(config.n_products):
        spec = vocab.TYPES[index % len(vocab.TYPES)]
        brand = rng.choice(brands[spec.path[0]])
        asin = _asin(rng, asins)
        products.append(_make_product(rng, spec, brand, asin, config.range_share, lexicon))
    rng.shuffle(products)
    return Catalog(products=products, noun_lexicon=lexicon)


@lru_cache(maxsize=4)
def cached_catalog(seed: int, n_products: int, range_share: float) -> Catalog:
    """`generate_catalog`, once per process and config (environments share it)."""
    return generate_catalog(
        CatalogConfig(seed=seed, n_products=n_products, range_share=range_share)
    )


def write_catalog(data_dir: str | Path, config: CatalogConfig | None = None) -> Path:
    """Write the catalog's products to `<data_dir>/webshop/catalog.jsonl` (atomically).

    For reading and versioning only: environments regenerate the catalog from its config.
    """
    path = Path(data_dir) / "webshop" / CATALOG_FILE
    write_jsonl(path, generate_catalog(config).products)
    return path


def read_catalog(path: str | Path) -> list[Product]:
    """The products of a catalog file written by `write_catalog`."""
    return read_jsonl(Path(path), Product)
