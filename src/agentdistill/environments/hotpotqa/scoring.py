"""HotPotQA's answer scoring, as the official `hotpot_evaluate_v1.py` defines it.

`normalize_answer` lower-cases, removes ASCII punctuation, drops the articles a / an / the
(whole words) and collapses whitespace. Exact match compares normalized strings. F1 is the
token F1 of the normalized strings (tokens counted with multiplicity); it is 0 when either
side normalizes to `yes`, `no` or `noanswer` and the two differ, so a yes/no answer earns no
partial credit.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import NamedTuple

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
_SPECIAL = ("yes", "no", "noanswer")


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """Whether the normalized answers are equal (HotPotQA's EM, ReAct's reward here)."""
    return normalize_answer(prediction) == normalize_answer(gold)


class F1(NamedTuple):
    f1: float
    precision: float
    recall: float


def f1_score(prediction: str, gold: str) -> F1:
    """Token F1, precision and recall of the normalized answers (yes/no/noanswer rule)."""
    predicted, expected = normalize_answer(prediction), normalize_answer(gold)
    if (predicted in _SPECIAL or expected in _SPECIAL) and predicted != expected:
        return F1(0.0, 0.0, 0.0)
    predicted_tokens, expected_tokens = predicted.split(), expected.split()
    common = Counter(predicted_tokens) & Counter(expected_tokens)
    same = sum(common.values())
    if same == 0:
        return F1(0.0, 0.0, 0.0)
    precision = same / len(predicted_tokens)
    recall = same / len(expected_tokens)
    return F1(2 * precision * recall / (precision + recall), precision, recall)
