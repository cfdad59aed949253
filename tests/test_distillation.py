import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import LlamaForCausalLM

from agentdistill.config import FormatConfig
from agentdistill.distillation.losses import (
    CE_METHODS,
    METHODS,
    TeacherTargets,
    combine_span_losses,
    forward_kl,
    kd_loss,
    loss_mask,
)
from agentdistill.distillation.teacher_cache import (
    TeacherCache,
    build_teacher_cache,
    fingerprint,
)
from agentdistill.distillation.trainer import (
    DistillConfig,
    VocabularyMismatchError,
    check_shared_vocabulary,
    curriculum_order,
    distill,
    loss_fn_for,
)
from agentdistill.formats import SpanLabel, get_format
from agentdistill.models import build_model, count_parameters
from agentdistill.segmentation import Batch, Segmentation, collate
from agentdistill.tokenizer import save_tokenizer, train_byte_level_bpe
from agentdistill.training import TrainConfig, segment_all, span_losses, train_lm

FMT = get_format("alfworld")
R, A, OB, P = SpanLabel.REASON, SpanLabel.ACT, SpanLabel.OBS, SpanLabel.PROMPT
FORMAT = FormatConfig(name="alfworld")


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
    assert parts == {"reason": (4.0, 2), "act": (10.0, 1), "other": (0.0, 0)}
    summed, _ = combine_span_losses(losses, kinds, "sad", 1.0, 0.5, span_normalize=False)
    assert summed.item() == pytest.approx((4.0 + 5.0) / 3)
    only_r, _ = combine_span_losses(losses, kinds, "sad_reason_only")
    assert only_r.item() == pytest.approx(2.0)
    flat, flat_parts = combine_span_losses(
        torch.tensor([1.0, 3.0, 10.0, 6.0]), torch.tensor([R, R, A, OB]), "token_kd"
    )
    assert flat.item() == pytest.approx(20.0 / 4)
    assert flat_parts["other"] == (6.0, 1)  # the flat baseline's OBS/PROMPT positions


def test_seqkd_span_differs_from_seqkd_only_by_the_normalisation() -> None:
    """Same per-position cross-entropies: seqkd averages them all, seqkd_span like sad."""
    assert "seqkd_span" in METHODS
    losses = torch.tensor([1.0, 3.0, 2.0, 10.0])
    kinds = torch.tensor([R, R, R, A])
    flat, _ = combine_span_losses(losses, kinds, "seqkd", lambda_reason=2.0, lambda_act=0.5)
    assert flat.item() == pytest.approx(16.0 / 4)  # lambdas do not apply to seqkd
    span, _ = combine_span_losses(losses, kinds, "seqkd_span", lambda_reason=2.0, lambda_act=0.5)
    assert span.item() == pytest.approx(2.0 * 2.0 + 0.5 * 10.0)
    # exactly sad's combination of the same numbers
    sad, _ = combine_span_losses(losses, kinds, "sad", lambda_reason=2.0, lambda_act=0.5)
    assert span.item() == sad.item()
    unnormalised, _ = combine_span_losses(losses, kinds, "seqkd_span", span_normalize=False)
    assert unnormalised.item() == pytest.approx(flat.item())  # lambdas 1, no normalisation


def _grad_at_positions(method: str, labels: torch.Tensor) -> torch.Tensor:
    """|d loss / d student logits| per position, for a batch with the given span labels."""
    torch.manual_seed(0)
    vocab = 11
    logits = torch.randn(1, labels.shape[1], vocab, requires_grad=True)
    teacher = torch.randn(1, labels.shape[1], vocab)
    ids = torch.randint(0, vocab, labels.shape)
    batch = Batch.from_tensors(ids, torch.ones_like(labels), labels)
    positions = loss_mask(batch, method)
    student = logits[:, :-1][positions]  # position t predicts token t+1
    if method in CE_METHODS:
        per_position = torch.nn.functional.cross_entropy(
            student, batch.target_ids[positions], reduction="none"
        )
    else:
        per_position = forward_kl(student, TeacherTargets.full(teacher[:, :-1][positions]))
    loss, _ = combine_span_losses(per_position, batch.target_kinds[positions], method)
    loss.backward()
    return logits.grad.abs().sum(-1)[0, :-1]


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
    # the hard-label methods, per-span normalised or not, stay silent there too
    for method in CE_METHODS:
        grad = _grad_at_positions(method, labels)
        assert (grad[silent] == 0).all() and (grad[~silent] > 0).all(), method


