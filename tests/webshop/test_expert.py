"""The scripted WebShop expert: success, fairness, ReAct-style thoughts, takeover from any
history, and its place among the project's experts (policy, oracle).

Takeover allowance (as for ALFWorld): foreign steps are not the expert's, so with the step cap
lifted the check is that the expert wins every perturbed episode it wins unperturbed; within
the real 15-step cap short perturbations (at most 3 foreign steps) may cost an episode its
last steps, so the check there is a floor (measured: 88% of the episodes the expert wins
unperturbed; the rest end with a partial purchase).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from agentdistill.cli import app as cli_app
from agentdistill.environments.webshop.env import WebShopEnv, WebShopEnvConfig, WebShopSuite
from agentdistill.environments.webshop.expert import (
    ExpertError,
    WebShopExpert,
    read_page,
    read_wish,
)
from agentdistill.formats import get_format
from agentdistill.policies.expert import EXPERTS, ExpertPolicy, run_expert_episode
from agentdistill.policies.oracle import OracleLabelledPolicy
from agentdistill.policies.trivial import TrivialPolicy
from agentdistill.records import Task, Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, run_rollouts

from .tiny import CITRUS, INSTRUCTION

SUITE = WebShopSuite()
QUIET = RolloutConfig(show_progress=False)


@pytest.fixture(scope="module")
def test_runs():
    env = WebShopEnv()
    return [run_expert_episode(env, task) for task in SUITE.tasks("test")[:100]]


def test_expert_wins_most_test_goals(test_runs) -> None:
    """Measured on all 500 test goals: 97.2% success, mean reward 0.993, 5.7 steps."""
    success = sum(t.success for t in test_runs) / len(test_runs)
    reward = sum(t.reward for t in test_runs) / len(test_runs)
    assert success >= 0.9 and reward >= 0.97
    assert all(t.stop_reason == "done" and len(t.steps) <= 15 for t in test_runs)
    assert all(s.action_valid for t in test_runs for s in t.steps)


def test_expert_checks_item_pages(test_runs) -> None:
    actions = [[s.action for s in t.steps] for t in test_runs]
    assert all(a[0].startswith("search[") and a[-1] == "click[Buy Now]" for a in actions)
    features = sum("click[Features]" in a for a in actions)
    rejected = sum(
        any(s.action == "click[< Prev]" and "Page " in s.observation for s in t.steps)
        for t in test_runs
    )
    assert features >= 15 and rejected >= 5


def test_expert_in_text_mode() -> None:
    env = WebShopEnv(WebShopEnvConfig(observation="text"))
    runs = [run_expert_episode(env, task) for task in SUITE.tasks("eval")[:40]]
    assert sum(t.success for t in runs) / len(runs) >= 0.9


def test_expert_never_reads_the_hidden_target() -> None:
    """The same instruction with another hidden target: the same actions and thoughts."""
    env = WebShopEnv()
    for task in SUITE.tasks("test")[:10]:
        other = SUITE.tasks("train")[0].spec["goal"]
        goal = {**task.spec["goal"], "asin": other["asin"], "name": other["name"]}  # type: ignore[index]
        hidden = task.model_copy(update={"spec": {**task.spec, "goal": goal}})
        first, second = run_expert_episode(env, task), run_expert_episode(env, hidden)
        assert [(s.reasoning, s.action) for s in first.steps] == [
            (s.reasoning, s.action) for s in second.steps
        ]


def test_thoughts_read_like_react(test_runs) -> None:
    first_picks = [
        s.reasoning for t in test_runs for s in t.steps[:3] if s.action.startswith("click[B")
    ]
    react = re.compile(
        r"^B0\w{8}(?:(?:, B0\w{8})* and B0\w{8} are| is) .+ less than \d+ dollars\. "
        r"I can check (?:B0\w{8} first|it)\.$"
    )
    assert sum(bool(react.match(t)) for t in first_picks) >= 10
    buy = re.compile(r"^For .+, the item has options? '.+' and seems good to buy\.$")
    assert any(buy.match(s.reasoning) for t in test_runs for s in t.steps)
    for trajectory in test_runs:
        for step in trajectory.steps:
            assert "\n" not in step.reasoning and "[" not in step.reasoning
        silent = [s for s in trajectory.steps if not s.reasoning]
        assert silent  # most steps say nothing (option clicks, < Prev, Buy Now, searches)


@pytest.mark.parametrize("name", ["react", "paper", "alfworld"])
def test_trajectories_render_and_parse_back(test_runs, name: str) -> None:
    """The project's text formats carry WebShop episodes both ways (pages span lines)."""
    fmt = get_format(name)
    for trajectory in test_runs[:30]:
        episode = fmt.parse_episode(fmt.render_trajectory(trajectory).text)
        assert episode.initial_observation == trajectory.initial_observation
        assert [(s.reasoning, s.action, s.observation) for s in episode.steps] == [
            (s.reasoning, s.action, s.observation) for s in trajectory.steps
        ]


