"""The whole distillation experiment as stages: tasks -> teacher -> teacher benchmark (floor)
-> rollouts -> segments -> students -> benchmarks -> report. The CLI (`agentdistill
experiment`), the DVC stages and the Dagster assets all call these functions; each reads its
inputs from `data/` and the artifact root, writes its outputs under the root, and logs its
MLflow runs itself (idempotently: a stage re-run on the same inputs reuses its run):

    config = load_config(ExperimentConfig, "configs/experiment/default.yaml")
    paths = ExperimentPaths(Path("runs/experiment"))
    run_experiment(config, paths.root)            # or one stage: run_teacher(config, paths)

One source of truth per run:
- format: `config.format` (with its preamble) is the text format of the teacher's training,
  its rollouts, the students' training and every benchmark; each trained model folder records
  it (`agentdistill_format.json`) and a model is never prompted in another one.
- data: the tasks are read from `config.data_dir` (`data/<env>/<split>.jsonl`, tracked by
  DVC); the SHA-256 of what was read tags every MLflow run.
- tracking: every stage logs through one `Tracker` (`config.tracking`; `enabled: false` opts
  out), keyed by stage, resolved config and input hashes (`fingerprints.run_key`).

Layout under the root:
    teacher/                 expert_train.jsonl, tokenizer/, train/model/ (the teacher)
    teacher_benchmark/       <split>.jsonl, metrics.json, floor.json (the teacher floor check)
    teacher_rollouts/        train_all.jsonl (every episode), train.jsonl (kept), summary.json
    segments/                summary.json (span token counts, coverage), teacher_cache/
    students/<name>/         model/, metrics.jsonl, distill_summary.json (name: sad-s0, ...)
    benchmarks/<name>/       <split>.jsonl (episodes), metrics.json
    report/                  report.md, report.png, report.json, leaderboard.json

Every stage is idempotent: it skips work whose outputs exist (training resumes; rollouts and
benchmarks save each episode as it finishes, `<episodes file>.partial`, and a killed one
plays only the tasks it had not finished).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from agentdistill.config import Config, FormatConfig, resolve_format
from agentdistill.distillation.losses import KL_METHODS, Method
from agentdistill.distillation.on_policy import (
    ON_POLICY_OWNED,
    OnPolicyConfig,
    check_on_policy,
    distill_on_policy,
)
from agentdistill.distillation.teacher_cache import build_teacher_cache
from agentdistill.distillation.trainer import (
    DISTILL_OWNED,
    DistillConfig,
    DistillSummary,
    distill,
    distill_identity,
)
from agentdistill.environments.names import DEFAULT_FORMATS, ENGINES, EVAL_SPLITS
from agentdistill.environments.registry import check_env_name, make_env
from agentdistill.evaluation import (
    Comparison,
    EnvMetrics,
    ReportEntry,
    Retention,
    benchmark_metrics,
    compare_groups,
    retention,
    statistics_markdown,
    write_report,
)
from agentdistill.files import write_text_atomic
from agentdistill.fingerprints import combined_hash, file_sha256, model_sha256, run_key
from agentdistill.formats import SpanLabel
from agentdistill.inputs import read_trajectories
from agentdistill.models import count_parameters, load_model
from agentdistill.policies.hf import DecodingConfig, HFPolicy
from agentdistill.policies.trivial import TRIVIAL_POLICIES, TrivialPolicy
from agentdistill.records import Task, Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, progress_path, run_rollouts, summarize
from agentdistill.run_folder import claim_run_folder, conflicts
from agentdistill.runtime import (
    RuntimeConfig,
    is_main_process,
    main_decides,
    on_main,
    start_processes,
)
from agentdistill.segmentation import Segmentation
from agentdistill.task_data import DEFAULT_DATA_DIR, TaskFile, load_tasks
from agentdistill.teacher import (
    TEACHER_OWNED,
    TeacherConfig,
    bootstrap_teacher,
    load_policy,
    teacher_identity,
)
from agentdistill.tokenizer import load_tokenizer
from agentdistill.tracking import Tracker, TrackingConfig
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
    grounded_teacher: bool = Field(
        default=False,
        description="Also benchmark the teacher with action grounding (`teacher-grounded`), "
        "reported beside the headline decoding; students are never grounded by it.",
    )


class StudentSize(Config):
    """Another compression: students of another preset, trained with every seed."""

    name: str = Field(
        pattern=r"^[a-z0-9]+$", description="Suffix of its students' names, e.g. '30x'."
    )
    student: str = Field(description="Model preset (models.PRESETS) or HF model folder.")
    methods: list[Method] = Field(
        default_factory=lambda: ["sad"], description="Methods trained at this size."
    )


@dataclass(frozen=True)
class StudentSpec:
    """One student of the experiment."""

    name: str
    """Its folder and display name: `<group>-s<seed>`, e.g. 'sad-s0', 'sad-30x-s1'."""
    group: str
    """What its seeds are averaged over: 'sad', 'sad-30x', 'sad-onpolicy'."""
    method: Method
    seed: int
    student: str
    """Preset or model folder it starts from."""
    on_policy: bool = False


class TeacherFloorConfig(Config):
    """The bar a teacher must clear before any student is distilled from it.

    The floor is `best trivial policy's success + margin` on the benchmark tasks (the trivial
    policies are played on the same tasks, see `policies/trivial.py`), or a fixed `absolute`
    floor instead. A teacher no better than random play has nothing worth distilling; the
    margin makes "better" mean more than noise: with 134 valid_unseen games a 10-point gap
    is about twice the standard error of a success rate near 20%.
    """

    trivial_policies: list[str] = Field(
        default_factory=lambda: list(TRIVIAL_POLICIES),
        description=f"Trivial policies played on the benchmark tasks ({TRIVIAL_POLICIES}).",
    )
    margin: float = Field(
        default=0.10, ge=0.0, le=1.0, description="Success the teacher needs above the best."
    )
    absolute: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="A fixed floor instead of trivial + margin (only the smoke profile uses 0).",
    )
    seed: int = Field(default=0, description="Seed of the random trivial policy.")


class ExperimentConfig(Config):
    """The whole experiment: a teacher, its rollouts, the students, their benchmark."""

    name: str = Field(
        default="custom",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Profile name: tags every MLflow run and model version; the champion "
        "rule compares only versions of one profile.",
    )
    env: str = Field(default="alfworld", description="Environment.")
    data_dir: str = Field(
        default=DEFAULT_DATA_DIR,
        description="Folder of the task files (`<env>/<split>.jsonl`, tracked by DVC); a "
        "missing file is generated from the environment's suite.",
    )
    format: FormatConfig = Field(
        default_factory=lambda: FormatConfig(name="alfworld"),
        description="The text format and preamble of every stage: teacher training, teacher "
        "rollouts, student training and every benchmark.",
    )
    teacher: TeacherConfig = Field(
        default_factory=TeacherConfig, description="Offline teacher bootstrap."
    )
    teacher_model: str | None = Field(
        default=None,
        description="An existing teacher (HF model folder with its tokenizer): skips the "
        "bootstrap. Students are built with its tokenizer.",
    )
    teacher_floor: TeacherFloorConfig = Field(
        default_factory=TeacherFloorConfig,
        description="The teacher must clear this before students are trained.",
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
    sizes: list[StudentSize] = Field(
        default_factory=list,
        description="Further compressions (students of other presets), each with every seed.",
    )
    on_policy_methods: list[Method] = Field(
        default_factory=list,
        description="Methods also trained on-policy (`<method>-onpolicy-s<seed>`, every seed, "
        "the main student preset, the offline students' token budget).",
    )
    on_policy: OnPolicyConfig = Field(
        default_factory=OnPolicyConfig, description="How on-policy students play and learn."
    )
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="Evaluation.")
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="MLflow store, registry and champion rule."
    )
    runtime: RuntimeConfig = Field(
        default_factory=RuntimeConfig,
        description="Device and precision of every stage (teacher training, rollouts, the "
        "teacher cache, students, benchmarks). What a profile sets under teacher.runtime or "
        "distill.runtime overrides it, field by field, for that training.",
    )

    @model_validator(mode="before")
    @classmethod
    def _env_defaults(cls, data: Any) -> Any:
        """The environment's own text format and evaluation split unless the profile sets
        them (ALFWorld: `alfworld`, valid_unseen; WebShop: `webshop`, test; HotPotQA:
        `react`, test)."""
        if not isinstance(data, dict):
            return data
        env = data.get("env", "alfworld")
        if env not in ENGINES:
            return data  # the field check names it
        data = dict(data)
        data.setdefault("format", {"name": DEFAULT_FORMATS[env]})
        bench = data.get("benchmark", {})
        if isinstance(bench, dict) and "split" not in bench:
            data["benchmark"] = {**bench, "split": EVAL_SPLITS[env]}
        return data

    @field_validator("env")
    @classmethod
    def _playable(cls, value: str) -> str:
        check_env_name(value)
        return value

    def teacher_config(self) -> TeacherConfig:
        """The teacher's bootstrap settings, with the profile's runtime applied."""
        return self.teacher.model_copy(
            update={"runtime": self.runtime.merged(self.teacher.runtime)}
        )

    @property
    def distill_runtime(self) -> RuntimeConfig:
        """The students' runtime (and so the teacher cache's: built in the same precision,
        it is the cache every student reads)."""
        return self.runtime.merged(self.distill.runtime)

    def student_specs(self) -> list[StudentSpec]:
        """Every student: methods x seeds, ablations (first seed), other sizes x seeds,
        on-policy methods x seeds."""
        main = self.distill.student
        specs = [StudentSpec(f"{m}-s{s}", m, m, s, main) for m in self.methods for s in self.seeds]
        if self.seeds:
            seed = self.seeds[0]
            specs += [StudentSpec(f"{m}-s{seed}", m, m, seed, main) for m in self.ablations]
        for size in self.sizes:
            for m in size.methods:
                group = f"{m}-{size.name}"
                specs += [StudentSpec(f"{group}-s{s}", group, m, s, size.student)
                          for s in self.seeds]  # fmt: skip
        for m in self.on_policy_methods:
            group = f"{m}-onpolicy"
            specs += [StudentSpec(f"{group}-s{s}", group, m, s, main, on_policy=True)
                      for s in self.seeds]  # fmt: skip
        return specs

    def students(self) -> list[tuple[str, Method, int]]:
        """(name, method, seed) of every student, e.g. ('sad-s0', 'sad', 0)."""
        return [(spec.name, spec.method, spec.seed) for spec in self.student_specs()]

    def student_spec(self, name: str) -> StudentSpec:
        for spec in self.student_specs():
            if spec.name == name:
                return spec
        raise KeyError(f"no student {name!r} in profile {self.name!r}")

    def student_config(
        self, method: Method, seed: int, student: str | None = None
    ) -> DistillConfig:
        """The resolved settings of one student (what it trains with and what is logged)."""
        return self.distill.model_copy(
            update={
                "method": method,
                "student_seed": seed,
                "student": student or self.distill.student,
                "train": self.distill.train.model_copy(update={"seed": seed}),
                "runtime": self.distill_runtime,
            }
        )

    @model_validator(mode="after")
    def _students(self) -> ExperimentConfig:
        names = [spec.name for spec in self.student_specs()]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"students named twice: {doubled} (check methods/ablations/sizes)")
        for method in self.on_policy_methods:
            check_on_policy(self.distill.model_copy(update={"method": method}))
        return self


GROUNDED_TEACHER = "teacher-grounded"
"""The teacher benchmarked with action grounding (`BenchmarkConfig.grounded_teacher`)."""


class ExperimentPaths:
    """Where each stage writes, under one root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.teacher = self.root / "teacher"
        self.teacher_benchmark = self.root / "teacher_benchmark"
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

    @property
    def floor(self) -> Path:
        return self.teacher_benchmark / "floor.json"

    def student(self, name: str) -> Path:
        return self.students / name

    def benchmark(self, name: str) -> Path:
        """Benchmark folder of a model ('teacher', 'teacher-grounded' or a student name)."""
        if name == GROUNDED_TEACHER:
            return self.teacher_benchmark / "grounded"
        return self.teacher_benchmark if name == "teacher" else self.benchmarks / name


