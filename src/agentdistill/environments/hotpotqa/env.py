"""HotPotQA as ReAct plays it (`wikienv.py` + `HotPotQAWrapper` + the notebook's loop), offline.

The episode, exactly as ReAct's code behaves, over a local wiki instead of live Wikipedia:

- `reset` -> `Question: {question}`.
- `search[entity]`: a page (exact title, or the only title equal up to case) -> its first five
  sentences joined by spaces, cut as `wikienv` cuts them (a paragraph's last sentence ends in
  `..`); the page becomes current and the lookup state resets. A miss -> `Could not find
  {entity}. Similar: [...]` (a shared name: `Could not find [{entity}]. Similar: [...]`, what
  `wikienv` says after retrying a disambiguation page as `[entity]`); a miss keeps the current
  page and lookup state, as in `wikienv`. See `pages.py`.
- `lookup[keyword]`: the current page's sentences containing the keyword (any case), one per
  call: `(Result k / n) sentence`, then `No more results.`; a new keyword restarts the list,
  the same keyword pages on; without a page, `No more results.`.
- `finish[answer]` ends the episode: `Episode finished, reward = {EM}` (1 or 0; the spec
  makes the reward the official exact match, where ReAct's wrapper rewarded an edit-distance
  ratio above 0.633, kept here as `info.extra['react_reward']`).
- `think[...]` -> `Nice thought.`; anything else -> `Invalid action: {action}` (stripped).
- The verb is read case-insensitively (`Search[x]` as written in ReAct's prompts, or the
  lower-cased `search[x]` ReAct's notebook sends); the action is stripped, and the argument
  runs from the first `[` to the final `]`, as `wikienv` slices it.
- Every step counts; at most 7. ReAct's loop runs steps 1..7 and, when no `finish` came,
  calls `finish[]` itself, whose observation never enters the trajectory: so the 7th step
  returns its own observation with `done=True`, the episode is scored with the empty answer
  (reward 0) and `info.extra['forced_finish']` is True.

`wikienv`'s observations `No more results.\\n` and `Episode finished, reward = 0\\n` end in a
newline the trajectory text then doubles; here observations carry no final newline (the text
format writes one after every observation).

`info.won` is EM = 1; on the final step `info.extra` holds `answer` (the one given, '' when
forced), `em`, `f1`, `react_reward`, `forced_finish` and `gold` (the reference answer). `em` and
`f1` are the episode's scores (`score_keys`): trajectories keep them, benchmarks report them.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, JsonValue
from rapidfuzz import fuzz

from agentdistill.config import Config
from agentdistill.environments.base import (
    Environment,
    EnvironmentStateError,
    StepInfo,
    StepResult,
    TaskSuite,
)
from agentdistill.environments.hotpotqa.pages import WikiCorpus
from agentdistill.environments.hotpotqa.questions import (
    SPLITS,
    Question,
    QuestionConfig,
    generate_questions,
)
from agentdistill.environments.hotpotqa.real_data import DATA_VARIABLE
from agentdistill.environments.hotpotqa.scoring import exact_match, f1_score, normalize_answer
from agentdistill.environments.hotpotqa.wiki import WikiConfig, build_world
from agentdistill.files import write_text_atomic
from agentdistill.records import Task

ENV_NAME = "hotpotqa"
MAX_STEPS = 7
NO_MORE = "No more results."
NICE = "Nice thought."
_ACTION = re.compile(r"(?P<verb>[A-Za-z]+)\[(?P<argument>.*)\]", re.DOTALL)
VERBS = frozenset({"search", "lookup", "finish", "think"})


def parse_action(action: str) -> tuple[str, str] | None:
    """`(verb, argument)` of an action the environment understands (verb lower-cased)."""
    match = _ACTION.fullmatch(action.strip())
    if match is None or match.group("verb").lower() not in VERBS:
        return None
    return match.group("verb").lower(), match.group("argument")


def react_reward(answer: str, gold: str) -> int:
    """ReAct's wrapper reward: Levenshtein ratio of the normalized answers above 0.633."""
    return int(fuzz.ratio(normalize_answer(gold), normalize_answer(answer)) / 100 > 0.633)


class HotpotQAConfig(Config):
    """The generated HotPotQA benchmark: its wiki and its questions."""

    wiki: WikiConfig = Field(default_factory=WikiConfig, description="The generated wiki.")
    questions: QuestionConfig = Field(
        default_factory=QuestionConfig, description="Question counts per split and their seed."
    )


@lru_cache(maxsize=4)
def _questions(wiki_json: str, questions_json: str) -> dict[str, list[Question]]:
    world = build_world(WikiConfig.model_validate_json(wiki_json))
    return generate_questions(world, QuestionConfig.model_validate_json(questions_json))


def question_task(question: Question, wiki: WikiConfig, split: str, index: int) -> Task:
    """A generated question as a task: the spec rebuilds the episode (wiki from its config)."""
    return Task(
        env=ENV_NAME,
        task_id=f"{split}-{index:05d}",
        split=split,
        goal=question.question,
        task_type=question.qtype,
        spec={
            "wiki": wiki.model_dump(mode="json"),
            "question": question.question,
            "answer": question.answer,
            "type": question.qtype,
            "level": question.level,
            "pattern": question.pattern,
            "supporting_facts": [[title, index] for title, index in question.supporting_facts],
        },
    )


def task_corpus(task: Task) -> WikiCorpus:
    """The wiki a task's episode reads: generated from `spec.wiki`, or the real data file."""
    if "wiki" in task.spec:
        config = WikiConfig.model_validate(task.spec["wiki"])
        return build_world(config).corpus
    if "data" in task.spec:
        from agentdistill.environments.hotpotqa.real_data import corpus_for

        return corpus_for(task.spec["data"])
    raise ValueError(f"task {task.task_id}: spec has neither 'wiki' nor 'data'")


