"""Words and name makers of the generated encyclopedia (fictional, deterministic per `rng`).

Names are built from syllables and word lists so that many look alike (`Koval`, `Kovar`,
`The Silent Harbor`, `Silent Harbors`): a search that misses then lists near names, as
Wikipedia's search does. A name never contains a lookup keyword (`relations.KEYWORDS`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from agentdistill.environments.hotpotqa.relations import KEYWORDS

_ONSETS = (
    "b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "pr", "r", "s",
    "st", "t", "tr", "v", "z", "sh", "th", "",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou")
_CODAS = ("", "", "", "n", "r", "l", "s", "th", "k", "m", "nd", "rn", "sk", "v")
_AWKWARD = re.compile(r"[aeiou]{3}|(.)\1\1|^[^aeiou]*$")

FEMALE_NAMES = (
    "Ada", "Alina", "Amara", "Anika", "Brisa", "Celia", "Dara", "Elena", "Elise", "Esme",
    "Freya", "Greta", "Hana", "Ilse", "Ines", "Iris", "Jana", "Kaia", "Katya", "Lea", "Lena",
    "Liora", "Mara", "Marit", "Mila", "Nadia", "Nora", "Oksana", "Orla", "Petra", "Rhea",
    "Rosa", "Sabine", "Selma", "Sina", "Talia", "Tova", "Una", "Vera", "Yara", "Zora", "Alma",
    "Edda", "Maren", "Signe", "Livia", "Noemi", "Runa", "Thea", "Ysolde",
)  # fmt: skip
MALE_NAMES = (
    "Aldo", "Anton", "Arvid", "Bruno", "Casimir", "Dario", "Emil", "Enzo", "Felix", "Goran",
    "Hugo", "Ivo", "Jakob", "Joran", "Kasper", "Lars", "Leon", "Lucan", "Marek", "Matteo",
    "Milo", "Nils", "Oskar", "Otto", "Pavel", "Quentin", "Rafael", "Rolf", "Sami", "Stellan",
    "Tobias", "Tomas", "Urban", "Viktor", "Wim", "Yannick", "Zoltan", "Anselm", "Benedek",
    "Corin", "Edvin", "Filip", "Gustav", "Henrik", "Idris", "Jonas", "Konrad", "Linus",
    "Mattias", "Orin",
)  # fmt: skip
_SURNAME_ENDINGS = (
    "",
    "",
    "",
    "son",
    "sen",
    "ova",
    "ski",
    "er",
    "ez",
    "ini",
    "ard",
    "enko",
    "berg",
)
_CITY_ENDINGS = ("", "", "", "", "burg", "ford", "holm", "dale", "vik", "grad", "ton", "stad")
# country suffix -> nationality (and language) suffix
_COUNTRY_ENDINGS = (
    ("ia", "ian"), ("land", "lish"), ("ova", "ovan"), ("ar", "ari"), ("esh", "eshi"),
    ("any", "anian"), ("ora", "oran"),
)  # fmt: skip
CONTINENTS = ("Ondara", "Vesmir", "Calvia", "Tarsun")
DIRECTIONS = ("northern", "southern", "eastern", "western", "central")

ADJECTIVES = (
    "Silent", "Hollow", "Crimson", "Distant", "Quiet", "Broken", "Golden", "Northern", "Last",
    "Hidden", "Bitter", "Burning", "Frozen", "Wandering", "Glass", "Iron", "Silver", "Pale",
    "Endless", "Winter", "Summer", "Narrow", "Forgotten", "Lonely", "Secret", "Salt", "Velvet",
    "Amber", "Scarlet", "Copper", "Restless", "Sleeping", "Falling", "Rising", "Lost", "Wild",
    "Gentle", "Stone", "Paper", "Painted", "Midnight", "Morning", "Evening", "Seventh",
    "Empty", "Open", "Sunken", "Shattered", "Drifting", "Hungry",
)  # fmt: skip
NOUNS = (
    "Harbor", "Garden", "Mirror", "Lantern", "Orchard", "Tower", "Bridge", "Shadow", "Letter",
    "Crown", "Island", "Kingdom", "Road", "Voyage", "Horizon", "Meadow", "Storm", "Tide",
    "Valley", "Forest", "Canyon", "Archive", "Signal", "Station", "Compass", "Empire", "Ember",
    "Feather", "Glacier", "Harvest", "Hunter", "Ladder", "Machine", "Monument", "Ocean",
    "Palace", "Pilgrim", "Prophet", "Requiem", "Sailor", "Sanctuary", "Serpent", "Silence",
    "Sparrow", "Stranger", "Temple", "Thief", "Traveler", "Veil", "Widow", "Window", "Wolf",
    "Citadel", "Furnace", "Violin", "Carousel", "Lighthouse", "Labyrinth", "Portrait",
    "Promise", "Quarry", "Refuge", "Ritual", "Rumor", "Frontier", "Dynasty", "Eclipse",
    "Orchid", "Falcon", "Beacon",
)  # fmt: skip
SEASONS = ("Winter", "Spring", "Summer", "Autumn")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")

FILM_GENRES = ("drama", "comedy", "thriller", "war", "science fiction", "crime", "romance")
BAND_GENRES = ("rock", "folk", "jazz", "dream pop", "post-punk", "synth-pop", "metal")
FESTIVAL_GENRES = ("Jazz", "Film", "Folk", "Book", "Theatre", "Light", "Wine", "Dance")
# company sector: (name makers' suffixes, industry phrase)
SECTORS: dict[str, tuple[tuple[str, ...], str]] = {
    "studio": (("Pictures", "Films", "Studios"), "film production"),
    "publisher": (("House", "Press", "Books"), "publishing"),
    "label": (("Records", "Music", "Sound"), "record"),
    "motors": (("Motors",), "car"),
    "shipping": (("Shipping", "Lines"), "shipping"),
    "software": (("Software", "Systems"), "software"),
    "brewing": (("Brewing", "Breweries"), "brewing"),
    "textiles": (("Textiles", "Mills"), "textile"),
}


def has_keyword(name: str) -> bool:
    """Whether a name contains a lookup keyword (such names are never generated)."""
    lower = name.lower()
    return any(keyword in lower for keyword in KEYWORDS)


def root(rng: random.Random, syllables: tuple[int, int] = (2, 3)) -> str:
    """A pronounceable made-up word, capitalised."""
    while True:
        count = rng.randint(*syllables)
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if i else "")
            for i in range(count)
        )
        if 4 <= len(word) <= 9 and not _AWKWARD.search(word):
            return word.capitalize()


def unique(make: Callable[[], str], taken: set[str], tries: int = 10_000) -> str:
    """A name from `make` that is not taken and holds no keyword; added to `taken`."""
    for _ in range(tries):
        name = make()
        if name not in taken and not has_keyword(name):
            taken.add(name)
            return name
    raise RuntimeError("could not find a free name: raise the vocabulary or lower the counts")


def surname(rng: random.Random) -> str:
    return root(rng, (1, 2)) + rng.choice(_SURNAME_ENDINGS)


def city_name(rng: random.Random) -> str:
    return root(rng) + rng.choice(_CITY_ENDINGS)


def country_name(rng: random.Random) -> tuple[str, str]:
    """(country, nationality adjective) from one root: `Teluria`, `Telurian`."""
    base = root(rng, (1, 2)).rstrip("aeiou")
    while len(base) < 3 or base[0] in "AEIOU":  # "a Telurian", never "a Ilsian"
        base = root(rng, (1, 2)).rstrip("aeiou")
    ending, demonym = rng.choice(_COUNTRY_ENDINGS)
    return base + ending, base + demonym


def plural(noun: str) -> str:
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def work_title(rng: random.Random) -> str:
    """A title of a film, novel or album."""
    adjective, noun, other = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
    shape = rng.randrange(5)
    if shape == 0:
        return f"{adjective} {noun}"
    if shape == 1:
        return f"A {noun} for {rng.choice(SEASONS)}"
    if shape == 2 and noun != other:
        return f"The {noun} and the {other}"
    return f"The {adjective} {noun}"


def band_name(rng: random.Random) -> str:
    return f"The {rng.choice(ADJECTIVES)} {plural(rng.choice(NOUNS))}"
