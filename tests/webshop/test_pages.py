"""The page state machine and both renderings, on the hand-made shop: exact strings.

The ReAct strings are what ReAct's notebook (`webshop_text`) makes of the real site's pages:
each visible string on its own line as '\\n' + text + ' ', buttons as '[Text]', option values
run together after their group's name; the results page of its deodorant example reads exactly
as its prompt shows it (the prompt's extra space before each 'Action:' line aside).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.environments.webshop.pages import INVALID, PageKind, parse_action

from .tiny import BARREL, CITRUS, GINGER, INSTRUCTION, browser

QUERY = "search[3 ounce bright citrus deodorant sensitive skin]"

REACT_SEARCH = f"\nWebShop \nInstruction:  \n{INSTRUCTION} \n[Search] "
REACT_RESULTS = (
    "\n[Back to Search] \nPage 1 (Total results: 4) \n[Next >] "
    f"\n[B078GWRC1J] \n{CITRUS.name} \n$10.99 "
    f"\n[B078GTKVXY] \n{GINGER.name} \n$10.99 "
    f"\n[B08KBVJ4XN] \n{BARREL.name} \n$15.95 "
)
REACT_ITEM = (
    "\n[Back to Search] \n[< Prev] "
    "\nscent [assorted scents][bright citrus][calming lavender][ginger fresh][simply non-scents]"
    "\nsize [travel set (4-pack)][3 ounce (pack of 1)][3-ounce (2-pack)]"
    f"\n{CITRUS.name} \nPrice: $10.99 \nRating: N.A. "
    "\n[Description] \n[Features] \n[Reviews] \n[Buy Now] "
)
SEP = " [SEP] "
TEXT_HEAD = f"Instruction:{SEP}{INSTRUCTION}{SEP}Back to Search"


def test_react_pages_exact() -> None:
    b = browser()
    assert b.observation() == REACT_SEARCH
    assert b.step(QUERY).observation == REACT_RESULTS
    assert b.clickables() == ["Back to Search", "B078GWRC1J", "B078GTKVXY", "B08KBVJ4XN"]
    assert b.step("click[B078GWRC1J]").observation == REACT_ITEM
    assert b.step("click[bright citrus]").observation == "You have clicked bright citrus."
    assert b.step("think[I should check the features.]").observation == "OK."
    description = b.step("click[Description]").observation
    assert description == "\n[Back to Search] \n[< Prev] \n" + CITRUS.description + " "
    # back on the item: the chosen value is marked [[v]], as ReAct's renderer marks it
    item = b.step("click[< Prev]").observation
    assert item == REACT_ITEM.replace("[bright citrus]", "[[bright citrus]]")
    features = b.step("click[Features]").observation
    assert features == (
        "\n[Back to Search] \n[< Prev] \n Aluminum free formula \n Made for sensitive skin "
    )
    assert b.step("click[Reviews]").valid is False  # a sub-page has only its two buttons
    b.step("click[< Prev]")
    b.step("click[3 ounce (pack of 1)]")
    done = b.step("click[Buy Now]")
    assert (done.observation, done.done, done.reward) == (
        "Your score (min 0.0, max 1.0): 1.0",
        True,
        1.0,
    )


def test_react_protocol_refuses_what_react_refuses() -> None:
    b = browser()
    for action in ("click[Back to Search]", "click[Buy Now]", "click[search]", "search[]"):
        assert b.step(action).observation == INVALID
    b.step(QUERY)
    # ReAct's "ad hoc page limitation": no paging; no search from a result page
    for action in ("click[Next >]", "click[< Prev]", "search[shirt]", "click[B07SHIRT01]"):
        result = b.step(action)
        assert (result.observation, result.valid) == (INVALID, False)
    assert b.kind == PageKind.RESULTS
    # a hit ReAct does not show (the 4th) is still on the page: clicking it works, as in ReAct
    assert b.step("click[B0RANGED01]").valid
    assert b.step("click[mountain sage]").observation == INVALID  # not this item's option
    b.step("click[< Prev]")
    assert b.kind == PageKind.RESULTS and b.options == {}


def test_react_paging_option_and_reviews() -> None:
    b = browser(paging=True)
    b.step("search[deodorant]")
    assert "\n[Next >] " in b.observation()
    page2 = b.step("click[Next >]").observation
    assert page2 == "\n[Back to Search] \nPage 2 (Total results: 4) \n[< Prev] \n[Next >] "
    assert b.step("click[< Prev]").observation.startswith(
        "\n[Back to Search] \nPage 1 (Total results: 4) \n[Next >] \n["
    )
    b.step("click[B078GWRC1J]")
    assert b.step("click[Reviews]").observation == "\n[Back to Search] \n[< Prev] "


def test_text_mode_pages_exact() -> None:
    b = browser("text")
    assert b.observation() == f"WebShop{SEP}Instruction:{SEP}{INSTRUCTION}{SEP}Search"
    results = b.step(QUERY).observation
    hits = [
        ("B078GWRC1J", CITRUS.name, "$10.99"),
        ("B078GTKVXY", GINGER.name, "$10.99"),
        ("B08KBVJ4XN", BARREL.name, "$15.95"),
        ("B0RANGED01", "Plain Deodorant Stick", "$5.99 to $8.99"),
    ]
    expected = SEP.join([TEXT_HEAD, "Page 1 (Total results: 4)", "Next >", *sum(hits, ())])
    assert results == expected
    item = b.step("click[b078gwrc1j]").observation  # lower-cased ids match too
    assert item == SEP.join(
        [
            TEXT_HEAD,
            "< Prev",
            "scent",
            *CITRUS.options["scent"],
            "size",
            *CITRUS.options["size"],
            CITRUS.name,
            "Price: $10.99",
            "Rating: N.A.",
            "Description",
            "Features",
            "Reviews",
            "Buy Now",
        ]
    )
    # an option click and an invalid action both answer with the page itself
    assert b.step("click[bright citrus]").observation == item
    invalid = b.step("click[nothing]")
    assert (invalid.observation, invalid.valid) == (item, False)
    assert b.step("think[hmm]").valid is False  # text mode has no think
    features = b.step("click[Features]").observation
    assert features == SEP.join([TEXT_HEAD, "< Prev", *CITRUS.bullet_points])
    b.step("click[< Prev]")
    b.step("click[< Prev]")
    assert b.step("click[Next >]").observation == SEP.join(
        [TEXT_HEAD, "Page 2 (Total results: 4)", "< Prev", "Next >"]
    )
    b.step("click[< Prev]")
    b.step("click[B078GTKVXY]")
    done = b.step("click[Buy Now]").observation
    assert done.startswith(f"Thank you for shopping with us!{SEP}Your score (min 0.0, max 1.0)")


def test_item_clickables_and_back_to_search() -> None:
    b = browser()
    assert b.clickables() is None  # the search page takes a free-text search
    b.step(QUERY)
    b.step("click[B078GWRC1J]")
    assert b.clickables() == [
        "Back to Search",
        "< Prev",
        *CITRUS.options["scent"],
        *CITRUS.options["size"],
        "Description",
        "Features",
        "Reviews",
        "Buy Now",
    ]
    b.step("click[BRIGHT CITRUS]")
    assert b.options == {"scent": "bright citrus"}
    assert b.step("click[back to search]").observation == REACT_SEARCH
    assert (b.kind, b.options, b.asin) == (PageKind.SEARCH, {}, None)


# ---- the action parser -----------------------------------------------------------------------
_VERB = st.text(st.characters(blacklist_characters="[]\n"), min_size=1, max_size=12)
_ARG = st.text(st.characters(blacklist_characters="[]\n"), min_size=1, max_size=40)


@given(verb=_VERB, argument=_ARG)
def test_parse_action_splits_verb_and_argument(verb: str, argument: str) -> None:
    assert parse_action(f"{verb}[{argument}]") == (verb, argument)


@given(text=st.text(st.characters(blacklist_characters="[]"), max_size=60))
def test_parse_action_without_brackets_is_no_action(text: str) -> None:
    assert parse_action(text) == (text, None)


@given(verb=_VERB, argument=_ARG, junk=st.text(st.characters(blacklist_characters="[]\n")))
def test_parse_action_ignores_trailing_text(verb: str, argument: str, junk: str) -> None:
    """re.match anchors at the start only, as the original: `click[x]junk` is click x."""
    assert parse_action(f"{verb}[{argument}]{junk}") == (verb, argument)


def test_parse_action_is_greedy_like_the_original() -> None:
    assert parse_action("search[a [b] c]") == ("search[a ", "b] c")
    assert parse_action("click[Buy Now]") == ("click", "Buy Now")
    assert parse_action("search[]") == ("search[]", None)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=50), mode=st.sampled_from(["react", "text"]))
def test_any_text_leaves_a_page_as_it_was_or_moves_validly(text: str, mode: str) -> None:
    b = browser(mode)  # type: ignore[arg-type]
    b.step(QUERY)
    before = (b.kind, b.page, b.asin)
    result = b.step(text)
    if not result.valid:
        assert (b.kind, b.page, b.asin) == before
        assert result.observation == (INVALID if mode == "react" else b.observation())


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_clicks_match_in_any_case(data: st.DataObject) -> None:
    b = browser()
    b.step(QUERY)
    b.step("click[B078GWRC1J]")
    clickable = data.draw(st.sampled_from(b.clickables() or []))
    flipped = "".join(c.upper() if data.draw(st.booleans()) else c.lower() for c in clickable)
    assert b.step(f"click[{flipped}]").valid


@pytest.mark.parametrize("action", ["search[x]", "click[B078GWRC1J]", "click[Buy Now]"])
def test_a_finished_session_refuses_more(action: str) -> None:
    b = browser()
    b.step(QUERY)
    b.step("click[B078GWRC1J]")
    b.step("click[Buy Now]")
    with pytest.raises(RuntimeError):
        b.step(action)