class StageTiming(BaseModel):
    stage: str
    seconds: float


def _timed(paths: ExperimentPaths, stage: str, began: float) -> None:
    """Append a stage's wall time to `timings.jsonl` (the default run's time budget); rank 0
    alone writes it when the experiment runs in several processes."""
    if not is_main_process():
        return
    paths.root.mkdir(parents=True, exist_ok=True)
    with (paths.root / "timings.jsonl").open("a") as handle:
        handle.write(
            StageTiming(stage=stage, seconds=time.perf_counter() - began).model_dump_json()
        )
        handle.write("\n")


# Stage groups of the time table, in chain order: (label, test on a timings.jsonl stage name);
# the first group that matches a stage takes it
TIME_GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("teacher (its last session)", lambda s: s == "teacher"),
    ("teacher benchmarks", lambda s: s.startswith("benchmark:teacher")),
    ("teacher rollouts", lambda s: s == "teacher_rollouts"),
    ("segments + teacher cache", lambda s: s == "segments"),
    ("students", lambda s: s.startswith("student:")),
    ("student benchmarks", lambda s: s.startswith("benchmark:")),
)


def stage_time_table(env_root: Path) -> str:
    """Markdown table of an environment's stage times (`<out>/<env>/timings.jsonl`): per group
    of stages, how many ran, minutes and share of the total. A stage timed twice (rerun)
    counts its last run; a resumed stage's time is that of the session that finished it."""
    from agentdistill.results import markdown_table

    file = env_root / "timings.jsonl"
    if not file.exists():
        raise FileNotFoundError(f"{file}: no stage has finished under {env_root}")
    # a bad line raises RecordFileError (a ValueError) naming the file, line and field
    last = {t.stage: t.seconds for t in read_jsonl(file, StageTiming)}
    runs, total = len(last), sum(last.values())
    rows = []
    for label, member in TIME_GROUPS:
        stages = [stage for stage in last if member(stage)]
        if stages:
            seconds = sum(last.pop(stage) for stage in stages)
            rows.append([label, str(len(stages)), f"{seconds / 60:.1f}", f"{seconds / total:.0%}"])
    for stage, seconds in last.items():  # a stage no group names
        rows.append([stage, "1", f"{seconds / 60:.1f}", f"{seconds / total:.0%}"])
    rows.append(["**total**", str(runs), f"{total / 60:.1f}", "100%"])
    return markdown_table(["stages", "runs", "minutes", "share"], rows, text=1)


