import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.config import FormatConfig
from agentdistill.distillation.losses import (
    TeacherTargets,
    combine_span_losses,
    forward_kl,
    loss_positions,
)
from agentdistill.distillation.teacher_cache import TeacherCache, build_teacher_cache
from agentdistill.distillation.trainer import (
    DistillConfig,
    VocabularyMismatchError,
    check_shared_vocabulary,
    curriculum_order,
    distill,
    kd_loss_fn,
)
from agentdistill.formats import SpanLabel, get_format
from agentdistill.models import build_model, count_parameters
from agentdistill.segmentation import collate
from agentdistill.tokenizer import save_tokenizer, train_byte_level_bpe
from agentdistill.training import TrainConfig, segment_all

FMT = get_format("alfworld")
R, A, OB, P = SpanLabel.REASON, SpanLabel.ACT, SpanLabel.OBS, SpanLabel.PROMPT


def model_for(tokenizer, preset="student-30x", seed=0):
    return build_model(
        preset, vocab_size=len(tokenizer), seed=seed, pad_token_id=tokenizer.pad_token_id
    )


def train_config(**changes) -> TrainConfig:
    base = dict(
        epochs=2,
        batch_tokens=4096,
        lr=3e-3,
        save_every=2,
        log_every=1,
        seed=1,
        format=FormatConfig(name="alfworld"),
    )
    return TrainConfig(**{**base, **changes})


# ---- losses on hand-computed distributions ------------------------------------------------


