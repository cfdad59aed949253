import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from agentdistill.formats import RenderedTrajectory, Segment, SpanLabel, get_format
from agentdistill.records import Step
from agentdistill.segmentation import (
    collate,
    encode_with_offsets,
    label_tokens,
    length_batches,
    segment_rendered,
    segment_trajectory,
)
from agentdistill.tokenizer import train_byte_level_bpe

from .strategies import trajectories

PRIORITY = {SpanLabel.ACT: 3, SpanLabel.REASON: 2, SpanLabel.OBS: 1, SpanLabel.PROMPT: 0}
FORMAT_NAMES = ["react", "paper", "alfworld", "webshop"]
CORPUS = [
    "Question: which river?\nThought 1: I need to search Paris.\nAction 1: search[Paris]\n"
    "Observation 1: Paris stands on the Seine.\n",
    "You are in the middle of a room.\n> think: To solve the task, I need a mug.\nOK.\n"
    "> go to countertop 1\nOn the countertop 1, you see a mug 1.\n",
    "Reasoning: buy it\nAction: click[Buy Now]\nObservation: Thank you for shopping with us!\n",
] * 20


@pytest.fixture(scope="module")
def byte_bpe() -> PreTrainedTokenizerFast:
    return train_byte_level_bpe(CORPUS, vocab_size=400, min_frequency=1)


def word_level(texts: list[str], pre_tokenizer: pre_tokenizers.PreTokenizer) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    return tokenizer


def reference_labels(char_labels: np.ndarray, offsets: np.ndarray) -> list[int]:
    """The boundary rule, written the slow obvious way."""
    out = []
    for start, end in offsets.tolist():
        chars = (
            char_labels[start:end]
            if end > start
            else char_labels[min(start, len(char_labels) - 1) :][:1]
        )
        out.append(max((SpanLabel(int(c)) for c in chars), key=PRIORITY.__getitem__))
    return out


def check_segmentation(fmt_name: str, trajectory, tokenizer) -> None:
    fmt = get_format(fmt_name)
    rendered = fmt.render_trajectory(trajectory)
    seg = segment_rendered(rendered, tokenizer)
    n = len(seg)
    assert seg.input_ids.shape == seg.labels.shape == seg.steps.shape == (n,)
    assert seg.offsets.shape == (n, 2)
    # every token gets exactly one label, a valid one
    assert set(seg.labels.tolist()) <= {int(label) for label in SpanLabel}
    char_labels = rendered.char_labels()
    if n:
        assert seg.labels.tolist() == reference_labels(char_labels, seg.offsets)
    # no character a policy writes escapes a trained token
    for index, (start, end) in enumerate(seg.offsets.tolist()):
        token_label = SpanLabel(int(seg.labels[index]))
        for c in range(start, end):
            assert PRIORITY[token_label] >= PRIORITY[SpanLabel(int(char_labels[c]))]
    covered = np.zeros(len(rendered.text), dtype=bool)
    for start, end in seg.offsets.tolist():
        covered[start:end] = True
    for position, char in enumerate(rendered.text):
        if not char.isspace():
            assert covered[position], f"character {char!r} at {position} is in no token"
    # token steps agree with the characters they carry
    char_steps = rendered.char_steps()
    for index, (start, end) in enumerate(seg.offsets.tolist()):
        if end > start:
            assert seg.steps[index] in set(char_steps[start:end].tolist())


def step_text(rendered: RenderedTrajectory, segment: Segment) -> str:
    """The text of every segment with `segment`'s label and step: a step of several thoughts
    has several REASON segments (ALFWorld answers each thought `OK.`, an OBS segment)."""
    return "".join(
        rendered.text[other.start : other.end]
        for other in rendered.segments
        if other.label == segment.label and other.step == segment.step
    )


