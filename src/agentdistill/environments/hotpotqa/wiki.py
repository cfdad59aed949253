"""The generated encyclopedia: a fictional but coherent world, drawn from a seed.

    world = build_world(WikiConfig(seed=0))      # cached per config; ~1 s
    world.corpus.search("Ann Koval")             # -> SearchResult
    world.entities[3].facts["birth_year"]        # '1931'

About 3,600 entities of twelve kinds (people, cities, countries, rivers, mountains,
universities, companies, bands, films, novels, albums, festivals) whose facts link them:
people are born in cities and study at universities; cities lie in countries and on rivers;
rivers rise on mountains, first climbed by mountaineers; companies, universities and festivals
have founders and home cities; films have directors, stars, studios and sometimes a source
novel; novels have authors and publishers; albums have bands and labels; bands have home
cities and lead singers. Years are consistent (a founder is born before the founding).

Each entity has a page: an introduction (always its first sentence), one sentence per further
fact (`relations.SENTENCES`) and filler sentences, shuffled and cut into paragraphs of two to
five sentences, so that many facts sit beyond the first five sentences (a search does not
show them; `lookup` finds them). Titles are the names, except where names collide: a novel
and its film adaptation (`The Glass Harbor (novel)`, `The Glass Harbor (film)`), an album
named like a film or novel, and a director who shares a novelist's (or an actor a singer's)
name (`Ann Koval (director)`); the bare name is then a disambiguation page.

Everything is drawn from `random.Random` streams seeded by `(seed, purpose)`, so the same
config gives the same world in every process.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import Field

from agentdistill.config import Config
from agentdistill.environments.hotpotqa import lexicon
from agentdistill.environments.hotpotqa.pages import WikiCorpus
from agentdistill.environments.hotpotqa.relations import (
    ALBUM,
    BAND,
    BY_KIND,
    CITY,
    COMPANY,
    COUNTRY,
    DESCRIPTORS,
    FACT_SENTENCE,
    FESTIVAL,
    FILLERS,
    FILM,
    MOUNTAIN,
    NOVEL,
    PERSON,
    RIVER,
    UNIVERSITY,
)

SUMMARY = 5
# occupation -> share of people (the rest are painters, composers, photographers, ...)
OCCUPATIONS: dict[str, float] = {
    "film director": 0.10,
    "novelist": 0.09,
    "singer": 0.09,
    "actor": 0.17,
    "entrepreneur": 0.12,
    "mountaineer": 0.05,
    "scientist": 0.06,
    "architect": 0.06,
    "painter": 0.07,
    "politician": 0.07,
    "composer": 0.06,
    "photographer": 0.06,
}
# occupation -> the qualifier of an ambiguous title
QUALIFIERS = {"film director": "director", "actress": "actor"}


class WikiConfig(Config):
    """How large the generated encyclopedia is, and its seed."""

    seed: int = Field(default=0, description="Seed of every random draw of the world.")
    countries: int = Field(default=30, ge=2, description="Number of countries.")
    cities_per_country: int = Field(default=12, ge=2, description="Cities in each country.")
    rivers: int = Field(default=80, ge=2, description="Number of rivers.")
    mountains: int = Field(default=80, ge=2, description="Number of mountains.")
    people: int = Field(default=1500, ge=100, description="Number of people.")
    universities: int = Field(default=100, ge=2, description="Number of universities.")
    companies: int = Field(default=240, ge=16, description="Number of companies.")
    bands: int = Field(default=120, ge=2, description="Number of bands.")
    novels: int = Field(default=320, ge=4, description="Number of novels.")
    films: int = Field(default=420, ge=4, description="Number of films (adaptations included).")
    albums: int = Field(default=260, ge=2, description="Number of albums.")
    festivals: int = Field(default=120, ge=2, description="Number of festivals.")
    adaptation_share: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Share of novels adapted into a film."
    )
    shared_album_titles: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Share of albums named like a film or novel."
    )
    shared_person_names: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Share of novelists named like a director (and actors like a singer).",
    )


@dataclass
class Entity:
    """One thing the wiki has a page about."""

    index: int
    kind: str
    name: str
    facts: dict[str, str] = field(default_factory=dict)
    """Fact slot -> its text as pages write it ('1931', 'Velka River', '2,345 metres')."""
    links: dict[str, int] = field(default_factory=dict)
    """Fact slot -> the entity its value names."""
    numbers: dict[str, int] = field(default_factory=dict)
    """Fact slot -> its value as a number, for comparisons."""
    gender: str = ""
    title: str = ""
    """The page title: the name, or `name (qualifier)` when names collide."""
    positions: dict[str, int] = field(default_factory=dict)
    """Fact slot -> index of the sentence stating it (wikienv's sentence order)."""

    def set(self, slot: str, value: str | int, link: Entity | None = None) -> None:
        if isinstance(value, int):
            self.numbers[slot] = value
            value = str(value) if slot.endswith(_YEAR_SLOTS) else f"{value:,}"
        self.facts[slot] = value
        if link is not None:
            self.links[slot] = link.index

    def measure(self, slot: str, value: int, unit: str) -> None:
        self.numbers[slot] = value
        self.facts[slot] = f"{value:,} {unit}"

    @property
    def qualifier(self) -> str:
        if self.kind == PERSON:
            occupation = self.facts["occupation"]
            return QUALIFIERS.get(occupation, occupation.split()[-1])
        return self.kind

    @property
    def ambiguous(self) -> bool:
        return self.title != self.name


_YEAR_SLOTS = ("year", "founded", "formed", "first_held")


@dataclass
class World:
    """The generated entities, their pages (`corpus`) and indexes."""

    config: WikiConfig
    entities: list[Entity]
    corpus: WikiCorpus

    def of_kind(self, kind: str) -> list[Entity]:
        return [e for e in self.entities if e.kind == kind]

    def link(self, entity: Entity, slot: str) -> Entity:
        return self.entities[entity.links[slot]]


class _Builder:
    def __init__(self, config: WikiConfig) -> None:
        self.config = config
        self.entities: list[Entity] = []
        self.names: set[str] = set()

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"hotpotqa-wiki:{self.config.seed}:{purpose}")

    def add(self, kind: str, name: str) -> Entity:
        entity = Entity(index=len(self.entities), kind=kind, name=name)
        self.entities.append(entity)
        return entity

    # -- places -------------------------------------------------------------------------------
    def places(self) -> None:
        cfg, rng = self.config, self.rng("places")
        self.countries: list[Entity] = []
        self.cities: list[Entity] = []
        demonyms: set[str] = set()
        for _ in range(cfg.countries):
            while True:
                name, demonym = lexicon.country_name(rng)
                if name in self.names or demonym in demonyms or lexicon.has_keyword(name):
                    continue
                if lexicon.has_keyword(demonym):
                    continue
                break
            self.names.add(name)
            demonyms.add(demonym)
            country = self.add(COUNTRY, name)
            region = f"{rng.choice(lexicon.DIRECTIONS)} {rng.choice(lexicon.CONTINENTS)}"
            country.set("region", region)
            country.set("nationality", demonym)
            country.set("language", demonym if rng.random() < 0.8 else rng.choice(sorted(demonyms)))
            country.set("population", rng.randint(300, 90_000) * 1000 + rng.randint(0, 999))
            country.measure("area", rng.randint(8_000, 900_000), "square kilometres")
            self.countries.append(country)
        for country in self.countries:
            for _ in range(cfg.cities_per_country):
                city = self.add(CITY, lexicon.unique(lambda: lexicon.city_name(rng), self.names))
                city.set("country", country.name, country)
                city.set("population", int(rng.lognormvariate(11.0, 1.1)) + 800)
                city.set("founded", rng.randint(700, 1880))
                self.cities.append(city)
            capital = max(
                (c for c in self.cities if c.links["country"] == country.index),
                key=lambda c: c.numbers["population"],
            )
            country.set("capital", capital.name, capital)
        self.rivers = []
        for _ in range(cfg.rivers):
            # "River" holds the city pages' keyword "river": only the root is checked
            root = lexicon.unique(lambda: lexicon.root(rng), self.names)
            river = self.add(RIVER, f"{root} River")
            country = rng.choice(self.countries)
            river.set("country", country.name, country)
            river.measure("length", rng.randint(40, 2_400), "kilometres")
            self.rivers.append(river)
        self.mountains = []
        for _ in range(cfg.mountains):

            def mountain_name() -> str:
                word = lexicon.root(rng)
                return f"Mount {word}" if rng.random() < 0.6 else f"{word} Peak"

            mountain = self.add(MOUNTAIN, lexicon.unique(mountain_name, self.names))
            country = rng.choice(self.countries)
            mountain.set("country", country.name, country)
            mountain.measure("height", rng.randint(900, 7_800), "metres")
            self.mountains.append(mountain)
        for river in self.rivers:
            local = [m for m in self.mountains if m.links["country"] == river.links["country"]]
            source = rng.choice(local or self.mountains)
            river.set("source", source.name, source)
        for city in self.cities:
            local = [r for r in self.rivers if r.links["country"] == city.links["country"]]
            if local and rng.random() < 0.85:
                river = rng.choice(local)
                city.set("river", river.name, river)

    # -- people -------------------------------------------------------------------------------
    def people(self) -> None:
        cfg, rng = self.config, self.rng("people")
        self.by_job: dict[str, list[Entity]] = defaultdict(list)
        counts = {job: round(cfg.people * share) for job, share in OCCUPATIONS.items()}
        counts["painter"] += cfg.people - sum(counts.values())
        for job in OCCUPATIONS:
            for _ in range(max(counts[job], 1)):
                gender = rng.choice(("female", "male"))
                first = lexicon.FEMALE_NAMES if gender == "female" else lexicon.MALE_NAMES

                def person_name(first: tuple[str, ...] = first) -> str:
                    return f"{rng.choice(first)} {lexicon.surname(rng)}"

                person = self.add(PERSON, lexicon.unique(person_name, self.names))
                person.gender = gender
                occupation = "actress" if job == "actor" and gender == "female" else job
                born = rng.randint(1890, 1995)
                person.set("birth_year", born)
                if born < 1935 or (born < 1950 and rng.random() < 0.6):
                    person.set("death_year", min(born + rng.randint(45, 95), 2022))
                city = rng.choice(self.cities)
                person.set("birth_city", city.name, city)
                country = self.entities[city.links["country"]]
                person.set("nationality", country.facts["nationality"])
                person.set("occupation", occupation)
                self.by_job[job].append(person)
        # shared names: some novelists are named like directors, some actors like singers
        for job, twin in (("novelist", "film director"), ("actor", "singer")):
            people, twins = self.by_job[job], list(self.by_job[twin])
            rng.shuffle(twins)
            for person, other in zip(people, twins, strict=False):
                if rng.random() >= cfg.shared_person_names:
                    continue
                if person.gender != other.gender:
                    continue
                self.names.discard(person.name)
                person.name = other.name
        for mountain in self.mountains:
            climber = rng.choice(self.by_job["mountaineer"])
            year = min(climber.numbers["birth_year"] + rng.randint(20, 45), 2020)
            mountain.set("first_ascent_year", year)
            mountain.set("first_ascent", climber.name, climber)

    # -- organisations ---------------------------------------------------------------------------
    def founder(self, rng: random.Random, jobs: tuple[str, ...], year: int) -> Entity:
        pool = [p for job in jobs for p in self.by_job[job]]
        fitting = [p for p in pool if 20 <= year - p.numbers["birth_year"] <= 60]
        return rng.choice(fitting or pool)

    def organisations(self) -> None:
        cfg, rng = self.config, self.rng("organisations")
        self.universities = []
        for _ in range(cfg.universities):
            city = rng.choice(self.cities)
            surname = lexicon.surname(rng)

            def university_name(city: Entity = city, surname: str = surname) -> str:
                shape = rng.randrange(4)
                if shape == 0:
                    return f"University of {city.name}"
                if shape == 1:
                    return f"{surname} Institute of Technology"
                if shape == 2:
                    return f"{city.name} Polytechnic"
                return f"{lexicon.surname(rng)} College"

            university = self.add(UNIVERSITY, lexicon.unique(university_name, self.names))
            university.set("city", city.name, city)
            founded = rng.randint(1900, 1990)
            university.set("founded", founded)
            founder = self.founder(rng, ("scientist", "politician"), founded)
            university.set("founder", founder.name, founder)
            university.set("students", rng.randint(8, 600) * 100)
            self.universities.append(university)
        for person in (e for e in self.entities if e.kind == PERSON):
            if rng.random() < 0.8:
                university = rng.choice(self.universities)
                person.set("education", university.name, university)
        self.companies: dict[str, list[Entity]] = defaultdict(list)
        sectors = list(lexicon.SECTORS)
        for index in range(cfg.companies):
            sector = sectors[index % len(sectors)]
            suffixes, industry = lexicon.SECTORS[sector]

            def company_name(suffixes: tuple[str, ...] = suffixes) -> str:
                first = rng.choice(lexicon.NOUNS) if rng.random() < 0.5 else lexicon.surname(rng)
                return f"{first} {rng.choice(suffixes)}"

            company = self.add(COMPANY, lexicon.unique(company_name, self.names))
            city = rng.choice(self.cities)
            company.set("industry", industry)
            company.set("city", city.name, city)
            founded = rng.randint(1890, 2005)
            company.set("founded", founded)
            founder = self.founder(rng, ("entrepreneur",), founded)
            company.set("founder", founder.name, founder)
            company.set("employees", rng.randint(2, 4000) * 10)
            self.companies[sector].append(company)
        self.bands = []
        for _ in range(cfg.bands):
            band = self.add(BAND, lexicon.unique(lambda: lexicon.band_name(rng), self.names))
            city = rng.choice(self.cities)
            band.set("genre", rng.choice(lexicon.BAND_GENRES))
            band.set("city", city.name, city)
            singer = rng.choice(self.by_job["singer"])
            formed = singer.numbers["birth_year"] + rng.randint(17, 30)
            band.set("formed", formed)
            band.set("singer", singer.name, singer)
            self.bands.append(band)
        self.festivals = []
        for _ in range(cfg.festivals):
            city = rng.choice(self.cities)

            def festival_name(city: Entity = city) -> str:
                return f"{city.name} {rng.choice(lexicon.FESTIVAL_GENRES)} Festival"

            festival = self.add(FESTIVAL, lexicon.unique(festival_name, self.names))
            festival.set("genre", festival.name.split()[-2].lower())
            festival.set("city", city.name, city)
            first_held = rng.randint(1920, 2015)
            festival.set("first_held", first_held)
            founder = self.founder(rng, ("architect", "painter", "composer"), first_held)
            festival.set("founder", founder.name, founder)
            festival.set("visitors", rng.randint(5, 900) * 100)
            self.festivals.append(festival)

    # -- works --------------------------------------------------------------------------------
    def works(self) -> None:
        cfg, rng = self.config, self.rng("works")
        titles: set[str] = set()
        self.novels = []
        for _ in range(cfg.novels):
            novel = self.add(NOVEL, lexicon.unique(lambda: lexicon.work_title(rng), titles))
            author = rng.choice(self.by_job["novelist"])
            year = min(author.numbers["birth_year"] + rng.randint(22, 60), 2021)
            novel.set("year", year)
            novel.set("author", author.name, author)
            publisher = rng.choice(self.companies["publisher"])
            novel.set("publisher", publisher.name, publisher)
            novel.measure("pages", rng.randint(120, 900), "pages")
            self.novels.append(novel)
        adapted = rng.sample(self.novels, min(round(cfg.adaptation_share * cfg.novels), cfg.films))
        self.films = []
        for index in range(cfg.films):
            source = adapted[index] if index < len(adapted) else None
            if source is None:
                name = lexicon.unique(lambda: lexicon.work_title(rng), titles)
            else:
                name = source.name
            film = self.add(FILM, name)
            director = rng.choice(self.by_job["film director"])
            earliest = director.numbers["birth_year"] + 22
            if source is not None:
                earliest = max(earliest, source.numbers["year"] + 1)
            year = min(earliest + rng.randint(0, 35), 2022)
            film.set("year", year)
            film.set("genre", rng.choice(lexicon.FILM_GENRES))
            film.set("director", director.name, director)
            star, costar = rng.sample(self.by_job["actor"], 2)
            film.set("star", star.name, star)
            film.set("costar", costar.name, costar)
            film.measure("runtime", rng.randint(78, 190), "minutes")
            studio = rng.choice(self.companies["studio"])
            film.set("studio", studio.name, studio)
            if source is not None:
                film.set("based_on", source.name, source)
                source.set("adapted_year", year)
            self.films.append(film)
        self.albums = []
        shared = [w.name for w in (*self.novels, *self.films) if "based_on" not in w.links]
        shared = sorted(set(shared) - {a.name for a in adapted})
        by_band: dict[int, int] = defaultdict(int)
        for _ in range(cfg.albums):
            if shared and rng.random() < cfg.shared_album_titles:
                name = shared.pop(rng.randrange(len(shared)))
            else:
                name = lexicon.unique(lambda: lexicon.work_title(rng), titles)
            album = self.add(ALBUM, name)
            band = rng.choice(self.bands)
            by_band[band.index] += 1
            album.set("ordinal", lexicon.ORDINALS[min(by_band[band.index], 8) - 1])
            album.set("artist", band.name, band)
            album.set("year", min(band.numbers["formed"] + rng.randint(1, 30), 2022))
            label = rng.choice(self.companies["label"])
            album.set("label", label.name, label)
            album.measure("tracks", rng.randint(7, 18), "tracks")
            self.albums.append(album)

    # -- titles and pages ---------------------------------------------------------------------
    def titles(self) -> None:
        by_name: dict[str, list[Entity]] = defaultdict(list)
        for entity in self.entities:
            by_name[entity.name].append(entity)
        for name, same in by_name.items():
            qualifiers = {e.qualifier for e in same}
            if len(same) > 1 and len(qualifiers) != len(same):
                raise AssertionError(f"{name!r}: names collide within one qualifier")
            for entity in same:
                entity.title = name if len(same) == 1 else f"{name} ({entity.qualifier})"

    def page(self, entity: Entity, rng: random.Random) -> str:
        sentences: list[tuple[str | None, str]] = []  # (fact sentence name, text)
        for fact_sentence in BY_KIND[entity.kind]:
            present = fact_sentence.slots & set(entity.facts)
            if not present:
                continue
            templates = [t for t in fact_sentence.templates if set(_slots(t)) == present]
            if not templates:
                continue
            template = rng.choice(templates)
            sentences.append((fact_sentence.name, template))
        intro, rest = sentences[0], sentences[1:]
        fillers = list(FILLERS[entity.kind])
        rng.shuffle(fillers)
        rest += [(None, f) for f in fillers[: rng.randint(3, 7)]]
        rng.shuffle(rest)
        ordered = [intro, *rest]
        texts: list[str] = []
        for position, (name, template) in enumerate(ordered):
            subject = entity.name if position == 0 else self.mention(entity, template, rng)
            text = template.replace("{S}", subject)
            for slot, value in entity.facts.items():
                text = text.replace("{" + slot + "}", value)
            texts.append(text)
            if name is not None:
                for slot in FACT_SENTENCE_SLOTS[(entity.kind, name)] & set(entity.facts):
                    entity.positions.setdefault(slot, position)
        paragraphs: list[list[str]] = []
        index = 0
        while index < len(texts):
            size = rng.randint(2, 5)
            paragraphs.append(texts[index : index + size])
            index += size
        return "\n".join(" ".join(p) for p in paragraphs)

    @staticmethod
    def mention(entity: Entity, template: str, rng: random.Random) -> str:
        """How a later sentence names its subject: the name or, opening it, a descriptor."""
        opening = template.startswith("{S}")
        if not opening or rng.random() < 0.4:
            if entity.kind in (RIVER, FESTIVAL):  # "the Velka River", "the Doro Jazz Festival"
                return ("The " if opening else "the ") + entity.name
            return entity.name
        if entity.kind == PERSON:
            return "She" if entity.gender == "female" else "He"
        return rng.choice(DESCRIPTORS[entity.kind])

    def build(self) -> World:
        self.places()
        self.people()
        self.organisations()
        self.works()
        self.titles()
        rng = self.rng("pages")
        pages = {entity.title: self.page(entity, rng) for entity in self.entities}
        return World(config=self.config, entities=self.entities, corpus=WikiCorpus(pages))


def _slots(template: str) -> list[str]:
    return [s for s in re.findall(r"\{(\w+)\}", template) if s != "S"]


FACT_SENTENCE_SLOTS: dict[tuple[str, str], frozenset[str]] = {
    (s.kind, s.name): s.slots for s in FACT_SENTENCE.values()
}


@lru_cache(maxsize=4)
def _build_cached(config_json: str) -> World:
    return _Builder(WikiConfig.model_validate_json(config_json)).build()


def build_world(config: WikiConfig | None = None) -> World:
    """The world of a config (built once per process and config)."""
    config = config or WikiConfig()
    return _build_cached(config.model_dump_json())
