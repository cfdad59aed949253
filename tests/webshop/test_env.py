"""WebShopEnv and WebShopSuite on the environment protocol: the contract, task files, the
registry, admissible commands on every page, the step cap."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agentdistill.environments.registry import ENGINES, RECORDED_ENVS, make_env, make_suite
from agentdistill.environments.webshop.catalog import CATALOG_VERSION, CatalogConfig
from agentdistill.environments.webshop.env import (
    MAX_STEPS,
    WebShopEnv,
    WebShopEnvConfig,
    WebShopSuite,
)
from agentdistill.environments.webshop.goals import GoalConfig
from agentdistill.policies.expert import run_expert_episode
from agentdistill.records import Task, read_jsonl, write_jsonl
from agentdistill.task_data import load_tasks
from agentdistill.testing.env_contract import ContractSubject, EnvironmentContract

SUITE = WebShopSuite()
REPO = Path(__file__).parents[2]


def solve(task: Task) -> list[str]:
    """The expert's actions on the task (it wins the contract's tasks)."""
    return [step.action for step in run_expert_episode(WebShopEnv(), task).steps]


class TestWebShopContract(EnvironmentContract):
    @pytest.fixture(params=["train", "eval", "test"])
    def subject(self, request: pytest.FixtureRequest) -> ContractSubject:
        return ContractSubject(make_env=WebShopEnv, suite=SUITE, split=request.param, solve=solve)


class TestWebShopTextModeContract(EnvironmentContract):
    @pytest.fixture
    def subject(self) -> ContractSubject:
        def make() -> WebShopEnv:
            return WebShopEnv(WebShopEnvConfig(observation="text"))

        def solve_text(task: Task) -> list[str]:
            return [step.action for step in run_expert_episode(make(), task).steps]

        return ContractSubject(make_env=make, suite=SUITE, split="test", solve=solve_text)


def test_suite_splits_and_task_spec() -> None:
    sizes = {split: len(SUITE.tasks(split)) for split in SUITE.splits}
    assert sizes == {"train": 4000, "eval": 500, "test": 500}
    task = SUITE.tasks("test")[0]
    assert (task.env, task.task_id, task.split) == ("webshop", "goal-0", "test")
    assert task.goal.endswith(" dollars") and task.goal == task.spec["goal"]["instruction"]
    assert task.task_type == task.spec["goal"]["product_category"].split(" \u203a ")[0]
    catalog = task.spec["catalog"]
    expected = {"source": "generated", "version": CATALOG_VERSION, **CatalogConfig().model_dump()}
    assert catalog == expected
    assert "/" not in json.dumps(task.spec["catalog"])  # no path in a spec
    assert SUITE.tasks("eval")[0].task_id == "goal-500"
    small = WebShopSuite(goals=GoalConfig(n_goals=30, n_test=10, n_eval=10))
    assert [len(small.tasks(s)) for s in ("train", "eval", "test")] == [10, 10, 10]


def test_registry_plays_webshop(tmp_path: Path) -> None:
    assert ENGINES["webshop"] == ("native",) and "webshop" not in RECORDED_ENVS
    env = make_env("webshop")
    assert isinstance(env, WebShopEnv) and env.max_steps == MAX_STEPS == 15
    suite = make_suite("webshop")
    assert isinstance(suite, WebShopSuite) and suite.data_root is None
    loaded = load_tasks("webshop", "test", data_dir=tmp_path, limit=3)
    assert loaded.path == tmp_path / "webshop" / "test.jsonl"
    assert loaded.tasks == SUITE.tasks("test")[:3]


def test_a_task_file_plays_in_a_fresh_process(tmp_path: Path) -> None:
    """A task read back from its JSONL file rebuilds the episode in a new interpreter (the
    catalog is regenerated from the spec) and the expert's actions get the same reward."""
    path = tmp_path / "webshop" / "test.jsonl"
    tasks = SUITE.tasks("test")[:2]
    write_jsonl(path, tasks)
    here = [run_expert_episode(WebShopEnv(), t) for t in tasks]
    script = (
        "import json, sys\n"
        "from agentdistill.environments.webshop.env import WebShopEnv\n"
        "from agentdistill.records import Task, read_jsonl\n"
        "actions = json.loads(sys.argv[2])\n"
        "out = []\n"
        "for task, acts in zip(read_jsonl(sys.argv[1], Task), actions):\n"
        "    env = WebShopEnv(); first = env.reset(task)\n"
        "    results = [env.step(a) for a in acts]\n"
        "    out.append([first, results[-1].reward, results[-1].info.won])\n"
        "print(json.dumps(out))\n"
    )
    actions = [[s.action for s in t.steps] for t in here]
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), json.dumps(actions)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        timeout=120,
    )
    played = json.loads(done.stdout)
    assert played == [[t.initial_observation, t.reward, t.success] for t in here]
    assert read_jsonl(path, Task) == tasks


