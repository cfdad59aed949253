"""The per-span divergences: forward KL, reverse KL and GKD's generalized JSD.

Every divergence is checked against an independent float64 formula on full distributions,
against the k+1-bucket approximation of the top-k cache, and through the trainer's loss.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agentdistill.config import FormatConfig
from agentdistill.distillation.losses import (
    DIVERGENCES,
    TeacherTargets,
    divergence,
    forward_kl,
    jsd,
    kd_loss,
    rest_logprob,
    reverse_kl,
    span_kd_loss,
)
from agentdistill.distillation.teacher_cache import build_teacher_cache
from agentdistill.distillation.trainer import DistillConfig, DivergenceConfig, loss_fn_for
from agentdistill.formats import SpanLabel
from agentdistill.models import build_model
from agentdistill.segmentation import collate
from agentdistill.training import segment_all

R, A, OB = SpanLabel.REASON, SpanLabel.ACT, SpanLabel.OBS
INF = float("inf")


def exact(kind: str, student: torch.Tensor, teacher: torch.Tensor, t: float, beta: float):
    """The divergence on full distributions, straight from its definition, in float64."""
    p = torch.softmax(teacher.double() / t, -1).numpy()
    q = torch.softmax(student.double() / t, -1).numpy()

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * np.log(a / b)).sum(-1)

    if kind == "forward_kl":
        return torch.from_numpy(kl(p, q))
    if kind == "reverse_kl":
        return torch.from_numpy(kl(q, p))
    m = beta * p + (1 - beta) * q
    return torch.from_numpy(beta * kl(p, m) + (1 - beta) * kl(q, m))


def binary_entropy(beta: float) -> float:
    return -beta * math.log(beta) - (1 - beta) * math.log(1 - beta)


logit_cases = dict(
    vocab=st.integers(2, 24),
    rows=st.integers(1, 5),
    temperature=st.floats(0.5, 3.0),
    beta=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31 - 1),
)


def random_logits(vocab: int, rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, vocab, generator=gen) * 3, torch.randn(rows, vocab, generator=gen) * 3


# ---- values ---------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(**logit_cases)
def test_every_divergence_is_exact_when_k_covers_the_vocabulary(
    vocab, rows, temperature, beta, seed
) -> None:
    student, teacher = random_logits(vocab, rows, seed)
    for kind in DIVERGENCES:
        want = exact(kind, student, teacher, temperature, beta).float()
        for targets in (
            TeacherTargets.full(teacher, temperature),
            TeacherTargets.topk(teacher, vocab, temperature),
        ):
            got = divergence(student, targets, kind, temperature, beta)
            assert torch.allclose(got, want, atol=1e-5, rtol=1e-4), kind


@settings(max_examples=20, deadline=None)
@given(**logit_cases, k=st.integers(1, 23))
def test_merging_outcomes_never_increases_a_divergence(
    vocab, rows, temperature, beta, seed, k
) -> None:
    student, teacher = random_logits(vocab, rows, seed)
    k = min(k, vocab)
    for kind in DIVERGENCES:
        full = divergence(
            student, TeacherTargets.full(teacher, temperature), kind, temperature, beta
        )
        bucketed = divergence(
            student, TeacherTargets.topk(teacher, k, temperature), kind, temperature, beta
        )
        assert (bucketed >= -1e-6).all() and (full >= -1e-6).all(), kind
        assert (bucketed <= full + 1e-5).all(), kind


@settings(max_examples=20, deadline=None)
@given(**logit_cases, k=st.integers(1, 23))
def test_divergences_vanish_when_the_student_is_the_teacher(
    vocab, rows, temperature, beta, seed, k
) -> None:
    logits, _ = random_logits(vocab, rows, seed)
    for kind in DIVERGENCES:
        for targets in (
            TeacherTargets.full(logits, temperature),
            TeacherTargets.topk(logits, min(k, vocab), temperature),
        ):
            got = divergence(logits, targets, kind, temperature, beta)
            assert torch.allclose(got, torch.zeros_like(got), atol=1e-6), kind


@settings(max_examples=20, deadline=None)
@given(**logit_cases)
def test_jsd_is_bounded_by_the_binary_entropy_of_beta(vocab, rows, temperature, beta, seed) -> None:
    student, teacher = random_logits(vocab, rows, seed)
    value = jsd(student, TeacherTargets.full(teacher, temperature), temperature, beta)
    assert (value <= binary_entropy(beta) + 1e-6).all()


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_jsd_reaches_its_bound_on_disjoint_supports(beta) -> None:
    teacher = torch.tensor([[60.0, -60.0, -60.0]])
    student = torch.tensor([[-60.0, 60.0, -60.0]])
    for targets in (TeacherTargets.full(teacher), TeacherTargets.topk(teacher, 1)):
        assert jsd(student, targets, beta=beta).item() == pytest.approx(
            binary_entropy(beta), rel=1e-4
        )
    assert binary_entropy(0.5) == pytest.approx(math.log(2))


def test_forward_and_reverse_kl_by_hand() -> None:
    p = torch.tensor([[0.6, 0.3, 0.1]])
    q = torch.tensor([[0.2, 0.5, 0.3]])
    forward = 0.6 * math.log(0.6 / 0.2) + 0.3 * math.log(0.3 / 0.5) + 0.1 * math.log(0.1 / 0.3)
    reverse = 0.2 * math.log(0.2 / 0.6) + 0.5 * math.log(0.5 / 0.3) + 0.3 * math.log(0.3 / 0.1)
    assert forward != pytest.approx(reverse, abs=1e-3)  # the case tells them apart
    full = TeacherTargets(p.log())
    assert forward_kl(q.log(), full).item() == pytest.approx(forward, abs=1e-6)
    assert reverse_kl(q.log(), full).item() == pytest.approx(reverse, abs=1e-6)
    # k = 1 keeps token 0: teacher buckets (0.6, 0.4), student buckets (0.2, 0.8)
    top1 = TeacherTargets.topk(p.log(), k=1)
    bucketed = 0.2 * math.log(0.2 / 0.6) + 0.8 * math.log(0.8 / 0.4)
    assert reverse_kl(q.log(), top1).item() == pytest.approx(bucketed, abs=1e-6)
    # JSD(0.5) is symmetric; the generalized one is not
    half_pq = jsd(q.log(), full, beta=0.5).item()
    assert half_pq == pytest.approx(jsd(p.log(), TeacherTargets(q.log()), beta=0.5).item())
    m = 0.3 * p + 0.7 * q
    by_hand = 0.3 * (p * (p / m).log()).sum() + 0.7 * (q * (q / m).log()).sum()
    assert jsd(q.log(), full, beta=0.3).item() == pytest.approx(by_hand.item(), abs=1e-6)


def test_every_divergence_carries_the_t_squared_factor() -> None:
    student, teacher = random_logits(7, 4, seed=5)
    for kind in DIVERGENCES:
        for targets in (TeacherTargets.full(teacher, 2.0), TeacherTargets.topk(teacher, 3, 2.0)):
            plain = divergence(student, targets, kind, 2.0, 0.3)
            assert torch.allclose(kd_loss(student, targets, 2.0, kind, 0.3), 4.0 * plain), kind


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5, 1.5])
def test_jsd_beta_outside_the_open_interval_is_refused(beta) -> None:
    student, teacher = random_logits(5, 2, seed=1)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        jsd(student, TeacherTargets.full(teacher), beta=beta)
    with pytest.raises(ValidationError, match="forward_kl"):
        DivergenceConfig(jsd_beta=beta)


def test_unknown_divergence_is_refused() -> None:
    student, teacher = random_logits(5, 2, seed=1)
    with pytest.raises(ValueError, match="unknown divergence"):
        divergence(student, TeacherTargets.full(teacher), "hellinger")  # type: ignore[arg-type]


# ---- no NaN ---------------------------------------------------------------------------------


def edge_cases() -> list[tuple[str, torch.Tensor, TeacherTargets]]:
    """(name, student logits, targets) where a careless formula meets -inf - -inf or 0 * inf."""
    gen = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(3, 6, generator=gen), torch.randn(3, 6, generator=gen)
    masked = teacher.clone()
    masked[:, 2] = -INF  # the teacher gives token 2 no mass at all
    masked[0, 4] = -INF
    huge_s, huge_t = student * 1e4, teacher * 1e4
    return [
        ("k = V: empty rest bucket", student, TeacherTargets.topk(teacher, 6)),
        ("teacher zeros, full", student, TeacherTargets.full(masked)),
        ("teacher zeros, top-k", student, TeacherTargets.topk(masked, 2)),
        ("teacher zeros cover the rest", student, TeacherTargets.topk(masked, 4)),
        ("extreme logits, full", huge_s, TeacherTargets.full(huge_t)),
        ("extreme logits, top-k", huge_s, TeacherTargets.topk(huge_t, 2)),
        ("extreme student, k = V", huge_s, TeacherTargets.topk(teacher, 6)),
    ]


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_values_and_gradients_stay_finite(kind) -> None:
    for name, logits, targets in edge_cases():
        student = logits.clone().requires_grad_(True)
        value = kd_loss(student, targets, 1.5, kind, 0.3)
        assert torch.isfinite(value).all() and (value >= -1e-5).all(), (kind, name)
        value.sum().backward()
        assert student.grad is not None and torch.isfinite(student.grad).all(), (kind, name)


def test_reverse_kl_floors_a_zero_teacher_probability() -> None:
    # the student puts mass where the teacher has none: a large finite cost, not +inf
    teacher = torch.tensor([[0.0, -INF]])
    student = torch.tensor([[0.0, 0.0]])
    value = reverse_kl(student, TeacherTargets.full(teacher)).item()
    floor = math.log(torch.finfo(torch.float32).tiny)
    assert value == pytest.approx(0.5 * math.log(0.5) + 0.5 * (math.log(0.5) - floor), rel=1e-5)


# ---- forward KL unchanged -------------------------------------------------------------------


def old_kd_loss(student_logits, teacher: TeacherTargets, temperature: float = 1.0):
    """`kd_loss` as it was before divergences were selectable (forward KL only)."""
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    if teacher.indices is None:
        p = teacher.logprobs.exp()
        return (p * (teacher.logprobs - log_q)).sum(-1) * temperature**2
    log_q_top = log_q.gather(-1, teacher.indices)
    p_top = teacher.logprobs.exp()
    kl = (p_top * (teacher.logprobs - log_q_top)).sum(-1)
    rest_p = teacher.rest_logprob.exp()
    rest_term = rest_p * (teacher.rest_logprob - rest_logprob(log_q, teacher.indices))
    kl = kl + torch.where(rest_p > 0, rest_term, torch.zeros_like(rest_term))
    return kl * temperature**2


@settings(max_examples=20, deadline=None)
@given(**logit_cases, k=st.integers(1, 24))
def test_forward_kl_is_bitwise_the_old_kd_loss(vocab, rows, temperature, beta, seed, k) -> None:
    student, teacher = random_logits(vocab, rows, seed)
    for targets in (
        TeacherTargets.full(teacher, temperature),
        TeacherTargets.topk(teacher, min(k, vocab), temperature),
    ):
        new = kd_loss(student, targets, temperature)
        assert torch.equal(new, old_kd_loss(student, targets, temperature))
        assert torch.equal(new, kd_loss(student, targets, temperature, "forward_kl", beta))


# ---- per span -------------------------------------------------------------------------------


def test_span_kd_loss_picks_each_positions_divergence_by_its_label() -> None:
    logits, teacher = random_logits(9, 6, seed=3)
    kinds = torch.tensor([R, A, A, R, A, R])
    for targets in (TeacherTargets.full(teacher), TeacherTargets.topk(teacher, 3)):
        student = logits.clone().requires_grad_(True)
        got = span_kd_loss(student, targets, kinds, {R: "reverse_kl", A: "jsd"}, 2.0, 0.3)
        is_r = kinds == R
        want = torch.empty(6)
        want[is_r] = kd_loss(logits[is_r], targets.select(is_r), 2.0, "reverse_kl")
        want[~is_r] = kd_loss(logits[~is_r], targets.select(~is_r), 2.0, "jsd", 0.3)
        assert torch.allclose(got, want, atol=1e-6)
        got.sum().backward()  # every position's row gets its gradient
        assert (student.grad.abs().sum(-1) > 0).all()
    with pytest.raises(ValueError, match="OBS"):
        span_kd_loss(
            logits[:2], TeacherTargets.full(teacher[:2]), torch.tensor([R, OB]), {R: "jsd"}
        )


def test_divergence_settings_need_a_kl_method() -> None:
    for method in ("seqkd", "seqkd_span"):
        DistillConfig(method=method)  # the defaults are fine
        with pytest.raises(ValidationError, match=r"divergence\.reason=reverse_kl"):
            DistillConfig(method=method, divergence=DivergenceConfig(reason="reverse_kl"))
        with pytest.raises(ValidationError, match=r"divergence\.jsd_beta=0\.2"):
            DistillConfig(method=method, divergence={"jsd_beta": 0.2})


def test_an_experiments_shared_divergence_reaches_its_kl_students_only() -> None:
    from agentdistill.experiment import ExperimentConfig

    config = ExperimentConfig(distill={"divergence": {"reason": "reverse_kl"}})
    # the shared settings are not refused for seqkd: its students ignore them, identity too
    assert config.student_config("seqkd", 0).divergence.in_effect("seqkd") is None
    assert config.student_config("sad", 0).divergence.reason == "reverse_kl"


def test_run_identity_records_only_the_divergences_a_method_reads() -> None:
    chosen = DivergenceConfig(reason="reverse_kl", flat="jsd", jsd_beta=0.2)
    assert DivergenceConfig().in_effect("sad") is None  # old runs keep their identity
    assert chosen.in_effect("sad") == {"reason": "reverse_kl", "act": "forward_kl"}
    assert chosen.in_effect("token_kd") == {"flat": "jsd", "jsd_beta": 0.2}
    assert chosen.in_effect("seqkd") is None
    assert DivergenceConfig(flat="reverse_kl").in_effect("sad_act_only") is None


# ---- through the trainer's loss --------------------------------------------------------------


FORMAT = FormatConfig(name="alfworld")


@pytest.fixture(scope="module")
def models_and_batch(expert_train, alfworld_tokenizer):
    segs, _ = segment_all(expert_train[:3], alfworld_tokenizer, FORMAT, 4096)

    def model(preset, seed):
        vocab, pad = len(alfworld_tokenizer), alfworld_tokenizer.pad_token_id
        return build_model(preset, vocab_size=vocab, seed=seed, pad_token_id=pad).eval()

    batch = collate(segs, pad_id=alfworld_tokenizer.pad_token_id)
    return segs, model("student-10x", 3), model("student-30x", 0), batch


def test_trainer_loss_combines_per_span_divergences(models_and_batch, tmp_path) -> None:
    segs, teacher, student, batch = models_and_batch
    config = DistillConfig(
        method="sad", temperature=2.0, divergence=DivergenceConfig(reason="reverse_kl")
    )
    online, parts = loss_fn_for(config, teacher, None)(student, batch)
    with torch.no_grad():
        inputs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        s_logits, t_logits = student(**inputs).logits[:, :-1], teacher(**inputs).logits[:, :-1]
    at = batch.trained_mask
    kinds = batch.target_kinds[at]
    targets = TeacherTargets.full(t_logits[at], 2.0)
    is_r, is_a = kinds == R, kinds == A
    reason = 4.0 * reverse_kl(s_logits[at][is_r], targets.select(is_r), 2.0)
    act = 4.0 * forward_kl(s_logits[at][is_a], targets.select(is_a), 2.0)
    assert online.item() == pytest.approx((reason.mean() + act.mean()).item(), rel=1e-4)
    assert parts["reason"][0] == pytest.approx(reason.sum().item(), rel=1e-4)
    assert parts["act"][0] == pytest.approx(act.sum().item(), rel=1e-4)
    # the paper's default differs on the REASON span only
    _, default_parts = loss_fn_for(DistillConfig(method="sad", temperature=2.0), teacher)(
        student, batch
    )
    assert default_parts["act"][0] == pytest.approx(parts["act"][0], rel=1e-5)
    # (close to uniform, the two KLs agree to second order: a fine tolerance tells them apart)
    assert default_parts["reason"][0] != pytest.approx(parts["reason"][0], rel=1e-5)
    # the cache, with k covering the vocabulary, gives the same objective
    vocab = teacher.get_output_embeddings().weight.shape[0]
    cache = build_teacher_cache(
        teacher, segs, tmp_path / "c", k=vocab, temperature=2.0, show_progress=False
    )
    cached, _ = loss_fn_for(config, None, cache)(student, batch)
    assert cached.item() == pytest.approx(online.item(), rel=1e-4)


def test_token_kd_uses_the_flat_divergence_at_every_target(models_and_batch) -> None:
    _, teacher, student, batch = models_and_batch
    config = DistillConfig(
        method="token_kd", divergence=DivergenceConfig(flat="jsd", jsd_beta=0.2, reason="jsd")
    )
    loss, _ = loss_fn_for(config, teacher, None)(student, batch)
    with torch.no_grad():
        inputs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        s_logits, t_logits = student(**inputs).logits[:, :-1], teacher(**inputs).logits[:, :-1]
    at = batch.target_mask
    assert (batch.target_kinds[at] == OB).any()  # observations are trained too
    want = jsd(s_logits[at], TeacherTargets.full(t_logits[at]), beta=0.2).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-4)
