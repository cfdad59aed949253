"""The whole distillation experiment as stages: teacher -> rollouts -> segments -> students ->
benchmarks -> report. The CLI (`agentdistill experiment`), the DVC stages and the Dagster
assets all call these functions; each reads its inputs from, and writes its outputs under,
one artifact root:

    config = load_config(ExperimentConfig, "configs/experiment/default.yaml")
    paths = ExperimentPaths(Path("runs/experiment"))
    teacher_dir = run_teacher(config, paths)
    rollouts = run_teacher_rollouts(config, paths)
    ...

Layout under the root:
    teacher/                 expert_train.jsonl, tokenizer/, train/model/ (the teacher)
    teacher_rollouts/        train_all.jsonl (every episode), train.jsonl (kept), summary.json
    segments/                summary.json (span token counts, coverage), teacher_cache/
    students/<name>/         model/, metrics.jsonl, distill_summary.json (name: sad-s0, ...)
    benchmarks/<name>/       <split>.jsonl (episodes), metrics.json
    report/                  report.md, report.png, report.json

Every stage is idempotent: it skips work whose outputs exist (training resumes).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from agentdistill.config import Config, FormatConfig
from agentdistill.distillation.losses import KL_METHODS, Method
from agentdistill.distillation.teacher_cache import build_teacher_cache
from agentdistill.distillation.trainer import DistillConfig, DistillSummary, distill
from agentdistill.environments.registry import make_env, make_suite
from agentdistill.evaluation import EnvMetrics, ReportEntry, benchmark_metrics, write_report
from agentdistill.files import write_text_atomic
from agentdistill.formats import SpanLabel
from agentdistill.models import count_parameters, load_model
from agentdistill.policies.hf import DecodingConfig
from agentdistill.records import Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, run_rollouts, summarize
from agentdistill.segmentation import Segmentation
from agentdistill.teacher import TeacherConfig, bootstrap_teacher, load_policy
from agentdistill.tokenizer import load_tokenizer
from agentdistill.training import segment_all

log = logging.getLogger(__name__)


class TeacherRolloutConfig(Config):
    """How the teacher plays the train split to make the distillation data."""

    tasks: int | None = Field(default=400, gt=0, description="First N train tasks (None: all).")
    decoding: DecodingConfig = Field(
        default_factory=lambda: DecodingConfig(ground_actions=True),
        description="Teacher decoding (greedy and grounded by default).",
    )
    max_steps: int = Field(
        default=30, gt=0, description="Step cap (the expert needs at most 25 steps)."
    )
    batch_size: int = Field(default=64, gt=0, description="Episodes at once.")
    keep: str = Field(
        default="success",
        pattern="^(success|all)$",
        description="success: distil from the teacher's successful episodes only "
        "(filtered imitation); all: every episode.",
    )


class BenchmarkConfig(Config):
    """How every model is evaluated."""

    split: str = Field(default="valid_unseen", description="Evaluation split.")
    limit: int | None = Field(default=None, gt=0, description="First N tasks (None: all).")
    decoding: DecodingConfig = Field(
        default_factory=lambda: DecodingConfig(ground_actions=True),
        description="Decoding of every evaluated model (greedy, as in the paper).",
    )
    batch_size: int = Field(default=67, gt=0, description="Episodes at once.")
    max_steps: int | None = Field(default=None, gt=0, description="None: the env's cap.")
    bootstrap: int = Field(default=1000, gt=0, description="Bootstrap resamples of each CI.")
    seed: int = Field(default=0, description="Bootstrap seed.")


class ExperimentConfig(Config):
    """The whole experiment: a teacher, its rollouts, the students, their benchmark."""

    env: str = Field(default="alfworld", description="Environment.")
    teacher: TeacherConfig = Field(
        default_factory=TeacherConfig, description="Offline teacher bootstrap."
    )
    teacher_model: str | None = Field(
        default=None,
        description="An existing teacher (HF model folder with its tokenizer): skips the "
        "bootstrap. Students are built with its tokenizer.",
    )
    rollouts: TeacherRolloutConfig = Field(
        default_factory=TeacherRolloutConfig, description="Teacher rollouts."
    )
    distill: DistillConfig = Field(
        default_factory=DistillConfig,
        description="Distillation settings shared by every student (method and seed are set "
        "per student).",
    )
    methods: list[Method] = Field(
        default_factory=lambda: ["sad", "seqkd", "token_kd"],
        description="Methods trained with every seed.",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1], description="Student seeds.")
    ablations: list[Method] = Field(
        default_factory=lambda: ["sad_reason_only", "sad_act_only"],
        description="Methods trained with the first seed only.",
    )
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="Evaluation.")

    def students(self) -> list[tuple[str, Method, int]]:
        """(name, method, seed) of every student, e.g. ('sad-s0', 'sad', 0)."""
        runs = [(m, s) for m in self.methods for s in self.seeds]
        runs += [(m, self.seeds[0]) for m in self.ablations if self.seeds]
        return [(f"{m}-s{s}", m, s) for m, s in runs]


class ExperimentPaths:
    """Where each stage writes, under one root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.teacher = self.root / "teacher"
        self.rollouts = self.root / "teacher_rollouts"
        self.segments = self.root / "segments"
        self.students = self.root / "students"
        self.benchmarks = self.root / "benchmarks"
        self.report = self.root / "report"

    @property
    def teacher_cache(self) -> Path:
        return self.segments / "teacher_cache"

    @property
    def distill_data(self) -> Path:
        return self.rollouts / "train.jsonl"

    def student(self, name: str) -> Path:
        return self.students / name

    def benchmark(self, name: str) -> Path:
        return self.benchmarks / name