def test_unknown_method_is_refused() -> None:
    batch = Batch.from_tensors(
        torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3), torch.zeros(1, 3)
    )
    with pytest.raises(ValueError, match="unknown distillation method"):
        loss_mask(batch, "magic")
    with pytest.raises(ValueError, match="unknown distillation method"):
        combine_span_losses(torch.ones(2), torch.tensor([R, A]), "magic")


# ---- the teacher cache ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def segs(expert_train, alfworld_tokenizer):
    segmented, _ = segment_all(
        expert_train[:6], alfworld_tokenizer, FORMAT, train_config().max_length
    )
    return segmented


def test_cache_equals_online_when_k_covers_the_vocabulary(
    tmp_path, segs, expert_train, alfworld_tokenizer
) -> None:
    vocab = len(alfworld_tokenizer)
    teacher = model_for(alfworld_tokenizer, "student-10x", seed=3).eval()
    student = model_for(alfworld_tokenizer)
    cache = build_teacher_cache(teacher, segs, tmp_path / "c", k=vocab, show_progress=False)
    assert cache.k == vocab and cache.meta["positions"] == sum(len(s) - 1 for s in segs)
    batch = collate(segs[:3], pad_id=alfworld_tokenizer.pad_token_id, sequence_index=[0, 1, 2])
    for method in ("sad", "token_kd", "sad_act_only"):
        config = DistillConfig(method=method)
        cached, cached_parts = loss_fn_for(config, None, cache)(student, batch)
        online, online_parts = loss_fn_for(config, teacher, None)(student, batch)
        assert cached.item() == pytest.approx(online.item(), rel=1e-4), method
        assert cached_parts["act"][1] == online_parts["act"][1]
    # a small k stays close (it is a lower bound of the exact KL)
    small = build_teacher_cache(teacher, segs, tmp_path / "s", k=8, show_progress=False)
    approx, _ = loss_fn_for(DistillConfig(method="sad"), None, small)(student, batch)
    exact, _ = loss_fn_for(DistillConfig(method="sad"), teacher, None)(student, batch)
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
    straight = distill(config, teacher_dir, data, tmp_path / "a", show_progress=False, fmt=FORMAT)
    history = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(h["reason_loss"] > 0 and h["act_loss"] > 0 for h in history)
    assert straight.compression == pytest.approx(
        straight.teacher_parameters / straight.student_parameters
    )
    assert (tmp_path / "a" / "teacher_cache").exists() == (method == "sad")
    # the run dies at its 5th loss call (after the step-4 checkpoint); a rerun resumes
    import agentdistill.distillation.trainer as trainer

    name = "span_losses" if method == "seqkd" else "span_kd_loss"
    real, calls = getattr(trainer, name), {"n": 0}

    def crash_at_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, name, crash_at_five)
    with pytest.raises(KeyboardInterrupt):
        distill(config, teacher_dir, data, tmp_path / "b", show_progress=False, fmt=FORMAT)
    monkeypatch.setattr(trainer, name, real)
    resumed = distill(config, teacher_dir, data, tmp_path / "b", show_progress=False, fmt=FORMAT)
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


# ---- one Batch, read by every loss and the cache -----------------------------------------


def test_losses_read_their_positions_from_the_batch(segs, alfworld_tokenizer, tmp_path) -> None:
    """Narrowing the batch's masks narrows every loss: none recomputes the shift itself."""
    teacher = model_for(alfworld_tokenizer, "student-10x", seed=3).eval()
    student = model_for(alfworld_tokenizer)
    cache = build_teacher_cache(teacher, segs[:2], tmp_path / "c", k=4, show_progress=False)
    batch = collate(segs[:2], pad_id=alfworld_tokenizer.pad_token_id)
    keep = torch.zeros_like(batch.trained_mask)
    keep[0, torch.nonzero(batch.trained_mask[0])[:3, 0]] = True  # three REASON/ACT targets
    narrow = dataclasses.replace(batch, trained_mask=keep, target_mask=keep)
    for method in ("sad", "token_kd", "seqkd", "seqkd_span"):
        for source in (cache, None):
            loss_fn = loss_fn_for(DistillConfig(method=method), teacher, source)
            _, parts = loss_fn(student, narrow)
            assert sum(count for _, count in parts.values()) == 3, (method, source)


