"""Distillation losses: a divergence to the teacher, per span type (SAD) or on the flat sequence.

    positions = loss_mask(batch, "sad")                               # bool [B, T-1]
    kl = kd_loss(student_logits_at_positions, targets, temperature)   # [N], T^2 * KL
    loss, parts = combine_span_losses(kl, batch.target_kinds[positions], "sad", 1.0, 1.0)

The divergence is the paper's forward KL(p_teacher || q_student) unless chosen otherwise, per
span type (`span_kd_loss`): `reverse_kl` = KL(q_student || p_teacher) (mode-seeking, the usual
choice for on-policy distillation) or `jsd`, the generalized Jensen-Shannon divergence of GKD.

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
increases a KL divergence). The same holds for the reverse KL and the JSD: all three are
f-divergences, which merging outcomes never increases. Every divergence is computed in
float32 log space and multiplied by T^2 (`kd_loss`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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

Divergence = Literal["forward_kl", "reverse_kl", "jsd"]
"""forward_kl: KL(p_teacher || q_student), the paper's (mass-covering). reverse_kl:
KL(q_student || p_teacher) (mode-seeking). jsd: the generalized Jensen-Shannon divergence
JSD(beta) of GKD (Agarwal et al. 2024), see `jsd`."""
DIVERGENCES: tuple[str, ...] = get_args(Divergence)

LOG_PROB_FLOOR = math.log(torch.finfo(torch.float32).tiny)
"""About -87.3: the teacher's log-probabilities are floored here in the reverse KL. Below it a
probability is not a normal float32 number, so only (near) zeros change, and student mass
where the teacher has exactly none (masked logits) costs a large finite penalty, not +inf."""


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

    def select(self, rows: torch.Tensor) -> TeacherTargets:
        """The targets at the positions `rows` (a bool [N] mask or indices) selects."""
        return TeacherTargets(
            self.logprobs[rows],
            None if self.indices is None else self.indices[rows],
            None if self.rest_logprob is None else self.rest_logprob[rows],
        )


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
        # p = 0 (a -inf teacher logit) contributes nothing: 0 * -inf would be NaN
        terms = p * (teacher.logprobs - log_q)
        return torch.where(p > 0, terms, torch.zeros_like(terms)).sum(-1)
    log_q_top = log_q.gather(-1, teacher.indices)
    p_top = teacher.logprobs.exp()
    kl = (p_top * (teacher.logprobs - log_q_top)).sum(-1)
    assert teacher.rest_logprob is not None
    rest_p = teacher.rest_logprob.exp()
    rest_term = rest_p * (teacher.rest_logprob - rest_logprob(log_q, teacher.indices))
    # no mass outside the top k: the bucket contributes nothing (avoid 0 * -inf)
    return kl + torch.where(rest_p > 0, rest_term, torch.zeros_like(rest_term))


def outcome_logprobs(
    student_logits: torch.Tensor, teacher: TeacherTargets, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p_teacher, log q_student), [N, K] each, over the outcomes `teacher` resolves.

    Full targets: the V tokens. Top-k targets: K = k+1, the teacher's top-k ids and the rest
    bucket; the student's rest is the logsumexp of its log-probabilities outside those ids
    (no 1 - sum cancellation). An empty rest bucket (k = V) is -inf on both sides.
    """
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    if teacher.indices is None:
        return teacher.logprobs.float(), log_q
    assert teacher.rest_logprob is not None
    log_p = torch.cat([teacher.logprobs.float(), teacher.rest_logprob.float()[:, None]], -1)
    top = log_q.gather(-1, teacher.indices)
    return log_p, torch.cat([top, rest_logprob(log_q, teacher.indices)[:, None]], -1)