def test_seed_changes_wording_not_actions() -> None:
    env = WebShopEnv()
    differs = 0
    for task in SUITE.tasks("eval")[:15]:
        runs = [run_expert_episode(env, task, seed=seed) for seed in (0, 1, 2)]
        actions = {tuple(s.action for s in r.steps) for r in runs}
        assert len(actions) == 1
        thoughts = {tuple(s.reasoning for s in r.steps) for r in runs}
        differs += len(thoughts) > 1
        assert run_expert_episode(env, task, seed=1).steps == runs[1].steps
    assert differs >= 10


def test_read_wish_with_the_shop_vocabulary() -> None:
    wish = read_wish(
        "i need a long lasting body lotion for sensitive skin in bright citrus scent and in "
        "6.76 fl oz size, and price lower than 40.00 dollars"
    )
    assert wish.price == 40.0 and wish.product_type == "body lotion"
    assert wish.attributes == ("long lasting", "sensitive skin")
    assert wish.options == ("bright citrus", "6.76 fl oz")
    assert " ".join(wish.words) == (
        "long lasting body lotion sensitive skin bright citrus 6.76 fl oz"
    )
    react = read_wish(INSTRUCTION)  # ReAct's example: '3 ounce' is the core of a size value
    assert react.options == ("3 ounce", "bright citrus") and react.product_type == "deodorant"


def test_read_page_both_renderings() -> None:
    from .tiny import browser

    for mode in ("react", "text"):
        b = browser(mode)  # type: ignore[arg-type]
        assert read_page(b.observation()).kind == "search"  # type: ignore[union-attr]
        results = read_page(b.step("search[bright citrus deodorant]").observation)
        assert results is not None and results.kind == "results"
        assert results.listings[0].asin == "B078GWRC1J" and results.listings[0].price == "$10.99"
        item_text = b.step("click[B078GWRC1J]").observation
        admissible = [f"click[{c}]" for c in b.clickables() or []]
        item = read_page(item_text, admissible)
        assert item is not None and item.kind == "item" and item.price == "$10.99"
        assert item.options["size"] == CITRUS.options["size"]
        sub = read_page(b.step("click[Features]").observation)
        assert sub is not None and sub.kind == "sub" and "Made for sensitive skin" in sub.text
    assert read_page("OK.") is None and read_page("Invalid action!") is None


def test_expert_refuses_to_act_after_the_end() -> None:
    env = WebShopEnv()
    task = SUITE.tasks("test")[0]
    expert = WebShopExpert()
    expert.reset(task.goal, env.reset(task), env.admissible_commands or [])
    result = None
    while result is None or not result.done:
        _, action = expert.act()
        result = env.step(action)
        expert.observe(result.observation, result.info.admissible_commands or [])
    with pytest.raises(ExpertError):
        expert.act()
    with pytest.raises(ExpertError):
        WebShopExpert().reset(task.goal, "a page nobody can read", [])


# ---- takeover ----------------------------------------------------------------------------------
INVALID = ("xyzzy", "", "search[", "click[nothing here]", "think[hmm]", "click[Next >]")


def _foreign(rng: random.Random, env: WebShopEnv, task: Task) -> str:
    """A random agent that never buys: invalid actions, admissible clicks, random queries."""
    commands = env.admissible_commands
    if rng.random() < 0.2:
        return rng.choice(INVALID)
    if commands is None:
        words = task.goal.split(",")[0].split()
        return "search[" + " ".join(rng.sample(words, k=min(len(words), rng.randint(1, 4)))) + "]"
    return rng.choice([c for c in commands if c != "click[Buy Now]"])


def _play(task: Task, foreign: Callable[[int], bool], cap: int, seed: int) -> bool:
    rng = random.Random(seed)
    env = WebShopEnv(WebShopEnvConfig(max_steps=cap))
    observation = env.reset(task)
    expert = WebShopExpert(seed, max_steps=cap)
    expert.reset(task.goal, observation, env.admissible_commands or [])
    for step in range(cap):
        action = _foreign(rng, env, task) if foreign(step) else expert.act()[1]
        result = env.step(action)
        if result.done:
            return result.info.won
        expert.observe(result.observation, result.info.admissible_commands or [], action=action)
    return False


@pytest.fixture(scope="module")
def won_tasks() -> list[Task]:
    env = WebShopEnv()
    return [t for t in SUITE.tasks("eval")[:80] if run_expert_episode(env, t).success]


def test_takeover_after_a_random_prefix(won_tasks) -> None:
    for k, task in enumerate(won_tasks):
        prefix = random.Random(k).randint(1, 5)
        assert _play(task, lambda step, n=prefix: step < n, cap=40, seed=k), task.task_id


def test_takeover_interleaved(won_tasks) -> None:
    """Every third step is someone else's (a bad query, a wrong listing, a wrong option, a
    sub-page, Back to Search, an invalid action): the expert still buys the right thing."""
    for k, task in enumerate(won_tasks):
        assert _play(task, lambda step: step % 3 == 0 and step < 40, cap=60, seed=k), task.task_id


def test_takeover_within_the_real_cap(won_tasks) -> None:
    wins = [
        _play(task, lambda step, n=random.Random(k).randint(1, 3): step < n, cap=15, seed=k)
        for k, task in enumerate(won_tasks)
    ]
    assert sum(wins) / len(wins) >= 0.8