class HotpotQASuite(TaskSuite):
    """Generated questions per split, or a real HotPotQA file's (`data_file`)."""

    env_name = ENV_NAME
    splits = SPLITS

    def __init__(
        self, config: HotpotQAConfig | None = None, data_file: str | Path | None = None
    ) -> None:
        self.config = config or HotpotQAConfig()
        self.data_file = Path(data_file) if data_file else None

    @classmethod
    def from_environment(cls, config: HotpotQAConfig | None = None) -> HotpotQASuite:
        """The real file `$HOTPOTQA_DATA` points at when set, else generated questions."""
        path = os.environ.get(DATA_VARIABLE)
        return cls(config, data_file=path or None)

    def write_inputs(self, folder: Path) -> list[Path]:
        """The generated wiki as `wiki.jsonl`: one `{title, text}` page per line (none for
        real data: the user has the file)."""
        if self.data_file is not None:
            return []
        corpus = build_world(self.config.wiki).corpus
        lines = [
            json.dumps({"title": title, "text": corpus.text(title)}, ensure_ascii=False) + "\n"
            for title in corpus.titles
        ]
        return [write_text_atomic(folder / "wiki.jsonl", "".join(lines))]

    def tasks(self, split: str) -> list[Task]:
        self.check_split(split)
        if self.data_file is not None:
            from agentdistill.environments.hotpotqa.real_data import real_tasks

            return real_tasks(self.data_file, split)
        wiki, questions = self.config.wiki, self.config.questions
        drawn = _questions(wiki.model_dump_json(), questions.model_dump_json())[split]
        return [question_task(q, wiki, split, i) for i, q in enumerate(drawn)]


class HotpotQAEnv(Environment):
    """ReAct's Wikipedia environment over a local wiki (see the module docstring)."""

    name = ENV_NAME
    max_steps = MAX_STEPS
    score_keys = ("em", "f1")  # the official answer scores; a forced finish scores 0

    def __init__(self) -> None:
        self._corpus: WikiCorpus | None = None
        self._done = True
        self._started = False
        self._steps = 0
        self._gold = ""
        self._page: str | None = None
        self._lookup_keyword: str | None = None
        self._lookup_list: list[str] = []
        self._lookup_count = 0

    def reset(self, task: Task) -> str:
        if task.env != ENV_NAME:
            raise EnvironmentStateError(
                f"task {task.task_id} is for env {task.env!r}, not {ENV_NAME}"
            )
        question, gold = task.spec.get("question"), task.spec.get("answer")
        if not isinstance(question, str) or not isinstance(gold, str):
            raise ValueError(f"task {task.task_id}: spec needs 'question' and 'answer' strings")
        self._corpus = task_corpus(task)
        self._gold = gold
        self._started, self._done, self._steps = True, False, 0
        self._page = None
        self._lookup_keyword, self._lookup_list, self._lookup_count = None, [], 0
        return f"Question: {question}"

    @property
    def current_page(self) -> str | None:
        """The title of the page lookups read (the last search hit)."""
        return self._page

    def step(self, action: str) -> StepResult:
        if not self._started:
            raise EnvironmentStateError("step before reset")
        if self._done:
            raise EnvironmentStateError("the episode is over; call reset")
        assert self._corpus is not None
        command = action.strip()
        parsed = parse_action(command)
        answer: str | None = None
        if parsed is None:
            observation = f"Invalid action: {command}"
        else:
            verb, argument = parsed
            if verb == "search":
                observation = self._search(argument)
            elif verb == "lookup":
                observation = self._lookup(argument)
            elif verb == "finish":
                answer = argument
                observation = ""
            else:
                observation = NICE
        self._steps += 1
        forced = answer is None and self._steps >= self.max_steps
        if forced:
            answer = ""
        extra: dict[str, JsonValue] = {}
        reward, won = 0.0, False
        if answer is not None:
            self._done = True
            won = exact_match(answer, self._gold)
            reward = 1.0 if won else 0.0
            if not forced:
                observation = f"Episode finished, reward = {int(won)}"
            extra = {
                "answer": answer,
                "em": float(won),
                "f1": f1_score(answer, self._gold).f1,
                "react_reward": react_reward(answer, self._gold),
                "forced_finish": forced,
                "gold": self._gold,
            }
        return StepResult(
            observation=observation,
            done=self._done,
            reward=reward,
            # a forced finish is the cap's answer, not the agent's
            info=StepInfo(won=won, action_valid=parsed is not None, truncated=forced, extra=extra),
        )

    def _search(self, entity: str) -> str:
        assert self._corpus is not None
        result = self._corpus.search(entity)
        if result.title is None:
            return result.observation(entity, None)
        self._page = result.title
        self._lookup_keyword, self._lookup_list, self._lookup_count = None, [], 0
        return result.observation(entity, self._corpus.text(result.title))

    def _lookup(self, keyword: str) -> str:
        assert self._corpus is not None
        if keyword != self._lookup_keyword:
            self._lookup_keyword = keyword
            needle = keyword.lower()
            sentences = self._corpus.sentences(self._page) if self._page is not None else []
            self._lookup_list = [s for s in sentences if needle in s.lower()]
            self._lookup_count = 0
        if self._lookup_count >= len(self._lookup_list):
            return NO_MORE
        self._lookup_count += 1
        sentence = self._lookup_list[self._lookup_count - 1]
        return f"(Result {self._lookup_count} / {len(self._lookup_list)}) {sentence}"