def test_teacher_cache_and_training_share_one_length_bucketing(
    tmp_path, monkeypatch, segs, expert_train, alfworld_tokenizer
) -> None:
    import agentdistill.distillation.teacher_cache as teacher_cache
    import agentdistill.training as training

    calls: list[tuple[str, list[list[int]]]] = []
    real = training.length_batches

    def spy(name):
        def bucket(lengths, batch_tokens, order=None):
            batches = real(lengths, batch_tokens, order)
            calls.append((name, batches))
            return batches

        return bucket

    monkeypatch.setattr(teacher_cache, "length_batches", spy("cache"))
    monkeypatch.setattr(training, "length_batches", spy("train"))
    teacher = model_for(alfworld_tokenizer, seed=4).eval()
    rows: list[int] = []
    teacher.register_forward_hook(
        lambda module, args, kwargs, out: rows.append(len(out.logits)), with_kwargs=True
    )
    build_teacher_cache(teacher, segs, tmp_path / "c", k=4, batch_tokens=2048, show_progress=False)
    assert calls[0][0] == "cache" and rows == [len(b) for b in calls[0][1]]
    train_lm(
        model_for(alfworld_tokenizer),
        alfworld_tokenizer,
        expert_train[:6],
        train_config(max_steps=1),
        tmp_path / "t",
        show_progress=False,
        fmt=FORMAT,
    )
    assert {name for name, _ in calls} == {"cache", "train"}


# ---- temperature, the logged objective, seqkd_span -----------------------------------------


def test_kd_loss_is_t_squared_times_the_kl() -> None:
    gen = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    targets = TeacherTargets.full(teacher, 2.0)
    assert torch.allclose(kd_loss(student, targets, 2.0), 4.0 * forward_kl(student, targets, 2.0))
    assert torch.equal(
        kd_loss(student, TeacherTargets.full(teacher), 1.0),
        forward_kl(student, TeacherTargets.full(teacher)),
    )

    # Hinton's reason: with T^2 the gradient magnitude does not shrink as 1/T^2
    def grad_norm(temperature: float, scaled: bool) -> float:
        logits = (0.1 * student).requires_grad_(True)  # small logits: the high-T regime
        target = TeacherTargets.full(0.1 * teacher, temperature)
        loss = (
            kd_loss(logits, target, temperature)
            if scaled
            else forward_kl(logits, target, temperature)
        )
        loss.sum().backward()
        return float(logits.grad.norm())

    base = grad_norm(1.0, True)
    for temperature in (2.0, 4.0):
        assert grad_norm(temperature, True) == pytest.approx(base, rel=0.05)
        unscaled = grad_norm(temperature, False)
        assert unscaled == pytest.approx(base / temperature**2, rel=0.05)