class StageTiming(BaseModel):
    stage: str
    seconds: float


def _timed(paths: ExperimentPaths, stage: str, began: float) -> None:
    """Append a stage's wall time to `timings.jsonl` (the default run's time budget)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with (paths.root / "timings.jsonl").open("a") as handle:
        handle.write(
            StageTiming(stage=stage, seconds=time.perf_counter() - began).model_dump_json()
        )
        handle.write("\n")


# ---- stages ---------------------------------------------------------------------------------


def teacher_dir(config: ExperimentConfig, paths: ExperimentPaths) -> Path:
    """The teacher model folder (a given one, or the bootstrapped one)."""
    if config.teacher_model:
        return Path(config.teacher_model)
    return paths.teacher / "train" / "model"


def run_teacher(config: ExperimentConfig, paths: ExperimentPaths) -> Path:
    """Bootstrap the offline teacher (resumes; skips a finished one)."""
    began = time.perf_counter()
    target = teacher_dir(config, paths)
    if config.teacher_model:
        if not (target / "config.json").exists():
            raise FileNotFoundError(f"teacher_model {target}: no config.json there")
        return target
    if not (paths.teacher / "teacher_summary.json").exists():
        bootstrap_teacher(config.teacher, paths.teacher)
        _timed(paths, "teacher", began)
    return target


def run_teacher_rollouts(config: ExperimentConfig, paths: ExperimentPaths) -> Path:
    """The teacher plays the train split; the kept episodes are the distillation data."""
    if paths.distill_data.exists():
        return paths.distill_data
    began = time.perf_counter()
    settings = config.rollouts
    tasks = make_suite(config.env).tasks("train")[: settings.tasks]
    fmt = config.distill.format.build()
    policy = load_policy(teacher_dir(config, paths), fmt, settings.decoding, name="teacher")
    episodes = run_rollouts(
        policy,
        lambda: make_env(config.env),
        tasks,
        RolloutConfig(batch_size=settings.batch_size, max_steps=settings.max_steps),
        seed=settings.decoding.seed,
    )
    kept = [t for t in episodes if t.success] if settings.keep == "success" else episodes
    if not kept:
        raise RuntimeError(
            f"the teacher solved none of {len(episodes)} train episodes: nothing to distil "
            "(train a better teacher or set rollouts.keep=all)"
        )
    write_jsonl(paths.rollouts / "train_all.jsonl", episodes)
    summary = {**summarize(episodes), "kept": len(kept), "keep": settings.keep}
    write_text_atomic(paths.rollouts / "summary.json", json.dumps(summary, indent=2))
    write_jsonl(paths.distill_data, kept)
    _timed(paths, "teacher_rollouts", began)
    return paths.distill_data


def run_segments(config: ExperimentConfig, paths: ExperimentPaths) -> dict[str, float]:
    """Segment the distillation data with the student tokenizer; build the teacher cache."""
    summary_file = paths.segments / "summary.json"
    if summary_file.exists():
        return json.loads(summary_file.read_text())
    began = time.perf_counter()
    teacher = teacher_dir(config, paths)
    tokenizer = load_tokenizer(teacher)
    trajectories = read_jsonl(paths.distill_data, Trajectory)
    train = config.distill.train.model_copy(update={"format": config.distill.format})
    segs, cut = segment_all(trajectories, tokenizer, train)
    counts = {label.name: sum(s.counts()[label.name] for s in segs) for label in SpanLabel}
    total = sum(counts.values())
    summary = {
        "trajectories": len(segs),
        "tokens": total,
        **{f"{name.lower()}_tokens": n for name, n in counts.items()},
        "truncated": cut,
        "span_coverage": span_coverage(trajectories, segs),
    }
    methods = set(config.methods) | set(config.ablations)
    if methods & set(KL_METHODS) or config.distill.curriculum:
        build_teacher_cache(
            load_model(teacher),
            segs,
            paths.teacher_cache,
            k=config.distill.top_k,
            temperature=config.distill.temperature,
            pad_id=tokenizer.pad_token_id or 0,
        )
    write_text_atomic(summary_file, json.dumps(summary, indent=2))
    _timed(paths, "segments", began)
    return summary


def span_coverage(trajectories: Sequence[Trajectory], segs: Sequence[Segmentation]) -> float:
    """Share of (step, span) pairs whose text lies inside that step's tokens of its label.

    1.0 means no thought or action a student must learn escaped its loss (cut sequences
    excluded past their cut).
    """
    covered = total = 0
    for trajectory, seg in zip(trajectories, segs, strict=True):
        for index, step in enumerate(trajectory.steps):
            for label, text in ((SpanLabel.REASON, step.reasoning), (SpanLabel.ACT, step.action)):
                if not text or not step.imitate:
                    continue
                chosen = (seg.steps == index) & (seg.labels == label)
                if not chosen.any():
                    if index > int(seg.steps.max()):
                        continue  # cut off by max_length
                    total += 1
                    continue
                total += 1
                start, end = int(seg.offsets[chosen, 0].min()), int(seg.offsets[chosen, 1].max())
                covered += text in seg.text[start:end]
    return covered / max(total, 1)


def run_student(
    config: ExperimentConfig, paths: ExperimentPaths, method: Method, seed: int
) -> DistillSummary:
    """Distil one student (resumes; skips a finished one)."""
    out = paths.student(f"{method}-s{seed}")
    if (out / "distill_summary.json").exists():
        return DistillSummary.model_validate_json((out / "distill_summary.json").read_text())
    began = time.perf_counter()
    settings = config.distill.model_copy(
        update={
            "method": method,
            "student_seed": seed,
            "train": config.distill.train.model_copy(update={"seed": seed}),
        }
    )
    trajectories = read_jsonl(paths.distill_data, Trajectory)
    summary = distill(
        settings, teacher_dir(config, paths), trajectories, out, cache_dir=paths.teacher_cache
    )
    _timed(paths, f"student:{method}-s{seed}", began)
    return summary


class BenchmarkResult(BaseModel):
    """One model's benchmark: where its episodes are and its metrics per environment."""

    name: str
    model_dir: str
    parameters: int
    episodes_file: str
    metrics: list[EnvMetrics]
    wall_s: float