def test_forward_kl_matches_hand_computation() -> None:
    p = torch.tensor([[0.5, 0.5, 0.0 + 1e-30]])
    q = torch.tensor([[0.25, 0.75, 1e-30]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    kl = forward_kl(q.log(), TeacherTargets(p.log()))
    assert kl.item() == pytest.approx(expected, abs=1e-6)
    # teacher first: KL(p||q) != KL(q||p)
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert forward_kl(p.log(), TeacherTargets(q.log())).item() == pytest.approx(reverse, abs=1e-6)


def test_topk_with_rest_bucket_by_hand() -> None:
    # teacher (0.6, 0.3, 0.1), student (0.2, 0.5, 0.3); k=1 keeps token 0, rest = {1, 2}
    p = torch.tensor([[0.6, 0.3, 0.1]])
    q = torch.tensor([[0.2, 0.5, 0.3]])
    targets = TeacherTargets.topk(p.log(), k=1)
    assert targets.indices.tolist() == [[0]]
    assert targets.rest_logprob.exp().item() == pytest.approx(0.4)
    expected = 0.6 * math.log(0.6 / 0.2) + 0.4 * math.log(0.4 / 0.8)
    assert forward_kl(q.log(), targets).item() == pytest.approx(expected, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 40),
    st.integers(1, 6),
    st.floats(0.5, 3.0),
    st.integers(0, 2**31 - 1),
)
def test_topk_equals_full_when_k_covers_the_vocabulary(vocab, rows, temperature, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    teacher = torch.randn(rows, vocab, generator=gen) * 3
    student = torch.randn(rows, vocab, generator=gen) * 3
    full = forward_kl(student, TeacherTargets.full(teacher, temperature), temperature)
    covered = forward_kl(student, TeacherTargets.topk(teacher, vocab, temperature), temperature)
    assert torch.allclose(full, covered, atol=1e-5)
    assert (full >= -1e-6).all()
    # fewer entries: the merged bucket never increases the divergence
    partial = forward_kl(student, TeacherTargets.topk(teacher, 1, temperature), temperature)
    assert (partial <= full + 1e-5).all()


def test_span_normalised_combination_by_hand() -> None:
    losses = torch.tensor([1.0, 3.0, 10.0])
    kinds = torch.tensor([R, R, A])
    loss, parts = combine_span_losses(losses, kinds, "sad", lambda_reason=1.0, lambda_act=0.5)
    assert loss.item() == pytest.approx(2.0 + 5.0)  # mean(R) + 0.5 * mean(A)
    assert parts == {"reason": (4.0, 2), "act": (10.0, 1)}
    summed, _ = combine_span_losses(losses, kinds, "sad", 1.0, 0.5, span_normalize=False)
    assert summed.item() == pytest.approx((4.0 + 5.0) / 3)
    only_r, _ = combine_span_losses(losses, kinds, "sad_reason_only")
    assert only_r.item() == pytest.approx(2.0)
    flat, _ = combine_span_losses(losses, kinds, "token_kd")
    assert flat.item() == pytest.approx(14.0 / 3)


def _grad_at_positions(method: str, labels: torch.Tensor) -> torch.Tensor:
    """|d loss / d student logits| per position, for a batch with the given span labels."""
    torch.manual_seed(0)
    vocab = 11
    logits = torch.randn(1, labels.shape[1], vocab, requires_grad=True)
    teacher = torch.randn(1, labels.shape[1], vocab)
    mask = torch.ones_like(labels)
    positions = loss_positions(labels, mask, method)
    kl = forward_kl(logits[:, :-1][positions], TeacherTargets.full(teacher[:, :-1][positions]))
    loss, _ = combine_span_losses(kl, labels[:, 1:][positions], method)
    loss.backward()
    return logits.grad.abs().sum(-1)[0, :-1]  # position t predicts token t+1


def test_sad_gradients_are_zero_at_obs_and_prompt_positions() -> None:
    labels = torch.tensor([[P, P, R, R, A, A, OB, OB, R, A, OB, P]])
    following = labels[0, 1:]
    grad = _grad_at_positions("sad", labels)
    silent = (following == OB) | (following == P)
    assert (grad[silent] == 0).all()
    assert (grad[~silent] > 0).all()
    # the ablations silence the other span too
    reason_only = _grad_at_positions("sad_reason_only", labels)
    assert (reason_only[following != R] == 0).all() and (reason_only[following == R] > 0).all()
    act_only = _grad_at_positions("sad_act_only", labels)
    assert (act_only[following != A] == 0).all() and (act_only[following == A] > 0).all()
    # the flat baseline trains everywhere, observations included
    assert (_grad_at_positions("token_kd", labels) > 0).all()


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown distillation method"):
        loss_positions(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3), "magic")


# ---- the teacher cache ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def segs(expert_train, alfworld_tokenizer):
    segmented, _ = segment_all(expert_train[:6], alfworld_tokenizer, train_config())
    return segmented


def test_cache_equals_online_when_k_covers_the_vocabulary(
    tmp_path, segs, expert_train, alfworld_tokenizer
) -> None:
    vocab = len(alfworld_tokenizer)
    teacher = model_for(alfworld_tokenizer, "student-10x", seed=3).eval()
    student = model_for(alfworld_tokenizer)
    cache = build_teacher_cache(teacher, segs, tmp_path / "c", k=vocab, show_progress=False)
    assert cache.k == vocab and cache.meta["positions"] == sum(len(s) - 1 for s in segs)
    batch = collate(segs[:3], pad_id=alfworld_tokenizer.pad_token_id)
    batch["sequence_index"] = torch.tensor([0, 1, 2])
    for method in ("sad", "token_kd", "sad_act_only"):
        config = DistillConfig(method=method)
        cached, cached_parts = kd_loss_fn(config, teacher, cache)(student, batch)
        online, online_parts = kd_loss_fn(config, teacher, None)(student, batch)
        assert cached.item() == pytest.approx(online.item(), rel=1e-4), method
        assert cached_parts["act"][1] == online_parts["act"][1]
    # a small k stays close (it is a lower bound of the exact KL)
    small = build_teacher_cache(teacher, segs, tmp_path / "s", k=8, show_progress=False)
    approx, _ = kd_loss_fn(DistillConfig(method="sad"), teacher, small)(student, batch)
    exact, _ = kd_loss_fn(DistillConfig(method="sad"), teacher, None)(student, batch)
    assert approx.item() <= exact.item() + 1e-5


def test_cache_is_reused_and_rebuilt_when_stale(tmp_path, segs, alfworld_tokenizer) -> None:
    teacher = model_for(alfworld_tokenizer, seed=4).eval()
    first = build_teacher_cache(teacher, segs, tmp_path / "c", k=4, show_progress=False)
    stamp = (tmp_path / "c" / "indices.npy").stat().st_mtime_ns
    again = build_teacher_cache(teacher, segs, tmp_path / "c", k=4, show_progress=False)
    assert (tmp_path / "c" / "indices.npy").stat().st_mtime_ns == stamp
    assert np.array_equal(first.logprobs, again.logprobs)
    rebuilt = build_teacher_cache(teacher, segs[:3], tmp_path / "c", k=4, show_progress=False)
    assert rebuilt.meta["sequences"] == 3
    assert not (tmp_path / "c.tmp").exists()
    with pytest.raises(FileNotFoundError, match=r"meta\.json"):
        TeacherCache.load(tmp_path / "nothing")


# ---- vocabulary check, curriculum, end-to-end training -----------------------------------


def test_mismatched_vocabularies_fail_clearly(expert_train, alfworld_tokenizer) -> None:
    other = train_byte_level_bpe(
        [FMT.render_trajectory(t).text for t in expert_train[:10]], vocab_size=300
    )
    teacher, student = model_for(alfworld_tokenizer), model_for(other)
    with pytest.raises(VocabularyMismatchError, match="tokenizers differ"):
        check_shared_vocabulary(alfworld_tokenizer, other, teacher, student)
    check_shared_vocabulary(alfworld_tokenizer, alfworld_tokenizer, teacher, teacher)


def test_curriculum_puts_short_confident_trajectories_first(segs) -> None:
    entropy = np.zeros(len(segs))
    order = curriculum_order(segs, entropy, DistillConfig(curriculum=True))
    sizes = [s.counts()["REASON"] / 1 + s.counts()["ACT"] for s in segs]
    assert sorted(order) == list(range(len(segs)))
    assert sizes[order[0]] <= sizes[order[-1]]
    # a very uncertain teacher moves a trajectory to the end
    entropy[order[0]] = 100.0
    assert curriculum_order(segs, entropy, DistillConfig(curriculum=True))[-1] == order[0]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, alfworld_tokenizer):
    folder = tmp_path_factory.mktemp("teacher")
    model_for(alfworld_tokenizer, "student-10x", seed=7).save_pretrained(folder)
    save_tokenizer(alfworld_tokenizer, folder)
    return folder