def test_distillation_temperature_scales_the_objective(segs, alfworld_tokenizer, tmp_path) -> None:
    teacher = model_for(alfworld_tokenizer, "student-10x", seed=3).eval()
    student = model_for(alfworld_tokenizer)
    batch = collate(segs[:2], pad_id=alfworld_tokenizer.pad_token_id)
    config = DistillConfig(method="sad", temperature=2.0)
    loss, _ = loss_fn_for(config, teacher, None)(student, batch)
    with torch.no_grad():
        s_logits = student(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        t_logits = teacher(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    at = batch.trained_mask
    kl = forward_kl(s_logits[:, :-1][at], TeacherTargets.full(t_logits[:, :-1][at], 2.0), 2.0)
    kinds = batch.target_kinds[at]
    expected = 4.0 * (kl[kinds == R].mean() + kl[kinds == A].mean())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    # the cache, built at the same temperature, gives the same objective
    vocab = len(alfworld_tokenizer)
    cache = build_teacher_cache(
        teacher, segs[:2], tmp_path / "c", k=vocab, temperature=2.0, show_progress=False
    )
    cached, _ = loss_fn_for(config, None, cache)(student, batch)
    assert cached.item() == pytest.approx(loss.item(), rel=1e-4)


@pytest.mark.parametrize("method", ["sad", "token_kd"])
def test_logged_loss_is_the_backpropagated_objective(
    tmp_path, method, teacher_dir, expert_train, alfworld_tokenizer
) -> None:
    from agentdistill.models import load_model

    teacher = load_model(teacher_dir).eval()
    config = DistillConfig(method=method, lambda_reason=2.0, lambda_act=0.5)
    inner = loss_fn_for(config, teacher, None)
    seen: list[tuple[float, dict]] = []

    def recorded(model, batch):
        loss, parts = inner(model, batch)
        seen.append((loss.item(), parts))
        return loss, parts

    summary = train_lm(
        model_for(alfworld_tokenizer),
        alfworld_tokenizer,
        expert_train[:24],
        train_config(log_every=2, max_steps=4),
        tmp_path,
        loss_fn=recorded,
        show_progress=False,
        fmt=FORMAT,
    )
    history = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4] and len(seen) == 4
    for line, window in zip(history, (seen[:2], seen[2:]), strict=True):
        assert line["loss"] == pytest.approx(sum(v for v, _ in window) / 2, rel=1e-6)
        for name in ("reason", "act"):
            total = sum(parts[name][0] for _, parts in window)
            count = sum(parts[name][1] for _, parts in window)
            assert line[f"{name}_loss"] == pytest.approx(total / count, rel=1e-6)
        # with lambda_r=2, lambda_a=0.5 the objective is not the R+A token mean
        flat = sum(p["reason"][0] + p["act"][0] for _, p in window) / sum(
            p["reason"][1] + p["act"][1] for _, p in window
        )
        assert line["loss"] != pytest.approx(flat, rel=1e-3)
        assert ("other_loss" in line) == (method == "token_kd")
    assert summary.final_loss == history[-1]["loss"]
    assert summary.final_reason_loss == history[-1]["reason_loss"]
    if method == "token_kd":
        assert summary.final_other_loss == history[-1]["other_loss"] > 0
    else:
        assert summary.final_other_loss is None


def test_seqkd_span_on_a_model_by_hand(segs, alfworld_tokenizer) -> None:
    student = model_for(alfworld_tokenizer)
    batch = collate(segs[:3], pad_id=alfworld_tokenizer.pad_token_id)
    config = DistillConfig(method="seqkd_span", lambda_reason=1.5, lambda_act=0.25)
    span, parts = loss_fn_for(config)(student, batch)
    flat, flat_parts = loss_fn_for(DistillConfig(method="seqkd"))(student, batch)
    with torch.no_grad():
        logits = student(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    at = batch.trained_mask
    ce = torch.nn.functional.cross_entropy(
        logits[:, :-1][at], batch.target_ids[at], reduction="none"
    )
    kinds = batch.target_kinds[at]
    by_hand = 1.5 * ce[kinds == R].mean() + 0.25 * ce[kinds == A].mean()
    assert span.item() == pytest.approx(by_hand.item(), rel=1e-4)
    assert flat.item() == pytest.approx(ce.mean().item(), rel=1e-4)
    for name in ("reason", "act"):  # same per-position losses, other weighting
        assert parts[name][1] == flat_parts[name][1]
        assert parts[name][0] == pytest.approx(flat_parts[name][0], rel=1e-5)


def test_distill_runs_seqkd_span_without_a_teacher_cache(tmp_path, teacher_dir, expert_train):
    config = DistillConfig(
        method="seqkd_span", student="student-30x", train=train_config(max_steps=2)
    )
    summary = distill(
        config, teacher_dir, expert_train[:8], tmp_path, show_progress=False, fmt=FORMAT
    )
    assert summary.method == "seqkd_span" and summary.train.steps == 2
    assert not (tmp_path / "teacher_cache").exists()
    assert math.isfinite(summary.train.final_loss)


# ---- logits through the model's own output path ------------------------------------------


def soft_capped_student(tokenizer, cap: float = 0.5):
    """A tiny Gemma-2, whose forward soft-caps its logits to (-cap, cap)."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    return Gemma2ForCausalLM(
        Gemma2Config(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            query_pre_attn_scalar=16,
            final_logit_softcapping=cap,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


class ScaledLogitsLlama(LlamaForCausalLM):
    """A Llama that scales its logits (Cohere style) and keeps logits by columns only."""

    def forward(self, *args, logits_to_keep=0, **kwargs):
        if isinstance(logits_to_keep, torch.Tensor) and logits_to_keep.dim() == 2:
            raise IndexError("this forward indexes the sequence axis only")
        out = super().forward(*args, logits_to_keep=logits_to_keep, **kwargs)
        out.logits = out.logits * 4.0
        return out


def _bypassed_logits(model, batch, positions):
    """The old path: decoder, then the output layer, skipping the forward's post-processing."""
    hidden = model.get_decoder()(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask
    ).last_hidden_state
    return model.get_output_embeddings()(hidden[:, :-1][positions])


@pytest.mark.parametrize("kind", ["gemma2_softcap", "scaled_llama"])
def test_student_logits_come_from_the_models_forward(kind, segs, alfworld_tokenizer) -> None:
    if kind == "gemma2_softcap":
        student = soft_capped_student(alfworld_tokenizer)
    else:
        student = ScaledLogitsLlama(model_for(alfworld_tokenizer).config)
    teacher = model_for(alfworld_tokenizer, "student-10x", seed=3).eval()
    batch = collate(segs[:3], pad_id=alfworld_tokenizer.pad_token_id)
    with torch.no_grad():
        full = student(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        t_full = teacher(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    at = batch.trained_mask
    if kind == "gemma2_softcap":
        assert full.abs().max() < 0.5  # the forward did cap
    processed = full[:, :-1][at]
    bypassed = _bypassed_logits(student, batch, at).detach()
    assert not torch.allclose(processed, bypassed, atol=1e-3)
    kinds = batch.target_kinds[at]
    # seqkd: cross-entropy on the processed logits
    ce = torch.nn.functional.cross_entropy(processed, batch.target_ids[at])
    loss, _ = span_losses(student, batch)
    assert loss.item() == pytest.approx(ce.item(), rel=1e-4)
    # sad: the KL of the processed logits
    kl = forward_kl(processed, TeacherTargets.full(t_full[:, :-1][at]))
    expected = kl[kinds == R].mean() + kl[kinds == A].mean()
    sad, _ = loss_fn_for(DistillConfig(method="sad"), teacher, None)(student, batch)
    assert sad.item() == pytest.approx(expected.item(), rel=1e-4)
    old = forward_kl(bypassed, TeacherTargets.full(t_full[:, :-1][at]))
    assert sad.item() != pytest.approx((old[kinds == R].mean() + old[kinds == A].mean()).item())
    # the gradient flows through the forward
    sad.backward()
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)


# ---- the cache's fingerprint ---------------------------------------------------------------


def _relabelled(segs, old: SpanLabel, new: SpanLabel) -> list[Segmentation]:
    return [
        Segmentation(
            s.text,
            s.input_ids,
            np.where(s.labels == old, new, s.labels).astype(np.int8),
            s.offsets,
            s.steps,
        )
        for s in segs
    ]


def test_bf16_teacher_builds_a_cache_and_labels_make_it_stale(
    tmp_path, segs, alfworld_tokenizer
) -> None:
    teacher = model_for(alfworld_tokenizer, seed=4).to(torch.bfloat16).eval()
    cache = build_teacher_cache(teacher, segs[:3], tmp_path / "c", k=4, show_progress=False)
    assert cache.meta["positions"] == sum(len(s) - 1 for s in segs[:3])
    assert np.isfinite(np.asarray(cache.logprobs)).all()
    assert fingerprint(teacher, segs[:3], 4, 1.0) == cache.meta["fingerprint"]
    # the same tokens, one step's thought no longer imitated: the labels alone changed
    relabelled = _relabelled(segs[:3], SpanLabel.REASON, SpanLabel.PROMPT)
    assert fingerprint(teacher, relabelled, 4, 1.0) != cache.meta["fingerprint"]
    rebuilt = build_teacher_cache(teacher, relabelled, tmp_path / "c", k=4, show_progress=False)
    assert rebuilt.meta["fingerprint"] != cache.meta["fingerprint"]
    assert not np.array_equal(np.asarray(rebuilt.entropy), np.asarray(cache.entropy))
    # weights in another dtype give other logits: another cache
    assert fingerprint(teacher.float(), segs[:3], 4, 1.0) != cache.meta["fingerprint"]


def test_fingerprint_of_a_teacher_loaded_from_a_folder_hashes_its_files(
    tmp_path, segs, alfworld_tokenizer, monkeypatch
) -> None:
    from agentdistill.models import load_model

    folder = tmp_path / "teacher"
    model_for(alfworld_tokenizer, seed=4).to(torch.bfloat16).save_pretrained(folder)
    teacher = load_model(folder)
    assert teacher.dtype == torch.bfloat16
    key = fingerprint(teacher, segs[:2], 4, 1.0)
    # the files, not the tensors, are hashed
    again = load_model(folder)
    monkeypatch.setattr(again, "state_dict", lambda: pytest.fail("state dict hashed"))
    assert fingerprint(again, segs[:2], 4, 1.0) == key
    model_for(alfworld_tokenizer, seed=5).to(torch.bfloat16).save_pretrained(folder)
    assert fingerprint(load_model(folder), segs[:2], 4, 1.0) != key