# ---- tracking -------------------------------------------------------------------------------


def _changed(folder: Path, identity: Mapping[str, Any], owned: Sequence[str], what: str) -> bool:
    """Whether `folder` holds an earlier run of other settings or inputs (then the stage
    runs again from scratch, as DVC reruns a stage whose params or deps changed)."""
    reasons = conflicts(folder, identity, owned)
    if reasons:
        log.warning(
            "%s: settings or inputs changed (%s): running it again", what, "; ".join(reasons)
        )
    return bool(reasons)


def make_tracker(config: ExperimentConfig) -> Tracker:
    """The experiment's tracker (its registered model is the environment's).

    `$MLFLOW_TRACKING_URI`, when set, replaces a profile that names no tracking URI (as in
    Dagster's `MLflowResource`): the CLI, DVC and Dagster then log to the same store. In a
    job of several processes only rank 0 logs: the others get a disabled tracker.
    """
    settings = config.tracking
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri and not settings.tracking_uri:
        settings = settings.model_copy(update={"tracking_uri": uri})
    if not is_main_process():
        settings = settings.model_copy(update={"enabled": False})
    return Tracker(settings, env=config.env)


PLACEMENT = {"runtime": {"device", "collective_timeout_s"}}
"""Runtime fields that do not change what a training run produces: left out of its logged
settings and so of its MLflow run key (a run trained on a GPU, its stage re-run on a CPU,
is the same run, as its `run.json` says)."""


def _base_tags(config: ExperimentConfig, tags: Mapping[str, str] | None) -> dict[str, str]:
    return {"profile": config.name, "env": config.env, **(tags or {})}


def _fmt_dump(config: ExperimentConfig) -> dict[str, Any]:
    return config.format.model_dump(mode="json")


# ---- stages ---------------------------------------------------------------------------------


def train_tasks(config: ExperimentConfig, limit: int | None = None) -> TaskFile:
    return load_tasks(config.env, "train", config.data_dir, limit=limit)


def benchmark_tasks(config: ExperimentConfig) -> TaskFile:
    return load_tasks(
        config.env, config.benchmark.split, config.data_dir, limit=config.benchmark.limit
    )


def run_tasks(config: ExperimentConfig) -> dict[str, TaskFile]:
    """The task files every stage reads (generated when absent, and logged as such)."""
    return {"train": train_tasks(config), config.benchmark.split: benchmark_tasks(config)}


def teacher_dir(config: ExperimentConfig, paths: ExperimentPaths) -> Path:
    """The teacher model folder (a given one, or the bootstrapped one)."""
    if config.teacher_model:
        return Path(config.teacher_model)
    return paths.teacher / "train" / "model"


