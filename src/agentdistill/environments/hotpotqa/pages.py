"""A local encyclopedia as ReAct's `wikienv` reads Wikipedia: titles, page text, search.

A page is text whose paragraphs are separated by newlines. Its sentences are cut exactly as
`wikienv` cuts them: each stripped, non-empty paragraph is split on `'. '`, every non-empty
piece is stripped and gets a `'.'` appended. So every sentence but a paragraph's last loses
its period to the split and gets it back, while a paragraph's last sentence keeps its own
period and gets a second one (`... in 1931..`). A search shows the first five sentences
joined by spaces; a lookup pages through the sentences containing a keyword.

Searching (`WikiCorpus.search`) answers like Wikipedia's search box behind `wikienv`:

- the exact title opens the page; so does a title equal up to letter case when only one
  title is (Wikipedia's "go" feature: `search[milhouse]` opens *Milhouse*);
- a name shared by several qualified titles and no page of its own (`Ann Koval` with
  `Ann Koval (director)` and `Ann Koval (novelist)`) is a disambiguation page: `wikienv`
  then searches `[name]`, which misses, so the answer is `Could not find [name]. Similar:
  [...]` with the qualified titles first;
- anything else misses: `Could not find {entity}. Similar: [...]` with up to five titles
  ranked by rapidfuzz's `WRatio` (a weighted mix of full, partial and token-set ratios, the
  library's general-purpose scorer), keeping those scoring at least `SIMILAR_CUTOFF`. `WRatio`
  is slow over tens of thousands of titles (a real HotPotQA file has ~66,000), so it ranks
  the candidates a search engine would consider: the titles sharing a word with the query
  (words in more than a tenth of the titles, such as "the", do not count) and the
  `MIN_CANDIDATES` titles closest by plain edit ratio (which catches misspellings). Ties keep
  the corpus order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz, process, utils

SUMMARY_SENTENCES = 5
SIMILAR_LIMIT = 5
SIMILAR_CUTOFF = 50.0
MIN_CANDIDATES = 50
COMMON_WORD_SHARE = 0.1
_QUALIFIER = re.compile(r"^(?P<base>.*?) \((?P<qualifier>[^()]*)\)$")


def split_sentences(text: str) -> list[str]:
    """A page's sentences as `wikienv` cuts them (see the module docstring)."""
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if paragraph:
            sentences.extend(paragraph.split(". "))
    return [s.strip() + "." for s in sentences if s.strip()]


def summary(text: str) -> str:
    """What a search hit shows: the first five sentences joined by spaces."""
    return " ".join(split_sentences(text)[:SUMMARY_SENTENCES])


def lookup_sentences(text: str, keyword: str) -> list[str]:
    """The page's sentences containing `keyword`, case-insensitively, in page order."""
    needle = keyword.lower()
    return [s for s in split_sentences(text) if needle in s.lower()]


def title_base(title: str) -> str:
    """A title without its parenthesised qualifier: `X (film)` -> `X`."""
    match = _QUALIFIER.match(title)
    return match.group("base") if match else title


def title_qualifier(title: str) -> str | None:
    """A title's parenthesised qualifier: `X (film)` -> `film`; None without one."""
    match = _QUALIFIER.match(title)
    return match.group("qualifier") if match else None


@dataclass(frozen=True)
class SearchResult:
    """What a search found: a page (`title`), or a miss with similar titles."""

    title: str | None
    similar: tuple[str, ...] = ()
    disambiguation: bool = False

    def observation(self, entity: str, page_text: str | None) -> str:
        """The observation `wikienv` gives for this result of `search[entity]`."""
        if self.title is not None:
            assert page_text is not None
            return summary(page_text)
        shown = f"[{entity}]" if self.disambiguation else entity
        return f"Could not find {shown}. Similar: {list(self.similar)}."


class WikiCorpus:
    """Pages by title, searchable like `wikienv`'s Wikipedia (see the module docstring)."""

    def __init__(self, pages: Mapping[str, str]) -> None:
        self._pages = dict(pages)
        self.titles: tuple[str, ...] = tuple(self._pages)
        self._sentences: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._pages)

    def __contains__(self, title: object) -> bool:
        return title in self._pages

    def text(self, title: str) -> str:
        return self._pages[title]

    def sentences(self, title: str) -> list[str]:
        """The sentences of a page (cached)."""
        cached = self._sentences.get(title)
        if cached is None:
            cached = self._sentences[title] = split_sentences(self._pages[title])
        return cached

    @cached_property
    def _by_casefold(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        for title in self.titles:
            table.setdefault(_key(title), []).append(title)
        return table

    @cached_property
    def _by_base(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        for title in self.titles:
            if title_qualifier(title) is not None:
                table.setdefault(_key(title_base(title)), []).append(title)
        return table

    @cached_property
    def _processed(self) -> list[str]:
        return [utils.default_process(title) for title in self.titles]

    @cached_property
    def _postings(self) -> dict[str, list[int]]:
        """word -> indices of the titles holding it (rare words only)."""
        table: dict[str, list[int]] = {}
        for index, processed in enumerate(self._processed):
            for word in dict.fromkeys(processed.split()):
                table.setdefault(word, []).append(index)
        common = max(COMMON_WORD_SHARE * len(self.titles), MIN_CANDIDATES)
        return {word: ids for word, ids in table.items() if len(ids) <= common}

    def _candidates(self, processed: str) -> list[int]:
        """Indices (in corpus order) of the titles sharing a rare word with the query and of
        the `MIN_CANDIDATES` closest by edit ratio."""
        found: set[int] = set()
        for word in processed.split():
            found.update(self._postings.get(word, ()))
        nearest = process.extract(
            processed, self._processed, scorer=fuzz.ratio, processor=None, limit=MIN_CANDIDATES
        )
        found.update(index for _, _, index in nearest)
        return sorted(found)

    def resolve(self, entity: str) -> str | None:
        """The title `search[entity]` opens, or None."""
        query = " ".join(entity.split())
        if query in self._pages:
            return query
        same = self._by_casefold.get(_key(query), [])
        return same[0] if len(same) == 1 else None

    def similar(self, query: str, limit: int = SIMILAR_LIMIT) -> list[str]:
        """Up to `limit` titles most similar to `query` (rapidfuzz WRatio, best first)."""
        processed = utils.default_process(query)
        if not processed:
            return []
        indices = self._candidates(processed)
        choices = [self._processed[index] for index in indices]
        matches = process.extract(
            processed,
            choices,
            scorer=fuzz.WRatio,
            processor=None,
            limit=limit,
            score_cutoff=SIMILAR_CUTOFF,
        )
        return [self.titles[indices[position]] for _, _, position in matches]

    def search(self, entity: str) -> SearchResult:
        """Search as `wikienv` does (see the module docstring)."""
        title = self.resolve(entity)
        if title is not None:
            return SearchResult(title=title)
        senses = self._by_base.get(_key(" ".join(entity.split())), [])
        if len(senses) >= 2:
            ranked = _unique([*senses, *self.similar(f"[{entity}]")])
            return SearchResult(None, tuple(ranked[:SIMILAR_LIMIT]), disambiguation=True)
        return SearchResult(None, tuple(self.similar(entity)))


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
