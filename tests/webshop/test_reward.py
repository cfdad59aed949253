"""Each term of the real reward (engine/goal.py get_reward) pinned on hand-made cases."""

from __future__ import annotations

import pytest

from agentdistill.environments.webshop.catalog import Product
from agentdistill.environments.webshop.goals import Goal
from agentdistill.environments.webshop.reward import (
    HeuristicNouns,
    LexiconNouns,
    attribute_matches,
    fuzzy_match,
    get_reward,
    is_success,
    normalize_color,
    option_matches,
    score,
    token_set_ratio,
    type_reward,
)

from .tiny import CITRUS, DEODORANTS, GOAL, NOUNS, SHIRT

# Ten nouns in the goal's name, so that one shared noun scores 0.1 and two score 0.2.
LEXICON = LexiconNouns([f"n{i}" for i in range(20)])


def _goal(name: str, **update: object) -> Goal:
    fields = {
        "name": name,
        "query": "widget",
        "product_category": "A \u203a B \u203a C",
        "attributes": ["long lasting"],
        "options": [],
        "price_upper": 50.0,
    }
    fields.update(update)
    return GOAL.model_copy(update=fields)


def _product(name: str, **update: object) -> Product:
    fields = {"name": name, "query": "gadget", "product_category": "X \u203a Y \u203a Z"}
    fields.update(update)
    return CITRUS.model_copy(update=fields)


GOAL_NAME = " ".join(f"n{i}" for i in range(10))  # ten nouns


@pytest.mark.parametrize(
    ("bought", "update", "expected"),
    [
        # same query: 1 whatever the title (as long as title_score >= 0.1)
        ("n0 other words", {"query": "widget"}, (1.0, True, False, 0.1)),
        # two of the goal's category parts: 1
        ("n0", {"product_category": "A \u203a B \u203a Q"}, (1.0, False, True, 0.1)),
        # title_score > 0.2 alone: 1
        ("n0 n1 n2", {}, (1.0, False, False, 0.3)),
        # no query, category or title match (0.1 <= title_score <= 0.2): 0.5
        ("n0 n1", {}, (0.5, False, False, 0.2)),
        ("n0", {}, (0.5, False, False, 0.1)),
        # title_score == 0: 0, even with the same query
        ("nothing shared", {"query": "widget"}, (0.0, True, False, 0.0)),
    ],
)
def test_type_reward_cases(bought: str, update: dict, expected: tuple) -> None:
    product = _product(bought, **update)
    r_type, query, category, title = type_reward(product, _goal(GOAL_NAME), LEXICON)
    assert (r_type, query, category, pytest.approx(title)) == expected


def test_type_reward_below_a_tenth_is_a_tenth() -> None:
    goal = _goal(" ".join(f"n{i}" for i in range(11)))  # eleven nouns: one shared is 0.0909
    assert type_reward(_product("n0", query="widget"), goal, LEXICON)[0] == 0.1


def test_type_reward_of_a_goal_name_without_nouns() -> None:
    """The original scores 0.2 then: 0.5 without another match, 1 with the same query."""
    goal = _goal("quick and easy")
    assert type_reward(_product("n0"), goal, LEXICON) == (0.5, False, False, 0.2)
    assert type_reward(_product("n0", query="widget"), goal, LEXICON)[0] == 1.0


def test_attribute_fuzzy_then_substring() -> None:
    product = _product("Plain Widget", attributes=["long-lasting"], bullet_points=["Sugar free"])
    product = product.model_copy(update={"description": "It is easy to clean."})
    # fuzzy: 'long-lasting' and 'long lasting' are the same after thefuzz's processing
    assert attribute_matches(product, ["long lasting"]) == 1
    # substring of the bullet points / description / title, lower-cased
    assert attribute_matches(product, ["sugar free", "easy to clean", "plain widget"]) == 3
    # neither: no credit (a token subset of an attribute matches, the original's quirk)
    assert attribute_matches(product, ["gluten free"]) == 0
    assert attribute_matches(product, ["lasting"]) == 1


