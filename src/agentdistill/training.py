"""Train a causal LM on segmented trajectories: loss on REASON and ACT tokens only.

This is how the offline teacher is bootstrapped from expert trajectories (and the `seqkd`
baseline of distillation: the same loss on teacher trajectories).

    summary = train_lm(model, tokenizer, trajectories, TrainConfig(...), out_dir)

Efficiency matters on a CPU: batches are built from trajectories of similar length (little
padding), and the output layer runs only at the positions that carry a loss (`logits_at`:
the model's own forward with `logits_to_keep`, so any final logit processing of the
architecture applies). The run writes
`out_dir/checkpoint/` (an HF model folder plus the trainer state as safetensors + JSON, never
a pickle) every `save_every` steps and at the end, atomically; a run started again on the
same folder resumes from it, exactly (same batches, same optimizer state), if the folder's
`run.json` records the same run (config, format, data). The final model lands in
`out_dir/model/`, and every logged step in `out_dir/metrics.jsonl` (cut back to the
checkpoint on resume): `loss` is the objective that was minimised (the loss function's
value, averaged over the steps since the previous line), `reason_loss`,
`act_loss` (and `other_loss` when other positions carry a loss, as in flat token-level KD)
the per-position loss averaged over the window's target tokens of that kind.

Device, precision, gradient accumulation and several processes come from one
`RuntimeConfig` (runtime.py):

    train_lm(model, tok, trajs, config, out_dir, fmt,
             runtime=RuntimeConfig(device="cuda", dtype="bf16", gradient_accumulation=4))

and the same call runs data-parallel when the command is launched by `accelerate launch` or
`torchrun` (see `train_lm`: what a step averages, what rank 0 alone does).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import get_cosine_schedule_with_warmup
from transformers.utils import logging as hf_logging

from agentdistill.config import Config, FormatConfig
from agentdistill.files import write_text_atomic
from agentdistill.formats import SpanLabel
from agentdistill.records import Trajectory
from agentdistill.run_folder import claim_run_folder, records_sha256
from agentdistill.runtime import (
    RuntimeConfig,
    all_reduce_sum,
    is_main_process,
    main_decides,
    main_value,
    make_accelerator,
    on_main,
    rank,
    start_processes,
    world_size,
)
from agentdistill.segmentation import (
    Batch,
    Segmentation,
    collate,
    length_batches,
    segment_trajectory,
)
from agentdistill.trainer_state import (
    CheckpointError,
    has_trainer_state,
    load_trainer_state,
    save_trainer_state,
)

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
    """The objective minimised, averaged over the last log window's steps."""
    final_reason_loss: float
    final_act_loss: float
    final_other_loss: float | None = None
    """Mean loss at trained positions outside REASON/ACT (flat KD); None when there are none."""
    tokens_per_s: float
    wall_s: float
    truncated_sequences: int
    model_dir: str


SpanParts = dict[str, tuple[float, int]]
"""Per kind of target token ("reason", "act", "other"): (sum of per-position losses, count)."""
PART_NAMES: tuple[str, ...] = ("reason", "act", "other")
LossFn = Callable[[Any, Batch], tuple[torch.Tensor, SpanParts]]
"""`loss_fn(model, batch) -> (objective to minimise, per-span parts for logging)`."""


def span_parts(per_position: torch.Tensor, kinds: torch.Tensor) -> SpanParts:
    """Sum and count of `per_position` [N] losses per kind of target token (`kinds` [N])."""
    reason, act = kinds == SpanLabel.REASON, kinds == SpanLabel.ACT
    values = per_position.detach()
    parts = {}
    for name, chosen in zip(PART_NAMES, (reason, act, ~(reason | act)), strict=True):
        parts[name] = (float(values[chosen].sum()), int(chosen.sum()))
    return parts


# Model classes whose forward does not keep logits by a boolean [B, T] `logits_to_keep`
# (transformers' `slice_logits_to_keep`); they get the columns where some row has a loss.
_NO_MASKED_LOGITS: set[type] = set()