@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
@given(data=st.data())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_byte_level_bpe(fmt_name: str, data: st.DataObject, byte_bpe) -> None:
    trajectory = data.draw(trajectories(fmt_name))
    # both wrappers of the same tokenizer: transformers' fast tokenizer and the bare Rust one
    for tokenizer in (byte_bpe, byte_bpe.backend_tokenizer):
        check_segmentation(fmt_name, trajectory, tokenizer)
    fmt = get_format(fmt_name)
    rendered = fmt.render_trajectory(trajectory)
    seg = segment_rendered(rendered, byte_bpe)
    assert byte_bpe.decode(seg.input_ids.tolist()) == rendered.text  # lossless
    # decoded REASON (and ACT) tokens of each step reproduce that step's span text exactly:
    # byte-level pre-tokenization splits at every newline, so no token straddles a span
    for segment in rendered.segments:
        if segment.label in (SpanLabel.REASON, SpanLabel.ACT):
            ids = seg.input_ids[(seg.labels == segment.label) & (seg.steps == segment.step)]
            assert byte_bpe.decode(ids.tolist()) == step_text(rendered, segment)
    for k, step in enumerate(trajectory.steps):
        if step.reasoning:
            reason_text = byte_bpe.decode(
                seg.input_ids[seg.mask(SpanLabel.REASON) & (seg.steps == k)].tolist()
            )
            assert all(thought in reason_text for thought in step.thoughts)


@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_word_level(fmt_name: str, data: st.DataObject) -> None:
    trajectory = data.draw(trajectories(fmt_name))
    rendered = get_format(fmt_name).render_trajectory(trajectory)
    raw = word_level([rendered.text], pre_tokenizers.Whitespace())
    wrapped = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    for tokenizer in (raw, wrapped):
        check_segmentation(fmt_name, trajectory, tokenizer)
    seg = segment_rendered(rendered, raw)
    for segment in rendered.segments:
        if segment.label in (SpanLabel.REASON, SpanLabel.ACT):
            ids = seg.input_ids[(seg.labels == segment.label) & (seg.steps == segment.step)]
            decoded = raw.decode(ids.tolist())
            expected = step_text(rendered, segment)
            assert decoded.replace(" ", "") == re.sub(r"\s", "", expected)


@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_straddling_tokens_follow_the_rule(fmt_name: str, data: st.DataObject) -> None:
    # Splitting on spaces only keeps newlines inside tokens, so tokens straddle span boundaries.
    trajectory = data.draw(trajectories(fmt_name))
    rendered = get_format(fmt_name).render_trajectory(trajectory)
    check_segmentation(
        fmt_name, trajectory, word_level([rendered.text], pre_tokenizers.Split(" ", "removed"))
    )


def test_straddle_example() -> None:
    fmt = get_format("react")
    step = Step(reasoning="go.", action="search[x]", observation="seen")
    rendered = fmt.render("Q", [step])
    tokenizer = word_level([rendered.text], pre_tokenizers.Split(" ", "removed"))
    seg = segment_rendered(rendered, tokenizer)
    pieces = [
        (rendered.text[s:e], SpanLabel(int(label)).name)
        for (s, e), label in zip(seg.offsets.tolist(), seg.labels, strict=True)
    ]
    assert pieces == [
        ("Q\nThought", "REASON"),  # PROMPT + REASON: REASON wins
        ("1:", "REASON"),
        ("go.\nAction", "ACT"),  # REASON + ACT: ACT wins
        ("1:", "ACT"),
        ("search[x]\nObservation", "ACT"),  # ACT + OBS: ACT wins
        ("1:", "OBS"),
        ("seen\n", "OBS"),
    ]
    assert seg.steps.tolist() == [0, 0, 0, 0, 0, 0, 0]


def test_special_tokens_are_prompt(byte_bpe) -> None:
    raw = Tokenizer.from_str(byte_bpe.backend_tokenizer.to_str())
    bos, eos = raw.token_to_id("<|bos|>"), raw.token_to_id("<|eos|>")
    raw.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A <|eos|>", special_tokens=[("<|bos|>", bos), ("<|eos|>", eos)]
    )
    rendered = get_format("paper").render(
        "task", [Step(reasoning="r", action="a", observation="o")]
    )
    plain = segment_rendered(rendered, raw)
    special = segment_rendered(rendered, raw, add_special_tokens=True)
    assert special.input_ids.tolist() == [bos, *plain.input_ids.tolist(), eos]
    assert special.labels.tolist() == [0, *plain.labels.tolist(), 0]
    assert special.steps.tolist() == [-1, *plain.steps.tolist(), -1]


