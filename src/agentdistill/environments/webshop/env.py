"""WebShop on the environment protocol: the environment and its task suite.

    suite = WebShopSuite.from_environment()          # generated shop, or $WEBSHOP_DATA's files
    env = WebShopEnv()                                # ReAct's observations, 15 steps
    first = env.reset(suite.tasks("test")[0])
    result = env.step("search[3 ounce bright citrus deodorant]")

A task's spec holds everything that rebuilds its episode in a fresh process, and no path:

    {"catalog": {"source": "generated", "version": 1, "seed": 0, "n_products": 5000, ...},
     "goal_index": 17, "goal": {"asin": ..., "instruction": ..., "attributes": [...], ...}}

(`catalog` for real data: `{"source": "real", "files": {...file names...}}`, read from the
folder `$WEBSHOP_DATA` names.) The environment regenerates (or loads) the catalog once per
process, so the task files under data/webshop/ are all it needs.

Episodes: every action counts towards `max_steps` (15, ReAct's cap); `click[Buy Now]` ends
the episode with the purchase reward in [0, 1], and the episode is won when it is exactly 1.0.
`info.admissible_commands` lists `click[...]` of what the page shows (None on the search page,
where the action is a free-text `search[...]`: a placeholder command would invite action
grounding to replace a real query by it); `info.extra` carries the page kind and, on the last
step, the purchase (reward and its parts, the asin and options bought).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, JsonValue

from agentdistill.config import Config
from agentdistill.environments.base import (
    Environment,
    EnvironmentStateError,
    StepInfo,
    StepResult,
    TaskSuite,
)
from agentdistill.environments.webshop.catalog import CatalogConfig, cached_catalog, write_catalog
from agentdistill.environments.webshop.goals import (
    SPLITS,
    Goal,
    GoalConfig,
    generate_goals,
    split_goals,
)
from agentdistill.environments.webshop.pages import Browser, Mode, PageKind
from agentdistill.environments.webshop.shop import NounChoice, load_shop
from agentdistill.records import Task

ENV_NAME = "webshop"
MAX_STEPS = 15
"""ReAct's WebShop step cap."""
DATA_VARIABLE = "WEBSHOP_DATA"


class WebShopEnvConfig(Config):
    """How the environment renders pages and ends episodes."""

    observation: Mode = Field(
        default="react",
        description="Page text: 'react' (ReAct's notebook: buttons as [Text] lines, 3 results) "
        "or 'text' (the gym text mode: visible strings joined by ' [SEP] ').",
    )
    max_steps: int = Field(default=MAX_STEPS, ge=1, description="Step cap of an episode.")
    react_paging: bool = Field(
        default=False,
        description="ReAct mode: allow Next > / < Prev on result pages (ReAct's code forbids "
        "them); text mode always allows them.",
    )
    nouns: NounChoice = Field(
        default="auto",
        description="Noun extractor of the type reward: 'auto' (spaCy when its English model "
        "is installed, else the fallback), 'spacy' (required), 'fallback'.",
    )


