"""The generated catalog and goals: size, determinism, the vocabulary's rules, the index."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pytest

from agentdistill.environments.webshop import vocab
from agentdistill.environments.webshop.catalog import (
    CatalogConfig,
    cached_catalog,
    generate_catalog,
    read_catalog,
    write_catalog,
)
from agentdistill.environments.webshop.goals import GoalConfig, generate_goals, split_goals
from agentdistill.environments.webshop.reward import fuzzy_match, get_reward
from agentdistill.environments.webshop.search import SearchIndex, analyze
from agentdistill.environments.webshop.shop import build_shop

DEFAULT = CatalogConfig()


@pytest.fixture(scope="module")
def catalog():
    return cached_catalog(DEFAULT.seed, DEFAULT.n_products, DEFAULT.range_share)


@pytest.fixture(scope="module")
def goals(catalog):
    return generate_goals(catalog, GoalConfig())


def test_size_categories_and_ids(catalog) -> None:
    products = catalog.products
    assert len(products) == 5000
    assert len({p.product_category for p in products}) >= 20
    assert len({p.product_category.split(" \u203a ")[0] for p in products}) >= 10
    assert len({p.asin for p in products}) == len(products)
    assert all(re.fullmatch(r"B0[A-Z0-9]{8}", p.asin) for p in products)
    per_type = Counter(p.query for p in products)
    assert min(per_type.values()) >= 30  # many near-duplicates per product type
    ranged = [p for p in products if len(p.pricing) == 2]
    assert 0.05 < len(ranged) / len(products) < 0.2
    assert all(p.pricing[0] <= p.price <= p.pricing[-1] for p in products)
    assert all(p.price_tag == f"${p.pricing[0]} to ${p.pricing[1]}" for p in ranged)


def test_generation_is_fast_and_deterministic(catalog) -> None:
    start = time.perf_counter()
    again = generate_catalog(DEFAULT)
    assert time.perf_counter() - start < 5.0
    assert again.products == catalog.products
    other = generate_catalog(CatalogConfig(seed=1, n_products=200))
    assert other.products[0] != catalog.products[0]


def test_option_values_look_like_the_real_data(catalog) -> None:
    values = {v for p in catalog.products for vs in p.options.values() for v in vs}
    for example in ("6.76 fl oz (pack of 1)", "bright citrus", "3 ounce (pack of 2)", "x-large"):
        assert example in values
    assert all(v == v.lower() for v in values)
    names = {name for p in catalog.products for name in p.options}
    assert {"size", "color", "scent", "flavor name"} <= names


def test_vocabulary_keeps_attributes_apart() -> None:
    """Within a type no attribute contains another or fuzzily matches another: a product that
    lacks an attribute never gets the reward's credit for it through a sibling phrase."""
    for spec in vocab.TYPES:
        assert len(set(spec.attributes)) == len(spec.attributes), spec.query
        assert not any(a in spec.query for a in spec.attributes), spec.query
        for a, b in combinations(spec.attributes, 2):
            assert a not in b and b not in a, (spec.query, a, b)
            assert not fuzzy_match(a, b), (spec.query, a, b)
        for _, values in spec.options:
            for value in values:  # option values stay out of attribute and type phrases
                pattern = rf"(?<![\w.]){re.escape(value)}(?!\w)"
                assert not any(re.search(pattern, a) for a in spec.attributes), (spec.query, value)
                assert not re.search(pattern, spec.query), (spec.query, value)
        for text in (*vocab.DESCRIPTORS, *vocab.FILLER):
            assert not any(a in text.lower() for a in spec.attributes), (spec.query, text)


def test_no_product_shows_an_attribute_it_lacks(catalog) -> None:
    pools = {spec.query: spec.attributes for spec in vocab.TYPES}
    for product in catalog.products:
        text = " ".join([product.name, *product.bullet_points, product.description]).lower()
        for attribute in pools[product.query]:
            assert (attribute in text) == (attribute in product.attributes), (
                product.asin,
                attribute,
            )


def test_title_nouns_stay_few(catalog) -> None:
    """At most 10 nouns a title: a near-duplicate sharing only the type noun keeps r_type 1."""
    from agentdistill.environments.webshop.reward import LexiconNouns

    nouns = LexiconNouns(catalog.noun_lexicon)
    assert max(len(set(nouns(p.name))) for p in catalog.products) <= 10
    assert all(set(vocab.type_nouns(s)) <= catalog.noun_lexicon for s in vocab.TYPES)


