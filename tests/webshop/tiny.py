"""A hand-made five-product shop (ReAct's deodorant example and its neighbours) for exact
page and reward checks."""

from __future__ import annotations

from agentdistill.environments.webshop.catalog import Catalog, Product
from agentdistill.environments.webshop.goals import Goal
from agentdistill.environments.webshop.pages import Browser, Mode
from agentdistill.environments.webshop.reward import LexiconNouns
from agentdistill.environments.webshop.shop import Shop, build_shop

DEODORANTS = "Beauty & Personal Care \u203a Personal Care \u203a Deodorants & Antiperspirants"
SHIRTS = "Clothing, Shoes & Jewelry \u203a Men \u203a Shirts"

CITRUS = Product(
    asin="B078GWRC1J",
    name="Bright Citrus Deodorant by Earth Mama | Natural and Safe for Sensitive Skin, "
    "Pregnancy and Breastfeeding, Contains Organic Calendula 3-Ounce",
    description="Earth Mama deodorant keeps you fresh, made for sensitive skin.",
    bullet_points=["Aluminum free formula", "Made for sensitive skin"],
    pricing=[10.99],
    price=10.99,
    category="beauty",
    query="deodorant",
    product_category=DEODORANTS,
    attributes=["natural ingredients", "sensitive skin"],
    options={
        "scent": [
            "assorted scents",
            "bright citrus",
            "calming lavender",
            "ginger fresh",
            "simply non-scents",
        ],
        "size": ["travel set (4-pack)", "3 ounce (pack of 1)", "3-ounce (2-pack)"],
    },
)
GINGER = CITRUS.model_copy(
    update={
        "asin": "B078GTKVXY",
        "name": "Ginger Fresh Deodorant by Earth Mama | Natural and Safe for Sensitive Skin, "
        "Pregnancy and Breastfeeding, Contains Organic Calendula 3-Ounce",
        "options": {"scent": ["ginger fresh"], "size": ["3 ounce (pack of 1)"]},
    }
)
BARREL = Product(
    asin="B08KBVJ4XN",
    name="Barrel and Oak - Aluminum-Free Deodorant, Deodorant for Men, Essential Oil-Based "
    "Scent, 24-Hour Odor Protection, Cedar & Patchouli Blend, Gentle on Sensitive Skin "
    "(Mountain Sage, 2.7 oz, 2-Pack)",
    description="A deodorant for men.",
    bullet_points=["Aluminum free", "Essential oils"],
    pricing=[15.95],
    price=15.95,
    category="beauty",
    query="deodorant",
    product_category=DEODORANTS,
    attributes=["aluminum free"],
    options={"scent": ["mountain sage", "cedar & patchouli"]},
)
RANGED = BARREL.model_copy(
    update={
        "asin": "B0RANGED01",
        "name": "Plain Deodorant Stick",
        "pricing": [5.99, 8.99],
        "price": 7.5,
        "options": {},
    }
)
SHIRT = Product(
    asin="B07SHIRT01",
    name="Men's Cotton Crew Tee, Navy Blue",
    description="A cotton t-shirt.",
    bullet_points=["Cotton blend"],
    pricing=[14.99],
    price=14.99,
    category="fashion",
    query="men's t-shirt",
    product_category=SHIRTS,
    attributes=["cotton blend"],
    options={"color": ["navy blue", "light blue", "black"], "size": ["small", "large"]},
)
PRODUCTS = [CITRUS, GINGER, BARREL, RANGED, SHIRT]
NOUNS = LexiconNouns(
    {"citrus", "deodorant", "earth", "mama", "skin", "pregnancy", "calendula", "ounce",
     "ginger", "barrel", "oak", "men", "scent", "odor", "protection", "cedar", "patchouli",
     "blend", "sage", "oz", "pack", "stick", "cotton", "crew", "tee", "navy"}
)  # fmt: skip

INSTRUCTION = (
    "i would like a 3 ounce bottle of bright citrus deodorant for sensitive skin, "
    "and price lower than 50.00 dollars"
)
GOAL = Goal(
    asin=CITRUS.asin,
    instruction=INSTRUCTION,
    attributes=["sensitive skin"],
    options=["bright citrus", "3 ounce (pack of 1)"],
    price_upper=50.0,
    name=CITRUS.name,
    query="deodorant",
    product_category=DEODORANTS,
    category="beauty",
)


def tiny_shop() -> Shop:
    return build_shop(Catalog(products=list(PRODUCTS), noun_lexicon=NOUNS.lexicon))


def browser(mode: Mode = "react", paging: bool = False, goal: Goal = GOAL) -> Browser:
    return Browser(shop=tiny_shop(), goal=goal, nouns=NOUNS, mode=mode, paging=paging)