def test_admissible_commands_on_every_page_are_valid() -> None:
    """Walk the pages with random admissible clicks (and searches on the search page): every
    listed command is accepted, and info agrees with the property."""
    rng = random.Random(0)
    for mode in ("react", "text"):
        env = WebShopEnv(WebShopEnvConfig(observation=mode))  # type: ignore[arg-type]
        for task in SUITE.tasks("eval")[:6]:
            env.reset(task)
            query = task.goal.split(",")[0]
            for _ in range(env.max_steps):
                commands = env.admissible_commands
                if commands is None:
                    assert env.page is not None and env.page.value == "search"
                    action = f"search[{query}]"
                else:
                    assert len(set(commands)) == len(commands)
                    assert all(c.startswith("click[") for c in commands)
                    action = rng.choice(commands)
                result = env.step(action)
                assert result.info.action_valid, (mode, action)
                if result.done:
                    break
                assert result.info.admissible_commands == env.admissible_commands


def test_react_results_admit_only_shown_listings() -> None:
    env = WebShopEnv()
    task = SUITE.tasks("test")[1]
    env.reset(task)
    env.step(f"search[{task.goal.split(',')[0]}]")
    commands = env.admissible_commands or []
    assert commands[0] == "click[Back to Search]" and len(commands) == 4
    text = WebShopEnv(WebShopEnvConfig(observation="text"))
    text.reset(task)
    text.step(f"search[{task.goal.split(',')[0]}]")
    assert (text.admissible_commands or [])[:2] == ["click[Back to Search]", "click[Next >]"]
    assert len(text.admissible_commands or []) == 12


def test_step_cap_info_and_purchase() -> None:
    env = WebShopEnv(WebShopEnvConfig(max_steps=4))
    task = SUITE.tasks("test")[2]
    env.reset(task)
    result = env.step("  think[I should search.]  ")
    assert (result.observation, result.info.action_valid, result.done) == ("OK.", True, False)
    assert result.info.extra == {"page": "search"}
    for _ in range(3):
        result = env.step("click[Buy Now]")
    assert result.done and not result.info.won and result.reward == 0.0
    full = run_expert_episode(WebShopEnv(), task)
    assert full.success and full.steps[-1].action == "click[Buy Now]"
    env = WebShopEnv()
    env.reset(task)
    for step in full.steps:
        result = env.step(step.action)
    extra = result.info.extra
    assert extra["page"] == "done" and extra["purchase_reward"] == 1.0
    assert isinstance(extra["reward_info"], dict) and extra["reward_info"]["r_type"] == 1.0
    assert result.observation == "Your score (min 0.0, max 1.0): 1.0"


def test_reset_refuses_bad_specs() -> None:
    env = WebShopEnv()
    task = SUITE.tasks("test")[0]
    with pytest.raises(ValueError, match="not a webshop task spec"):
        env.reset(task.model_copy(update={"spec": {}}))
    stale = {**task.spec, "catalog": {**task.spec["catalog"], "version": 0}}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="catalog version 0"):
        env.reset(task.model_copy(update={"spec": stale}))
    foreign = {**task.spec, "goal": {**task.spec["goal"], "asin": "B000000000"}}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="not in the shop"):
        env.reset(task.model_copy(update={"spec": foreign}))