def test_empty_offsets_take_the_character_at_their_position() -> None:
    char_labels = np.array([0, 1, 1, 2], dtype=np.int8)
    char_steps = np.array([-1, 0, 0, 0], dtype=np.int32)
    offsets = np.array([[0, 1], [2, 2], [4, 4], [1, 4]], dtype=np.int32)
    labels, steps = label_tokens(char_labels, char_steps, offsets)
    assert labels.tolist() == [0, 1, 2, 2]
    assert steps.tolist() == [-1, 0, 0, 0]


def test_masks_and_collate(byte_bpe) -> None:
    fmt = get_format("react")
    from .test_records import make

    segs = [segment_trajectory(make(i), byte_bpe, fmt) for i in range(2)]
    short = segment_rendered(fmt.render("q", [Step(action="look", observation="")]), byte_bpe)
    segs.append(short)
    tensors = segs[0].to_torch()
    assert tensors["input_ids"].dtype == torch.int64
    total = sum(tensors[f"{label.name.lower()}_mask"] for label in SpanLabel)
    assert torch.equal(total, torch.ones(len(segs[0])))  # every token in exactly one mask
    batch = collate(segs, pad_id=byte_bpe.pad_token_id, sequence_index=[7, 3, 5])
    length = max(len(s) for s in segs)
    assert batch.input_ids.shape == (3, length)
    assert batch.attention_mask[2].sum() == len(short) == batch.tokens - len(segs[0]) - len(segs[1])
    assert batch.input_ids[2, len(short) :].eq(byte_bpe.pad_token_id).all()
    assert batch.sequence_index.tolist() == [7, 3, 5]
    # the shift, done once: position t predicts token t+1
    assert batch.target_ids.shape == batch.target_kinds.shape == (3, length - 1)
    assert torch.equal(batch.target_ids, batch.input_ids[:, 1:])
    for row, seg in enumerate(segs):
        n = len(seg) - 1
        assert batch.target_kinds[row, :n].tolist() == seg.labels[1:].tolist()
        assert batch.target_kinds[row, n:].eq(-1).all()  # padding
        assert batch.target_mask[row].sum() == n
        trained = seg.mask(SpanLabel.REASON, SpanLabel.ACT)[1:]
        assert batch.trained_mask[row, :n].tolist() == trained.tolist()
        assert not batch.trained_mask[row, n:].any()
    assert (batch.target_kinds[2] == SpanLabel.ACT).sum() == short.mask(SpanLabel.ACT)[1:].sum()
    cut = collate(segs, pad_id=0, max_length=5)
    assert cut.input_ids.shape == (3, 5) and cut.target_ids.shape == (3, 4)
    assert cut.sequence_index.tolist() == [0, 1, 2]


def test_length_batches_by_hand() -> None:
    lengths = [5, 1, 3, 3, 9, 2]
    # shortest first, at most 6 padded tokens (longest x members); 9 alone although too long
    assert length_batches(lengths, 6) == [[1, 5], [2, 3], [0], [4]]
    assert length_batches(lengths, 100) == [[1, 5, 2, 3, 0, 4]]
    # a given order is kept (a curriculum); the budget applies to runs of it
    assert length_batches(lengths, 10, order=[4, 0, 1, 2, 3, 5]) == [[4], [0, 1], [2, 3, 5]]
    with pytest.raises(ValueError, match="permutation"):
        length_batches(lengths, 10, order=[0, 1])


def test_slow_tokenizer_is_refused() -> None:
    class Slow:
        is_fast = False

    with pytest.raises(TypeError, match="not a fast tokenizer"):
        encode_with_offsets(Slow(), "text")