def test_write_and_read_catalog(tmp_path: Path) -> None:
    config = CatalogConfig(seed=3, n_products=120)
    path = write_catalog(tmp_path, config)
    assert path == tmp_path / "webshop" / "catalog.jsonl"
    assert read_catalog(path) == generate_catalog(config).products


# ---- goals --------------------------------------------------------------------------------------
def test_goal_splits_and_price_clause(catalog, goals) -> None:
    config = GoalConfig()
    splits = split_goals(goals, config)
    assert [len(splits[s]) for s in ("test", "eval", "train")] == [500, 500, 4000]
    assert splits["test"][0][0] == 0 and splits["eval"][0][0] == 500
    for goal in goals:
        clause = f", and price lower than {goal.price_upper:.2f} dollars"
        assert goal.instruction.endswith(clause)
        assert goal.instruction == goal.instruction.lower()
        product = catalog.by_asin[goal.asin]
        assert 1 <= len(goal.attributes) <= 3 and set(goal.attributes) <= set(product.attributes)
        assert all(any(o in vs for vs in product.options.values()) for o in goal.options)
        assert product.price < goal.price_upper <= product.price + 40
        assert goal.price_upper % 10 == 0
        assert goal.name == product.name and goal.query == product.query
    assert generate_goals(catalog, config)[:50] == goals[:50]
    assert generate_goals(catalog, GoalConfig(seed=1))[:50] != goals[:50]


def test_every_goal_is_met_by_its_target(catalog, goals) -> None:
    """Buying the target with the asked options at its price earns 1.0."""
    from agentdistill.environments.webshop.reward import LexiconNouns

    nouns = LexiconNouns(catalog.noun_lexicon)
    for goal in goals[:1000]:
        product = catalog.by_asin[goal.asin]
        chosen = {}
        for value in goal.options:
            group = next(g for g, vs in product.options.items() if value in vs)
            chosen[group] = value
        assert get_reward(product, goal, product.price, chosen, nouns).total == 1.0


def test_near_duplicates_make_item_pages_matter(catalog, goals) -> None:
    """For most goals, other listings of the same type fail it: some do not offer an asked
    option value (visible only on item pages), some lack an attribute, some cost too much."""
    by_type = defaultdict(list)
    for product in catalog.products:
        by_type[product.query].append(product)
    lacking_option = lacking_attribute = too_expensive = 0
    for goal in goals[:300]:
        siblings = [p for p in by_type[goal.query] if p.asin != goal.asin]
        offered = [{v for vs in p.options.values() for v in vs} for p in siblings]
        lacking_option += any(not set(goal.options) <= values for values in offered)
        lacking_attribute += any(not set(goal.attributes) <= set(p.attributes) for p in siblings)
        too_expensive += any(p.price > goal.price_upper for p in siblings)
    assert lacking_option > 280 and lacking_attribute == 300 and too_expensive > 100


# ---- search ------------------------------------------------------------------------------------
def test_analyzer_is_lucene_like() -> None:
    assert analyze("Men's 3.4 fl oz Shirts (Pack of 2) for the T-Shirt") == [
        "men", "3.4", "fl", "oz", "shirt", "pack", "2", "t", "shirt",
    ]  # fmt: skip


def test_search_ranks_top_50_fast(catalog, goals) -> None:
    start = time.perf_counter()
    shop = build_shop(catalog)
    assert time.perf_counter() - start < 5.0
    start = time.perf_counter()
    found_in_top_3 = 0
    for goal in goals[:200]:
        query = goal.instruction.split(", and price lower than")[0]
        hits = shop.index.search(query)
        assert len(hits) == 50
        found_in_top_3 += goal.asin in hits[:3]
    assert (time.perf_counter() - start) / 200 < 0.02  # well under 20 ms a search
    assert found_in_top_3 > 120
    assert shop.index.search("zzzz qqqq") == [] and shop.index.search("the of and") == []


def test_search_breaks_ties_in_catalog_order() -> None:
    index = SearchIndex(["red shoe", "red shoe", "blue shoe"], ["a", "b", "c"])
    assert index.search("red shoe") == ["a", "b", "c"]
    assert index.search("shoe") == ["a", "b", "c"]