class WebShopEnv(Environment):
    """The shop, one shopping episode at a time."""

    name = ENV_NAME

    def __init__(self, config: WebShopEnvConfig | None = None) -> None:
        self.config = config or WebShopEnvConfig()
        self.max_steps = self.config.max_steps
        self._browser: Browser | None = None
        self._done = True
        self._steps = 0

    def reset(self, task: Task) -> str:
        if task.env != ENV_NAME:
            raise EnvironmentStateError(f"task {task.task_id} is for env {task.env!r}, not webshop")
        try:
            identity = task.spec["catalog"]
            goal = Goal.model_validate(task.spec["goal"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"task {task.task_id}: not a webshop task spec ({exc})") from exc
        if not isinstance(identity, dict):
            raise ValueError(f"task {task.task_id}: spec.catalog is not a mapping")
        shop = load_shop(identity)
        if goal.asin not in shop.products:
            raise ValueError(f"task {task.task_id}: goal product {goal.asin} is not in the shop")
        self._browser = Browser(
            shop=shop,
            goal=goal,
            nouns=shop.nouns(self.config.nouns),
            mode=self.config.observation,
            paging=self.config.react_paging,
        )
        self._done, self._steps = False, 0
        return self._browser.observation()

    def step(self, action: str) -> StepResult:
        if self._browser is None:
            raise EnvironmentStateError("step before reset")
        if self._done:
            raise EnvironmentStateError("the episode is over; call reset")
        transition = self._browser.step(action.strip())
        self._steps += 1
        self._done = transition.done or self._steps >= self.max_steps
        extra: dict[str, JsonValue] = {"page": self._browser.kind.value}
        if transition.purchase is not None:
            extra.update(
                purchase_reward=transition.reward,
                asin=self._browser.asin,
                options=dict(self._browser.options),
                reward_info=transition.purchase.as_dict(),
            )
        won = transition.done and transition.reward == 1.0
        return StepResult(
            observation=transition.observation,
            done=self._done,
            reward=transition.reward,
            info=StepInfo(
                won=won,
                action_valid=transition.valid,
                admissible_commands=self.admissible_commands,
                truncated=self._done and not transition.done,  # the cap came before Buy Now
                extra=extra,
            ),
        )

    @property
    def admissible_commands(self) -> list[str] | None:
        if self._browser is None or self._done:
            return None
        clickables = self._browser.clickables()
        return None if clickables is None else [f"click[{c}]" for c in clickables]

    @property
    def page(self) -> PageKind | None:
        """The current page's kind (None before reset)."""
        return None if self._browser is None else self._browser.kind


# ---- tasks -------------------------------------------------------------------------------------


def goal_task(goal: Goal, index: int, split: str, catalog: dict[str, JsonValue]) -> Task:
    """The task of goal number `index` of a shop's goal list."""
    return Task(
        env=ENV_NAME,
        task_id=f"goal-{index}",
        split=split,
        goal=goal.instruction,
        task_type=goal.product_category.split("\u203a")[0].strip(),
        spec={"catalog": catalog, "goal_index": index, "goal": goal.model_dump(mode="json")},
    )


class WebShopSuite(TaskSuite):
    """Shopping goals per split: generated (deterministic from the configs), or the real
    benchmark's human goals when `data_root` holds its files (test = goals 0-499, eval =
    500-1499, train = the rest, in the real engine's seed-233 order)."""

    env_name = ENV_NAME
    splits = SPLITS

    def __init__(
        self,
        catalog: CatalogConfig | None = None,
        goals: GoalConfig | None = None,
        data_root: str | Path | None = None,
    ) -> None:
        self.catalog = catalog or CatalogConfig()
        self.goals = goals or GoalConfig()
        self.data_root = Path(data_root) if data_root is not None else None
        self._tasks: dict[str, list[Task]] | None = None

    @classmethod
    def from_environment(
        cls, catalog: CatalogConfig | None = None, goals: GoalConfig | None = None
    ) -> WebShopSuite:
        """Real data when `$WEBSHOP_DATA` names a folder holding the benchmark's files, else
        the generated shop."""
        from agentdistill.environments.webshop.real_data import find_real_files

        root = os.environ.get(DATA_VARIABLE)
        if root and find_real_files(Path(root)) is not None:
            return cls(catalog, goals, data_root=root)
        return cls(catalog, goals)

    def write_inputs(self, folder: Path) -> list[Path]:
        """The generated catalog as `catalog.jsonl` (none for real data: the user has it)."""
        if self.data_root is not None:
            return []
        return [write_catalog(folder.parent, self.catalog)]

    def tasks(self, split: str) -> list[Task]:
        self.check_split(split)
        if self._tasks is None:
            self._tasks = self._real_tasks() if self.data_root else self._generated_tasks()
        return list(self._tasks[split])

    def _generated_tasks(self) -> dict[str, list[Task]]:
        config = self.catalog
        catalog = cached_catalog(config.seed, config.n_products, config.range_share)
        identity: dict[str, JsonValue] = config.identity()  # type: ignore[assignment]
        goals = generate_goals(catalog, self.goals)
        return {
            split: [goal_task(goal, i, split, identity) for i, goal in pairs]
            for split, pairs in split_goals(goals, self.goals).items()
        }

    def _real_tasks(self) -> dict[str, list[Task]]:
        from agentdistill.environments.webshop.real_data import (
            REAL_SPLITS,
            find_real_files,
            load_real_data,
        )

        assert self.data_root is not None
        files = find_real_files(self.data_root)
        if files is None:
            raise FileNotFoundError(
                f"{self.data_root}: no WebShop data files (items_shuffle*.json, "
                "items_ins_v2*.json, items_human_ins.json)"
            )
        data = load_real_data(files)
        identity: dict[str, JsonValue] = {
            "source": "real",
            "files": files.model_dump(mode="json", exclude={"root"}),
        }
        out: dict[str, list[Task]] = {}
        for split, (start, end) in REAL_SPLITS.items():
            stop = len(data.goals) if end is None else min(end, len(data.goals))
            out[split] = [goal_task(data.goals[i], i, split, identity) for i in range(start, stop)]
        return out
