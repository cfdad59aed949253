"""The real benchmark's files, on small fixtures in the real format written into tmp_path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agentdistill.environments.webshop import real_data
from agentdistill.environments.webshop.env import WebShopEnv, WebShopSuite
from agentdistill.environments.webshop.goals import PRICE_RANGE
from agentdistill.environments.webshop.real_data import (
    RealDataFiles,
    find_real_files,
    load_real_data,
    parse_pricing,
)
from agentdistill.policies.expert import run_expert_episode

CATEGORY = "Beauty & Personal Care \u203a Personal Care \u203a Deodorants & Antiperspirants"


def _item(asin: str, name: str, pricing: str | None, options: dict | None = None) -> dict:
    return {
        "asin": asin,
        "name": name,
        "full_description": f"{name}. Gentle and long lasting.",
        "small_description": [f"{name} bullet one", "bullet two"],
        "pricing": pricing,
        "images": ["https://example.invalid/a.jpg"],
        "category": "beauty",
        "query": " Deodorant ",
        "product_category": CATEGORY,
        "customization_options": options,
    }


ITEMS = [
    _item(
        "B078GWRC1J",
        "Bright Citrus Deodorant by Earth Mama",
        "$10.99",
        {
            "Scent": [{"value": "Bright Citrus", "image": None}, {"value": "Ginger/Fresh"}],
            "Size": [{"value": "3 Ounce (Pack of 1)", "image": None}],
            "Color": None,
        },
    ),
    _item("B078GTKVXY", "Ginger Fresh Deodorant by Earth Mama", "$9.49 - $33.49"),
    _item("B078GTKVXY", "A duplicate that the loader drops", "$1.00"),
    _item("B0LONGASIN12", "An id over 10 characters", "$2.00"),
    _item("nan", "No id", "$2.00"),
    _item("B08KBVJ4XN", "Barrel and Oak Deodorant", None),
]
ATTRIBUTES = {
    "B078GWRC1J": {"attributes": ["sensitive skin", "natural ingredients"], "instruction": "x"},
    "B078GTKVXY": {"attributes": ["long lasting"]},
}
INSTRUCTIONS_PER_ASIN = 600  # 1,599 goals (a ninth skipped): every split gets some


def _human() -> dict:
    human: dict = {}
    for asin in ("B078GWRC1J", "B078GTKVXY", "B08KBVJ4XN"):
        human[asin] = [
            {
                "asin": asin,
                "instruction": f"i would like a deodorant number {i} for sensitive skin.",
                "instruction_attributes": ["sensitive skin"] if i % 9 else [],
                "instruction_options": ["bright citrus"] if i % 2 else [],
            }
            for i in range(INSTRUCTIONS_PER_ASIN)
        ]
    return human


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(ITEMS))
    (tmp_path / "items_ins_v2_1000.json").write_text(json.dumps(ATTRIBUTES))
    (tmp_path / "items_human_ins.json").write_text(json.dumps(_human()))
    monkeypatch.setenv("WEBSHOP_DATA", str(tmp_path))
    return tmp_path


def test_find_files_prefers_the_small_ones(data_dir: Path, tmp_path_factory) -> None:
    files = find_real_files(data_dir)
    assert files is not None and files.items == "items_shuffle_1000.json"
    (data_dir / "items_shuffle.json").write_text("[]")
    assert find_real_files(data_dir).items == "items_shuffle_1000.json"  # type: ignore[union-attr]
    empty = tmp_path_factory.mktemp("empty")
    assert find_real_files(empty) is None
    (empty / "items_shuffle.json").write_text("[]")
    (empty / "items_ins_v2.json").write_text("{}")
    assert find_real_files(empty) is None  # no human instructions
    (empty / "items_human_ins.json").write_text("{}")
    assert find_real_files(empty) == RealDataFiles(
        items="items_shuffle.json", attributes="items_ins_v2.json", root=str(empty)
    )


def test_products_load_as_the_real_loader_reads_them(data_dir: Path) -> None:
    data = load_real_data(RealDataFiles())
    products = data.catalog.products
    assert [p.asin for p in products] == ["B078GWRC1J", "B078GTKVXY", "B08KBVJ4XN"]
    citrus, ginger, barrel = products
    assert citrus.options == {"scent": ["bright citrus", "ginger | fresh"], "size": [
        "3 ounce (pack of 1)"
    ]}  # fmt: skip
    assert citrus.query == "deodorant" and citrus.price_tag == "$10.99"
    assert ginger.pricing == [9.49, 33.49] and ginger.price_tag == "$9.49 to $33.49"
    assert 9.49 <= ginger.price <= 33.49
    assert barrel.pricing == [100.0] and barrel.price_tag == "$100.0"
    assert barrel.attributes == ["DUMMY_ATTR"]
    assert citrus.bullet_points[0] == "Bright Citrus Deodorant by Earth Mama bullet one"
    assert parse_pricing("$1,299.00") == [1299.0]


def test_goals_follow_the_real_engine(data_dir: Path) -> None:
    """Goals without attributes are skipped; the order is the real server's shuffle with seed
    233; prices and bounds are the draws the real engine makes after random.seed(0)."""
    data = load_real_data(RealDataFiles())
    per_asin = sum(1 for i in range(INSTRUCTIONS_PER_ASIN) if i % 9)
    assert len(data.goals) == 3 * per_asin
    # The real engine, replayed: prices (ranges drawn uniformly), then goals in product order.
    random.seed(0)
    prices = {"B078GWRC1J": 10.99, "B078GTKVXY": random.uniform(9.49, 33.49), "B08KBVJ4XN": 100.0}
    expected = []
    for asin in ("B078GWRC1J", "B078GTKVXY", "B08KBVJ4XN"):
        for entry in _human()[asin]:
            if not entry["instruction_attributes"]:
                continue
            candidates = [p for p in PRICE_RANGE if p > prices[asin]][:4]
            _, upper = sorted(random.sample(candidates, 2))
            text = entry["instruction"].strip(".") + f", and price lower than {upper:.2f} dollars"
            expected.append((asin, text, upper, entry["instruction_options"]))
    random.seed(233)
    random.shuffle(expected)
    got = [(g.asin, g.instruction, g.price_upper, g.options) for g in data.goals]
    assert got == expected
    assert data.goals[0].query == "deodorant" and data.goals[0].product_category == CATEGORY


def test_suite_serves_real_goals_by_split(data_dir: Path) -> None:
    suite = WebShopSuite.from_environment()
    assert suite.data_root == data_dir
    sizes = {split: len(suite.tasks(split)) for split in suite.splits}
    total = 3 * sum(1 for i in range(INSTRUCTIONS_PER_ASIN) if i % 9)
    assert sizes == {"test": 500, "eval": 1000, "train": total - 1500}
    task = suite.tasks("eval")[0]
    assert task.task_id == "goal-500" and task.task_type == "Beauty & Personal Care"
    assert task.spec["catalog"] == {
        "source": "real",
        "files": {
            "items": "items_shuffle_1000.json",
            "attributes": "items_ins_v2_1000.json",
            "human": "items_human_ins.json",
            "price_seed": 0,
        },
    }
    assert str(data_dir) not in json.dumps(task.spec)


def test_env_plays_real_goals(data_dir: Path) -> None:
    suite = WebShopSuite.from_environment()
    env = WebShopEnv()
    task = next(t for t in suite.tasks("test") if t.spec["goal"]["asin"] == "B078GWRC1J")
    first = env.reset(task)
    assert first.startswith("\nWebShop \nInstruction:  \ni would like a deodorant number")
    results = env.step("search[bright citrus deodorant]").observation
    assert "\n[B078GWRC1J] \nBright Citrus Deodorant by Earth Mama \n$10.99 " in results
    item = env.step("click[B078GWRC1J]").observation
    assert "\nscent [bright citrus][ginger | fresh]\nsize [3 ounce (pack of 1)]\n" in item
    for value in task.spec["goal"]["options"]:  # type: ignore[union-attr]
        env.step(f"click[{value}]")
    result = env.step("click[Buy Now]")
    assert result.done and result.reward == 1.0 and result.info.won
    # the expert plays real goals too (no vocabulary needed to finish an episode)
    trajectory = run_expert_episode(WebShopEnv(), suite.tasks("test")[3])
    assert trajectory.stop_reason == "done" and trajectory.steps[-1].action == "click[Buy Now]"


def test_real_tasks_need_the_data_folder(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = WebShopSuite.from_environment().tasks("test")[0]
    monkeypatch.delenv("WEBSHOP_DATA")
    assert WebShopSuite.from_environment().data_root is None  # generated shop instead
    real_data._load.cache_clear()
    from agentdistill.environments.webshop import shop

    shop._load_shop.cache_clear()
    with pytest.raises(FileNotFoundError, match="WEBSHOP_DATA"):
        WebShopEnv().reset(task)
