"""Training throughput: the project's trainer next to TRL's, same model, data and steps.

Usage:
    make bench-setup    # once: the `bench` extra (TRL) into .venv
    .venv/bin/python benchmarks/trainer_vs_trl.py \
        [--teacher runs/experiment/alfworld/teacher/train/model] \
        [--trajectories runs/experiment/alfworld/teacher/expert_train.jsonl] \
        [--sequences 128] [--max-length 1024] [--batch-tokens 4096] [--steps 30] \
        [--warmup 3] [--top-k 32] [--threads N] [--device cpu|cuda] [--json out.json]

Each trainer trains a fresh `student-10x` (same seed, so the same initial weights) on the
very same batches: the project's length-bucketed batch plan (`training.batch_plan`) over
the first `--sequences` trajectories, rendered in the teacher's format and cut to
`--max-length`; TRL gets them pre-collated, in the same order, one batch per step. Same
optimiser settings (AdamW, cosine schedule, lr, clip), fp32, the same torch threads.

    seqkd     ours (`train_lm`, cross-entropy on REASON+ACT)  vs  TRL SFTTrainer (labels -100
              outside REASON+ACT)
    token_kd  ours (top-k teacher cache, and the exact online teacher)  vs  TRL GKDTrainer
              with beta=0 (forward KL), lmbda=0 (no on-policy generation), temperature 1
    sad       ours only: TRL has no per-span loss

Every run is a subprocess of its own (its peak memory is its own). Reported per run:
tokens/s (non-padding tokens of the timed steps over their wall time, from the start of
one step's loss to the start of the loss after the last timed step; the first `--warmup`
steps are not timed), peak memory above the process's memory before the model was built
(CPU: resident set high-water mark, reset through /proc/self/clear_refs; CUDA:
`torch.cuda.max_memory_allocated`), and the loss of the first step (same weights, same
batch: equal losses say both trainers compute the same objective). The teacher cache is
built once before the runs and not timed (its build time is in the notes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from transformers.utils import logging as hf_logging

from agentdistill.config import resolve_format
from agentdistill.distillation.teacher_cache import TeacherCache, build_teacher_cache
from agentdistill.distillation.trainer import DistillConfig, build_student, loss_fn_for
from agentdistill.inputs import read_trajectories
from agentdistill.models import load_model
from agentdistill.runtime import RuntimeConfig
from agentdistill.segmentation import Batch, collate, length_batches
from agentdistill.tokenizer import load_tokenizer
from agentdistill.training import TrainConfig, batch_plan, segment_all, train_lm

TRL_MISSING = (
    "TRL is not installed: this benchmark needs the `bench` extra. Install it with "
    "`make bench-setup` (or `.venv/bin/python -m pip install -e '.[dev,bench]'`)."
)
STUDENT = "student-10x"


@dataclass(frozen=True)
class Run:
    """One trainer on one method."""

    trainer: str  # "ours" or "trl"
    method: str  # seqkd, token_kd or sad
    teacher_source: str | None = None  # ours, KL methods: "cache" or "online"

    @property
    def label(self) -> str:
        if self.trainer == "trl":
            return "TRL SFTTrainer" if self.method == "seqkd" else "TRL GKDTrainer"
        return f"ours ({self.teacher_source})" if self.teacher_source else "ours"


RUNS = (
    Run("ours", "seqkd"),
    Run("trl", "seqkd"),
    Run("ours", "token_kd", "cache"),
    Run("ours", "token_kd", "online"),
    Run("trl", "token_kd"),
    Run("ours", "sad", "cache"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--teacher",
        type=Path,
        default=Path("runs/experiment/alfworld/teacher/train/model"),
        help="HF teacher folder with its tokenizer and format (token_kd's teacher)",
    )
    parser.add_argument(
        "--trajectories",
        type=Path,
        default=Path("runs/experiment/alfworld/teacher/expert_train.jsonl"),
        help="trajectory JSONL; its first --sequences records are trained on",
    )
    parser.add_argument("--sequences", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--top-k", type=int, default=32, help="teacher cache entries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


def require_trl() -> None:
    """Stop with a message naming the `bench` extra unless TRL can be imported."""
    if importlib.util.find_spec("trl") is None:
        raise SystemExit(TRL_MISSING)


# ----------------------------------------------------------------------------------------
# Data: the same in the parent and every worker (deterministic)


@dataclass
class Data:
    trajectories: list[Any]
    tokenizer: Any
    fmt: Any
    segmented: tuple[list[Any], int]
    config: TrainConfig
    steps: list[list[int]]  # the sequence indices of each step's batch, in order


def prepare(args: argparse.Namespace) -> Data:
    trajectories = read_trajectories(args.trajectories)[: args.sequences]
    if not trajectories:
        raise SystemExit(f"{args.trajectories}: no trajectories")
    tokenizer = load_tokenizer(args.teacher)
    fmt = resolve_format(args.teacher, None)
    segmented = segment_all(trajectories, tokenizer, fmt, args.max_length)
    lengths = [len(s) for s in segmented[0]]
    total = args.warmup + args.steps + 1  # +1: the timed window ends where its loss starts
    # the batch count of an epoch does not depend on the shuffle (runs of sorted lengths)
    per_epoch = len(length_batches(lengths, args.batch_tokens))
    config = TrainConfig(
        epochs=math.ceil(total / per_epoch),
        batch_tokens=args.batch_tokens,
        max_length=args.max_length,
        seed=args.seed,
        max_steps=total,
        save_every=10 * total,  # one checkpoint, after the last (untimed) step
    )
    plan = batch_plan(lengths, config)
    steps = [plan[s // per_epoch][s % per_epoch] for s in range(total)]
    return Data(trajectories, tokenizer, fmt, segmented, config, steps)


def build_cache(args: argparse.Namespace, data: Data, folder: Path) -> float:
    """The teacher's top-k cache over the data, as `distill` builds it; its build seconds."""
    hf_logging.disable_progress_bar()
    teacher = load_model(args.teacher).eval()
    began = time.perf_counter()
    build_teacher_cache(
        teacher,
        data.segmented[0],
        folder,
        k=args.top_k,
        pad_id=data.tokenizer.pad_token_id or 0,
        show_progress=False,
        runtime=RuntimeConfig(device=args.device),
    )
    return time.perf_counter() - began


