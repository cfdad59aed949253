"""HotPotQA-style questions over the generated wiki, per split, deterministic per seed.

Both HotPotQA types:

- **bridge**: a fact of entity A names entity E; the question asks a fact of E ("In what
  year was the director of The Last Falcon born?": the film's page names the director, the
  director's page gives the year);
- **comparison**: a fact of A against the same fact of B, either *which* ("Which city was
  founded first, Doro or Velkan?", answered with a name) or *same* ("Are Doro and Velkan in
  the same country?", answered yes or no, half of each).

Every pattern has at least two phrasings. Answers are short strings exactly as the pages
write the value ('1931', 'Velka River', '2,345 metres', 'Telurian', 'yes'). A question's
level counts what makes it harder to answer from the pages: a title that differs from the
name (a search of the name misses, the Similar list or a qualifier finds it) and a needed fact
beyond the first five sentences (only `lookup` finds it): none is easy, one medium, two or
more hard. Supporting facts are (page title, sentence index) pairs, as in HotPotQA.

Splits are cut from one stream of distinct questions (test first, then dev, then train), so
changing the train size leaves test and dev unchanged.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from pydantic import Field

from agentdistill.config import Config
from agentdistill.environments.hotpotqa.pages import SUMMARY_SENTENCES
from agentdistill.environments.hotpotqa.relations import (
    ALBUM,
    BAND,
    CITY,
    COMPANY,
    COUNTRY,
    FESTIVAL,
    FILM,
    MOUNTAIN,
    NOVEL,
    PERSON,
    RIVER,
    UNIVERSITY,
)
from agentdistill.environments.hotpotqa.wiki import Entity, World

BRIDGE, COMPARISON = "bridge", "comparison"
LEVELS = ("easy", "medium", "hard")
SPLITS = ("train", "dev", "test")


class QuestionConfig(Config):
    """How many questions each split has, and the seed that draws them."""

    seed: int = Field(default=0, description="Seed of the question draw (the wiki has its own).")
    train: int = Field(default=3000, ge=0, description="Questions in the train split.")
    dev: int = Field(default=500, ge=0, description="Questions in the dev split.")
    test: int = Field(default=500, ge=0, description="Questions in the test split (ReAct: 500).")
    bridge_share: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Share of bridge questions (HotPotQA: ~0.8)."
    )

    def count(self, split: str) -> int:
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]


@dataclass(frozen=True)
class Pattern:
    """A question pattern: what it asks and its phrasings (`{a}`, `{b}`: the entities)."""

    key: str
    qtype: str
    kind: str
    facts: tuple[str, ...]
    """bridge: (fact of A naming E, fact of E asked); comparison: (the compared fact,)."""
    templates: tuple[str, ...]
    compare: str = ""
    """comparison: 'min' (the smaller value wins), 'max', or 'same' (yes/no)."""

    @property
    def regexes(self) -> tuple[re.Pattern[str], ...]:
        return _regexes(self.templates)


@cache
def _regexes(templates: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for template in templates:
        pattern = re.escape(template)
        for slot in ("a", "b"):
            pattern = pattern.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>.+?)")
        compiled.append(re.compile(pattern))
    return tuple(compiled)


def _bridge(key: str, kind: str, link: str, asked: str, *templates: str) -> Pattern:
    return Pattern(key, BRIDGE, kind, (link, asked), templates)


def _compare(key: str, kind: str, fact: str, compare: str, *templates: str) -> Pattern:
    return Pattern(key, COMPARISON, kind, (fact,), templates, compare)


PATTERNS: tuple[Pattern, ...] = (
    _bridge("film_director_born", FILM, "director", "birth_year",
            "In what year was the director of {a} born?",
            "When was the director of the film {a} born?"),
    _bridge("film_director_birthplace", FILM, "director", "birth_city",
            "Where was the director of {a} born?",
            "In which city was the director of the film {a} born?"),
    _bridge("film_director_nationality", FILM, "director", "nationality",
            "What nationality is the director of {a}?",
            "The film {a} was directed by a filmmaker of what nationality?"),
    _bridge("novel_author_born", NOVEL, "author", "birth_year",
            "When was the author of {a} born?",
            "In what year was the writer of the novel {a} born?"),
    _bridge("novel_author_education", NOVEL, "author", "education",
            "Which university did the author of {a} attend?",
            "Where did the writer of the novel {a} study?"),
    _bridge("novel_publisher_city", NOVEL, "publisher", "city",
            "In which city is the publisher of {a} based?",
            "The novel {a} was published by a company based in which city?"),
    _bridge("film_source_author", FILM, "based_on", "author",
            "Who wrote the novel that the film {a} is based on?",
            "The film {a} is an adaptation of a novel by which author?"),
    _bridge("film_studio_founder", FILM, "studio", "founder",
            "Who founded the studio that produced {a}?",
            "The film {a} was produced by a studio founded by whom?"),
    _bridge("company_founder_born", COMPANY, "founder", "birth_year",
            "When was the founder of the company {a} born?",
            "In what year was the person who founded {a} born?"),
    _bridge("company_city_country", COMPANY, "city", "country",
            "In which country is the company {a} headquartered?",
            "{a} is based in a city in which country?"),
    _bridge("city_country_capital", CITY, "country", "capital",
            "What is the capital of the country where {a} is located?",
            "{a} lies in a country whose capital is what city?"),
    _bridge("city_country_language", CITY, "country", "language",
            "What is the official language of the country where {a} is located?",
            "Which language is official in the country that {a} belongs to?"),
    _bridge("person_birthplace_population", PERSON, "birth_city", "population",
            "What is the population of the city where {a} was born?",
            "How many people live in the city where {a} was born?"),
    _bridge("person_birthplace_river", PERSON, "birth_city", "river",
            "Which river flows through the city where {a} was born?",
            "{a} was born in a city on which river?"),
    _bridge("person_university_founded", PERSON, "education", "founded",
            "When was the university that {a} attended founded?",
            "In what year was the university where {a} studied founded?"),
    _bridge("band_city_river", BAND, "city", "river",
            "Which river flows through the hometown of the band {a}?",
            "The band {a} comes from a city on which river?"),
    _bridge("band_singer_born", BAND, "singer", "birth_year",
            "When was the lead singer of {a} born?",
            "In what year was the lead singer of the band {a} born?"),
    _bridge("album_band_formed", ALBUM, "artist", "formed",
            "In what year was the band that released {a} formed?",
            "When was the band behind the album {a} formed?"),
    _bridge("album_label_founded", ALBUM, "label", "founded",
            "When was the record label that released {a} founded?",
            "In what year was the label that released the album {a} founded?"),
    _bridge("mountain_climber_nationality", MOUNTAIN, "first_ascent", "nationality",
            "What nationality was the first person to climb {a}?",
            "{a} was first climbed by a mountaineer of what nationality?"),
    _bridge("river_source_height", RIVER, "source", "height",
            "How high is the mountain where the {a} has its source?",
            "What is the height of the mountain on which the {a} rises?"),
    _bridge("festival_founder_occupation", FESTIVAL, "founder", "occupation",
            "What is the occupation of the founder of the {a}?",
            "The {a} was founded by a person of what profession?"),
    _bridge("festival_city_population", FESTIVAL, "city", "population",
            "What is the population of the city that hosts the {a}?",
            "How many people live in the city where the {a} is held?"),
    _bridge("university_founder_birthplace", UNIVERSITY, "founder", "birth_city",
            "Where was the founder of {a} born?",
            "In which city was the person who founded the university {a} born?"),
    _bridge("country_capital_founded", COUNTRY, "capital", "founded",
            "When was the capital of {a} founded?",
            "In what year was the capital city of {a} founded?"),
    # comparison: which
    _compare("people_older", PERSON, "birth_year", "min",
             "Who was born first, {a} or {b}?",
             "Which person is older, {a} or {b}?"),
    _compare("cities_population", CITY, "population", "max",
             "Which city has a larger population, {a} or {b}?",
             "Which city is more populous, {a} or {b}?"),
    _compare("cities_older", CITY, "founded", "min",
             "Which city was founded first, {a} or {b}?",
             "Which city is older, {a} or {b}?"),
    _compare("films_earlier", FILM, "year", "min",
             "Which film was released first, {a} or {b}?",
             "Which came out earlier, the film {a} or the film {b}?"),
    _compare("rivers_longer", RIVER, "length", "max",
             "Which river is longer, the {a} or the {b}?",
             "Which is the longer river, the {a} or the {b}?"),
    _compare("mountains_higher", MOUNTAIN, "height", "max",
             "Which mountain is higher, {a} or {b}?",
             "Which is the taller mountain, {a} or {b}?"),
    _compare("companies_older", COMPANY, "founded", "min",
             "Which company was founded first, {a} or {b}?",
             "Which company is older, {a} or {b}?"),
    _compare("bands_older", BAND, "formed", "min",
             "Which band was formed first, {a} or {b}?",
             "Which band is older, {a} or {b}?"),
    _compare("novels_earlier", NOVEL, "year", "min",
             "Which novel was published first, {a} or {b}?",
             "Which came out first, the novel {a} or the novel {b}?"),
    _compare("countries_larger", COUNTRY, "area", "max",
             "Which country is larger by area, {a} or {b}?",
             "Which country covers a larger area, {a} or {b}?"),
    _compare("universities_students", UNIVERSITY, "students", "max",
             "Which university has more students, {a} or {b}?",
             "Which has the larger student body, {a} or {b}?"),
    _compare("festivals_visitors", FESTIVAL, "visitors", "max",
             "Which festival attracts more visitors, the {a} or the {b}?",
             "Which draws more visitors each year, the {a} or the {b}?"),
    # comparison: same (yes / no)
    _compare("people_same_nationality", PERSON, "nationality", "same",
             "Are {a} and {b} of the same nationality?",
             "Do {a} and {b} share the same nationality?"),
    _compare("people_same_profession", PERSON, "occupation", "same",
             "Do {a} and {b} have the same profession?",
             "Are {a} and {b} in the same line of work?"),
    _compare("films_same_director", FILM, "director", "same",
             "Were {a} and {b} directed by the same person?",
             "Do the films {a} and {b} share a director?"),
    _compare("cities_same_country", CITY, "country", "same",
             "Are {a} and {b} located in the same country?",
             "Are the cities {a} and {b} in the same country?"),
    _compare("novels_same_author", NOVEL, "author", "same",
             "Were the novels {a} and {b} written by the same author?",
             "Do the novels {a} and {b} have the same author?"),
    _compare("albums_same_band", ALBUM, "artist", "same",
             "Are {a} and {b} albums by the same band?",
             "Were the albums {a} and {b} released by the same band?"),
    _compare("films_same_year", FILM, "year", "same",
             "Were the films {a} and {b} released in the same year?",
             "Did {a} and {b} come out in the same year?"),
    _compare("bands_same_city", BAND, "city", "same",
             "Are the bands {a} and {b} from the same city?",
             "Do {a} and {b} come from the same city?"),
)  # fmt: skip
PATTERN_BY_KEY: dict[str, Pattern] = {p.key: p for p in PATTERNS}

# fact -> how a thought names it ("find its director")
FACT_WORDS: dict[str, str] = {
    "director": "director", "birth_year": "year of birth", "birth_city": "birthplace",
    "nationality": "nationality", "author": "author", "education": "university",
    "publisher": "publisher", "city": "home city", "based_on": "source novel",
    "studio": "studio", "founder": "founder", "country": "country", "capital": "capital",
    "language": "official language", "population": "population", "river": "river",
    "founded": "founding year", "singer": "lead singer", "artist": "band",
    "formed": "formation year", "label": "record label", "first_ascent": "first climber",
    "source": "source", "height": "height", "occupation": "occupation",
    "year": "year", "length": "length", "area": "area", "students": "number of students",
    "visitors": "number of visitors",
}  # fmt: skip
# compared fact -> (question word for the winner, verb phrase) for thoughts
SUPERLATIVE: dict[tuple[str, str], str] = {
    ("birth_year", "min"): "was born first",
    ("population", "max"): "has the larger population",
    ("founded", "min"): "was founded first",
    ("year", "min"): "came out first",
    ("length", "max"): "is longer",
    ("height", "max"): "is higher",
    ("formed", "min"): "was formed first",
    ("area", "max"): "is larger",
    ("students", "max"): "has more students",
    ("visitors", "max"): "draws more visitors",
}
_WEIGHT_SAME = 0.6  # a same-pattern's weight relative to a which-pattern's


@dataclass(frozen=True)
class Question:
    """A generated question with its answer and what supports it."""

    question: str
    answer: str
    qtype: str
    level: str
    pattern: str
    entities: tuple[str, ...]
    """The names the question mentions, in order."""
    supporting_facts: tuple[tuple[str, int], ...]

    @property
    def key(self) -> tuple[str, ...]:
        return (self.pattern, *self.entities)


def parse_question(text: str) -> tuple[Pattern, dict[str, str]] | None:
    """The pattern and entity names of a generated question (None: not one of ours)."""
    text = text.strip()
    for pattern in PATTERNS:
        for regex in pattern.regexes:
            match = regex.fullmatch(text)
            if match:
                return pattern, match.groupdict()
    return None


def _level(complications: int) -> str:
    return LEVELS[min(complications, 2)]


def _hard_parts(entity: Entity, fact: str) -> int:
    return int(entity.ambiguous) + int(entity.positions[fact] >= SUMMARY_SENTENCES)


def _plain(entity: Entity) -> bool:
    """A question may name it: unambiguous people only, no ' and '/' or ' in the name."""
    if entity.kind == PERSON and entity.ambiguous:
        return False
    return " and " not in entity.name and " or " not in entity.name


class _Sampler:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.by_kind: dict[str, list[Entity]] = {}
        for entity in world.entities:
            if _plain(entity):
                self.by_kind.setdefault(entity.kind, []).append(entity)

    def bridge(self, pattern: Pattern) -> Question | None:
        link, asked = pattern.facts
        a = self.rng.choice(self.by_kind[pattern.kind])
        if link not in a.links:
            return None
        e = self.world.link(a, link)
        if asked not in e.facts:
            return None
        template = self.rng.choice(pattern.templates)
        text = template.format(a=a.name)
        return Question(
            question=text[0].upper() + text[1:],
            answer=e.facts[asked],
            qtype=BRIDGE,
            level=_level(_hard_parts(a, link) + _hard_parts(e, asked)),
            pattern=pattern.key,
            entities=(a.name,),
            supporting_facts=((a.title, a.positions[link]), (e.title, e.positions[asked])),
        )

    def comparison(self, pattern: Pattern) -> Question | None:
        (fact,) = pattern.facts
        pool = [e for e in self.by_kind[pattern.kind] if fact in e.facts]
        if pattern.key == "people_same_profession":
            pool = [e for e in pool if e.facts["occupation"] not in ("actor", "actress")]
        a = self.rng.choice(pool)
        if pattern.compare == "same":
            same = self.rng.random() < 0.5
            options = [e for e in pool if e is not a and (e.facts[fact] == a.facts[fact]) == same]
            if not options:
                return None
            b = self.rng.choice(options)
            answer = "yes" if same else "no"
        else:
            b = self.rng.choice(pool)
            if b is a or b.numbers[fact] == a.numbers[fact] or b.name == a.name:
                return None
            smaller = a if a.numbers[fact] < b.numbers[fact] else b
            larger = b if smaller is a else a
            answer = (smaller if pattern.compare == "min" else larger).name
        template = self.rng.choice(pattern.templates)
        text = template.format(a=a.name, b=b.name)
        return Question(
            question=text[0].upper() + text[1:],
            answer=answer,
            qtype=COMPARISON,
            level=_level(_hard_parts(a, fact) + _hard_parts(b, fact)),
            pattern=pattern.key,
            entities=(a.name, b.name),
            supporting_facts=((a.title, a.positions[fact]), (b.title, b.positions[fact])),
        )


def generate_questions(world: World, config: QuestionConfig) -> dict[str, list[Question]]:
    """The questions of every split (test, dev, train cut from one distinct stream)."""
    rng = random.Random(f"hotpotqa-questions:{world.config.seed}:{config.seed}")
    sampler = _Sampler(world, rng)
    bridges = [p for p in PATTERNS if p.qtype == BRIDGE]
    comparisons = [p for p in PATTERNS if p.qtype == COMPARISON]
    weights = [_WEIGHT_SAME if p.compare == "same" else 1.0 for p in comparisons]
    total = config.test + config.dev + config.train
    seen: set[tuple[str, ...]] = set()
    texts: set[str] = set()
    questions: list[Question] = []
    attempts = 0
    while len(questions) < total:
        attempts += 1
        if attempts > 50 * total + 1000:
            raise RuntimeError(f"only {len(questions)} distinct questions; the wiki is too small")
        draw: Callable[[Pattern], Question | None]
        if rng.random() < config.bridge_share:
            pattern, draw = rng.choice(bridges), sampler.bridge
        else:
            pattern, draw = rng.choices(comparisons, weights)[0], sampler.comparison
        question = draw(pattern)
        if question is None or question.key in seen or question.question in texts:
            continue
        if parse_question(question.question) != _parsed(question):
            continue  # a name that makes the question read as another pattern
        seen.add(question.key)
        texts.add(question.question)
        questions.append(question)
    test = questions[: config.test]
    dev = questions[config.test : config.test + config.dev]
    train = questions[config.test + config.dev :]
    return {"train": train, "dev": dev, "test": test}


def _parsed(question: Question) -> tuple[Pattern, dict[str, str]]:
    slots = dict(zip(("a", "b"), question.entities, strict=False))
    return PATTERN_BY_KEY[question.pattern], slots