def test_thefuzz_scores_and_the_threshold() -> None:
    """Scores are thefuzz's integers; a match needs more than 85. The '(pack of 1)' tail makes
    different sizes match (a quirk of the real reward this shop keeps)."""
    assert token_set_ratio("6.76 fl oz (pack of 1)", "16.9 fl oz (pack of 1)") == 90
    assert fuzzy_match("6.76 fl oz (pack of 1)", "16.9 fl oz (pack of 1)")
    assert token_set_ratio("3 ounce", "5 ounce") == 86  # just over: a match
    assert token_set_ratio("8 ounce", "12 ounce") == 83  # just under: none
    assert not fuzzy_match("8 ounce", "12 ounce")
    assert token_set_ratio("Large", "x-large") == 100
    assert token_set_ratio("", "x") == 0


def test_normalize_color_is_the_first_colour_contained() -> None:
    assert normalize_color("navy blue") == "blue"  # 'blue' precedes 'navy' in the list
    assert normalize_color("dark chocolate") == "chocolate"
    assert normalize_color("tangerine") == "tan"  # substring, as the original
    assert normalize_color("3 ounce (pack of 1)") == "3 ounce (pack of 1)"


def test_option_matching_with_colour_normalisation() -> None:
    assert option_matches(["light blue"], ["navy blue"]) == 1  # both 'blue'
    assert option_matches(["milk chocolate"], ["dark chocolate"]) == 1
    assert option_matches(["black", "small"], ["navy blue", "large"]) == 0
    assert option_matches(["3 ounce (pack of 2)", "bright citrus"], GOAL.options) == 2
    assert option_matches(["ginger fresh"], GOAL.options) == 0
    assert option_matches([], GOAL.options) == 0


@pytest.mark.parametrize(("price", "ok"), [(49.99, True), (50.0, True), (50.01, False)])
def test_price_bound_on_both_sides(price: float, ok: bool) -> None:
    info = get_reward(CITRUS, GOAL, price, {"scent": "bright citrus", "size": "3 ounce"}, NOUNS)
    assert info.r_price is ok
    assert info.total == pytest.approx(1.0 if ok else 3 / 4)


def test_total_reward() -> None:
    """r_type * (attributes + options + price matched) / (attributes + options + 1)."""
    full = get_reward(CITRUS, GOAL, 10.99, {"scent": "bright citrus", "size": "3 ounce"}, NOUNS)
    assert full.total == 1.0 and full.r_option == 1.0 and full.r_att == 1.0
    no_options = get_reward(CITRUS, GOAL, 10.99, {}, NOUNS)
    assert no_options.total == pytest.approx(2 / 4)
    wrong = get_reward(CITRUS, GOAL, 60.0, {"scent": "ginger fresh"}, NOUNS)
    assert wrong.total == pytest.approx(1 / 4)  # only the attribute
    # another type: 'men's t-shirt' shares no noun with the goal's title: r_type 0
    shirt = get_reward(SHIRT, GOAL, 10.0, {}, NOUNS)
    assert (shirt.r_type, shirt.total) == (0.0, 0.0)
    # two goal attributes, one matched, and r_type 0.5: 0.5 * (1 + 0 + 1) / (2 + 0 + 1)
    goal = _goal(GOAL_NAME, attributes=["sensitive skin", "gluten free"], options=[])
    product = _product("n0 n1", product_category=DEODORANTS)
    half = get_reward(product, goal, 10.0, {}, LEXICON)
    assert half.r_type == 0.5 and half.total == pytest.approx(0.5 * 2 / 3)


def test_heuristic_nouns_skip_function_words_and_units() -> None:
    nouns = HeuristicNouns()("Men's Soft Cotton Crew T-Shirt for Women, 2 Pack, X-Large")
    assert nouns == ["men", "cotton", "crew", "shirt", "women"]


def test_success_and_score() -> None:
    assert is_success(1.0) and not is_success(0.999)
    assert score([1.0, 0.5, 0.0, 0.75]) == pytest.approx(56.25) and score([]) == 0.0
