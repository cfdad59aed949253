"""Distillation losses: forward KL to the teacher, per span type (SAD) or on the flat sequence.

    positions = loss_positions(batch["span_labels"], batch["attention_mask"], "sad")
    kl = forward_kl(student_logits_at_positions, targets, temperature=1.0)   # [N]
    loss, parts = combine_span_losses(kl, kinds, "sad", lambda_reason=1, lambda_act=1)

Position t of a sequence predicts token t+1, so "the KL at a REASON token" is the KL of the
distribution at the position before it. The teacher's distribution comes either full
(`TeacherTargets.full`, exact) or as its top-k log-probabilities plus the log of the mass
left outside the top k (`TeacherTargets.topk`): the KL is then computed over k+1 outcomes,
the top-k tokens and one "rest" bucket, which is exact when k covers the vocabulary and a
close lower bound otherwise (merging outcomes never increases a KL divergence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from agentdistill.formats import SpanLabel

Method = Literal["seqkd", "token_kd", "sad", "sad_reason_only", "sad_act_only"]
METHODS: tuple[str, ...] = ("seqkd", "token_kd", "sad", "sad_reason_only", "sad_act_only")
KL_METHODS: tuple[str, ...] = ("token_kd", "sad", "sad_reason_only", "sad_act_only")


@dataclass(frozen=True)
class TeacherTargets:
    """The teacher's distribution at N positions: full, or top-k plus the remaining mass."""

    logprobs: torch.Tensor
    """[N, V] (full) or [N, k] (top-k) log-probabilities, at the distillation temperature."""
    indices: torch.Tensor | None = None
    """[N, k] token ids of the top-k entries; None for a full distribution."""
    rest_logprob: torch.Tensor | None = None
    """[N] log of the probability mass outside the top k (-inf when there is none)."""

    @staticmethod
    def full(teacher_logits: torch.Tensor, temperature: float = 1.0) -> TeacherTargets:
        return TeacherTargets(torch.log_softmax(teacher_logits.float() / temperature, dim=-1))

    @staticmethod
    def topk(teacher_logits: torch.Tensor, k: int, temperature: float = 1.0) -> TeacherTargets:
        logprobs = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
        k = min(k, logprobs.shape[-1])
        top, indices = torch.topk(logprobs, k, dim=-1)
        return TeacherTargets(top, indices, rest_logprob(logprobs, indices))


def rest_logprob(logprobs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """log of the total probability outside `indices`, computed without cancellation."""
    outside = logprobs.scatter(-1, indices, float("-inf"))
    return torch.logsumexp(outside, dim=-1)


def forward_kl(
    student_logits: torch.Tensor, teacher: TeacherTargets, temperature: float = 1.0
) -> torch.Tensor:
    """KL(p_teacher || p_student) per position, [N] (teacher first, as in the paper)."""
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    if teacher.indices is None:
        p = teacher.logprobs.exp()
        return (p * (teacher.logprobs - log_q)).sum(-1)
    log_q_top = log_q.gather(-1, teacher.indices)
    p_top = teacher.logprobs.exp()
    kl = (p_top * (teacher.logprobs - log_q_top)).sum(-1)
    assert teacher.rest_logprob is not None
    rest_p = teacher.rest_logprob.exp()
    rest_term = rest_p * (teacher.rest_logprob - rest_logprob(log_q, teacher.indices))
    # no mass outside the top k: the bucket contributes nothing (avoid 0 * -inf)
    return kl + torch.where(rest_p > 0, rest_term, torch.zeros_like(rest_term))


def loss_positions(
    span_labels: torch.Tensor, attention_mask: torch.Tensor, method: str
) -> torch.Tensor:
    """Bool [B, T-1]: positions whose next token carries a loss under `method`.

    token_kd: every real next token (the flat sequence, no structure). Every other method:
    next tokens labelled REASON or ACT; OBS and PROMPT never get a loss.
    """
    following = span_labels[:, 1:]
    if method == "token_kd":
        return attention_mask[:, 1:].bool()
    if method in ("seqkd", "sad", "sad_reason_only", "sad_act_only"):
        return (following == SpanLabel.REASON) | (following == SpanLabel.ACT)
    raise ValueError(f"unknown distillation method {method!r}; expected one of {METHODS}")


def span_weights(method: str, lambda_reason: float, lambda_act: float) -> tuple[float, float]:
    """(weight of REASON, weight of ACT) under `method`."""
    if method == "sad_reason_only":
        return lambda_reason, 0.0
    if method == "sad_act_only":
        return 0.0, lambda_act
    return lambda_reason, lambda_act


def combine_span_losses(
    per_position: torch.Tensor,
    kinds: torch.Tensor,
    method: str,
    lambda_reason: float = 1.0,
    lambda_act: float = 1.0,
    span_normalize: bool = True,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """One scalar loss from per-position losses, and per-span (sum, count) parts for logging.

    `kinds` holds the span label of each position's next token. token_kd and seqkd average
    over all their positions. sad: lambda_r * mean over REASON + lambda_a * mean over ACT
    (`span_normalize`, the default: each span type normalised by its own token count, so
    long thoughts do not drown short actions), or, with `span_normalize=False`, the paper's
    weighted sum divided by the number of REASON + ACT tokens (a sum up to a constant).
    """
    parts: dict[str, Any] = {}
    for label in (SpanLabel.REASON, SpanLabel.ACT):
        chosen = per_position[kinds == label]
        parts[label.name.lower()] = (float(chosen.detach().sum()), int(chosen.numel()))
    if method in ("token_kd", "seqkd"):
        return per_position.mean(), parts
    w_reason, w_act = span_weights(method, lambda_reason, lambda_act)
    is_reason, is_act = kinds == SpanLabel.REASON, kinds == SpanLabel.ACT
    zero = per_position.sum() * 0.0  # keeps the graph when a span type is absent
    if span_normalize:
        reason = per_position[is_reason].mean() if is_reason.any() else zero
        act = per_position[is_act].mean() if is_act.any() else zero
        return w_reason * reason + w_act * act, parts
    weighted = w_reason * per_position[is_reason].sum() + w_act * per_position[is_act].sum()
    return weighted / max(int(is_reason.sum() + is_act.sum()), 1), parts