def model_policy(
    config: ExperimentConfig, model_dir: str | Path, decoding: DecodingConfig, name: str
) -> HFPolicy:
    """A model of the experiment as a policy: the experiment's format and preamble.

    A model folder that records another format (it was trained with it) is an error.
    """
    fmt = resolve_format(model_dir, config.format)
    return load_policy(
        model_dir, fmt.build(), decoding, preamble=fmt.preamble, name=name, runtime=config.runtime
    )


@dataclass
class TeacherOutcome:
    model_dir: Path
    run_id: str
    summary: dict[str, Any] | None


def run_teacher(
    config: ExperimentConfig,
    paths: ExperimentPaths,
    tracker: Tracker | None = None,
    tags: Mapping[str, str] | None = None,
) -> TeacherOutcome:
    """Bootstrap the offline teacher (resumes; skips a finished one); log its training run.

    In a job of several processes every process trains (data parallel); rank 0 logs.
    """
    began = time.perf_counter()
    target = teacher_dir(config, paths)
    if config.teacher_model:
        if not (target / "config.json").exists():
            raise FileNotFoundError(f"teacher_model {target}: no config.json there")
        resolve_format(target, config.format)
        return TeacherOutcome(target, "", None)
    settings = config.teacher_config()
    tasks = train_tasks(config, settings.train_tasks)
    summary_file = paths.teacher / "teacher_summary.json"
    identity = teacher_identity(settings, config.format, tasks.tasks)
    restart = _changed(paths.teacher, identity, TEACHER_OWNED, "teacher")
    # rank 0's view decides: the processes must all train, or none
    if main_decides(restart or not summary_file.exists()):
        bootstrap_teacher(settings, paths.teacher, config.format, tasks=tasks.tasks,
                          restart=restart)  # fmt: skip
        _timed(paths, "teacher", began)
    tracker = tracker or make_tracker(config)
    logged = {"teacher": settings.model_dump(mode="json", exclude=PLACEMENT),
              "format": _fmt_dump(config)}  # fmt: skip
    key = run_key("teacher", {**logged, "profile": config.name}, {"train_tasks": tasks.sha256})
    run_id = tracker.log_training(
        "teacher",
        logged,
        paths.teacher / "train",
        tags={**_base_tags(config, tags), "role": "teacher", "data_sha256": tasks.sha256},
        run_key=key,
        decoding=config.benchmark.decoding,
    )
    summary = json.loads(summary_file.read_text())
    rounds = summary.get("rounds", [])
    if run_id and rounds and tracker.enabled:
        # each DAgger round's figures and labelled data, kept with the teacher's run (once)
        logged = tracker.client.get_run(run_id).data.metrics
        for r in rounds:
            prefix = f"dagger/round{r['round']}"
            if f"{prefix}/learner_success" in logged:
                continue
            folder = paths.teacher / "dagger" / f"round-{r['round']}"
            figures = ("learner_success", "agreement", "states_labelled")
            tracker.log_benchmark(
                "teacher",
                {f"{prefix}/{name}": float(r["labels"][name]) for name in figures},
                [folder / "train.jsonl", folder / "summary.json"],
                run_id=run_id,
                artifact_dir=f"dagger/round-{r['round']}",
            )
    return TeacherOutcome(target, run_id, summary)


class FloorResult(BaseModel):
    """The teacher floor check (`teacher_benchmark/floor.json`)."""

    teacher_success: float
    trivial_success: dict[str, float]
    floor: float
    rule: str
    passed: bool
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The profile's teacher_floor it was computed with."
    )


class TeacherBelowFloorError(RuntimeError):
    """The teacher does not clear the profile's floor: distilling it would prove nothing."""


def teacher_floor(
    config: ExperimentConfig, teacher_success: float, tasks: Sequence[Task]
) -> FloorResult:
    """Play the trivial policies on the benchmark tasks; the floor and whether it is met."""
    settings = config.teacher_floor
    trivial: dict[str, float] = {}
    for kind in settings.trivial_policies:
        episodes = run_rollouts(
            TrivialPolicy(kind, settings.seed),
            lambda: make_env(config.env),
            tasks,
            RolloutConfig(batch_size=64, max_steps=config.benchmark.max_steps),
            seed=settings.seed,
        )
        trivial[kind] = sum(t.success for t in episodes) / max(len(episodes), 1)
    if settings.absolute is not None:
        floor, rule = settings.absolute, f"fixed floor {settings.absolute:g}"
    else:
        best = max(trivial.values(), default=0.0)
        floor = best + settings.margin
        rule = f"best trivial policy ({best:.3f}) + margin {settings.margin:g}"
    return FloorResult(
        teacher_success=teacher_success,
        trivial_success=trivial,
        floor=floor,
        rule=rule,
        passed=teacher_success >= floor,
        settings=settings.model_dump(mode="json"),
    )


def read_floor(paths: ExperimentPaths) -> FloorResult:
    if not paths.floor.exists():
        raise FileNotFoundError(
            f"{paths.floor}: the teacher has not been benchmarked yet (stage teacher_benchmark)"
        )
    return FloorResult.model_validate_json(paths.floor.read_text())


def require_floor(paths: ExperimentPaths, floor: FloorResult | None = None) -> FloorResult:
    """The floor result (read from `floor.json` unless given), or `TeacherBelowFloorError`
    when the teacher did not clear it."""
    floor = floor or read_floor(paths)
    if not floor.passed:
        raise TeacherBelowFloorError(
            f"the teacher wins {floor.teacher_success:.1%} of the benchmark, below the floor "
            f"{floor.floor:.1%} ({floor.rule}; trivial policies: "
            + ", ".join(f"{k} {v:.1%}" for k, v in floor.trivial_success.items())
            + "): no student is distilled from it. Train a better teacher or change "
            "teacher_floor in the profile."
        )
    return floor