@pytest.mark.parametrize("method", ["sad", "seqkd"])
def test_distill_trains_logs_spans_and_resumes(
    tmp_path, monkeypatch, method, teacher_dir, expert_train
):
    data = expert_train[:24]
    config = DistillConfig(method=method, student="student-30x", train=train_config())
    straight = distill(config, teacher_dir, data, tmp_path / "a", show_progress=False)
    history = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(h["reason_loss"] > 0 and h["act_loss"] > 0 for h in history)
    assert straight.compression == pytest.approx(
        straight.teacher_parameters / straight.student_parameters
    )
    assert (tmp_path / "a" / "teacher_cache").exists() == (method == "sad")
    # the run dies at its 5th loss call (after the step-4 checkpoint); a rerun resumes
    import agentdistill.distillation.trainer as trainer

    name = "span_losses" if method == "seqkd" else "forward_kl"
    real, calls = getattr(trainer, name), {"n": 0}

    def crash_at_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, name, crash_at_five)
    with pytest.raises(KeyboardInterrupt):
        distill(config, teacher_dir, data, tmp_path / "b", show_progress=False)
    monkeypatch.setattr(trainer, name, real)
    resumed = distill(config, teacher_dir, data, tmp_path / "b", show_progress=False)
    assert resumed.train.steps == straight.train.steps
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(straight.model_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(resumed.model_dir).state_dict()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    assert count_parameters(AutoModelForCausalLM.from_pretrained(straight.model_dir)) == (
        straight.student_parameters
    )


def test_segmentation_positions_line_up_with_the_cache(segs, alfworld_tokenizer, tmp_path):
    """Cache rows of a sequence are its positions in order: spot-check one by hand."""
    teacher = model_for(alfworld_tokenizer, seed=9).eval()
    cache = build_teacher_cache(teacher, segs[:2], tmp_path / "c", k=3, show_progress=False)
    seg = segs[1]
    with torch.no_grad():
        logits = teacher(input_ids=torch.from_numpy(seg.input_ids)[None]).logits[0, :-1]
    top = torch.topk(torch.log_softmax(logits, -1), 3, dim=-1)
    rows = slice(int(cache.starts[1]), int(cache.starts[2]))
    assert np.array_equal(np.asarray(cache.indices[rows]), top.indices.numpy())
    assert np.allclose(np.asarray(cache.logprobs[rows]), top.values.numpy(), atol=1e-5)