# ----------------------------------------------------------------------------------------
# Workers: one run each, in a process of its own


class Marks:
    """Start time and loss of every step (one loss computation per step)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu: list[float] = []  # this process's CPU seconds: less sensitive to other load
        self.losses: list[float] = []

    def mark(self) -> None:
        self.times.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def loss(self, value: torch.Tensor) -> None:
        if len(self.losses) < len(self.times):
            self.losses.append(float(value.detach()))


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class PeakMemory:
    """Peak memory above the level at `start`: CUDA allocations, or the CPU resident set."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.base = 0

    def start(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        # "5" resets the resident set's high-water mark (Linux >= 4.0): import peaks are gone
        Path("/proc/self/clear_refs").write_text("5")
        self.base = _rss_kib("VmRSS") * 1024

    def peak_mb(self) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = _rss_kib("VmHWM") * 1024
        return (peak - self.base) / 2**20


def run_ours(run: Run, spec: dict[str, Any], data: Data, marks: Marks) -> None:
    config = DistillConfig(
        method=run.method,
        student=STUDENT,
        student_seed=spec["seed"],
        top_k=spec["top_k"],
        teacher_source=run.teacher_source or "cache",
    )
    teacher = load_model(spec["teacher"]).eval() if run.teacher_source == "online" else None
    if teacher is not None:
        teacher.to(spec["device"])
    cache = TeacherCache.load(spec["cache"]) if run.teacher_source == "cache" else None
    student = build_student(config, data.tokenizer)
    inner = loss_fn_for(config, teacher, cache)

    def timed(model: Any, batch: Batch) -> tuple[torch.Tensor, Any]:
        marks.mark()
        loss, parts = inner(model, batch)
        marks.loss(loss)
        return loss, parts

    train_lm(
        student,
        data.tokenizer,
        data.trajectories,
        data.config,
        spec["out"],
        data.fmt,
        loss_fn=timed,
        show_progress=False,
        segmented=data.segmented,
        runtime=RuntimeConfig(device=spec["device"]),
    )


def trl_batches(data: Data, labels_on: str) -> list[dict[str, torch.Tensor]]:
    """Each step's batch as TRL takes it: ids, mask, and labels (-100: no loss) aligned with
    the ids (TRL shifts them); `labels_on` "trained" (REASON+ACT) or "all" real targets."""
    segs = data.segmented[0]
    pad_id = data.tokenizer.pad_token_id or 0
    out = []
    for ids in data.steps:
        batch = collate([segs[i] for i in ids], pad_id=pad_id, sequence_index=ids)
        keep = batch.trained_mask if labels_on == "trained" else batch.target_mask
        labels = torch.full_like(batch.input_ids, -100)
        labels[:, 1:] = torch.where(keep, batch.target_ids, labels[:, 1:])
        out.append(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": labels}
        )
    return out


def run_trl(run: Run, spec: dict[str, Any], data: Data, marks: Marks) -> None:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    batches = trl_batches(data, "trained" if run.method == "seqkd" else "all")
    config = data.config
    common: dict[str, Any] = {
        "output_dir": spec["out"],
        "max_steps": len(batches),
        "per_device_train_batch_size": 1,  # one dataset row = one pre-collated batch
        "train_sampling_strategy": "sequential",
        "learning_rate": config.lr,
        "weight_decay": config.weight_decay,
        "lr_scheduler_type": "cosine",
        "warmup_steps": int(len(batches) * config.warmup_ratio),  # as train_lm counts them
        "max_grad_norm": config.grad_clip,
        "optim": "adamw_torch",
        # TRL's configs default to bf16 autocast and activation checkpointing: the project's
        # trainer does neither here (fp32, activations kept), so the same work is compared
        "bf16": False,
        "fp16": False,
        "gradient_checkpointing": False,
        "logging_steps": config.log_every,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": spec["seed"],
        "use_cpu": spec["device"] == "cpu",
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        "dataset_kwargs": {"skip_prepare_dataset": True},
    }
    student = build_student(
        DistillConfig(student=STUDENT, student_seed=spec["seed"]), data.tokenizer
    )
    dataset = Dataset.from_dict({"step": list(range(len(batches)))})

    def collator(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return dict(batches[rows[0]["step"]])  # a copy: trainers may replace its entries

    def timing(cls: type) -> type:
        class Timed(cls):  # type: ignore[misc, valid-type]
            def compute_loss(self, model: Any, inputs: Any, *rest: Any, **kwargs: Any) -> Any:
                marks.mark()
                out = super().compute_loss(model, inputs, *rest, **kwargs)
                marks.loss(out[0] if isinstance(out, tuple) else out)
                return out

        return Timed

    trainer: Any
    if run.method == "seqkd":
        trainer = timing(SFTTrainer)(
            model=student,
            args=SFTConfig(**common),
            train_dataset=dataset,
            data_collator=collator,
            processing_class=data.tokenizer,
        )
    else:
        teacher = load_model(spec["teacher"]).eval()
        # beta=0: forward KL(teacher || student); lmbda=0, seq_kd off: the dataset's tokens
        gkd = GKDConfig(**common, beta=0.0, lmbda=0.0, seq_kd=False, temperature=1.0)
        trainer = timing(GKDTrainer)(
            model=student,
            teacher_model=teacher,
            args=gkd,
            train_dataset=dataset,
            data_collator=collator,
            processing_class=data.tokenizer,
        )
    # the same work as ours: fp32 throughout, no activations recomputed in the backward pass
    model = trainer.model
    recomputes = getattr(model, "is_activation_checkpointing", None)  # transformers >= 5.x
    if recomputes is None:
        recomputes = model.is_gradient_checkpointing
    if trainer.accelerator.mixed_precision != "no" or recomputes:
        raise RuntimeError("TRL trains in mixed precision or recomputes activations here")
    trainer.train()


def worker(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    args = argparse.Namespace(**spec["args"])
    args.teacher, args.trajectories = Path(args.teacher), Path(args.trajectories)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Run(**spec["run"])
    shutil.rmtree(spec["out"], ignore_errors=True)  # a finished run there would be resumed
    if run.trainer == "trl":  # imported before the memory baseline: imports are not training
        import trl.experimental.gkd  # noqa: F401
    data = prepare(args)
    memory = PeakMemory(args.device)
    marks = Marks()
    memory.start()
    runner: Callable[..., None] = run_trl if run.trainer == "trl" else run_ours
    runner(run, {**spec["args"], "cache": spec["cache"], "out": spec["out"]}, data, marks)
    peak = memory.peak_mb()
    first, last = args.warmup, args.warmup + args.steps
    if len(marks.times) <= last:
        raise RuntimeError(f"{run.label}: {len(marks.times)} steps, expected {last + 1}")
    tokens = sum(int(data.segmented[0][i].input_ids.shape[0]) for s in data.steps[first:last]
                 for i in s)  # fmt: skip
    seconds = marks.times[last] - marks.times[first]
    cpu_seconds = marks.cpu[last] - marks.cpu[first]
    result = {
        "trainer": run.label,
        "method": run.method,
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "cpu_seconds": cpu_seconds,
        "tokens_per_cpu_s": tokens / cpu_seconds,
        "peak_mb": peak,
        "first_loss": marks.losses[0],
        "threads": torch.get_num_threads(),
    }
    Path(spec["result"]).write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------
# The parent: data, cache, one subprocess per run, the table


def run_worker(run: Run, args: argparse.Namespace, cache: Path, folder: Path) -> dict[str, Any]:
    name = f"{run.trainer}-{run.method}-{run.teacher_source or 'none'}"
    spec = {
        "run": run.__dict__,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cache": str(cache),
        "out": str(folder / name),
        "result": str(folder / f"{name}.json"),
    }
    spec_path = folder / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {
        **os.environ,
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRL_EXPERIMENTAL_SILENCE": "1",  # GKDTrainer lives in trl.experimental
    }
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(spec_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{run.label} {run.method} failed:\n{done.stderr[-4000:]}")
    return json.loads(Path(spec["result"]).read_text())


NOTES = {
    ("ours", "seqkd"): "cross-entropy on REASON+ACT; output layer at those positions only",
    ("trl", "seqkd"): "labels -100 outside REASON+ACT (completion-only loss)",
    ("ours", "token_kd", "cache"): "top-{k} + rest bucket from the teacher cache (built once: "
    "{cache_s:.1f} s, not timed); no teacher in memory",
    ("ours", "token_kd", "online"): "teacher in memory, exact full-vocabulary KL each step",
    ("trl", "token_kd"): "beta=0 (forward KL), lmbda=0: teacher forward each step, full logits",
    ("ours", "sad", "cache"): "per-span KL on REASON and ACT (top-{k} cache)",
}


def report(results: list[dict[str, Any]], args: argparse.Namespace, cache_s: float) -> None:
    trl = {r["method"]: r for r in results if r["trainer"].startswith("TRL")}
    table = Table(
        title=f"training throughput, {STUDENT}, {args.steps} steps of {args.batch_tokens} "
        f"padded tokens (max length {args.max_length}), {args.device}, "
        f"{results[0]['threads']} torch thread(s)"
    )
    for column in (
        "trainer",
        "method",
        "tokens/s",
        "tok/CPU-s",
        "peak MB",
        "step-1 loss",
        "vs TRL",
    ):
        table.add_column(column, justify="right")
    table.add_column("notes")
    for run, r in zip(RUNS, results, strict=True):
        rival = trl.get(r["method"])
        ratio = "" if run.trainer == "trl" or rival is None else (
            f"{r['tokens_per_s'] / rival['tokens_per_s']:.2f}x"
        )  # fmt: skip
        r["ratio_vs_trl"] = None if not ratio else r["tokens_per_s"] / rival["tokens_per_s"]
        key = (run.trainer, run.method, run.teacher_source) if run.teacher_source else (
            run.trainer, run.method)  # fmt: skip
        r["notes"] = NOTES[key].format(k=args.top_k, cache_s=cache_s)
        table.add_row(
            r["trainer"],
            r["method"],
            f"{r['tokens_per_s']:,.0f}",
            f"{r['tokens_per_cpu_s']:,.0f}",
            f"{r['peak_mb']:,.1f}",
            f"{r['first_loss']:.4f}",
            ratio,
            r["notes"],
        )
    table.add_row("TRL", "sad", *["n/a"] * 5, "TRL has no per-span loss: not comparable")
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker is not None:
        worker(args.worker)
        return
    require_trl()
    for path in (args.teacher, args.trajectories):
        if not path.exists():
            raise SystemExit(f"{path}: not found (the default run writes it: `make run`)")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = prepare(args)
    with tempfile.TemporaryDirectory(prefix="trainer_vs_trl-") as tmp:
        folder = Path(tmp)
        cache = folder / "teacher_cache"
        cache_s = build_cache(args, data, cache)
        results = []
        for run in RUNS:
            print(f"running {run.label} {run.method} ...", file=sys.stderr, flush=True)
            results.append(run_worker(run, args, cache, folder))
    report(results, args, cache_s)
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": results, "cache_s": cache_s,
                                         "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