def benchmark_model(
    model_dir: str | Path,
    out_dir: str | Path,
    settings: BenchmarkConfig,
    env: str = "alfworld",
    name: str = "model",
    fmt: FormatConfig | None = None,
    reference_file: str | Path | None = None,
) -> BenchmarkResult:
    """Play the evaluation split with a model; metrics with bootstrap CIs -> out_dir.

    `reference_file`: the teacher's episodes on the same tasks, for the CoT match rate (a
    model compared with itself when None and `name` is 'teacher').
    """
    out = Path(out_dir)
    began = time.perf_counter()
    episodes_file = out / f"{settings.split}.jsonl"
    policy = load_policy(
        model_dir, (fmt or FormatConfig(name="alfworld")).build(), settings.decoding, name=name
    )
    tasks = make_suite(env).tasks(settings.split)[: settings.limit]
    episodes = run_rollouts(
        policy,
        lambda: make_env(env),
        tasks,
        RolloutConfig(batch_size=settings.batch_size, max_steps=settings.max_steps),
        seed=settings.decoding.seed,
    )
    write_jsonl(episodes_file, episodes)
    reference = episodes if name == "teacher" else None
    if reference_file is not None and Path(reference_file).exists():
        reference = read_jsonl(reference_file, Trajectory)
    metrics = benchmark_metrics(
        episodes,
        policy.tokenizer,
        teacher_trajectories=reference,
        n_boot=settings.bootstrap,
        seed=settings.seed,
    )
    result = BenchmarkResult(
        name=name,
        model_dir=str(model_dir),
        parameters=count_parameters(policy.model),
        episodes_file=str(episodes_file),
        metrics=metrics,
        wall_s=time.perf_counter() - began,
    )
    write_text_atomic(out / "metrics.json", result.model_dump_json(indent=2))
    return result


