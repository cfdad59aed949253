"""The official HotPotQA answer scoring (`hotpot_evaluate_v1.py`) on hand-made cases."""

from __future__ import annotations

import pytest

from agentdistill.environments.hotpotqa.scoring import exact_match, f1_score, normalize_answer


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Velka River", "velka river"),
        ("  An   apple,  a PEAR!  ", "apple pear"),
        ("1,234,567", "1234567"),
        ("Theatre of the Absurd", "theatre of absurd"),  # 'the' only as a whole word
        ('Anne\'s "band" (2001).', "annes band 2001"),
        ("a", ""),
        ("\tyes\n", "yes"),
        ("Ünïcode — dash", "ünïcode — dash"),  # only ASCII punctuation is removed
    ],
)
def test_normalize_answer(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("prediction", "gold", "em"),
    [
        ("Velka River", "the velka river", True),
        ("2,345 metres", "2345 metres", True),
        ("Yes", "yes.", True),
        ("Velka", "Velka River", False),
        ("", "Velka", False),
    ],
)
def test_exact_match(prediction: str, gold: str, em: bool) -> None:
    assert exact_match(prediction, gold) is em


def test_f1_partial_overlap() -> None:
    # prediction tokens: velka river delta; gold: velka river -> p 2/3, r 1
    score = f1_score("Velka River delta", "the Velka River")
    assert score.precision == pytest.approx(2 / 3) and score.recall == 1.0
    assert score.f1 == pytest.approx(0.8)
    assert f1_score("Velka River", "Velka River").f1 == 1.0
    assert f1_score("Doro", "Velka River").f1 == 0.0


def test_f1_counts_repeated_tokens_once_each() -> None:
    # Counter overlap: 'river river' against 'river' shares one token
    score = f1_score("river river", "river")
    assert score.precision == 0.5 and score.recall == 1.0


@pytest.mark.parametrize(
    ("prediction", "gold", "f1"),
    [
        ("yes", "yes", 1.0),
        ("no", "No.", 1.0),
        ("yes", "no", 0.0),
        ("no", "no way", 0.0),  # a yes/no prediction gets no partial credit
        ("no way", "no", 0.0),  # nor does a yes/no gold answer
        ("noanswer", "answer", 0.0),
        ("yes it is", "yes it is", 1.0),  # not a bare yes/no: ordinary token F1
    ],
)
def test_f1_yes_no_rule(prediction: str, gold: str, f1: float) -> None:
    assert f1_score(prediction, gold).f1 == f1
