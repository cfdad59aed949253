"""A scripted HotPotQA expert that plays fair: it knows only the question and what it read.

It reads the question against the generated question patterns (`questions.PATTERNS`; never
the answer, the task spec or the wiki's data), which tells it the entities named and the facts
to find: for a bridge question, a fact of A naming an entity E, then a fact of E; for a
comparison, the same fact of A and of B. It then works like a ReAct agent:

- it searches an entity by the name it knows (from the question, or as a page wrote it);
- when the search misses, it picks from the `Similar:` list the title that fits what it looks
  for (`X (film)` for the film X, `Ann Koval (director)` for a film's director), or else
  searches `name (qualifier)` itself;
- it reads facts from the sentences it has seen, with the phrasing the wiki uses
  (`relations.SENTENCES`); when the first five sentences do not state the fact, it looks up
  the fact's keyword, paging on if a result does not hold it;
- it goes back to a page (searches it again) when another page became current meanwhile;
- it finishes with the value (bridge), the entity that wins the comparison, or yes / no.

It thinks at every step, as ReAct's HotPotQA prompts do (every turn is a `Thought k` and an
`Action k`): a plan first, then what it learned and what it does next. Wording varies with
`random.Random(seed)`; actions never depend on the seed. Actions are written as ReAct's
prompts write them (`Search[...]`, `Lookup[...]`, `Finish[...]`).

It takes over from any history: `observe(..., action=...)` accepts what someone else did (a
wrong search, a lookup that found nothing, an invalid action) and the expert keeps what the
observations taught it (pages and sentences seen, which page is current, where a lookup
stands) and goes on from there. With a single step left it finishes with its best answer
(the answer if known, else a guess) rather than let the 7-step cap end the episode.

Real HotPotQA questions match no pattern: the expert then raises `ExpertError` when asked to
act (never on reset, so a policy can record the failure as a turn).
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentdistill.environments.alfworld.expert import ExpertError as _ExpertError
from agentdistill.environments.base import Environment
from agentdistill.environments.hotpotqa.env import MAX_STEPS, parse_action
from agentdistill.environments.hotpotqa.pages import title_base, title_qualifier
from agentdistill.environments.hotpotqa.questions import (
    BRIDGE,
    FACT_WORDS,
    SUPERLATIVE,
    Pattern,
    parse_question,
)
from agentdistill.environments.hotpotqa.relations import (
    ALBUM,
    FACT_SENTENCE,
    FILM,
    LINKS,
    NOVEL,
)
from agentdistill.records import Task


class ExpertError(_ExpertError):
    """The expert cannot go on (a question it cannot read, a page it cannot find).

    A subclass of the ALFWorld expert's error, so that the expert policies catching that one
    (`policies.expert`, `policies.oracle`) catch this one too.
    """


_MISS = re.compile(r"Could not find (?P<entity>.*)\. Similar: (?P<similar>\[.*\])\.", re.DOTALL)
_RESULT = re.compile(r"\(Result (?P<k>\d+) / (?P<n>\d+)\) (?P<sentence>.*)", re.DOTALL)
_NUMBER = re.compile(r"\d[\d,]*")
# a linked entity as a thought names it ("the director")
LINK_NOUNS: dict[str, str] = {
    "director": "director", "author": "author", "publisher": "publisher",
    "based_on": "novel", "studio": "studio", "founder": "founder", "city": "city",
    "country": "country", "birth_city": "city", "education": "university",
    "singer": "lead singer", "artist": "band", "label": "label", "first_ascent": "climber",
    "source": "mountain", "capital": "capital",
}  # fmt: skip
_WORK_KINDS = (FILM, NOVEL, ALBUM)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def split_observation(text: str) -> list[str]:
    """The sentences of a search result (`wikienv` joined them with spaces)."""
    pieces = [p.strip() for p in text.split(". ")]
    return [p.rstrip(".") for p in pieces if p.strip(". ")]


@dataclass(frozen=True)
class Need:
    """A fact to find: `fact` of the entity called `name` (of `kind`, maybe `qualifier`)."""

    name: str
    kind: str
    qualifier: str | None
    fact: str


@dataclass
class _Lookup:
    keyword: str | None = None
    count: int = 0
    total: int = 0
    exhausted: bool = False


@dataclass
class _Memory:
    pages: dict[str, list[str]] = field(default_factory=dict)
    """page key (the searched title, case-folded) -> the sentences seen of it."""
    titles: dict[str, str] = field(default_factory=dict)
    """page key -> the title as searched."""
    misses: dict[str, list[str]] = field(default_factory=dict)
    """searched key -> the Similar list of the miss."""
    current: str | None = None
    lookup: _Lookup = field(default_factory=_Lookup)

    def see(self, key: str, sentences: Sequence[str]) -> None:
        seen = self.pages.setdefault(key, [])
        for sentence in sentences:
            if sentence not in seen:
                seen.append(sentence)


class HotpotQAExpert:
    """Scripted HotPotQA policy (see the module docstring).

    Usage: `reset(question, first_observation, admissible)`, then alternate `act()` (returns
    `(reasoning, action)`) and `observe(observation, admissible, action=...)`.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.plan: tuple[Pattern, dict[str, str]] | None = None
        self.problem = "no question yet"
        self.memory = _Memory()
        self.steps = 0
        self.last_action: str | None = None
        self.planned = False

    # -- episode -----------------------------------------------------------------------------
    def reset(self, goal: str, observation: str, admissible: Sequence[str] = ()) -> None:
        """Start an episode: read the question (from the goal, else the first observation)."""
        self.rng = random.Random(self.seed)
        self.memory = _Memory()
        self.steps = 0
        self.last_action = None
        self.planned = False
        question = goal.strip() or observation.strip().removeprefix("Question:").strip()
        self.plan = parse_question(question)
        self.problem = "" if self.plan else f"a question of no known pattern: {question!r}"

    def act(self) -> tuple[str, str]:
        """The next (reasoning, action)."""
        if self.plan is None:
            raise ExpertError(self.problem)
        thought, action = self._decide()
        self.last_action = action
        self.planned = True
        return " ".join(thought.split()), action

    def observe(
        self, observation: str, admissible: Sequence[str] = (), action: str | None = None
    ) -> None:
        """Learn from the answer to the last action (`action`: what was really done, when
        someone else chose it)."""
        if action is None:
            action = self.last_action
        self.steps += 1
        if action is None:
            return
        parsed = parse_action(action)
        if parsed is None:
            return
        verb, argument = parsed
        text = observation.strip()
        memory = self.memory
        if verb == "search":
            miss = _MISS.fullmatch(text)
            if miss:
                memory.misses[_key(argument)] = _similar(miss.group("similar"))
                return
            key = _key(argument)
            memory.titles[key] = " ".join(argument.split())
            memory.see(key, split_observation(text))
            memory.current = key
            memory.lookup = _Lookup()
        elif verb == "lookup":
            lookup = memory.lookup
            if argument != lookup.keyword:
                memory.lookup = lookup = _Lookup(keyword=argument)
            result = _RESULT.fullmatch(text)
            if result:
                lookup.count, lookup.total = int(result.group("k")), int(result.group("n"))
                lookup.exhausted = lookup.count >= lookup.total
                if memory.current is not None:
                    memory.see(memory.current, [result.group("sentence").rstrip(".")])
            else:
                lookup.exhausted = True

    # -- reading -----------------------------------------------------------------------------
    def _needs(self) -> list[Need]:
        """The facts to find, in order, as far as they are known (a bridge's second needs
        the first's value)."""
        assert self.plan is not None
        pattern, slots = self.plan
        qualifier = pattern.kind if pattern.kind in _WORK_KINDS else None
        if pattern.qtype == BRIDGE:
            link, asked = pattern.facts
            first = Need(slots["a"], pattern.kind, qualifier, link)
            value = self._value(first)
            if value is None:
                return [first]
            kind, hint = LINKS[(pattern.kind, link)]
            return [first, Need(value, kind, hint, asked)]
        (fact,) = pattern.facts
        return [Need(slots[s], pattern.kind, qualifier, fact) for s in ("a", "b")]

    def _page_of(self, need: Need) -> str | None:
        """The key of the page seen for the entity of `need`, if any."""
        candidates = [_key(need.name)]
        if need.qualifier:
            candidates.append(_key(f"{need.name} ({need.qualifier})"))
        for key in candidates:
            if key in self.memory.pages:
                return key
        if need.qualifier is None:
            for key, title in self.memory.titles.items():
                if _key(title_base(title)) == _key(need.name):
                    return key
        return None

    def _value(self, need: Need) -> str | None:
        key = self._page_of(need)
        if key is None:
            return None
        reader = FACT_SENTENCE[(need.kind, need.fact)]
        for sentence in self.memory.pages[key]:
            facts = reader.read(sentence)
            if facts and need.fact in facts:
                return facts[need.fact]
        return None

    def _answer(self) -> tuple[str, str] | None:
        """(answer, the thought that concludes it) once every needed fact is known."""
        assert self.plan is not None
        pattern, slots = self.plan
        needs = self._needs()
        values = [self._value(need) for need in needs]
        if pattern.qtype == BRIDGE:
            if len(needs) < 2 or values[1] is None:
                return None
            answer = values[1]
            link, asked = pattern.facts
            noun = LINK_NOUNS[link]
            return answer, self._say(
                ("The {w} of {e} is {v}. So the answer is {v}.",
                 "{e} has {v} as its {w}, so the answer is {v}.",
                 "So the {w} of the {noun} of {a} is {v}."),
                w=FACT_WORDS[asked], e=needs[1].name, v=answer, noun=noun, a=slots["a"],
            )  # fmt: skip
        first, second = values
        if first is None or second is None:
            return None
        (fact,) = pattern.facts
        word = FACT_WORDS[fact]
        if pattern.compare == "same":
            answer = "yes" if first.casefold() == second.casefold() else "no"
            return answer, self._say(
                ("The {w} of {a} is {x} and that of {b} is {y}, so the answer is {ans}.",
                 "{a}: {x}; {b}: {y}. So the answer is {ans}."),
                w=word, a=slots["a"], b=slots["b"], x=first, y=second, ans=answer,
            )  # fmt: skip
        a_wins = (_number(first) < _number(second)) == (pattern.compare == "min")
        winner = slots["a"] if a_wins else slots["b"]
        return winner, self._say(
            ("The {w} of {a} is {x} and that of {b} is {y}, so {win} {sup}.",
             "{a} has {x} and {b} has {y} as {w}, so {win} {sup}."),
            w=word, a=slots["a"], b=slots["b"], x=first, y=second, win=winner,
            sup=SUPERLATIVE[(fact, pattern.compare)],
        )  # fmt: skip

    def _guess(self) -> str:
        assert self.plan is not None
        pattern, slots = self.plan
        if pattern.qtype == BRIDGE:
            needs = self._needs()
            return needs[-1].name if len(needs) > 1 else slots["a"]
        return "yes" if pattern.compare == "same" else slots["a"]

    # -- deciding ----------------------------------------------------------------------------
    def _decide(self) -> tuple[str, str]:
        concluded = self._answer()
        if concluded is not None:
            answer, thought = concluded
            return self._opening() + thought, f"Finish[{answer}]"
        if MAX_STEPS - self.steps <= 1:
            guess = self._guess()
            thought = self._say(
                ("I am running out of steps, so my best answer is {g}.",
                 "I have no steps left to search further, so I answer {g}."),
                g=guess,
            )  # fmt: skip
            return thought, f"Finish[{guess}]"
        needs = self._needs()
        need = next(n for n in needs if self._value(n) is None)
        key = self._page_of(need)
        if key is not None:
            if key == self.memory.current:
                return self._lookup(need)
            title = self.memory.titles[key]
            return self._opening() + self._say(
                ("I need to go back to {t} to find the {w}.",
                 "The {w} of {n} must be on its page, so I search {t} again."),
                t=title, w=FACT_WORDS[need.fact], n=need.name,
            ), f"Search[{title}]"  # fmt: skip
        return self._search(need, needs)

    def _opening(self) -> str:
        """The plan, when this is the expert's first turn of the episode."""
        if self.planned:
            return ""
        assert self.plan is not None
        pattern, slots = self.plan
        if pattern.qtype == BRIDGE:
            link, asked = pattern.facts
            text = self._say(
                ("I need to search {a}, find its {l}, then find the {w} of the {noun}.",
                 "To answer this, I first search {a} for its {l}, then the {noun} for the {w}.",
                 "I should find the {l} of {a} first, then the {w} of that {noun}."),
                a=slots["a"], l=FACT_WORDS[link], w=FACT_WORDS[asked], noun=LINK_NOUNS[link],
            )  # fmt: skip
        elif pattern.compare == "same":
            text = self._say(
                ("I need to search {a} and {b}, find their {w}, and see if it is the same.",
                 "I should find the {w} of {a} and of {b}, then compare them."),
                a=slots["a"], b=slots["b"], w=FACT_WORDS[pattern.facts[0]],
            )  # fmt: skip
        else:
            fact = pattern.facts[0]
            text = self._say(
                ("I need to search {a} and {b}, find their {w}, then find which {sup}.",
                 "I should compare the {w} of {a} and {b} to find which {sup}."),
                a=slots["a"], b=slots["b"], w=FACT_WORDS[fact],
                sup=SUPERLATIVE[(fact, pattern.compare)],
            )  # fmt: skip
        return text + " "

    def _search(self, need: Need, needs: list[Need]) -> tuple[str, str]:
        memory = self.memory
        name_key = _key(need.name)
        if name_key not in memory.misses:
            return self._opening() + self._found_so_far(need, needs), f"Search[{need.name}]"
        similar = memory.misses[name_key]
        options = [
            title
            for title in similar
            if _key(title_base(title)) == name_key
            and (need.qualifier is None or title_qualifier(title) == need.qualifier)
        ]
        for title in options:
            if _key(title) not in memory.misses and _key(title) not in memory.pages:
                return self._opening() + self._say(
                    ("Could not find {n} itself. The {q} is listed as {t}, so I search that.",
                     "{n} has several pages. I need the {q} one: {t}.",
                     "The similar results include {t}, which is the {q} I am looking for."),
                    n=need.name, t=title, q=need.qualifier or need.kind,
                ), f"Search[{title}]"  # fmt: skip
        if need.qualifier:
            title = f"{need.name} ({need.qualifier})"
            if _key(title) not in memory.misses:
                return self._opening() + self._say(
                    ("Could not find {n}. Maybe I can search {t}.",
                     "{n} was not found, so I try {t}."),
                    n=need.name, t=title,
                ), f"Search[{title}]"  # fmt: skip
        raise ExpertError(f"cannot find the page of {need.name!r}")

    def _found_so_far(self, need: Need, needs: list[Need]) -> str:
        """What the last finding was, leading to the next search (empty on the first)."""
        index = needs.index(need)
        if index == 0 or not self.planned:
            if self.planned:
                return self._say(
                    ("I need to search {n} first.", "I should search {n}."), n=need.name
                )
            return ""
        previous = needs[index - 1]
        value = self._value(previous)
        word = FACT_WORDS[previous.fact]
        assert self.plan is not None
        if self.plan[0].qtype == BRIDGE:
            return self._say(
                ("The {w} of {p} is {v}. Now I need to search {v} and find the {x}.",
                 "{p} has {v} as its {w}. Next I search {v} to find the {x}.",
                 "So the {w} is {v}. I need to search {v} next."),
                w=word, p=previous.name, v=value, x=FACT_WORDS[need.fact],
            )  # fmt: skip
        return self._say(
            ("The {w} of {p} is {v}. Now I need to search {n}.",
             "{p} has {v} as its {w}. Next, I search {n}."),
            w=word, p=previous.name, v=value, n=need.name,
        )  # fmt: skip

    def _lookup(self, need: Need) -> tuple[str, str]:
        keyword = FACT_SENTENCE[(need.kind, need.fact)].keyword
        lookup = self.memory.lookup
        if keyword is None or (lookup.keyword == keyword and lookup.exhausted):
            raise ExpertError(f"the page of {need.name!r} does not state its {need.fact}")
        word = FACT_WORDS[need.fact]
        if lookup.keyword == keyword:
            thought = self._say(
                ("This sentence does not give the {w}. I look up {k} again.",
                 "That is not the {w} yet; the next result for {k} may be."),
                w=word, k=keyword,
            )  # fmt: skip
        else:
            thought = self._say(
                ("The paragraph does not tell the {w} of {n}. I need to look up {k}.",
                 "The first sentences of {n} do not give its {w}. Maybe I can look up {k}.",
                 "{n}'s {w} is not in the summary, so I look up {k}."),
                w=word, n=need.name, k=keyword,
            )  # fmt: skip
        return self._opening() + thought, f"Lookup[{keyword}]"

    def _say(self, templates: Sequence[str], **slots: str) -> str:
        return self.rng.choice(templates).format(**slots)


def _similar(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _number(value: str) -> int:
    match = _NUMBER.search(value)
    if match is None:
        raise ExpertError(f"no number in {value!r}")
    return int(match.group().replace(",", ""))


def expert_actions(env: Environment, task: Task, seed: int = 0) -> list[str]:
    """The actions the expert plays on `task` (for the environment contract's solver)."""
    from agentdistill.policies.expert import run_expert_episode  # it imports this module

    return [step.action for step in run_expert_episode(env, task, seed).steps]
