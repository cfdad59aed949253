"""The real benchmark's product and goal files, served by the same shop engine.

A user who has WebShop's data points `$WEBSHOP_DATA` at the folder holding

    items_shuffle_1000.json   (or items_shuffle.json)   the products
    items_ins_v2_1000.json    (or items_ins_v2.json)     attributes per asin
    items_human_ins.json                                 human instructions per asin

and `WebShopSuite.from_environment()` serves them. Products are read as the real
`engine.load_products` reads them (ids over 10 characters or 'nan' skipped, duplicates
dropped, prices parsed from the `pricing` text, option names and values lower-cased with '/'
written ' | ', 'DUMMY_ATTR' for an asin without attributes); goals as `goal.get_human_goals`
builds them (instructions without attributes skipped, the price bound drawn from the multiples
of 10 above the price) and shuffled as the real server shuffles them (`random.seed(233)`
then `random.shuffle`): test = goals 0-499, eval = 500-1499, train = 1500 on.

The real engine draws a listed price range's charged price and every price bound from
Python's unseeded global random generator, so its goals' price clauses change from run to
run. Here one `random.Random(price_seed)` makes the same draws in the same order (prices of
all products, then the bounds), as the real engine would after `random.seed(price_seed)`:
the same files and seed give the same goals in every process.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from agentdistill.config import Config
from agentdistill.environments.webshop.catalog import Catalog, Product
from agentdistill.environments.webshop.goals import Goal, price_bound

ITEM_FILES = ("items_shuffle_1000.json", "items_shuffle.json")
ATTRIBUTE_FILES = ("items_ins_v2_1000.json", "items_ins_v2.json")
HUMAN_FILE = "items_human_ins.json"
GOAL_SHUFFLE_SEED = 233
REAL_SPLITS: dict[str, tuple[int, int | None]] = {
    "test": (0, 500),
    "eval": (500, 1500),
    "train": (1500, None),
}
"""Goal index ranges [start, end) of each split (end None: to the last goal)."""


class RealDataFiles(Config):
    """Which real data files (names inside the data folder) and the price draws' seed."""

    items: str = Field(default=ITEM_FILES[0], description="Products file name.")
    attributes: str = Field(default=ATTRIBUTE_FILES[0], description="Attributes file name.")
    human: str = Field(default=HUMAN_FILE, description="Human instructions file name.")
    price_seed: int = Field(default=0, description="Seed of the price and price-bound draws.")
    root: str | None = Field(
        default=None,
        description="The data folder; None: $WEBSHOP_DATA (task specs never record a path).",
    )

    def folder(self) -> Path:
        root = self.root or os.environ.get("WEBSHOP_DATA")
        if not root:
            raise FileNotFoundError(
                "real WebShop data: set WEBSHOP_DATA to the folder holding "
                f"{self.items}, {self.attributes} and {self.human}"
            )
        return Path(root)


def find_real_files(root: Path) -> RealDataFiles | None:
    """The data files present in `root` (the 1000-product files first), or None."""
    items = next((name for name in ITEM_FILES if (root / name).is_file()), None)
    attributes = next((name for name in ATTRIBUTE_FILES if (root / name).is_file()), None)
    if items is None or attributes is None or not (root / HUMAN_FILE).is_file():
        return None
    return RealDataFiles(items=items, attributes=attributes, root=str(root))


@dataclass
class RealData:
    catalog: Catalog
    goals: list[Goal]
    """In the real server's order (seed 233)."""


def parse_pricing(text: str | None) -> list[float]:
    """'$10.99' -> [10.99]; '$10.99 - $15.99' -> [10.99, 15.99]; missing -> [100.0]."""
    if not text:
        return [100.0]
    prices = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in text.split("$")[1:]]
    return prices[:2] if prices else [100.0]


def _options(raw: dict[str, Any] | None) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for name, contents in (raw or {}).items():
        if contents is None:
            continue
        options[name.lower()] = [
            str(c["value"]).strip().replace("/", " | ").lower() for c in contents
        ]
    return options


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def load_real_data(files: RealDataFiles) -> RealData:
    """Products and goals of the real files (read once per process and folder)."""
    folder = files.folder().resolve()
    return _load(str(folder), files.model_copy(update={"root": None}).model_dump_json())


@lru_cache(maxsize=2)
def _load(folder: str, files_json: str) -> RealData:
    files = RealDataFiles.model_validate_json(files_json)
    root = Path(folder)
    raw_products = _read(root / files.items)
    attributes = _read(root / files.attributes)
    human = _read(root / files.human)
    rng = random.Random(files.price_seed)
    seen: set[str] = set()
    products: list[Product] = []
    instructions: dict[str, list[dict[str, Any]]] = {}
    for raw in raw_products:
        asin = str(raw["asin"])
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        pricing = parse_pricing(raw.get("pricing"))
        bullets = raw.get("small_description")
        attrs = attributes.get(asin, {})
        products.append(
            Product(
                asin=asin,
                name=raw["name"],
                description=raw.get("full_description") or "",
                bullet_points=bullets if isinstance(bullets, list) else [bullets or ""],
                pricing=pricing,
                price=pricing[0],  # drawn below, in the real engine's order
                category=raw.get("category", ""),
                query=str(raw.get("query", "")).lower().strip(),
                product_category=raw.get("product_category", ""),
                attributes=attrs.get("attributes", ["DUMMY_ATTR"]),
                options=_options(raw.get("customization_options")),
            )
        )
        if asin in human:
            instructions[asin] = human[asin]
    # generate_product_prices: a price range's charged price drawn uniformly, product by product
    products = [
        p if len(p.pricing) == 1 else p.model_copy(update={"price": rng.uniform(*p.pricing)})
        for p in products
    ]
    goals = []
    for product in products:
        for instruction in instructions.get(product.asin, []):
            goal_attributes = instruction.get("instruction_attributes") or []
            if not goal_attributes:
                continue  # the real loader skips these
            upper, clause = price_bound(product.price, rng)
            options = instruction.get("instruction_options") or []
            if isinstance(options, dict):
                options = list(options.values())
            goals.append(
                Goal(
                    asin=product.asin,
                    instruction=str(instruction["instruction"]).strip(".") + clause,
                    attributes=list(goal_attributes),
                    options=[str(o) for o in options],
                    price_upper=upper,
                    name=product.name,
                    query=product.query,
                    product_category=product.product_category,
                    category=product.category,
                )
            )
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return RealData(catalog=Catalog(products=products), goals=goals)
