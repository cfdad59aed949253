"""The shop's search engine: BM25 over each product's text, as the real benchmark's index.

The real WebShop indexes, per product, the lower-cased title + description + first bullet
point + option values (`Product.search_text`) with Lucene (pyserini, BM25 k1=0.9, b=0.4) and
returns the top 50 hits. Without Java here, `bm25s` (method "lucene": Lucene's idf and length
normalisation) scores the same text, analysed like Lucene's English analyzer: word tokens
(numbers like "6.76" kept whole), possessive "'s" dropped, Lucene's English stop words
removed, Porter stemming (PyStemmer's "porter", the algorithm of Lucene's PorterStemFilter).
Hits are the documents with a positive score, best first, ties in catalog order (as Lucene
breaks ties by document id).

    index = SearchIndex([p.search_text() for p in products], [p.asin for p in products])
    index.search("3 ounce bright citrus deodorant sensitive skin")   # up to 50 asins
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer

SEARCH_RETURN_N = 50
"""Hits a search returns (the real engine's)."""
K1, B = 0.9, 0.4
"""Pyserini's default BM25 parameters, which the real index was searched with."""

LUCENE_ENGLISH_STOP_WORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
        "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
        "these", "they", "this", "to", "was", "will", "with",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[^\W_]+(?:[.'\u2019][^\W_]+)*")
_STEMMER = Stemmer.Stemmer("porter")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def analyze(text: str) -> list[str]:
    """Text -> index terms, like Lucene's English analyzer ("Men's 3.4 fl oz Shirts" ->
    ['men', '3.4', 'fl', 'oz', 'shirt'])."""
    terms = []
    for token in _TOKEN.findall(text.lower()):
        if token.endswith(("'s", "\u2019s")):
            token = token[:-2]
        if token and token not in LUCENE_ENGLISH_STOP_WORDS:
            terms.append(_stem(token))
    return terms


class SearchIndex:
    """BM25 (Lucene variant, k1=0.9, b=0.4) over documents identified by ids."""

    def __init__(self, documents: Sequence[str], ids: Sequence[str]) -> None:
        if len(documents) != len(ids):
            raise ValueError(f"{len(documents)} documents but {len(ids)} ids")
        self.ids = list(ids)
        self._bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        corpus = [analyze(doc) for doc in documents]
        # bm25s needs at least one term per document; an empty one gets a term no query has.
        self._bm25.index([terms or [" "] for terms in corpus], show_progress=False)

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """Ids of the best `k` documents for `keywords` (score > 0), best first."""
        terms = [t for t in analyze(keywords) if t in self._bm25.vocab_dict]
        if not terms:
            return []
        scores = self._bm25.get_scores(terms)
        # best first; equal scores in index order (a stable sort of the negated scores)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.ids[i] for i in order if scores[i] > 0]
