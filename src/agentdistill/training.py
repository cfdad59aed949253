"""Train a causal LM on segmented trajectories: loss on REASON and ACT tokens only.

This is how the offline teacher is bootstrapped from expert trajectories (and the `seqkd`
baseline of distillation: the same loss on teacher trajectories).

    summary = train_lm(model, tokenizer, trajectories, TrainConfig(...), out_dir)

Efficiency matters on a CPU: batches are built from trajectories of similar length (little
padding), and the output layer runs only at the positions that carry a loss. The run writes
`out_dir/checkpoint/` (an HF model folder plus `trainer_state.pt`) every `save_every` steps
and at the end, atomically; a run started again on the same folder resumes from it, exactly
(same batches, same optimizer state). The final model lands in `out_dir/model/`, and every
logged step in `out_dir/metrics.jsonl`.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import get_cosine_schedule_with_warmup
from transformers.utils import logging as hf_logging

from agentdistill.config import Config, FormatConfig
from agentdistill.formats import SpanLabel
from agentdistill.records import Trajectory
from agentdistill.segmentation import Segmentation, collate, segment_trajectory

log = logging.getLogger(__name__)


class TrainConfig(Config):
    """Optimisation settings (defaults follow the SAD paper where it gives them)."""

    epochs: float = Field(
        default=1.0, gt=0, description="Passes over the data (may be fractional)."
    )
    batch_tokens: int = Field(default=8192, gt=0, description="Tokens per batch (padded size).")
    max_length: int = Field(default=1024, gt=8, description="Longer sequences are cut.")
    lr: float = Field(default=2e-3, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(default=0.01, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(default=0.05, ge=0, le=1, description="Linear warm-up share.")
    grad_clip: float = Field(default=1.0, gt=0, description="Gradient norm clip.")
    seed: int = Field(default=0, description="Seed of initialisation order and batch order.")
    save_every: int = Field(default=200, gt=0, description="Checkpoint every N steps.")
    log_every: int = Field(default=10, gt=0, description="Write metrics every N steps.")
    max_steps: int | None = Field(default=None, gt=0, description="Stop after N steps.")


class TrainSummary(BaseModel):
    """What a finished run reports (also written to `train_summary.json`)."""

    steps: int
    epochs: float
    tokens_seen: int
    loss_tokens: int
    final_loss: float
    final_reason_loss: float
    final_act_loss: float
    tokens_per_s: float
    wall_s: float
    truncated_sequences: int
    model_dir: str


@dataclass
class _Window:
    """Sums since the last log line: per-span loss and token counts, tokens and seconds."""

    reason_loss: float = 0.0
    reason_tokens: int = 0
    act_loss: float = 0.0
    act_tokens: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def add(self, parts: dict[str, Any], tokens: int, seconds: float) -> None:
        self.reason_loss += parts["reason"][0]
        self.reason_tokens += parts["reason"][1]
        self.act_loss += parts["act"][0]
        self.act_tokens += parts["act"][1]
        self.tokens += tokens
        self.seconds += seconds

    def means(self) -> dict[str, float]:
        both = (self.reason_loss + self.act_loss) / max(self.reason_tokens + self.act_tokens, 1)
        return {
            "loss": both,
            "reason": self.reason_loss / max(self.reason_tokens, 1),
            "act": self.act_loss / max(self.act_tokens, 1),
            "tokens_per_s": self.tokens / max(self.seconds, 1e-9),
        }


def _batches(lengths: Sequence[int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Group sequence indices of similar length into batches of about `batch_tokens` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = _ordered_batches(order, lengths, batch_tokens)
    rng.shuffle(batches)
    return batches


def _ordered_batches(
    order: Sequence[int], lengths: Sequence[int], batch_tokens: int
) -> list[list[int]]:
    """Consecutive runs of `order` of about `batch_tokens` padded tokens each."""
    if sorted(order) != list(range(len(lengths))):
        raise ValueError("order must be a permutation of the trajectory indices")
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


def span_losses(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
    """Mean cross-entropy over REASON and ACT targets, and the per-span parts.

    Only positions that predict a REASON or ACT token go through the output layer.
    """
    ids = batch["input_ids"]
    hidden = model.get_decoder()(
        input_ids=ids, attention_mask=batch["attention_mask"]
    ).last_hidden_state
    labels = batch["span_labels"][:, 1:]
    trained = (labels == SpanLabel.REASON) | (labels == SpanLabel.ACT)
    states = hidden[:, :-1][trained]
    targets = ids[:, 1:][trained]
    logits = model.get_output_embeddings()(states).float()
    losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    kinds = labels[trained]
    parts = {}
    for label in (SpanLabel.REASON, SpanLabel.ACT):
        chosen = losses[kinds == label]
        parts[label.name.lower()] = (float(chosen.detach().sum()), int(chosen.numel()))
    return losses.mean(), parts


def _save_checkpoint(path: Path, model: Any, tokenizer: Any, state: dict[str, Any]) -> None:
    """Write an HF model folder plus trainer state, replacing `path` only when complete."""
    hf_logging.disable_progress_bar()  # a bar per checkpoint would drown the training bar
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(state, tmp / "trainer_state.pt")
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def segment_all(
    trajectories: Sequence[Trajectory], tokenizer: Any, fmt: FormatConfig, max_length: int
) -> tuple[list[Segmentation], int]:
    """Render with `fmt` (and its preamble), segment, cut to `max_length`; (segs, number cut)."""
    react = fmt.build()
    segs, cut = [], 0
    for trajectory in trajectories:
        seg = segment_trajectory(trajectory, tokenizer, react, fmt.preamble)
        noisy = [k for k, step in enumerate(trajectory.steps) if not step.imitate]
        if noisy:
            # Exploration noise stays in the context but is not imitated.
            hide = np.isin(seg.steps, noisy) & seg.mask(SpanLabel.REASON, SpanLabel.ACT)
            labels = seg.labels.copy()
            labels[hide] = SpanLabel.PROMPT
            seg = Segmentation(seg.text, seg.input_ids, labels, seg.offsets, seg.steps)
        if len(seg) > max_length:
            cut += 1
            n = max_length
            seg = Segmentation(
                seg.text, seg.input_ids[:n], seg.labels[:n], seg.offsets[:n], seg.steps[:n]
            )
        segs.append(seg)
    return segs, cut


def train_lm(
    model: Any,
    tokenizer: Any,
    trajectories: Sequence[Trajectory],
    config: TrainConfig,
    out_dir: str | Path,
    fmt: FormatConfig,
    loss_fn: Callable[
        [Any, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, Any]]
    ] = span_losses,
    resume: bool = True,
    show_progress: bool = True,
    order: Sequence[int] | None = None,
    segmented: tuple[list[Segmentation], int] | None = None,
) -> TrainSummary:
    """Train `model` on `trajectories`; resumable; returns the run summary.

    `loss_fn(model, batch)` gets the collated batch plus `sequence_index` (positions of its
    trajectories in `trajectories`, so a loss can look up per-trajectory data such as cached
    teacher log-probabilities). `order` (a permutation of trajectory indices) replaces the
    shuffled length-bucketed batches by batches taken in that order: a curriculum.
    `fmt` renders the trajectories and is recorded in the final model folder (the format a
    model was trained with is the one it is prompted with). `segmented` is
    `segment_all(trajectories, tokenizer, fmt, config.max_length)` when the caller has it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint"
    segs, cut = segmented or segment_all(trajectories, tokenizer, fmt, config.max_length)
    if not segs:
        raise ValueError("no trajectories to train on")
    lengths = [len(s) for s in segs]
    if order is None:
        epoch_batches = [
            _batches(lengths, config.batch_tokens, random.Random(f"{config.seed}:{epoch}"))
            for epoch in range(math.ceil(config.epochs))
        ]
    else:  # a curriculum: the given order, every epoch
        epoch_batches = [_ordered_batches(order, lengths, config.batch_tokens)] * math.ceil(
            config.epochs
        )
    per_epoch = len(epoch_batches[0])
    total = max(1, int(per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)

    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(total * config.warmup_ratio), total)
    step, tokens_seen, loss_tokens, elapsed = 0, 0, 0, 0.0
    if resume and (checkpoint / "trainer_state.pt").exists():
        state = torch.load(checkpoint / "trainer_state.pt", weights_only=False)
        loaded = type(model).from_pretrained(checkpoint)
        model.load_state_dict(loaded.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, tokens_seen, loss_tokens = state["step"], state["tokens_seen"], state["loss_tokens"]
        elapsed = state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at step %d/%d", checkpoint, step, total)
    elif not resume and checkpoint.exists():
        shutil.rmtree(checkpoint)
    metrics_path = out / "metrics.jsonl"
    if step == 0:
        metrics_path.write_text("")

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.train()
    window = _Window()
    last = {"loss": float("nan"), "reason": float("nan"), "act": float("nan")}
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, disable=not show_progress) as progress:
        bar = progress.add_task("training", total=total, completed=step, info="")
        while step < total:
            epoch, index = divmod(step, per_epoch)
            batch_ids = epoch_batches[epoch][index]
            batch = collate([segs[i] for i in batch_ids], pad_id=pad_id)
            batch["sequence_index"] = torch.tensor(batch_ids, dtype=torch.long)
            began = time.perf_counter()
            loss, parts = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            spent = time.perf_counter() - began
            elapsed += spent
            n_tokens = int(batch["attention_mask"].sum())
            tokens_seen += n_tokens
            loss_tokens += parts["reason"][1] + parts["act"][1]
            window.add(parts, n_tokens, spent)
            if step % config.log_every == 0 or step == total:
                last = window.means()
                record = {
                    "step": step,
                    "epoch": step / per_epoch,
                    "loss": last["loss"],
                    "reason_loss": last["reason"],
                    "act_loss": last["act"],
                    "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": last["tokens_per_s"],
                }
                with metrics_path.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                progress.update(
                    bar,
                    info=f"loss {last['loss']:.3f} (R {last['reason']:.3f} A {last['act']:.3f}) "
                    f"{last['tokens_per_s']:,.0f} tok/s",
                )
                window = _Window()
            progress.update(bar, completed=step)
            if step % config.save_every == 0 or step == total:
                _save_checkpoint(
                    checkpoint,
                    model,
                    tokenizer,
                    {
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "step": step,
                        "tokens_seen": tokens_seen,
                        "loss_tokens": loss_tokens,
                        "elapsed": elapsed,
                        "torch_rng": torch.get_rng_state(),
                        "config": config.model_dump(mode="json"),
                    },
                )
    model.eval()
    final = out / "model"
    _save_checkpoint(final, model, tokenizer, {"config": config.model_dump(mode="json")})
    (final / "trainer_state.pt").unlink(missing_ok=True)
    fmt.save(final)
    summary = TrainSummary(
        steps=step,
        epochs=step / per_epoch,
        tokens_seen=tokens_seen,
        loss_tokens=loss_tokens,
        final_loss=last["loss"],
        final_reason_loss=last["reason"],
        final_act_loss=last["act"],
        tokens_per_s=tokens_seen / max(elapsed, 1e-9),
        wall_s=elapsed,
        truncated_sequences=cut,
        model_dir=str(final),
    )
    (out / "train_summary.json").write_text(summary.model_dump_json(indent=2))
    return summary