@dataclass
class BenchmarkOutcome:
    result: BenchmarkResult
    run_id: str
    version: int | None = None


def run_teacher_benchmark(
    config: ExperimentConfig,
    paths: ExperimentPaths,
    tracker: Tracker | None = None,
    tags: Mapping[str, str] | None = None,
    enforce: bool = True,
) -> tuple[BenchmarkOutcome, FloorResult]:
    """The teacher on the benchmark split, and the floor check (`floor.json`).

    With `enforce` a teacher below the floor raises `TeacherBelowFloorError` (the CLI and
    DVC stop there); Dagster reads `floor.json` in a blocking asset check instead.
    """
    tracker = tracker or make_tracker(config)
    outcome = run_benchmark(config, paths, "teacher", teacher_dir(config, paths), tracker, tags)
    if config.benchmark.grounded_teacher:
        run_benchmark(config, paths, GROUNDED_TEACHER, teacher_dir(config, paths), tracker, tags)
    floor = read_floor(paths) if paths.floor.exists() else None
    success = outcome.result.metrics[0].success_rate.value
    settings = config.teacher_floor.model_dump(mode="json")
    if floor is None or floor.settings != settings or floor.teacher_success != success:
        # the trivial policies take seconds: recompute when the floor or the teacher moved
        floor = teacher_floor(config, success, benchmark_tasks(config).tasks)
        write_text_atomic(paths.floor, floor.model_dump_json(indent=2))
    if enforce:
        require_floor(paths, floor)
    return outcome, floor


def run_teacher_rollouts(config: ExperimentConfig, paths: ExperimentPaths) -> Path:
    """The teacher plays the train split; the kept episodes are the distillation data."""
    settings = config.rollouts
    tasks = train_tasks(config, settings.tasks)
    teacher = teacher_dir(config, paths)
    identity = {
        "teacher_sha256": model_sha256(teacher),
        "rollouts": settings.model_dump(mode="json"),
        "format": _fmt_dump(config),
        "env": config.env,
        "tasks_sha256": tasks.sha256,
        **config.runtime.inference_identity(),
    }
    everything = paths.rollouts / "train_all.jsonl"
    owned = (everything.name, progress_path(everything).name, "summary.json",
             paths.distill_data.name)  # fmt: skip
    restart = _changed(paths.rollouts, identity, owned, "teacher rollouts")
    if not restart and paths.distill_data.exists():
        return paths.distill_data
    claim_run_folder(paths.rollouts, identity, owned, restart=restart)
    began = time.perf_counter()
    policy = model_policy(config, teacher, settings.decoding, name="teacher")
    # Streamed: a killed stage resumes from the episodes it had finished.
    episodes = run_rollouts(
        policy,
        lambda: make_env(config.env),
        tasks.tasks,
        RolloutConfig(batch_size=settings.batch_size, max_steps=settings.max_steps),
        seed=settings.decoding.seed,
        out=everything,
    )
    kept = [t for t in episodes if t.success] if settings.keep == "success" else episodes
    if not kept:
        raise RuntimeError(
            f"the teacher solved none of {len(episodes)} train episodes: nothing to distil "
            "(train a better teacher or set rollouts.keep=all)"
        )
    summary = {
        **summarize(episodes),
        "kept": len(kept),
        "keep": settings.keep,
        "data_sha256": tasks.sha256,
    }
    write_text_atomic(paths.rollouts / "summary.json", json.dumps(summary, indent=2))
    write_jsonl(paths.distill_data, kept)
    _timed(paths, "teacher_rollouts", began)
    return paths.distill_data