def _kl_terms(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """sum over outcomes of a * (log a - log b), [N], with 0 * log 0 = 0.

    Outcomes where a = 0 are masked before any arithmetic, so neither values nor gradients
    see -inf - -inf; `log_b` must be finite wherever a > 0.
    """
    present = log_a > float("-inf")
    zero = torch.zeros_like(log_a)
    a, b = torch.where(present, log_a, zero), torch.where(present, log_b, zero)
    return torch.where(present, a.exp() * (a - b), zero).sum(-1)


def reverse_kl(
    student_logits: torch.Tensor, teacher: TeacherTargets, temperature: float = 1.0
) -> torch.Tensor:
    """KL(q_student || p_teacher) per position, [N] (mode-seeking).

    Over the k+1 buckets for top-k targets. The teacher's log-probabilities are floored at
    `LOG_PROB_FLOOR`, so student mass where the teacher has none (masked logits) is a large
    finite cost; an empty rest bucket (k = V) holds no student mass either and adds nothing.
    """
    log_p, log_q = outcome_logprobs(student_logits, teacher, temperature)
    return _kl_terms(log_q, log_p.clamp_min(LOG_PROB_FLOOR))


def check_jsd_beta(beta: float) -> float:
    """`beta` if it lies in the open interval (0, 1), else a ValueError saying why."""
    if not 0.0 < beta < 1.0:
        raise ValueError(
            f"jsd_beta must lie strictly between 0 and 1 (got {beta}): JSD(beta) vanishes at "
            "0 and 1; for KL(p_teacher || q_student) choose forward_kl, for "
            "KL(q_student || p_teacher) reverse_kl"
        )
    return beta


def jsd(
    student_logits: torch.Tensor,
    teacher: TeacherTargets,
    temperature: float = 1.0,
    beta: float = 0.5,
) -> torch.Tensor:
    """The generalized Jensen-Shannon divergence JSD(beta)(P || Q) per position, [N].

    P is the teacher, Q the student, M = beta * P + (1 - beta) * Q (GKD, Agarwal et al. 2024,
    eq. 1): JSD(beta) = beta * KL(P || M) + (1 - beta) * KL(Q || M), 0 < beta < 1 (refused
    otherwise). beta = 0.5 is the symmetric JSD, bounded by log 2; for any beta the bound is
    the binary entropy h(beta) (disjoint supports). TRL's `GKDTrainer` computes the same for
    0 < beta < 1, but at beta = 0 and 1 switches to the forward and reverse KL, the limits of
    JSD(beta) / beta and JSD(beta) / (1 - beta); here those are `forward_kl` and `reverse_kl`.
    M is never 0 where P or Q has mass, so no floor is needed.
    """
    check_jsd_beta(beta)
    log_p, log_q = outcome_logprobs(student_logits, teacher, temperature)
    # an outcome neither side reaches (k = V's rest bucket) would make log M = -inf - -inf
    empty = (log_p == float("-inf")) & (log_q == float("-inf"))
    log_m = torch.logaddexp(
        torch.where(empty, torch.zeros_like(log_p), log_p) + math.log(beta),
        torch.where(empty, torch.zeros_like(log_q), log_q) + math.log1p(-beta),
    )
    return beta * _kl_terms(log_p, log_m) + (1.0 - beta) * _kl_terms(log_q, log_m)


def divergence(
    student_logits: torch.Tensor,
    teacher: TeacherTargets,
    kind: Divergence = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
) -> torch.Tensor:
    """The divergence `kind` between teacher and student per position, [N] (no T^2).

    `beta` is JSD's coefficient (read by `jsd` only).
    """
    if kind == "forward_kl":
        return forward_kl(student_logits, teacher, temperature)
    if kind == "reverse_kl":
        return reverse_kl(student_logits, teacher, temperature)
    if kind == "jsd":
        return jsd(student_logits, teacher, temperature, beta)
    raise ValueError(f"unknown divergence {kind!r}; expected one of {DIVERGENCES}")


def kd_loss(
    student_logits: torch.Tensor,
    teacher: TeacherTargets,
    temperature: float = 1.0,
    kind: Divergence = "forward_kl",
    beta: float = 0.5,
) -> torch.Tensor:
    """T^2 * the divergence `kind` per position, [N] (see the module's note on T).

    The T^2 factor applies to every divergence: each is a smooth function of the softened
    logits whose gradient shrinks as 1/T^2 for large T, like the forward KL's.
    """
    return divergence(student_logits, teacher, kind, temperature, beta) * temperature**2


def span_kd_loss(
    student_logits: torch.Tensor,
    teacher: TeacherTargets,
    kinds: torch.Tensor,
    by_label: Mapping[SpanLabel, Divergence],
    temperature: float = 1.0,
    beta: float = 0.5,
) -> torch.Tensor:
    """`kd_loss` per position, [N], each with the divergence `by_label` gives its target's label.

    `kinds` holds the span label of each position's target; a label present in `kinds` but
    missing from `by_label` is an error. One divergence for every position costs one call.
    """
    chosen = {label: by_label.get(SpanLabel(label)) for label in kinds.unique().tolist()}
    missing = [SpanLabel(label).name for label, kind in chosen.items() if kind is None]
    if missing:
        raise ValueError(f"no divergence chosen for the span label(s) {missing}")
    wanted = sorted({kind for kind in chosen.values() if kind is not None})
    if len(wanted) <= 1:
        kind = wanted[0] if wanted else "forward_kl"
        return kd_loss(student_logits, teacher, temperature, kind, beta)
    out = student_logits.new_zeros(kinds.shape, dtype=torch.float32)
    for kind in wanted:
        labels = [label for label, chose in chosen.items() if chose == kind]
        rows = torch.isin(kinds, torch.tensor(labels, device=kinds.device))
        part = kd_loss(student_logits[rows], teacher.select(rows), temperature, kind, beta)
        out = out.masked_scatter(rows, part)  # out of place: the graph reaches each part
    return out


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