def test_takeover_scenarios() -> None:
    """A wrong option, a wrong listing, a sub-page, a bad query: the expert recovers."""
    task = next(t for t in SUITE.tasks("test")[:30] if len(t.spec["goal"]["options"]) == 2)  # type: ignore[arg-type]
    reference = run_expert_episode(WebShopEnv(), task)
    assert reference.success
    wanted = task.spec["goal"]["options"]
    for scenario in ("wrong option", "wrong listing", "sub-page", "bad query"):
        env = WebShopEnv()
        observation = env.reset(task)
        expert = WebShopExpert()
        expert.reset(task.goal, observation, env.admissible_commands or [])
        done, won, injected = False, False, False
        while not done:
            page = env.page.value if env.page else ""
            commands = env.admissible_commands or []
            action = expert.act()[1]
            if not injected and scenario == "bad query" and page == "search":
                action, injected = "search[garden hose brass fittings]", True
            elif not injected and page == "results" and scenario == "wrong listing":
                action, injected = commands[-1], True
            elif not injected and page == "item" and scenario == "sub-page":
                action, injected = "click[Reviews]", True
            elif not injected and page == "item" and scenario == "wrong option":
                others = [c for c in commands[2:-4] if c[6:-1] not in wanted]  # type: ignore[operator]
                if others:
                    action, injected = others[0], True
            result = env.step(action)
            done, won = result.done, result.info.won
            if not done:
                expert.observe(result.observation, result.info.admissible_commands or [], action)
        assert injected and won, scenario


# ---- the project's expert machinery ------------------------------------------------------------
def test_expert_policy_plays_webshop() -> None:
    assert "webshop" in EXPERTS
    tasks = SUITE.tasks("test")[:16]
    runs = run_rollouts(ExpertPolicy("webshop"), WebShopEnv, tasks, QUIET)
    assert sum(t.success for t in runs) >= 14
    # noise is ALFWorld's (harmless admissible commands): a no-op for WebShop
    noisy = run_rollouts(ExpertPolicy("webshop", noise=0.5), WebShopEnv, tasks, QUIET)
    assert [t.steps for t in noisy] == [t.steps for t in runs]


def test_oracle_labels_a_learner_on_webshop() -> None:
    tasks = SUITE.tasks("test")[:8]
    learner = TrivialPolicy("random_admissible", seed=1)
    policy = OracleLabelledPolicy(learner, "webshop", expert_share=0.0, seed=0)
    runs = run_rollouts(policy, WebShopEnv, tasks, QUIET)
    labels = [s.oracle for t in runs for s in t.steps]
    assert labels and all(label is not None for label in labels)
    assert all(label.action.startswith("search[") for label in labels[:1])  # type: ignore[union-attr]


def test_expert_policy_and_oracle_plan_against_the_rollouts_step_cap() -> None:
    """Under a 5-step cap an expert told the cap buys in every episode (one told nothing
    plans for ReAct's 15 and runs out); an oracle told the cap labels the hurried move where
    a cap-blind expert, as the learner, reads on; told nothing, it agrees with that learner."""
    tasks = SUITE.tasks("test")[:16]
    capped = RolloutConfig(show_progress=False, max_steps=5)

    def bought(policy: ExpertPolicy) -> int:
        runs = run_rollouts(policy, WebShopEnv, tasks, capped)
        return sum(t.steps[-1].action == "click[Buy Now]" for t in runs)

    assert bought(ExpertPolicy("webshop", max_steps=5)) == len(tasks)
    assert bought(ExpertPolicy("webshop")) < len(tasks) - 2  # measured: 11 of 16

    def disagreements(max_steps: int | None) -> int:
        oracle = OracleLabelledPolicy(ExpertPolicy("webshop"), "webshop", max_steps=max_steps)
        steps = [s for t in run_rollouts(oracle, WebShopEnv, tasks, capped) for s in t.steps]
        assert all(s.oracle is not None for s in steps)
        return sum(s.oracle.action != s.action for s in steps)  # type: ignore[union-attr]

    assert disagreements(None) == 0
    assert disagreements(5) > 0  # measured: 11 of 73 states
    with pytest.raises(ValueError, match="max_steps"):
        ExpertPolicy("webshop", max_steps=0)


def test_cli_rollout_tells_the_expert_a_shorter_cap(tmp_path) -> None:
    """`agentdistill rollout --policy expert --max-steps 5`: the expert buys within 5 steps."""
    data = tmp_path / "data"
    write_jsonl(data / "webshop" / "test.jsonl", SUITE.tasks("test")[:16])
    out = tmp_path / "episodes.jsonl"
    args = ["rollout", "--policy", "expert", "--env", "webshop", "--split", "test"]
    args += ["--data", str(data), "--max-steps", "5", "--out", str(out)]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    episodes = read_jsonl(out, Trajectory)
    assert len(episodes) == 16 and all(len(t.steps) <= 5 for t in episodes)
    assert all(t.steps[-1].action == "click[Buy Now]" for t in episodes)