def run_segments(config: ExperimentConfig, paths: ExperimentPaths) -> dict[str, Any]:
    """Segment the distillation data with the student tokenizer; build the teacher cache."""
    summary_file = paths.segments / "summary.json"
    teacher = teacher_dir(config, paths)
    methods = {spec.method for spec in config.student_specs()}
    identity = {
        "trajectories_sha256": file_sha256(paths.distill_data),
        "teacher_sha256": model_sha256(teacher),
        "format": _fmt_dump(config),
        "max_length": config.distill.train.max_length,
        "cache": [config.distill.top_k, config.distill.temperature, config.distill.curriculum,
                  sorted(methods & set(KL_METHODS))],
        **config.distill_runtime.inference_identity(),
    }  # fmt: skip
    restart = _changed(paths.segments, identity, ("summary.json",), "segments")
    if not restart and summary_file.exists():
        return json.loads(summary_file.read_text())
    claim_run_folder(paths.segments, identity, ("summary.json",), restart=restart)
    began = time.perf_counter()
    tokenizer = load_tokenizer(teacher)
    trajectories = read_trajectories(paths.distill_data)
    segs, cut = segment_all(trajectories, tokenizer, config.format, config.distill.train.max_length)
    counts = {label.name: sum(s.counts()[label.name] for s in segs) for label in SpanLabel}
    total = sum(counts.values())
    summary = {
        "trajectories": len(segs),
        "tokens": total,
        **{f"{name.lower()}_tokens": n for name, n in counts.items()},
        "truncated": cut,
        "span_coverage": span_coverage(trajectories, segs),
    }
    if methods & set(KL_METHODS) or config.distill.curriculum:
        # in the students' runtime: the cache they look for has this teacher dtype
        runtime = config.distill_runtime
        build_teacher_cache(
            load_model(teacher, dtype=runtime.torch_dtype, device=runtime.check()),
            segs,
            paths.teacher_cache,
            k=config.distill.top_k,
            temperature=config.distill.temperature,
            pad_id=tokenizer.pad_token_id or 0,
            runtime=runtime,
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
            spans = [(SpanLabel.REASON, thought) for thought in step.thoughts]
            for label, text in [*spans, (SpanLabel.ACT, step.action)]:
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


@dataclass
class StudentOutcome:
    summary: DistillSummary
    run_id: str


def run_student(
    config: ExperimentConfig,
    paths: ExperimentPaths,
    student: StudentSpec | str,
    tracker: Tracker | None = None,
    tags: Mapping[str, str] | None = None,
) -> StudentOutcome:
    """Distil one student (a spec or its name; resumes; skips a finished one); log its
    training run. On-policy students play train games between rounds
    (`distillation.on_policy`).

    Refused while the teacher has not cleared its floor (`require_floor`).
    """
    require_floor(paths)
    spec = config.student_spec(student) if isinstance(student, str) else student
    name, method, seed = spec.name, spec.method, spec.seed
    out = paths.student(name)
    settings = config.student_config(method, seed, spec.student)
    teacher = teacher_dir(config, paths)
    trajectories = read_trajectories(paths.distill_data)
    fmt = resolve_format(teacher, config.format)
    identity = distill_identity(settings, teacher, trajectories, fmt)
    owned: tuple[str, ...] = DISTILL_OWNED
    if spec.on_policy:
        tasks = train_tasks(config)
        identity = {**identity, "on_policy": config.on_policy.model_dump(mode="json"),
                    "train_tasks_sha256": tasks.sha256}  # fmt: skip
        owned = ON_POLICY_OWNED
    restart = _changed(out, identity, owned, f"student {name}")
    # rank 0's view decides: the processes must all train, or none
    if main_decides(not restart and (out / "distill_summary.json").exists()):
        summary = DistillSummary.model_validate_json((out / "distill_summary.json").read_text())
    elif spec.on_policy:
        began = time.perf_counter()
        claim_run_folder(out, identity, owned, restart=restart)
        summary = distill_on_policy(
            settings, config.on_policy, teacher, trajectories, tasks.tasks, out, fmt=fmt,
            cache_dir=paths.teacher_cache,
        )  # fmt: skip
        _timed(paths, f"student:{name}", began)
    else:
        began = time.perf_counter()
        summary = distill(
            settings, teacher, trajectories, out, fmt=fmt, cache_dir=paths.teacher_cache,
            restart=restart,
        )  # fmt: skip
        _timed(paths, f"student:{name}", began)
    tracker = tracker or make_tracker(config)
    logged: dict[str, Any] = {"distill": settings.model_dump(mode="json", exclude=PLACEMENT),
                              "format": _fmt_dump(config)}  # fmt: skip
    if spec.on_policy:
        logged["on_policy"] = config.on_policy.model_dump(mode="json")
    inputs = {
        "trajectories": file_sha256(paths.distill_data),
        "teacher": model_sha256(teacher_dir(config, paths)),
    }
    run_id = tracker.log_training(
        name,
        logged,
        out,
        tags={
            **_base_tags(config, tags),
            "role": "student",
            "method": method,
            "group": spec.group,
            "on_policy": str(spec.on_policy).lower(),
            "seed": str(seed),
            "parameters": str(summary.student_parameters),
            "trajectories_sha256": inputs["trajectories"],
        },
        run_key=run_key("student", {**logged, "profile": config.name}, inputs),
        # the served agent answers as the benchmark played it (grounding, turn budget)
        decoding=config.benchmark.decoding,
    )
    return StudentOutcome(summary, run_id)


class BenchmarkResult(BaseModel):
    """One model's benchmark: where its episodes are and its metrics per environment."""

    name: str
    model_dir: str
    parameters: int
    episodes_file: str
    metrics: list[EnvMetrics]
    wall_s: float
    data_sha256: str = ""


def benchmark_model(
    policy: HFPolicy,
    tasks: TaskFile,
    out_dir: str | Path,
    settings: BenchmarkConfig,
    env: str = "alfworld",
    reference: Sequence[Trajectory] | None = None,
) -> BenchmarkResult:
    """Play the evaluation tasks with a model policy; metrics with bootstrap CIs -> out_dir.

    `reference`: the teacher's episodes on the same tasks, for the CoT match rate (None: no
    CoT match; a model compared with itself would match by construction).
    """
    out = Path(out_dir)
    began = time.perf_counter()
    episodes_file = out / f"{settings.split}.jsonl"
    # Streamed: a killed benchmark resumes from the episodes it had finished.
    episodes = run_rollouts(
        policy,
        lambda: make_env(env),
        tasks.tasks,
        RolloutConfig(batch_size=settings.batch_size, max_steps=settings.max_steps),
        seed=settings.decoding.seed,
        out=episodes_file,
    )
    metrics = benchmark_metrics(
        episodes,
        policy.tokenizer,
        teacher_trajectories=reference,
        n_boot=settings.bootstrap,
        seed=settings.seed,
    )
    result = BenchmarkResult(
        name=policy.name,
        model_dir=str(policy.model_id),
        parameters=count_parameters(policy.model),
        episodes_file=str(episodes_file),
        metrics=metrics,
        wall_s=time.perf_counter() - began,
        data_sha256=tasks.sha256,
    )
    write_text_atomic(out / "metrics.json", result.model_dump_json(indent=2))
    return result


def benchmark_settings(config: ExperimentConfig, name: str) -> BenchmarkConfig:
    """How model `name` is benchmarked: the profile's settings (grounded for the
    grounded teacher)."""
    if name != GROUNDED_TEACHER:
        return config.benchmark
    decoding = config.benchmark.decoding.model_copy(update={"ground_actions": True})
    return config.benchmark.model_copy(update={"decoding": decoding})


def _flat_for_mlflow(result: BenchmarkResult) -> dict[str, float]:
    from agentdistill.results import benchmark_frame, flat_metrics

    return flat_metrics(benchmark_frame([result]), result.name)


def run_benchmark(
    config: ExperimentConfig,
    paths: ExperimentPaths,
    name: str,
    model_dir: Path,
    tracker: Tracker | None = None,
    tags: Mapping[str, str] | None = None,
) -> BenchmarkOutcome:
    """Benchmark one model of the experiment (skips a finished one); log and register it.

    The metrics go into the model's training run (found by its weights' hash); a student's
    run is then registered as a version of the environment's registered model. Students are
    compared with the teacher's episodes on the same tasks (CoT match), so the teacher is
    benchmarked first.
    """
    out = paths.benchmark(name)
    tasks = benchmark_tasks(config)
    settings = benchmark_settings(config, name)
    metrics_file = out / "metrics.json"
    reference_file = paths.benchmark("teacher") / f"{config.benchmark.split}.jsonl"
    use_reference = name not in ("teacher", GROUNDED_TEACHER) and reference_file.exists()
    model_sha = model_sha256(model_dir)
    identity = {
        "model_sha256": model_sha,
        "benchmark": settings.model_dump(mode="json"),
        "format": _fmt_dump(config),
        "env": config.env,
        "tasks_sha256": tasks.sha256,
        "reference_sha256": file_sha256(reference_file) if use_reference else None,
        **config.runtime.inference_identity(),
    }
    episodes_file = out / f"{config.benchmark.split}.jsonl"
    owned = ("metrics.json", episodes_file.name, progress_path(episodes_file).name)
    restart = _changed(out, identity, owned, f"benchmark {name}")
    if not restart and metrics_file.exists():
        result = BenchmarkResult.model_validate_json(metrics_file.read_text())
    else:
        claim_run_folder(out, identity, owned, restart=restart)
        began = time.perf_counter()
        policy = model_policy(config, model_dir, settings.decoding, name=name)
        reference = read_trajectories(reference_file) if use_reference else None
        result = benchmark_model(policy, tasks, out, settings, env=config.env,
                                 reference=reference)  # fmt: skip
        _timed(paths, f"benchmark:{name}", began)
    tracker = tracker or make_tracker(config)
    if not tracker.enabled:
        return BenchmarkOutcome(result, "")
    logged = {
        "benchmark": settings.model_dump(mode="json"),
        "format": _fmt_dump(config),
        "profile": config.name,
    }
    key = run_key("benchmark", logged, {"tasks": tasks.sha256, "model": model_sha})
    run_id = tracker.find_training_run(model_sha) or None
    metrics = _flat_for_mlflow(result)
    if name == GROUNDED_TEACHER:  # beside the teacher's own metrics, in its training run
        metrics = {f"grounded/{key}": value for key, value in metrics.items()}
    logged_id = tracker.log_benchmark(
        f"benchmark:{name}",
        metrics,
        [Path(result.episodes_file), metrics_file],
        tags={**_base_tags(config, tags), "data_sha256": tasks.sha256},
        run_id=run_id,
        run_key=key,
    )
    version = None
    if run_id and name not in ("teacher", GROUNDED_TEACHER):
        spec = config.student_spec(name)
        main = result.metrics[0].success_rate
        version = tracker.register(
            run_id,
            {
                "profile": config.name,
                "method": spec.method,
                "group": spec.group,
                "on_policy": str(spec.on_policy).lower(),
                "seed": spec.seed,
                "success_rate": main.value,
                "success_low": main.low,
                "success_high": main.high,
                "parameters": result.parameters,
                "benchmark": f"{config.env}/{config.benchmark.split}",
                "data_sha256": tasks.sha256,
            },
        )
    return BenchmarkOutcome(result, logged_id, version)


def report_entries(config: ExperimentConfig, paths: ExperimentPaths) -> list[ReportEntry]:
    """The teacher and every benchmarked student of the experiment, as report entries."""
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
    grounded = paths.benchmark(GROUNDED_TEACHER) / "metrics.json"
    if config.benchmark.grounded_teacher and grounded.exists():
        result = BenchmarkResult.model_validate_json(grounded.read_text())
        entries.append(
            ReportEntry(
                name=GROUNDED_TEACHER,
                method=GROUNDED_TEACHER,
                parameters=result.parameters,
                compression=1.0,
                metrics=result.metrics,
            )
        )
    for spec in config.student_specs():
        name, method, seed = spec.name, spec.group, spec.seed
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
    return entries


class ReportStatistics(BaseModel):
    """What the report says beyond per-model metrics (`report/statistics.json`)."""

    comparisons: list[Comparison]
    retention: list[Retention]
    rooms: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Receptacle counts per split (ALFWorld)."
    )
    markdown: str = ""


