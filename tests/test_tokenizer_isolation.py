"""The tokenizer's `isolate_chars` option: ids (WebShop's ASINs) encode alike in every context."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from agentdistill.config import FormatConfig
from agentdistill.environments.alfworld.env import AlfworldSuite
from agentdistill.teacher import TeacherConfig, teacher_identity
from agentdistill.tokenizer import save_tokenizer, train_byte_level_bpe

ASINS = ["B0JIUNBY8P", "B05EO003L0", "B0LVRBQKVT", "B078GWRC1J"]
# ASINs recur in one spelling but in many surroundings: a results page, a thought, a click
CORPUS = [
    f"[Back to Search] Page 1 (Total results: 50) [Next >] [{a}] Pink Car Seat Cover $37.99\n"
    f"Action: think[{a} and {b} are pink car seat covers. I can check {a} first.]\n"
    f"Observation: OK.\nAction: click[{a}]\n"
    for a in ASINS
    for b in ASINS
] * 6
CONTEXTS = ["[{}]", "click[{}]", "I can check {} first.", "{} and B0LVRBQKVT are", " {}\n"]


def _ids_of(tokenizer, context: str, asin: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The token ids that cover `asin` inside `context` (by character offsets)."""
    text = context.format(asin)
    start = text.index(asin)
    encoded = tokenizer(text, return_offsets_mapping=True)
    return [
        token
        for token, (a, b) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
        if start <= a and b <= start + len(asin)
    ]


def test_isolated_ids_encode_alike_in_every_context() -> None:
    tokenizer = train_byte_level_bpe(
        CORPUS, vocab_size=400, min_frequency=1, isolate_chars="[A-Z0-9]"
    )
    for asin in ASINS:
        spellings = {tuple(_ids_of(tokenizer, context, asin)) for context in CONTEXTS}
        assert len(spellings) == 1, (asin, spellings)
        (ids,) = spellings
        assert [tokenizer.decode([i]) for i in ids] == list(asin)  # one token per character
    # lower-case words still merge: the option is not a character-level tokenizer
    assert len(tokenizer("pink car seat covers")["input_ids"]) < len("pink car seat covers") / 2


def test_plain_bpe_spells_ids_by_context() -> None:
    """What the option is for: plain BPE merges an id's first character with what precedes it
    ("[B", " B") and learns pieces of frequent ids, so one id is spelled differently on a
    results page and in a thought, and a new id of the same shape differently again."""
    tokenizer = train_byte_level_bpe(CORPUS, vocab_size=400, min_frequency=1)
    spellings = [{tuple(_ids_of(tokenizer, c, asin)) for c in CONTEXTS} for asin in ASINS]
    assert any(len(spelled) > 1 for spelled in spellings)
    assert min(len(_ids_of(tokenizer, "click[{}]", asin)) for asin in ASINS) < 10


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_isolated_tokenizer_is_lossless(text: str) -> None:
    tokenizer = _ISOLATED
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


_ISOLATED = train_byte_level_bpe(CORPUS, vocab_size=400, min_frequency=1, isolate_chars="[A-Z0-9]")


def test_isolation_survives_save_and_standard_load(tmp_path: Path) -> None:
    save_tokenizer(_ISOLATED, tmp_path)
    standard = AutoTokenizer.from_pretrained(tmp_path)  # a plain HF fast tokenizer
    text = "Action: click[B0JIUNBY8P]\n"
    assert standard(text)["input_ids"] == _ISOLATED(text)["input_ids"]
    assert _ids_of(standard, "click[{}]", "B0JIUNBY8P") == _ids_of(_ISOLATED, "[{}]", "B0JIUNBY8P")


def test_bad_pattern_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="isolate_chars '\\[A-Z' is not a valid regex"):
        train_byte_level_bpe(CORPUS, vocab_size=400, isolate_chars="[A-Z")
    with pytest.raises(ValueError, match="matches the empty string"):
        TeacherConfig(isolate_chars="[A-Z]*")


def test_teacher_identity_names_the_option_only_when_set(small_suite: AlfworldSuite) -> None:
    fmt, tasks = FormatConfig(name="alfworld"), small_suite.tasks("train")[:2]
    plain = teacher_identity(TeacherConfig(), fmt, tasks)
    isolated = teacher_identity(TeacherConfig(isolate_chars="[A-Z0-9]"), fmt, tasks)
    assert "isolate_chars" not in plain["teacher"]  # teachers from before the option resume
    assert isolated["teacher"]["isolate_chars"] == "[A-Z0-9]"
    assert plain != isolated


def test_cli_trains_an_isolating_tokenizer_and_names_a_bad_pattern(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentdistill.cli import app
    from agentdistill.tokenizer import load_tokenizer

    examples = Path(__file__).resolve().parents[1] / "examples" / "alfworld.jsonl"
    args = ["tokenizer", "train", str(examples), "--vocab-size", "300", "--format", "alfworld"]
    out = tmp_path / "tok"
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--isolate-chars", "[0-9]"])
    assert result.exit_code == 0, result.output
    tokenizer = load_tokenizer(out)
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("go to shelf 12")["input_ids"])
    assert pieces[-2:] == ["1", "2"]
    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--isolate-chars", "[0-"])
    assert bad.exit_code != 0 and "--isolate-chars" in bad.output
    assert not (tmp_path / "b").exists()