def unwrap(model: Any) -> Any:
    """The model inside a data-parallel wrapper (DDP, FSDP), or `model` itself."""
    wrappers: list[type] = [torch.nn.parallel.DistributedDataParallel]
    fsdp = sys.modules.get("torch.distributed.fsdp")  # not imported: no model is wrapped in it
    if fsdp is not None:
        wrappers.append(fsdp.FullyShardedDataParallel)
    while isinstance(model, tuple(wrappers)):
        model = model.module
    return model


def _accepts_logits_to_keep(model: Any) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def logits_at(model: Any, batch: Batch, positions: torch.Tensor) -> torch.Tensor:
    """The model's logits [N, V] at `positions` (bool [B, T-1]), in row-major order.

    They come from the model's own forward, so whatever the architecture does to its logits
    (final soft-capping, logit scaling) happens here too. `logits_to_keep` limits the output
    layer, whose cost dominates small models, to the positions that carry a loss: a boolean
    [B, T] mask where the model supports it (transformers >= 5), else the columns where some
    row has a loss.
    """
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    # a DDP/FSDP wrapper forwards keyword arguments: ask the model it wraps what it takes
    core = unwrap(model)
    if not _accepts_logits_to_keep(core):  # every column, then the ones needed
        return model(**inputs, use_cache=False).logits[:, :-1][positions]
    n = int(positions.sum())
    if type(core) not in _NO_MASKED_LOGITS:
        keep = torch.zeros_like(batch.input_ids, dtype=torch.bool)
        keep[:, :-1] = positions
        try:
            logits = model(**inputs, logits_to_keep=keep, use_cache=False).logits
        except IndexError:  # an older forward indexing the sequence axis only
            logits = None
        if logits is not None and logits.dim() == 2 and logits.shape[0] == n:
            return logits
        _NO_MASKED_LOGITS.add(type(core))
    columns = torch.nonzero(positions.any(0), as_tuple=False).squeeze(1)
    logits = model(**inputs, logits_to_keep=columns, use_cache=False).logits
    return logits[positions[:, columns]]


@dataclass
class _Window:
    """Sums since the last log line: objective per step, per-span losses, tokens, seconds."""

    objective: float = 0.0
    steps: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PART_NAMES, 0.0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PART_NAMES, 0))
    tokens: int = 0
    seconds: float = 0.0

    def add(self, objective: float, parts: SpanParts, tokens: int, seconds: float) -> None:
        self.objective += objective
        self.steps += 1
        for name in PART_NAMES:
            total, count = parts.get(name, (0.0, 0))
            self.sums[name] += total
            self.counts[name] += count
        self.tokens += tokens
        self.seconds += seconds

    def means(self) -> dict[str, float]:
        return {
            "loss": self.objective / max(self.steps, 1),
            "reason": self.sums["reason"] / max(self.counts["reason"], 1),
            "act": self.sums["act"] / max(self.counts["act"], 1),
            "tokens_per_s": self.tokens / max(self.seconds, 1e-9),
        }

    def other_mean(self) -> float | None:
        """Mean loss at trained positions outside REASON/ACT; None when there were none."""
        count = self.counts["other"]
        return self.sums["other"] / count if count else None


