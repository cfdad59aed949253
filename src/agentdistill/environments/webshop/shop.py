"""A shop: the products, their search index and the noun extractor the reward uses.

A task names its shop by a small identity (`Task.spec["catalog"]`): a generated catalog's
config (`{"source": "generated", "version": 1, "seed": 0, ...}`), or the real data files'
names (`{"source": "real", "items": "items_shuffle_1000.json", ...}`, found under the folder
`$WEBSHOP_DATA` names). `load_shop` builds a shop once per process and identity: every
environment of the process shares it (generating 5,000 products and indexing them takes
about a second).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from pydantic import JsonValue

from agentdistill.environments.webshop.catalog import (
    CATALOG_VERSION,
    Catalog,
    CatalogConfig,
    Product,
    cached_catalog,
)
from agentdistill.environments.webshop.reward import (
    HeuristicNouns,
    LexiconNouns,
    NounExtractor,
    spacy_nouns,
)
from agentdistill.environments.webshop.search import SearchIndex

NounChoice = Literal["auto", "spacy", "fallback"]


@dataclass
class Shop:
    """Products by asin, in catalog order, with their search index."""

    catalog: Catalog
    index: SearchIndex
    real: bool = False
    products: dict[str, Product] = field(init=False)

    def __post_init__(self) -> None:
        self.products = self.catalog.by_asin

    def search(self, keywords: str) -> list[Product]:
        """The top hits of a search, best first."""
        return [self.products[asin] for asin in self.index.search(keywords)]

    def nouns(self, choice: NounChoice = "auto") -> NounExtractor:
        """The reward's noun extractor: spaCy when installed ('auto') or asked for ('spacy':
        an error without it), else the fallback: the generated catalog's lexicon, or the
        heuristic for real titles."""
        if choice != "fallback":
            extractor = spacy_nouns()
            if extractor is not None:
                return extractor
            if choice == "spacy":
                raise RuntimeError(
                    "nouns='spacy' needs spaCy and its English model (en_core_web_sm)"
                )
        return HeuristicNouns() if self.real else LexiconNouns(self.catalog.noun_lexicon)


def build_shop(catalog: Catalog, real: bool = False) -> Shop:
    """Index a catalog's products."""
    products = catalog.products
    index = SearchIndex([p.search_text() for p in products], [p.asin for p in products])
    return Shop(catalog=catalog, index=index, real=real)


def load_shop(identity: dict[str, JsonValue]) -> Shop:
    """The shop a task's `spec["catalog"]` names (built once per process)."""
    return _load_shop(json.dumps(identity, sort_keys=True))


@lru_cache(maxsize=4)
def _load_shop(key: str) -> Shop:
    identity = json.loads(key)
    source = identity.get("source")
    if source == "generated":
        version = identity.get("version")
        if version != CATALOG_VERSION:
            raise ValueError(
                f"the task was drawn from catalog version {version}, this build generates "
                f"version {CATALOG_VERSION}: regenerate the task files (data/webshop)"
            )
        config = CatalogConfig.model_validate(
            {k: v for k, v in identity.items() if k not in ("source", "version")}
        )
        catalog = cached_catalog(config.seed, config.n_products, config.range_share)
        return build_shop(catalog)
    if source == "real":
        from agentdistill.environments.webshop.real_data import RealDataFiles, load_real_data

        data = load_real_data(RealDataFiles.model_validate(identity["files"]))
        return build_shop(data.catalog, real=True)
    raise ValueError(f"unknown catalog source {source!r} (expected 'generated' or 'real')")
