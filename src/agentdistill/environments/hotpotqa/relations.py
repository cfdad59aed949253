"""The language of the generated encyclopedia: which sentences state which facts.

Every fact of the generated wiki is stated by one *fact sentence* on its subject's page,
written from one of a few templates (`{S}` is the subject as the sentence names it: the page
name, a pronoun or "The film"; every other slot is a fact). The wiki generator writes pages
from these templates; the expert reads pages with the same templates turned into regular
expressions, the way a reader knows the phrasing an encyclopedia uses (it never sees the
wiki's data, only observation text).

Each fact sentence but a page's first (its introduction) has a lookup `keyword` that occurs in
no other sentence of a page of that kind (names containing a keyword are never generated,
fillers never contain one), so `lookup[keyword]` finds the fact in one step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

# Entity kinds (a page's kind; also the qualifier of an ambiguous work title).
PERSON, CITY, COUNTRY, RIVER, MOUNTAIN = "person", "city", "country", "river", "mountain"
UNIVERSITY, COMPANY, BAND, FILM, NOVEL, ALBUM, FESTIVAL = (
    "university", "company", "band", "film", "novel", "album", "festival",
)  # fmt: skip
KINDS: tuple[str, ...] = (
    PERSON, CITY, COUNTRY, RIVER, MOUNTAIN, UNIVERSITY, COMPANY, BAND, FILM, NOVEL, ALBUM,
    FESTIVAL,
)  # fmt: skip

_SLOT = re.compile(r"\{(\w+)\}")
# Slot value shapes; any other slot is a name or phrase (`.+?`, bounded by the template).
SLOT_PATTERNS: dict[str, str] = {
    "nationality": r"\S+",
    "year": r"\d{3,4}",
    "birth_year": r"\d{3,4}",
    "death_year": r"\d{3,4}",
    "founded": r"\d{3,4}",
    "formed": r"\d{3,4}",
    "first_held": r"\d{3,4}",
    "first_ascent_year": r"\d{3,4}",
    "adapted_year": r"\d{3,4}",
    "population": r"[\d,]+",
    "students": r"[\d,]+",
    "employees": r"[\d,]+",
    "visitors": r"[\d,]+",
}


@dataclass(frozen=True)
class FactSentence:
    """A sentence kind of one entity kind: the facts it states and how it is written."""

    kind: str
    name: str
    templates: tuple[str, ...]
    keyword: str | None = None
    """What `lookup` finds it with (None: the introduction, always the page's first)."""

    @property
    def slots(self) -> frozenset[str]:
        """Every fact any template of the sentence states."""
        return frozenset(
            slot for template in self.templates for slot in _SLOT.findall(template) if slot != "S"
        )

    @cached_property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """The templates as regular expressions over a sentence without its final periods,
        the most specific (most literal text) first: "produced by the studio {studio}" must
        win over "produced by {studio}"."""
        ordered = sorted(self.templates, key=lambda t: -len(_SLOT.sub("", t)))
        return tuple(_compile(template) for template in ordered)

    def read(self, sentence: str) -> dict[str, str] | None:
        """The facts a sentence states, if it is written from one of the templates."""
        text = sentence.strip().rstrip(".")
        for pattern in self.patterns:
            match = pattern.fullmatch(text)
            if match:
                return {k: v for k, v in match.groupdict().items() if k != "S"}
        return None


def _compile(template: str) -> re.Pattern[str]:
    parts = []
    position = 0
    for match in _SLOT.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        slot = match.group(1)
        parts.append(f"(?P<{slot}>{SLOT_PATTERNS.get(slot, '.+?')})")
        position = match.end()
    parts.append(re.escape(template[position:].rstrip(".")))
    return re.compile("".join(parts))


def _s(kind: str, name: str, keyword: str | None, *templates: str) -> FactSentence:
    return FactSentence(kind, name, tuple(templates), keyword)


SENTENCES: tuple[FactSentence, ...] = (
    # people
    _s(PERSON, "intro", None,
       "{S} (born {birth_year}) is a {nationality} {occupation}.",
       "{S} ({birth_year}\u2013{death_year}) was a {nationality} {occupation}."),
    _s(PERSON, "birthplace", "was born",
       "{S} was born in {birth_city}.",
       "{S} was born and raised in {birth_city}."),
    _s(PERSON, "education", "studied at",
       "{S} studied at {education}.",
       "{S} later studied at {education}."),
    # places
    _s(CITY, "intro", None,
       "{S} is a city in {country}.",
       "{S} is a port city in {country}.",
       "{S} is a market town in {country}."),
    _s(CITY, "population", "population",
       "{S} has a population of {population}.",
       "At the last census {S} had a population of {population}."),
    _s(CITY, "founding", "founded",
       "{S} was founded in {founded}.",
       "{S} was founded as a trading post in {founded}."),
    _s(CITY, "river", "river",
       "The {river} flows through {S}.",
       "{S} lies on the banks of the {river}."),
    _s(COUNTRY, "intro", None,
       "{S} is a country in {region}.",
       "{S} is a sovereign state in {region}."),
    _s(COUNTRY, "capital", "capital",
       "The capital of {S} is {capital}.",
       "{S} has its capital at {capital}."),
    _s(COUNTRY, "population", "population",
       "{S} has a population of {population}.",
       "At the last census {S} had a population of {population}."),
    _s(COUNTRY, "area", "area",
       "{S} covers an area of {area}.",
       "{S} has a total area of {area}."),
    _s(COUNTRY, "language", "language",
       "The official language of {S} is {language}.",
       "Most people in {S} speak {language}, the official language."),
    _s(RIVER, "intro", None,
       "The {S} is a river in {country}.",
       "The {S} is a major river of {country}."),
    _s(RIVER, "length", "kilometres",
       "{S} is {length} long.",
       "{S} runs for {length} before it reaches the sea."),
    _s(RIVER, "source", "source",
       "{S} has its source on {source}.",
       "The source of {S} lies on the slopes of {source}."),
    _s(MOUNTAIN, "intro", None,
       "{S} is a mountain in {country}.",
       "{S} is a high mountain of {country}."),
    _s(MOUNTAIN, "height", "above sea level",
       "{S} rises to {height} above sea level.",
       "The summit of {S} stands {height} above sea level."),
    _s(MOUNTAIN, "ascent", "first climbed",
       "{S} was first climbed in {first_ascent_year} by {first_ascent}.",
       "{S} was first climbed by {first_ascent} in {first_ascent_year}."),
    # organisations
    _s(UNIVERSITY, "intro", None,
       "{S} is a public university in {city}.",
       "{S} is a private university in {city}."),
    _s(UNIVERSITY, "founding", "founded",
       "{S} was founded in {founded} by {founder}.",
       "{S} was founded by {founder} in {founded}."),
    _s(UNIVERSITY, "students", "students",
       "{S} has about {students} students.",
       "{S} teaches about {students} students."),
    _s(COMPANY, "intro", None,
       "{S} is a {industry} company based in {city}.",
       "{S} is a {industry} company headquartered in {city}."),
    _s(COMPANY, "founding", "founded",
       "{S} was founded in {founded} by {founder}.",
       "{S} was founded by {founder} in {founded}."),
    _s(COMPANY, "employees", "employs",
       "{S} employs about {employees} people.",
       "Today {S} employs about {employees} people."),
    _s(BAND, "intro", None,
       "{S} is a {genre} band from {city}.",
       "{S} are a {genre} band from {city}."),
    _s(BAND, "formation", "formed",
       "{S} was formed in {formed}.",
       "{S} formed in {formed}."),
    _s(BAND, "singer", "lead singer",
       "The lead singer of {S} is {singer}.",
       "{S} is fronted by lead singer {singer}."),
    # works
    _s(FILM, "intro", None,
       "{S} is a {year} {genre} film directed by {director}.",
       "{S} is a {genre} film from {year} directed by {director}."),
    _s(FILM, "cast", "stars",
       "{S} stars {star} and {costar}.",
       "The film stars {star} and {costar}."),
    _s(FILM, "runtime", "minutes",
       "{S} runs for {runtime}.",
       "The running time of {S} is {runtime}."),
    _s(FILM, "studio", "produced by",
       "{S} was produced by {studio}.",
       "{S} was produced by the studio {studio}."),
    _s(FILM, "source", "adaptation",
       "{S} is an adaptation of the novel {based_on}.",
       "{S} is a film adaptation of the novel {based_on}."),
    _s(NOVEL, "intro", None,
       "{S} is a {year} novel by {author}.",
       "{S} is a novel by {author} first published in {year}."),
    _s(NOVEL, "publisher", "published by",
       "{S} was published by {publisher}.",
       "{S} was first published by {publisher}."),
    _s(NOVEL, "length", "pages",
       "The first edition of {S} has {pages}.",
       "{S} runs to {pages} in its first edition."),
    _s(NOVEL, "adaptation", "adapted",
       "{S} was adapted into a film in {adapted_year}.",
       "{S} was adapted for the screen in {adapted_year}."),
    _s(ALBUM, "intro", None,
       "{S} is the {ordinal} studio album by {artist}.",
       "{S} is a studio album by {artist}."),
    _s(ALBUM, "release", "released",
       "{S} was released in {year} by {label}.",
       "{S} was released by {label} in {year}."),
    _s(ALBUM, "tracks", "tracks",
       "{S} contains {tracks}.",
       "The album has {tracks} in total."),
    _s(FESTIVAL, "intro", None,
       "The {S} is an annual {genre} festival held in {city}.",
       "The {S} is a {genre} festival held every year in {city}."),
    _s(FESTIVAL, "first_held", "first held",
       "{S} was first held in {first_held}.",
       "{S} was first held in the summer of {first_held}."),
    _s(FESTIVAL, "founder", "founded by",
       "{S} was founded by {founder}.",
       "{S} was founded by the organiser {founder}."),
    _s(FESTIVAL, "visitors", "visitors",
       "{S} attracts about {visitors} visitors each year.",
       "Each year about {visitors} visitors attend {S}."),
)  # fmt: skip

#: kind -> its fact sentences, the introduction first.
BY_KIND: dict[str, tuple[FactSentence, ...]] = {
    kind: tuple(s for s in SENTENCES if s.kind == kind) for kind in KINDS
}
#: (kind, fact) -> the sentence that states it.
FACT_SENTENCE: dict[tuple[str, str], FactSentence] = {
    (s.kind, slot): s for s in SENTENCES for slot in s.slots
}
#: Every lookup keyword (lower case): no generated name contains one.
KEYWORDS: frozenset[str] = frozenset(s.keyword for s in SENTENCES if s.keyword)

# Sentences without facts, padding pages so that some facts sit beyond the first five
# sentences. `{S}` is the subject (a pronoun or descriptor when it starts the sentence).
FILLERS: dict[str, tuple[str, ...]] = {
    PERSON: (
        "{S} is known for a calm and precise style.",
        "Critics have described the work of {S} as quietly ambitious.",
        "{S} gave few interviews and rarely appeared in public.",
        "In later life {S} taught younger colleagues.",
        "{S} kept detailed notebooks that were later exhibited.",
        "Several of the projects of {S} won national prizes.",
        "{S} has spoken about the influence of travel on the work.",
        "A biography of {S} appeared some years ago.",
    ),
    CITY: (
        "{S} is known for its narrow streets and covered markets.",
        "The local economy rests on trade and light industry.",
        "{S} has a small airport and a busy railway station.",
        "Its old town contains several medieval churches.",
        "The climate is mild, with wet winters.",
        "{S} hosts a weekly market in its main square.",
        "A tram line links the old town with the suburbs.",
        "{S} is twinned with several towns abroad.",
    ),
    COUNTRY: (
        "{S} is a parliamentary republic.",
        "Its economy is based on farming, mining and tourism.",
        "{S} is divided into several provinces.",
        "The national football team has played in regional cups.",
        "Much of the interior is covered by forest.",
        "{S} has a long tradition of folk music.",
        "Its coastline is dotted with small fishing villages.",
        "{S} is a member of several regional alliances.",
    ),
    RIVER: (
        "{S} is used for irrigation along much of its course.",
        "Several bridges cross {S} in its lower valley.",
        "The waters of {S} are home to many kinds of fish.",
        "Floods along {S} were common before dams were built.",
        "Boats carry goods along its lower course.",
        "Its delta is a protected wetland.",
        "{S} freezes over in very cold winters.",
        "Anglers visit its upper course every spring.",
    ),
    MOUNTAIN: (
        "{S} is popular with hikers in the summer months.",
        "Its slopes are covered by pine forest.",
        "Snow covers the summit for most of the year.",
        "A mountain hut stands below the summit ridge.",
        "{S} is visible from much of the surrounding valley.",
        "Its north face is known for difficult routes.",
        "{S} is part of a national park.",
        "Rock falls are common on its western flank.",
    ),
    UNIVERSITY: (
        "{S} is organised into several faculties.",
        "Its library holds a large collection of manuscripts.",
        "{S} is known for its programmes in engineering and law.",
        "The main campus lies close to the city centre.",
        "{S} runs exchange programmes with universities abroad.",
        "Its botanical garden is open to the public.",
        "{S} publishes a well-known literary journal.",
        "Several of its buildings are listed monuments.",
    ),
    COMPANY: (
        "{S} is privately held.",
        "Its products are sold in many countries.",
        "{S} went through a major restructuring some years ago.",
        "The company is known for its distinctive logo.",
        "{S} sponsors local sports clubs.",
        "{S} has offices in several countries.",
        "Its first workshop still stands in the old town.",
        "{S} was listed on the stock exchange for a time.",
    ),
    BAND: (
        "{S} toured widely in their early years.",
        "Critics praised the energy of their live shows.",
        "{S} took a long break before reuniting.",
        "Their music mixes catchy melodies with dense arrangements.",
        "{S} has a loyal following in its home region.",
        "Their lyrics often deal with memory and loss.",
        "{S} appeared at many summer festivals.",
        "The line-up changed several times over the years.",
    ),
    FILM: (
        "{S} received mixed reviews from critics.",
        "The score was praised for its restraint.",
        "{S} was shot on location over several months.",
        "It was a modest success at the box office.",
        "{S} has since gained a cult following.",
        "A restored version was shown at several festivals.",
        "Its final scene is often cited by other filmmakers.",
        "{S} was nominated for several national awards.",
    ),
    NOVEL: (
        "{S} received warm reviews on publication.",
        "The story is told from several points of view.",
        "{S} has been translated widely.",
        "It is often taught in schools.",
        "Critics praised its careful prose.",
        "{S} is set over a single summer.",
        "The book was a slow but steady seller.",
        "{S} won a national literary prize.",
    ),
    ALBUM: (
        "{S} received positive reviews from critics.",
        "It was recorded over several weeks.",
        "{S} was promoted with a long tour.",
        "Critics praised its production.",
        "{S} sold well in its first year.",
        "The cover art was painted by a friend of the band.",
        "{S} closes with a long instrumental piece.",
        "Several songs from it became concert favourites.",
    ),
    FESTIVAL: (
        "{S} takes place over several days.",
        "Its programme mixes established names with newcomers.",
        "{S} is run by a non-profit foundation.",
        "Most events take place in the open air.",
        "{S} is one of the largest events of its kind in the region.",
        "Tickets often sell out within hours.",
        "{S} awards a prize to a young artist each year.",
        "Local volunteers help to run it.",
    ),
}

#: How a sentence may name its subject after the first: kind -> descriptors ("It", ...).
DESCRIPTORS: dict[str, tuple[str, ...]] = {
    CITY: ("The city", "It"),
    COUNTRY: ("The country", "It"),
    RIVER: ("The river", "It"),
    MOUNTAIN: ("The mountain", "It"),
    UNIVERSITY: ("The university", "It"),
    COMPANY: ("The company", "It"),
    BAND: ("The band",),
    FILM: ("The film", "It"),
    NOVEL: ("The novel", "It"),
    ALBUM: ("The album", "It"),
    FESTIVAL: ("The festival", "It"),
}


def read_sentence(sentence: str, kinds: Iterable[str] = KINDS) -> dict[str, str]:
    """Every fact a sentence states, reading it as a page of any of `kinds` would state it."""
    facts: dict[str, str] = {}
    for kind in kinds:
        for fact_sentence in BY_KIND[kind]:
            found = fact_sentence.read(sentence)
            if found:
                facts.update(found)
    return facts


#: (kind, fact naming an entity) -> (the entity's kind, the qualifier its title would carry
#: if its name were shared): what a reader expects a link to be.
LINKS: dict[tuple[str, str], tuple[str, str | None]] = {
    (PERSON, "birth_city"): (CITY, None),
    (PERSON, "education"): (UNIVERSITY, None),
    (CITY, "country"): (COUNTRY, None),
    (CITY, "river"): (RIVER, None),
    (COUNTRY, "capital"): (CITY, None),
    (RIVER, "country"): (COUNTRY, None),
    (RIVER, "source"): (MOUNTAIN, None),
    (MOUNTAIN, "country"): (COUNTRY, None),
    (MOUNTAIN, "first_ascent"): (PERSON, "mountaineer"),
    (UNIVERSITY, "city"): (CITY, None),
    (UNIVERSITY, "founder"): (PERSON, None),
    (COMPANY, "city"): (CITY, None),
    (COMPANY, "founder"): (PERSON, None),
    (BAND, "city"): (CITY, None),
    (BAND, "singer"): (PERSON, "singer"),
    (FILM, "director"): (PERSON, "director"),
    (FILM, "star"): (PERSON, "actor"),
    (FILM, "costar"): (PERSON, "actor"),
    (FILM, "studio"): (COMPANY, None),
    (FILM, "based_on"): (NOVEL, NOVEL),
    (NOVEL, "author"): (PERSON, "novelist"),
    (NOVEL, "publisher"): (COMPANY, None),
    (ALBUM, "artist"): (BAND, None),
    (ALBUM, "label"): (COMPANY, None),
    (FESTIVAL, "city"): (CITY, None),
    (FESTIVAL, "founder"): (PERSON, None),
}