def comparison_pairs(config: ExperimentConfig, groups: Sequence[str]) -> list[tuple[str, str]]:
    """Which groups the report compares: at each size and mode, SAD against every other
    method there; every on-policy group against its offline counterpart."""
    specs = {spec.group: spec for spec in config.student_specs() if spec.group in groups}
    pairs: list[tuple[str, str]] = []
    for group, spec in specs.items():
        suffix = group[len(spec.method) :]
        sad = f"sad{suffix}"
        if spec.method != "sad" and sad in specs:
            pairs.append((sad, group))
    for group, spec in specs.items():
        if spec.on_policy and spec.method in specs:
            pairs.append((group, spec.method))
    return pairs


def report_statistics(
    config: ExperimentConfig, paths: ExperimentPaths, entries: Sequence[ReportEntry]
) -> ReportStatistics:
    """Paired comparisons and retention over the benchmarked students (seeds per group),
    and the size of the rooms played."""
    split = config.benchmark.split
    runs: dict[str, list[list[Trajectory]]] = {}
    compression: dict[str, list[float]] = {}
    for entry in entries:
        if entry.seed is None:
            continue
        episodes = read_trajectories(paths.benchmark(entry.name) / f"{split}.jsonl")
        runs.setdefault(entry.method, []).append(episodes)
        compression.setdefault(entry.method, []).append(entry.compression)
    teacher = read_trajectories(paths.benchmark("teacher") / f"{split}.jsonl")
    n_boot, seed = config.benchmark.bootstrap, config.benchmark.seed
    comparisons = compare_groups(runs, comparison_pairs(config, list(runs)), n_boot, seed)
    kept = []
    for group, group_runs in runs.items():
        size = sum(compression[group]) / len(group_runs)
        kept.append(retention(group, group_runs, teacher, size, n_boot, seed))
    markdown = statistics_markdown(comparisons, kept)
    rooms: dict[str, dict[str, float]] = {}
    if config.env == "alfworld":
        from agentdistill.environments.alfworld.env import room_distribution
        from agentdistill.results import markdown_table

        # the rooms as the agents met them, read from the episodes' first observations
        # (drawing the 3,553 train games again cost 90 s): the teacher's train games (its
        # expert data, or with a given teacher its rollouts) and the benchmark's
        benchmark = [t.initial_observation for t in teacher]
        for name, firsts in (("train", _train_first_observations(paths)), (split, benchmark)):
            if firsts:
                rooms[name] = room_distribution(firsts)
        rows = [[name, *(f"{d[k]:g}" for k in ROOM_COLUMNS)] for name, d in rooms.items()]
        markdown += "\n".join(
            [
                "",
                "## Rooms",
                "",
                "Receptacles listed in each game's first observation, per split played.",
                "",
                markdown_table(["split", *ROOM_COLUMNS], rows),
                "",
            ]
        )
    return ReportStatistics(comparisons=comparisons, retention=kept, rooms=rooms, markdown=markdown)