def run_benchmark(
    config: ExperimentConfig, paths: ExperimentPaths, name: str, model_dir: Path
) -> BenchmarkResult:
    """Benchmark one model of the experiment (skips a finished one).

    Students are compared with the teacher's episodes on the same tasks (CoT match), so the
    teacher is benchmarked first.
    """
    out = paths.benchmark(name)
    if (out / "metrics.json").exists():
        return BenchmarkResult.model_validate_json((out / "metrics.json").read_text())
    began = time.perf_counter()
    result = benchmark_model(
        model_dir,
        out,
        config.benchmark,
        env=config.env,
        name=name,
        fmt=config.distill.format,
        reference_file=paths.benchmark("teacher") / f"{config.benchmark.split}.jsonl",
    )
    _timed(paths, f"benchmark:{name}", began)
    return result


def run_report(config: ExperimentConfig, paths: ExperimentPaths) -> dict[str, Path]:
    """The comparison report of the teacher and every benchmarked student."""
    teacher = BenchmarkResult.model_validate_json(
        (paths.benchmark("teacher") / "metrics.json").read_text()
    )
    entries = [
        ReportEntry(
            name="teacher",
            method="teacher",
            seed=None,
            parameters=teacher.parameters,
            compression=1.0,
            metrics=teacher.metrics,
            wall_s=None,
        )
    ]
    for name, method, seed in config.students():
        result_file = paths.benchmark(name) / "metrics.json"
        if not result_file.exists():
            continue
        result = BenchmarkResult.model_validate_json(result_file.read_text())
        summary = DistillSummary.model_validate_json(
            (paths.student(name) / "distill_summary.json").read_text()
        )
        entries.append(
            ReportEntry(
                name=name,
                method=method,
                seed=seed,
                parameters=result.parameters,
                compression=teacher.parameters / result.parameters,
                metrics=result.metrics,
                wall_s=summary.train.wall_s + summary.cache_s,
            )
        )
    files = write_report(entries, paths.report)
    # flat numbers per model (`dvc metrics show`, MLflow): success with its CI, size
    leaderboard = {
        entry.name: {
            "parameters": entry.parameters,
            "compression": round(entry.compression, 2),
            **{
                f"{m.env}_{key}": round(value, 4)
                for m in entry.metrics
                for key, value in (
                    ("success", m.success_rate.value),
                    ("success_low", m.success_rate.low),
                    ("success_high", m.success_rate.high),
                    ("steps", m.mean_steps.value),
                )
            },
        }
        for entry in entries
    }
    files["leaderboard"] = paths.report / "leaderboard.json"
    write_text_atomic(files["leaderboard"], json.dumps(leaderboard, indent=2))
    return files


STAGES = ("teacher", "teacher_rollouts", "segments", "students", "benchmarks", "report")


def run_experiment(
    config: ExperimentConfig, root: str | Path, stages: Sequence[str] = STAGES
) -> ExperimentPaths:
    """Run the listed stages in order (each skips work already done)."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; expected some of {STAGES}")
    paths = ExperimentPaths(root)
    if "teacher" in stages:
        run_teacher(config, paths)
    if "teacher_rollouts" in stages:
        run_teacher_rollouts(config, paths)
    if "segments" in stages:
        run_segments(config, paths)
    if "students" in stages:
        for _, method, seed in config.students():
            run_student(config, paths, method, seed)
    if "benchmarks" in stages:
        run_benchmark(config, paths, "teacher", teacher_dir(config, paths))
        for name, _, _ in config.students():
            run_benchmark(config, paths, name, paths.student(name) / "model")
    if "report" in stages:
        run_report(config, paths)
    return paths
