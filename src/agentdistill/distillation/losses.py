"""Distillation losses: forward KL to the teacher, per span type (SAD) or on the flat sequence.

    positions = loss_mask(batch, "sad")                               # bool [B, T-1]
    kl = kd_loss(student_logits_at_positions, targets, temperature)   # [N], T^2 * KL
    loss, parts = combine_span_losses(kl, batch.target_kinds[positions], "sad", 1.0, 1.0)

Position t of a sequence predicts token t+1, so "the KL at a REASON token" is the KL of the
distribution at the position before it; the `Batch` (segmentation.py) holds that shift.

Temperature: both distributions are softened by T and the KL is multiplied by T^2 (Hinton
et al. 2015). The gradient of KL(p_T || q_T) with respect to the student's logits scales as
1/T^2 for large T; the factor keeps gradient magnitudes, and so the effective learning rate,
comparable across temperatures. At T = 1 nothing changes.

The teacher's distribution comes either full (`TeacherTargets.full`, exact) or as its top-k
log-probabilities plus the log of the mass left outside the top k (`TeacherTargets.topk`):
the KL is then computed over k+1 outcomes, the top-k tokens and one "rest" bucket, which is
exact when k covers the vocabulary and a close lower bound otherwise (merging outcomes never
increases a KL divergence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from agentdistill.formats import SpanLabel
from agentdistill.segmentation import Batch
from agentdistill.training import SpanParts, span_parts

Method = Literal["seqkd", "seqkd_span", "token_kd", "sad", "sad_reason_only", "sad_act_only"]
"""seqkd: cross-entropy, mean over REASON+ACT targets. seqkd_span: cross-entropy with SAD's
per-span normalisation and lambda weights (the ablation that separates the structure from
the KL). token_kd: KL at every target of the flat sequence. sad and its one-span ablations:
KL per span type."""
METHODS: tuple[str, ...] = get_args(Method)
KL_METHODS: tuple[str, ...] = ("token_kd", "sad", "sad_reason_only", "sad_act_only")
CE_METHODS: tuple[str, ...] = ("seqkd", "seqkd_span")
# methods whose loss is lambda_r * (REASON loss) + lambda_a * (ACT loss)
_SPAN_METHODS = ("seqkd_span", "sad", "sad_reason_only", "sad_act_only")


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


def kd_loss(
    student_logits: torch.Tensor, teacher: TeacherTargets, temperature: float = 1.0
) -> torch.Tensor:
    """T^2 * KL(p_teacher || p_student) per position, [N] (see the module's note on T)."""
    return forward_kl(student_logits, teacher, temperature) * temperature**2


def loss_mask(batch: Batch, method: str) -> torch.Tensor:
    """Bool [B, T-1]: positions of `batch` whose target carries a loss under `method`.

    token_kd: every real target (the flat sequence, no structure). Every other method:
    targets labelled REASON or ACT; OBS and PROMPT never get a loss.
    """
    if method == "token_kd":
        return batch.target_mask
    if method in METHODS:
        return batch.trained_mask
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
) -> tuple[torch.Tensor, SpanParts]:
    """The objective from per-position losses, and per-span (sum, count) parts for logging.

    `kinds` holds the span label of each position's target. token_kd and seqkd average over
    all their positions. sad, its ablations and seqkd_span: lambda_r * mean over REASON +
    lambda_a * mean over ACT (`span_normalize`, the default: each span type normalised by
    its own token count, so long thoughts do not drown short actions), or, with
    `span_normalize=False`, the paper's weighted sum divided by the number of REASON + ACT
    tokens (a sum up to a constant).
    """
    if method not in METHODS:
        raise ValueError(f"unknown distillation method {method!r}; expected one of {METHODS}")
    parts = span_parts(per_position, kinds)
    zero = per_position.sum() * 0.0  # keeps the graph when a span type is absent
    if method not in _SPAN_METHODS:
        return (per_position.mean() if per_position.numel() else zero), parts
    w_reason, w_act = span_weights(method, lambda_reason, lambda_act)
    is_reason, is_act = kinds == SpanLabel.REASON, kinds == SpanLabel.ACT
    if span_normalize:
        reason = per_position[is_reason].mean() if is_reason.any() else zero
        act = per_position[is_act].mean() if is_act.any() else zero
        return w_reason * reason + w_act * act, parts
    weighted = w_reason * per_position[is_reason].sum() + w_act * per_position[is_act].sum()
    return weighted / max(int(is_reason.sum() + is_act.sum()), 1), parts
