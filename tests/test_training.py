import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from agentdistill.config import FormatConfig, load_config
from agentdistill.models import build_model
from agentdistill.task_data import load_tasks
from agentdistill.teacher import TeacherConfig, bootstrap_teacher
from agentdistill.training import TrainConfig, span_losses, train_lm

CONFIGS = Path(__file__).parents[1] / "configs"

FMT = FormatConfig(name="alfworld")


def config(**changes) -> TrainConfig:
    base = dict(
        epochs=2,
        batch_tokens=4096,
        lr=3e-3,
        save_every=2,
        log_every=1,
        seed=1,
    )
    return TrainConfig(**{**base, **changes})


def model_for(tokenizer):
    return build_model(
        "student-30x", vocab_size=len(tokenizer), seed=0, pad_token_id=tokenizer.pad_token_id
    )


def test_loss_goes_down_and_checkpoint_reloads(tmp_path, expert_train, alfworld_tokenizer) -> None:
    summary = train_lm(
        model_for(alfworld_tokenizer),
        alfworld_tokenizer,
        expert_train,
        config(),
        tmp_path,
        show_progress=False,
        fmt=FMT,
    )
    history = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < history[0]["loss"] - 1.0
    assert all(h["reason_loss"] > 0 and h["act_loss"] > 0 for h in history)
    reloaded = AutoModelForCausalLM.from_pretrained(summary.model_dir)
    ids = torch.tensor([[5, 6, 7]])
    trained = model_for(alfworld_tokenizer)
    trained.load_state_dict(reloaded.state_dict())
    with torch.no_grad():
        assert torch.allclose(reloaded(ids).logits, trained(ids).logits)
    assert summary.steps == history[-1]["step"] and summary.tokens_per_s > 0


def test_interrupted_run_resumes_exactly(tmp_path, expert_train, alfworld_tokenizer) -> None:
    data = expert_train[:32]
    straight = model_for(alfworld_tokenizer)
    train_lm(
        straight, alfworld_tokenizer, data, config(), tmp_path / "a", show_progress=False, fmt=FMT
    )

    calls = {"n": 0}

    def crash_at_five(model, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the run dies mid-way, after the step-4 checkpoint
        return span_losses(model, batch)

    interrupted = model_for(alfworld_tokenizer)
    with pytest.raises(KeyboardInterrupt):
        train_lm(
            interrupted,
            alfworld_tokenizer,
            data,
            config(),
            tmp_path / "b",
            loss_fn=crash_at_five,
            show_progress=False,
            fmt=FMT,
        )
    resumed = model_for(alfworld_tokenizer)  # a fresh process would start from scratch weights
    summary = train_lm(
        resumed, alfworld_tokenizer, data, config(), tmp_path / "b", show_progress=False, fmt=FMT
    )
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name
    assert summary.steps == json.loads((tmp_path / "a" / "train_summary.json").read_text())["steps"]


def test_rerun_of_a_finished_run_keeps_its_final_losses(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    """Resuming a run whose checkpoint is at the last step trains nothing and reports the
    losses the run last logged (not NaN/None)."""
    data = expert_train[:16]
    first = train_lm(
        model_for(alfworld_tokenizer), alfworld_tokenizer, data, config(), tmp_path,
        show_progress=False, fmt=FMT,
    )  # fmt: skip
    again = train_lm(
        model_for(alfworld_tokenizer), alfworld_tokenizer, data, config(), tmp_path,
        show_progress=False, fmt=FMT,
    )  # fmt: skip
    assert again.steps == first.steps
    assert first.final_loss is not None and math.isfinite(first.final_loss)
    assert (again.final_loss, again.final_reason_loss, again.final_act_loss) == (
        first.final_loss,
        first.final_reason_loss,
        first.final_act_loss,
    )
    written = json.loads((tmp_path / "train_summary.json").read_text())
    assert written["final_loss"] == first.final_loss


def test_losses_only_on_reason_and_act(expert_train, alfworld_tokenizer) -> None:
    from agentdistill.formats import get_format
    from agentdistill.segmentation import Batch, collate, segment_trajectory

    model = model_for(alfworld_tokenizer)
    seg = segment_trajectory(expert_train[0], alfworld_tokenizer, get_format("alfworld"))
    batch = collate([seg], pad_id=alfworld_tokenizer.pad_token_id)
    loss, parts = span_losses(model, batch)
    loss.backward()
    targets = batch.target_kinds[0]
    assert parts["reason"][1] == int((targets == 1).sum())
    assert parts["act"][1] == int((targets == 2).sum())
    assert parts["other"][1] == 0
    # changing an observation token that is never a target leaves the loss unchanged...
    obs = int(torch.nonzero(torch.from_numpy(seg.labels) == 3)[-1])
    assert obs == len(seg) - 1  # the last token is the final observation's newline
    ids = batch.input_ids.clone()
    ids[0, obs] = (ids[0, obs] + 1) % len(alfworld_tokenizer)
    labels = torch.from_numpy(seg.labels.astype("int64"))[None]
    changed = Batch.from_tensors(ids, batch.attention_mask, labels)
    with torch.no_grad():
        assert torch.allclose(span_losses(model, changed)[0], loss)


def test_teacher_config_hub_and_smoke_bootstrap(tmp_path) -> None:
    for path in sorted((CONFIGS / "teacher").glob("*.yaml")):
        load_config(TeacherConfig, path)  # every shipped profile validates
    smoke = load_config(
        TeacherConfig, CONFIGS / "teacher" / "smoke.yaml", ["train_tasks=24", "train.epochs=1"]
    )
    tasks = load_tasks("alfworld", "train", limit=24).tasks
    result = bootstrap_teacher(smoke, tmp_path, FMT, tasks=tasks)
    assert FormatConfig.recorded(result.model_dir) == FMT  # the model records its format
    assert result.expert_success_rate == 1.0 and result.expert_trajectories == 24
    assert (tmp_path / "tokenizer" / "tokenizer.json").exists()
    assert AutoModelForCausalLM.from_pretrained(result.model_dir) is not None
    assert json.loads((tmp_path / "teacher_summary.json").read_text())["parameters"] > 0


def test_noise_steps_are_context_not_targets(expert_train, alfworld_tokenizer) -> None:
    from agentdistill.formats import SpanLabel
    from agentdistill.training import segment_all

    trajectory = expert_train[0]
    noisy_step = trajectory.steps[1].model_copy(update={"imitate": False})
    noisy = trajectory.model_copy(
        update={"steps": [trajectory.steps[0], noisy_step, *trajectory.steps[2:]]}
    )
    cfg = config()
    (clean,), _ = segment_all([trajectory], alfworld_tokenizer, FMT, cfg.max_length)
    (masked,), _ = segment_all([noisy], alfworld_tokenizer, FMT, cfg.max_length)
    assert clean.input_ids.tolist() == masked.input_ids.tolist()  # same context
    step1 = masked.steps == 1
    assert not masked.mask(SpanLabel.REASON, SpanLabel.ACT)[step1].any()
    assert clean.mask(SpanLabel.ACT)[step1].any()
    other = ~step1
    assert (clean.labels[other] == masked.labels[other]).all()