ROOM_COLUMNS = ("games", "min", "q1", "median", "q3", "max", "mean")


class _FirstObservation(BaseModel):
    """The one field of a trajectory line the room table needs (the others are ignored, so
    the 3,553 expert games are not validated whole just to count receptacles)."""

    initial_observation: str


def _train_first_observations(paths: ExperimentPaths) -> list[str]:
    """First observations of the train games the run played: the teacher's expert data, or
    (a given teacher) its rollouts; a bad line is named by file and line."""
    for file in (paths.teacher / "expert_train.jsonl", paths.rollouts / "train_all.jsonl"):
        if file.exists():
            return [r.initial_observation for r in read_jsonl(file, _FirstObservation)]
    return []


@dataclass
class ReportOutcome:
    files: dict[str, Path]
    run_id: str
    champion: int | None
    reason: str


def run_report(
    config: ExperimentConfig,
    paths: ExperimentPaths,
    tracker: Tracker | None = None,
    tags: Mapping[str, str] | None = None,
) -> ReportOutcome:
    """The comparison report of the teacher and every benchmarked student; the champion.

    Every rendering (report.md, leaderboard.json for DVC, the MLflow table) comes from one
    results table (`results.results_frame`).
    """
    from agentdistill.results import leaderboard, results_frame

    entries = report_entries(config, paths)
    stats = report_statistics(config, paths, entries)
    files = write_report(entries, paths.report, stats.markdown)
    files["statistics"] = write_text_atomic(
        paths.report / "statistics.json", stats.model_dump_json(indent=2)
    )
    frame = results_frame(entries)
    files["leaderboard"] = paths.report / "leaderboard.json"
    write_text_atomic(files["leaderboard"], json.dumps(leaderboard(frame), indent=2))
    tracker = tracker or make_tracker(config)
    if not tracker.enabled:
        return ReportOutcome(files, "", None, "tracking is disabled")
    report_sha = combined_hash(file_sha256(files[kind]) for kind in ("json", "leaderboard"))
    run_id = tracker.log_benchmark(
        "leaderboard",
        {},
        [files[kind] for kind in ("md", "png", "json", "leaderboard", "statistics")],
        tags=_base_tags(config, tags),
        run_key=run_key("report", {"profile": config.name}, {"report": report_sha}),
        table=frame,
    )
    version, reason = tracker.promote_champion(profile=config.name)
    return ReportOutcome(files, run_id, version, reason)


STAGES = (
    "tasks",
    "teacher",
    "teacher_benchmark",
    "teacher_rollouts",
    "segments",
    "students",
    "benchmarks",
    "report",
)


def run_experiment(
    config: ExperimentConfig,
    root: str | Path,
    stages: Sequence[str] = STAGES,
    tracker: Tracker | None = None,
) -> ExperimentPaths:
    """Run the listed stages in order (each skips work already done)."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; expected some of {STAGES}")
    paths = ExperimentPaths(root)
    # Launched with several processes (accelerate, torchrun), the training stages run in all
    # of them (data parallel); rank 0 alone runs the others while the rest wait.
    start_processes(config.runtime)
    tracker = tracker or make_tracker(config)
    if "tasks" in stages:
        on_main(lambda: run_tasks(config))
    if "teacher" in stages:
        run_teacher(config, paths, tracker)
    if "teacher_benchmark" in stages:
        on_main(lambda: run_teacher_benchmark(config, paths, tracker))
    if "teacher_rollouts" in stages:
        require_floor(paths)
        on_main(lambda: run_teacher_rollouts(config, paths))
    if "segments" in stages:
        on_main(lambda: run_segments(config, paths))
    if "students" in stages:
        for spec in config.student_specs():
            run_student(config, paths, spec, tracker)
    if "benchmarks" in stages:
        for name, _, _ in config.students():
            model = paths.student(name) / "model"
            on_main(lambda n=name, m=model: run_benchmark(config, paths, n, m, tracker))
    if "report" in stages:
        on_main(lambda: run_report(config, paths, tracker))
    return paths