def _batches(lengths: Sequence[int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches (random order among equal lengths), shuffled."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = length_batches(lengths, batch_tokens, order)
    rng.shuffle(batches)
    return batches


def batch_plan(
    lengths: Sequence[int], config: TrainConfig, order: Sequence[int] | None = None
) -> list[list[list[int]]]:
    """The batches (sequence indices) of every epoch `train_lm` trains, in order: shuffled
    length-bucketed batches, seeded per epoch, or `order`'s batches every epoch (a
    curriculum). Step s of a single process takes batch s mod E of epoch s // E (E: batches
    per epoch); benchmarks use it to feed another trainer the very same batches."""
    epochs = math.ceil(config.epochs)
    if order is not None:
        return [length_batches(lengths, config.batch_tokens, order)] * epochs
    return [
        _batches(lengths, config.batch_tokens, random.Random(f"{config.seed}:{epoch}"))
        for epoch in range(epochs)
    ]


def planned_steps(lengths: Sequence[int], config: TrainConfig, processes: int = 1,
                  micro: int = 1) -> int:  # fmt: skip
    """Optimiser steps `train_lm` takes on sequences of these lengths under `config` (the
    token budget of a run: every step is one batch of `batch_tokens` padded tokens)."""
    per_epoch = math.ceil(
        len(_batches(lengths, config.batch_tokens, random.Random(f"{config.seed}:0")))
        / (micro * processes)
    )
    total = max(1, int(per_epoch * config.epochs))
    return min(total, config.max_steps) if config.max_steps is not None else total


def span_losses(model: Any, batch: Batch) -> tuple[torch.Tensor, SpanParts]:
    """Mean cross-entropy over REASON and ACT targets, and the per-span parts."""
    positions = batch.trained_mask
    logits = logits_at(model, batch, positions).float()
    losses = torch.nn.functional.cross_entropy(
        logits, batch.target_ids[positions], reduction="none"
    )
    # sum / count rather than mean: a batch without targets gives 0, not NaN
    objective = losses.sum() / max(losses.numel(), 1)
    return objective, span_parts(losses, batch.target_kinds[positions])


def _save_checkpoint(
    path: Path,
    model: Any,
    tokenizer: Any,
    state: dict[str, Any] | None = None,
    weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write an HF model folder (plus the trainer state, if given), replacing `path` only
    when complete. Weights are safetensors and the state safetensors + JSON: no pickle.
    `weights`: the full state dict when the model's own is sharded (FSDP)."""
    hf_logging.disable_progress_bar()  # a bar per checkpoint would drown the training bar
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # safetensors (transformers 5 writes nothing else), in the precision the model trains in
    model.save_pretrained(tmp, state_dict=weights)
    tokenizer.save_pretrained(tmp)
    if state is not None:
        save_trainer_state(tmp, state)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


TRAIN_OWNED = ("checkpoint", "checkpoint.tmp", "model", "metrics.jsonl", "train_summary.json")
"""What `train_lm` writes in its folder (deleted by a restart)."""
FREE_ON_RESUME = ("save_every", "log_every")
"""TrainConfig fields a resumed run may change: they do not change what is trained."""


def train_identity(
    config: TrainConfig,
    fmt: FormatConfig,
    trajectories: Sequence[Trajectory],
    runtime: RuntimeConfig | None = None,
) -> dict[str, Any]:
    """What defines a training run: its optimisation settings, format and data, and the
    precision and micro-batches per step it runs with (`RuntimeConfig.identity`: recorded
    when not the fp32 single-micro-batch default; the device is not part of it)."""
    settings = config.model_dump(mode="json", exclude=set(FREE_ON_RESUME))
    return {
        "train": settings,
        "format": fmt.model_dump(mode="json"),
        "trajectories_sha256": records_sha256(trajectories),
        **(runtime.identity(world_size()) if runtime is not None else {}),
    }


def _metrics_up_to(path: Path, step: int) -> None:
    """Keep the metric lines of steps <= `step` (the checkpoint): the steps after it are
    trained again on resume and would otherwise be logged twice. A torn line is dropped."""
    kept: list[str] = []
    if step > 0 and path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(line + "\n")
    write_text_atomic(path, "".join(kept))


def _last_logged(path: Path) -> dict[str, Any] | None:
    """The last row of a metrics file with every loss (None: no such row, or no file)."""
    if not path.exists():
        return None
    found = None
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        keys = ("loss", "reason_loss", "act_loss")
        if isinstance(row, dict) and all(isinstance(row.get(k), int | float) for k in keys):
            found = row
    return found


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


def _step_batches(
    batches: Sequence[list[int]], index: int, micro: int, processes: int, this_rank: int
) -> list[list[int]]:
    """The micro-batches this process trains at step `index` of an epoch.

    A step takes `micro * processes` consecutive batches of the epoch's list (the same list,
    shuffled with the same seed, in every process): process r the r-th run of `micro`.
    Past the end of the list the epoch wraps around to its start, so every process has as
    many micro-batches as the others (as torch's DistributedSampler pads a dataset).
    """
    first = index * micro * processes + this_rank * micro
    return [batches[(first + j) % len(batches)] for j in range(micro)]


def _add_parts(total: dict[str, list[float]], parts: SpanParts) -> None:
    for name in PART_NAMES:
        value, count = parts.get(name, (0.0, 0))
        total[name][0] += value
        total[name][1] += count


def train_lm(
    model: Any,
    tokenizer: Any,
    trajectories: Sequence[Trajectory],
    config: TrainConfig,
    out_dir: str | Path,
    fmt: FormatConfig,
    loss_fn: LossFn = span_losses,
    restart: bool = False,
    show_progress: bool = True,
    order: Sequence[int] | None = None,
    segmented: tuple[list[Segmentation], int] | None = None,
    identity: Mapping[str, Any] | None = None,
    runtime: RuntimeConfig | None = None,
) -> TrainSummary:
    """Train `model` on `trajectories`; resumable; returns the run summary.

    `loss_fn(model, batch) -> (objective, parts)` gets a `Batch` (on the training device)
    whose `sequence_index` holds the positions of its trajectories in `trajectories` (so a
    loss can look up per-trajectory data such as cached teacher log-probabilities); the
    scalar it returns is minimised and logged as `loss`. `order` (a permutation of
    trajectory indices) replaces the shuffled length-bucketed batches by batches taken in
    that order: a curriculum. `fmt` renders the trajectories and is recorded in the final
    model folder (the format a model was trained with is the one it is prompted with).
    `segmented` is `segment_all(trajectories, tokenizer, fmt, config.max_length)` when the
    caller has it.

    `runtime` (default: the device and precision `model` is already in) places the model
    and says how to step. One optimizer step takes G = `gradient_accumulation` x processes
    micro-batches (each `batch_tokens`); its gradient is the gradient of the **mean of the
    G micro-batch objectives**, each the per-token mean `loss_fn` returns. That equals one
    step on the G batches merged when every micro-batch holds the same number of loss
    tokens (for per-span objectives: of each span kind); otherwise every micro-batch weighs
    the same rather than every token. `loss` in metrics.jsonl is that mean. Launched with
    several processes (accelerate, torchrun) the model is wrapped for data parallelism by
    `accelerate` (DDP, or FSDP from the accelerate config): every process trains its share
    of each step's batches, gradients are averaged, weights stay identical; rank 0 alone
    writes the run folder, and every process reads the checkpoint on resume.

    The folder records the run's `identity` (default `train_identity(config, fmt,
    trajectories, runtime)`; callers add what else defines the run, such as the loss) in
    `run.json`: a folder holding another run is refused (`RunMismatchError`) unless
    `restart`, which deletes its checkpoint, metrics and model and starts over.
    """
    out = Path(out_dir)
    placed = runtime is None  # the model stays where it is (on its GPU index, say)
    runtime = runtime or RuntimeConfig.of_model(model)
    device = runtime.check_training()
    if placed:
        device = next(iter(model.parameters())).device
    start_processes(runtime)
    processes, this_rank, main = world_size(), rank(), is_main_process()
    if identity is None:
        identity = train_identity(config, fmt, trajectories, runtime)
    on_main(lambda: claim_run_folder(out, identity, TRAIN_OWNED, restart, "training run"))
    checkpoint = out / "checkpoint"
    segs, cut = segmented or segment_all(trajectories, tokenizer, fmt, config.max_length)
    if not segs:
        raise ValueError("no trajectories to train on")
    lengths = [len(s) for s in segs]
    epoch_batches = batch_plan(lengths, config, order)
    micro = runtime.gradient_accumulation
    per_epoch = math.ceil(len(epoch_batches[0]) / (micro * processes))
    total = max(1, int(per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)

    accelerator = make_accelerator(runtime) if processes > 1 else None
    fsdp = accelerator is not None and _is_fsdp(accelerator)
    if fsdp:  # FSDP shards the weights onto the devices itself: they wait on the CPU
        model.to(dtype=runtime.train_dtype)
    elif not placed:
        runtime.place(model, training=True)
    resume = main_decides(has_trainer_state(checkpoint))
    state: dict[str, Any] = {}
    if resume:
        if fsdp:
            raise CheckpointError(
                f"{checkpoint}: resuming under FSDP is not supported (its optimizer state is "
                "sharded); use --restart"
            )
        state = load_trainer_state(checkpoint)
        try:  # safetensors only: a pickled weights file is never unpickled
            loaded = type(model).from_pretrained(
                checkpoint, use_safetensors=True, local_files_only=True
            )
        except OSError as exc:
            raise CheckpointError(
                f"{checkpoint}: no safetensors weights to resume ({exc})"
            ) from exc
        model.load_state_dict(loaded.state_dict())
    # DDP (or FSDP) when launched with several processes; the model itself otherwise
    trained = accelerator.prepare_model(model) if accelerator is not None else model

    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(
        trained.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(total * config.warmup_ratio), total)
    scaler = runtime.grad_scaler()
    step, tokens_seen, loss_tokens, elapsed = 0, 0, 0, 0.0
    if resume:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and "grad_scaler" in state:
            scaler.load_state_dict(state["grad_scaler"])
        step, tokens_seen, loss_tokens = state["step"], state["tokens_seen"], state["loss_tokens"]
        elapsed = state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        if main:
            log.info("resumed from %s at step %d/%d", checkpoint, step, total)
    metrics_path = out / "metrics.jsonl"
    if main:
        _metrics_up_to(metrics_path, step)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    trained.train()
    window = _Window()
    last = {"loss": float("nan"), "reason": float("nan"), "act": float("nan")}
    last_other: float | None = None
    # a resumed run reports the losses it last logged, even when no step is left to train
    logged = _last_logged(metrics_path) if step else None
    if logged is not None:
        last = {
            "loss": logged["loss"],
            "reason": logged["reason_loss"],
            "act": logged["act_loss"],
            "tokens_per_s": logged.get("tokens_per_s", float("nan")),
        }
        last_other = logged.get("other_loss")
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, disable=not (show_progress and main)) as progress:
        bar = progress.add_task("training", total=total, completed=step, info="")
        while step < total:
            epoch, index = divmod(step, per_epoch)
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            objective, n_tokens = 0.0, 0
            parts: dict[str, list[float]] = {name: [0.0, 0] for name in PART_NAMES}
            chosen = _step_batches(epoch_batches[epoch], index, micro, processes, this_rank)
            for j, batch_ids in enumerate(chosen):
                batch = collate(
                    [segs[i] for i in batch_ids], pad_id=pad_id, sequence_index=batch_ids
                )
                n_tokens += batch.tokens
                batch = batch.to(device)
                # gradients are exchanged once per step, after its last micro-batch
                syncs = accelerator is None or j == micro - 1
                with contextlib.nullcontext() if syncs else accelerator.no_sync(trained):
                    with runtime.autocast_context():
                        loss, batch_parts = loss_fn(trained, batch)
                    share = loss / micro  # the step minimises the mean micro-batch objective
                    (scaler.scale(share) if scaler is not None else share).backward()
                objective += float(loss.detach()) / micro
                _add_parts(parts, batch_parts)
            if processes > 1:  # every process logs (and checkpoints) the step's global sums
                sums = all_reduce_sum(
                    [objective, n_tokens, *(v for name in PART_NAMES for v in parts[name])]
                )
                objective, n_tokens = sums[0] / processes, int(sums[1])
                for k, name in enumerate(PART_NAMES):
                    parts[name] = [sums[2 + 2 * k], int(sums[3 + 2 * k])]
            if scaler is not None:
                scaler.unscale_(optimizer)  # clip the true gradients
            if accelerator is not None:
                accelerator.clip_grad_norm_(trained.parameters(), config.grad_clip)
            else:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            step += 1
            spent = time.perf_counter() - began
            elapsed += spent
            tokens_seen += n_tokens
            step_parts: SpanParts = {name: (v[0], int(v[1])) for name, v in parts.items()}
            loss_tokens += sum(count for _, count in step_parts.values())
            window.add(objective, step_parts, n_tokens, spent)
            if step % config.log_every == 0 or step == total:
                last, last_other = window.means(), window.other_mean()
                record = {
                    "step": step,
                    "epoch": step / per_epoch,
                    "loss": last["loss"],
                    "reason_loss": last["reason"],
                    "act_loss": last["act"],
                    **({"other_loss": last_other} if last_other is not None else {}),
                    "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": last["tokens_per_s"],
                }
                if main:
                    with metrics_path.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                progress.update(
                    bar,
                    info=f"loss {last['loss']:.3f} (R {last['reason']:.3f} A {last['act']:.3f}) "
                    f"{last['tokens_per_s']:,.0f} tok/s",
                )
                window = _Window()
            progress.update(bar, completed=step)
            # FSDP: no periodic checkpoint (its optimizer state is sharded); the model at the end
            if (step % config.save_every == 0 or step == total) and not fsdp:
                trainer_state = {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "tokens_seen": tokens_seen,
                    "loss_tokens": loss_tokens,
                    "elapsed": elapsed,
                    "torch_rng": torch.get_rng_state(),
                    "config": config.model_dump(mode="json"),
                    **({"grad_scaler": scaler.state_dict()} if scaler is not None else {}),
                }
                on_main(lambda s=trainer_state: _save_checkpoint(checkpoint, model, tokenizer, s))
    trained.eval()
    if processes > 1 and not fsdp:
        _check_replicas(model)
    final = out / "model"
    # FSDP gathers the full weights (every process takes part); the others save their own
    weights = accelerator.get_state_dict(trained) if fsdp else None
    summary = TrainSummary(
        steps=step,
        epochs=step / per_epoch,
        tokens_seen=tokens_seen,
        loss_tokens=loss_tokens,
        final_loss=last["loss"],
        final_reason_loss=last["reason"],
        final_act_loss=last["act"],
        final_other_loss=last_other,
        tokens_per_s=tokens_seen / max(elapsed, 1e-9),
        wall_s=elapsed,
        truncated_sequences=cut,
        model_dir=str(final),
    )

    def finish() -> None:
        _save_checkpoint(final, model, tokenizer, weights=weights)
        fmt.save(final)
        write_text_atomic(out / "train_summary.json", summary.model_dump_json(indent=2))

    on_main(finish)
    return summary


def _check_replicas(model: Any) -> None:
    """Fail unless every process holds rank 0's weights (data parallelism's promise): each
    compares its float64 checksum with rank 0's, and all fail if one differs."""
    with torch.no_grad():
        checksum = float(sum(p.double().sum() for p in model.parameters()))
    reference = main_value(checksum)
    if all_reduce_sum([float(reference != checksum)])[0]:
        raise RuntimeError(
            f"process {rank()}: the processes' weights differ after training (checksum here "
            f"{checksum!r}, rank 0's {reference!r})"
        )


def _is_fsdp(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return bool(accelerator.distributed_type == DistributedType.FSDP)
