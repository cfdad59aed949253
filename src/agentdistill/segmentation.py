"""Span segmentation: token ids and per-token PROMPT/REASON/ACT/OBS labels for a trajectory.

A trajectory is rendered with a `ReactFormat`, which labels every character; the text is
tokenized with a Hugging Face fast tokenizer (a `transformers` fast tokenizer or a bare
`tokenizers.Tokenizer`), and each token takes a label from the characters its offset mapping
covers.

Boundary rule (a token whose characters carry more than one label): the token takes the
highest-priority label among its characters, ACT > REASON > OBS > PROMPT. Every character a
policy writes therefore sits in a token that is trained: no part of an action or a thought
escapes its loss, and a token that is part action wins the action loss because a wrong
action fails the episode. A token with an empty offset range (some tokenizers emit these
for whitespace) takes the label of the character at its offset, and special tokens (BOS,
EOS, padding) are PROMPT. Each token is also tagged with its step index (-1: prompt): the
step of its first character carrying the chosen label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from agentdistill.formats import ReactFormat, RenderedTrajectory, SpanLabel
from agentdistill.records import Trajectory

if TYPE_CHECKING:
    import torch

# Higher wins at a boundary; index = SpanLabel value.
_PRIORITY = np.array([0, 2, 3, 1], dtype=np.int8)  # PROMPT, REASON, ACT, OBS
_BY_PRIORITY = (SpanLabel.ACT, SpanLabel.REASON, SpanLabel.OBS, SpanLabel.PROMPT)


@dataclass(frozen=True)
class Segmentation:
    """Token ids with one span label per token, ready to become training masks."""

    text: str
    input_ids: np.ndarray
    """int64 [T] token ids."""
    labels: np.ndarray
    """int8 [T] `SpanLabel` values."""
    offsets: np.ndarray
    """int32 [T, 2] character range of each token in `text`."""
    steps: np.ndarray
    """int32 [T] step index of each token (-1: prompt or special token)."""

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def mask(self, *labels: SpanLabel) -> np.ndarray:
        """Boolean mask of tokens carrying any of `labels`."""
        return np.isin(self.labels, np.asarray(labels, dtype=np.int8))

    def counts(self) -> dict[str, int]:
        """Number of tokens per label name."""
        return {label.name: int((self.labels == label).sum()) for label in SpanLabel}

    def to_torch(self) -> dict[str, torch.Tensor]:
        """Tensors for training: ids, labels and one float mask per span type.

        Masks mark *target* tokens: the loss for token t uses the model's logits at t-1.
        """
        import torch

        out = {
            "input_ids": torch.from_numpy(self.input_ids.copy()),
            "span_labels": torch.from_numpy(self.labels.astype(np.int64)),
        }
        for label in SpanLabel:
            out[f"{label.name.lower()}_mask"] = torch.from_numpy(
                self.mask(label).astype(np.float32)
            )
        return out


def encode_with_offsets(
    tokenizer: Any, text: str, add_special_tokens: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids, offsets [T,2] and special-token mask from any HF fast tokenizer."""
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "get_vocab_size"):
        # a bare `tokenizers.Tokenizer`
        encoding = tokenizer.encode(text, add_special_tokens=add_special_tokens)
        ids, offsets, special = encoding.ids, encoding.offsets, encoding.special_tokens_mask
    else:
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                f"{type(tokenizer).__name__} is not a fast tokenizer: segmentation needs the "
                "character offsets only fast (Rust) tokenizers provide; load it with use_fast=True"
            )
        encoded = tokenizer(
            text,
            add_special_tokens=add_special_tokens,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        ids = encoded["input_ids"]
        offsets = encoded["offset_mapping"]
        special = encoded["special_tokens_mask"]
    return (
        np.asarray(ids, dtype=np.int64),
        np.asarray(offsets, dtype=np.int32).reshape(-1, 2),
        np.asarray(special, dtype=bool),
    )


def label_tokens(
    char_labels: np.ndarray,
    char_steps: np.ndarray,
    offsets: np.ndarray,
    special: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the boundary rule: per-token labels and steps from per-character ones."""
    n_tokens, n_chars = offsets.shape[0], char_labels.shape[0]
    labels = np.zeros(n_tokens, dtype=np.int8)
    steps = np.full(n_tokens, -1, dtype=np.int32)
    if n_tokens == 0 or n_chars == 0:
        return labels, steps
    starts = np.clip(offsets[:, 0], 0, n_chars)
    ends = np.clip(offsets[:, 1], 0, n_chars)
    empty = ends <= starts
    # Empty ranges look at the character at the offset (the last one at the very end).
    probe = np.minimum(starts, n_chars - 1)
    starts = np.where(empty, probe, starts)
    ends = np.where(empty, probe + 1, ends)
    best = np.full(n_tokens, -1, dtype=np.int8)
    for label in _BY_PRIORITY:  # highest priority first; the first label present wins
        is_label = np.concatenate([[0], np.cumsum(char_labels == label)])
        present = (is_label[ends] - is_label[starts]) > 0
        take = present & (best < 0)
        best[take] = label
    labels[:] = best
    # The step of a token: that of its first character carrying the chosen label.
    uniform = char_steps[starts] == char_steps[ends - 1]
    steps[:] = char_steps[starts]
    for t in np.flatnonzero(~uniform):
        chars = np.arange(starts[t], ends[t])
        steps[t] = char_steps[chars[char_labels[chars] == labels[t]][0]]
    if special is not None and special.any():
        labels[special] = SpanLabel.PROMPT
        steps[special] = -1
    return labels, steps


def segment_rendered(
    rendered: RenderedTrajectory, tokenizer: Any, add_special_tokens: bool = False
) -> Segmentation:
    """Tokenize rendered text and label every token."""
    ids, offsets, special = encode_with_offsets(tokenizer, rendered.text, add_special_tokens)
    labels, steps = label_tokens(rendered.char_labels(), rendered.char_steps(), offsets, special)
    return Segmentation(rendered.text, ids, labels, offsets, steps)


def segment_trajectory(
    trajectory: Trajectory,
    tokenizer: Any,
    fmt: ReactFormat,
    preamble: str = "",
    add_special_tokens: bool = False,
) -> Segmentation:
    """Render a trajectory with `fmt` and segment it with `tokenizer`."""
    return segment_rendered(
        fmt.render_trajectory(trajectory, preamble), tokenizer, add_special_tokens
    )


@dataclass(frozen=True, eq=False)
class Batch:
    """A right-padded batch with the next-token shift done once.

    Position t of a row predicts token t+1, so every per-position tensor is [B, T-1] and
    describes the *target* token: its id, its span label, whether it carries a loss. Every
    loss and the teacher cache read these fields instead of shifting on their own.
    """

    input_ids: torch.Tensor
    """long [B, T] token ids (padding: the pad id)."""
    attention_mask: torch.Tensor
    """long [B, T], 1 on real tokens."""
    target_ids: torch.Tensor
    """long [B, T-1]: the token position t predicts (`input_ids[:, 1:]`)."""
    target_kinds: torch.Tensor
    """long [B, T-1]: `SpanLabel` of the target token, -1 where it is padding."""
    trained_mask: torch.Tensor
    """bool [B, T-1]: the target is a REASON or ACT token (the structured losses' positions)."""
    target_mask: torch.Tensor
    """bool [B, T-1]: the target is a real token (the flat sequence's positions)."""
    sequence_index: torch.Tensor
    """long [B]: index of each row's sequence in the list the batch was taken from."""

    @staticmethod
    def from_tensors(
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        span_labels: torch.Tensor,
        sequence_index: torch.Tensor | None = None,
    ) -> Batch:
        """Shift [B, T] ids, mask and span labels (-1 on padding) into a batch."""
        import torch

        kinds = span_labels[:, 1:]
        real = attention_mask[:, 1:].bool()
        kinds = torch.where(real, kinds, torch.full_like(kinds, -1))
        if sequence_index is None:
            sequence_index = torch.arange(input_ids.shape[0])
        return Batch(
            input_ids=input_ids,
            attention_mask=attention_mask,
            target_ids=input_ids[:, 1:],
            target_kinds=kinds,
            trained_mask=(kinds == SpanLabel.REASON) | (kinds == SpanLabel.ACT),
            target_mask=real,
            sequence_index=sequence_index,
        )

    @property
    def tokens(self) -> int:
        """Real (non-padding) tokens in the batch."""
        return int(self.attention_mask.sum())

    def to(self, device: torch.device | str) -> Batch:
        """The batch with its tensors on `device`; `sequence_index` stays on the CPU (it
        indexes host data such as the teacher cache's memory-mapped arrays)."""
        if self.input_ids.device == _as_device(device):
            return self
        return Batch(
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            target_ids=self.target_ids.to(device),
            target_kinds=self.target_kinds.to(device),
            trained_mask=self.trained_mask.to(device),
            target_mask=self.target_mask.to(device),
            sequence_index=self.sequence_index,
        )


def _as_device(device: torch.device | str) -> torch.device:
    import torch

    return torch.device(device)


def collate(
    segmentations: Sequence[Segmentation],
    pad_id: int,
    max_length: int | None = None,
    sequence_index: Sequence[int] | None = None,
) -> Batch:
    """Right-pad segmentations into a `Batch`; sequences longer than `max_length` are cut.

    `sequence_index` names each row's position in the caller's list (default 0..B-1), so a
    loss can look up per-sequence data such as cached teacher log-probabilities.
    """
    import torch

    if not segmentations:
        raise ValueError("collate needs at least one segmentation")
    length = max(len(s) for s in segmentations)
    if max_length is not None:
        length = min(length, max_length)
    batch = len(segmentations)
    ids = torch.full((batch, length), pad_id, dtype=torch.long)
    labels = torch.full((batch, length), -1, dtype=torch.long)
    attention = torch.zeros((batch, length), dtype=torch.long)
    for row, seg in enumerate(segmentations):
        n = min(len(seg), length)
        ids[row, :n] = torch.from_numpy(seg.input_ids[:n])
        labels[row, :n] = torch.from_numpy(seg.labels[:n].astype(np.int64))
        attention[row, :n] = 1
    index = None if sequence_index is None else torch.tensor(list(sequence_index))
    return Batch.from_tensors(ids, attention, labels, index)


def length_batches(
    lengths: Sequence[int], batch_tokens: int, order: Sequence[int] | None = None
) -> list[list[int]]:
    """Consecutive runs of `order` (default: shortest first) of at most `batch_tokens` padded
    tokens each (longest member x members); a longer sequence gets a batch of its own.

    Taken in length order, batches hold sequences of similar length: little padding.
    """
    if order is None:
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    elif sorted(order) != list(range(len(lengths))):
        raise ValueError("order must be a permutation of the sequence indices")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        n = lengths[index]
        if current and max(longest, n) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(index)
        longest = max(longest, n)
    if current:
        batches.append(current)
    return batches
