"""Benchmark metrics with bootstrap confidence intervals, and the comparison report.

Metrics follow the paper (App. C): task success rate, average steps, average reasoning length
in tokens, and CoT match rate against the teacher; plus the invalid-action rate (rejected or
grounded actions), decoding speed, and the environment's own episode scores (HotPotQA's EM and
F1: `Trajectory.scores`). Every number carries a 95% bootstrap percentile interval
resampled over episodes (CoT match: over tasks), so two models can be told apart honestly.

    from agentdistill.evaluation import ReportEntry, benchmark_metrics, write_report
    from agentdistill.records import Trajectory, read_jsonl
    from agentdistill.tokenizer import load_tokenizer

    tok = load_tokenizer("runs/tokenizer")
    teacher = read_jsonl("runs/teacher/valid_unseen.jsonl", Trajectory)
    student = read_jsonl("runs/sad-s0/valid_unseen.jsonl", Trajectory)
    entries = [
        ReportEntry(name="teacher", method="teacher", seed=None, parameters=7_000_000_000,
                    compression=1.0, metrics=benchmark_metrics(teacher, tok, teacher)),
        ReportEntry(name="sad-s0", method="sad", seed=0, parameters=660_000_000,
                    compression=7e9 / 660e6, metrics=benchmark_metrics(student, tok, teacher)),
    ]
    write_report(entries, "runs/report")  # report.md, report.json, report.png
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, model_validator

from agentdistill.files import atomic_write, write_text_atomic
from agentdistill.records import Record, Trajectory
from agentdistill.rollout import is_invalid_step

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TaskKey = tuple[str, str, str]  # (env, split, task_id): task ids are unique within (env, split)


# ----------------------------------------------------------------------------- bootstrap


class Estimate(Record):
    """A point estimate with a bootstrap percentile confidence interval."""

    value: float = Field(description="The statistic on the full sample.")
    low: float = Field(description="Lower bound of the percentile interval.")
    high: float = Field(description="Upper bound of the percentile interval.")
    n: int = Field(ge=1, description="Number of units resampled (episodes, or tasks).")


def _as_array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    data = np.asarray(values, dtype=float)
    if data.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {data.shape}")
    if data.size == 0:
        raise ValueError(f"{name} is empty: a bootstrap needs at least one unit")
    # One nan would silently turn every resample into nan; better to stop here.
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return data


def _resample(n: int, n_boot: int, seed: int, confidence: float) -> np.ndarray:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    # One (n_boot, n) index matrix: all draws at once, and the same seed gives the same draws.
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., Any] = np.mean,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Percentile bootstrap interval of `statistic` over per-unit `values`.

    `statistic` must accept `axis=` (np.mean, np.median, ...): it is applied to every resample
    at once. Raises ValueError on empty or non-finite input.
    """
    data = _as_array(values, "values")
    idx = _resample(data.size, n_boot, seed, confidence)
    draws = np.asarray(statistic(data[idx], axis=1), dtype=float)
    low, high = _interval(draws, confidence)
    return Estimate(value=float(statistic(data)), low=low, high=high, n=int(data.size))


def bootstrap_ratio(
    numerators: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Interval of sum(numerators) / sum(denominators), resampling units (pairs) together.

    For rates whose denominator varies per unit (invalid steps / steps, tokens / seconds): the
    episode is the independent unit, so episodes are resampled, not steps. Resamples whose
    denominator sums to zero carry no information and are dropped.
    """
    num = _as_array(numerators, "numerators")
    den = _as_array(denominators, "denominators")
    if num.shape != den.shape:
        raise ValueError(f"{num.size} numerators but {den.size} denominators")
    total = den.sum()
    if total == 0:
        raise ValueError("denominators sum to zero: the ratio is undefined")
    idx = _resample(num.size, n_boot, seed, confidence)
    resampled_den = den[idx].sum(axis=1)
    keep = resampled_den != 0
    draws = num[idx].sum(axis=1)[keep] / resampled_den[keep]
    low, high = _interval(draws, confidence)
    return Estimate(value=float(num.sum() / total), low=low, high=high, n=int(num.size))


# ------------------------------------------------------------------------------- metrics


def success_by_task(runs: Sequence[Sequence[Trajectory]]) -> dict[TaskKey, float]:
    """Each task's success rate over `runs` (one list of episodes per seed of a method).

    Tasks are the unit of a paired comparison: the seeds of a method are averaged per task
    first. Every run must hold the same tasks, each once.
    """
    if not runs:
        raise ValueError("no runs to average")
    per_run: list[dict[TaskKey, float]] = []
    for number, episodes in enumerate(runs):
        keys = [_task_key(t) for t in episodes]
        if len(set(keys)) != len(keys):
            raise ValueError(f"run {number} plays a task more than once")
        per_run.append({k: float(t.success) for k, t in zip(keys, episodes, strict=True)})
    tasks = set(per_run[0])
    for number, run in enumerate(per_run[1:], start=1):
        if set(run) != tasks:
            raise ValueError(f"run {number} plays other tasks than run 0")
    return {k: sum(run[k] for run in per_run) / len(per_run) for k in sorted(tasks)}


def paired_difference(
    a: Mapping[TaskKey, float],
    b: Mapping[TaskKey, float],
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Mean over tasks of a - b with a paired bootstrap interval (tasks resampled together).

    Pairing removes the variance the two models share (the hard tasks are hard for both), so
    it can tell apart methods whose separate intervals overlap. Both must cover the same
    tasks: a comparison on different tasks is refused.
    """
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b))[:3], sorted(set(b) - set(a))[:3]
        raise ValueError(
            f"paired comparison needs the same tasks: only in a {only_a}, only in b {only_b}"
        )
    keys = sorted(a)
    return bootstrap_ci(
        [a[k] - b[k] for k in keys], n_boot=n_boot, seed=seed, confidence=confidence
    )


def comparison_verdict(a_name: str, b_name: str, difference: Estimate) -> str:
    """One line: which method wins (the interval excludes 0) by how many points, or none."""
    value, low, high = (100 * x for x in (difference.value, difference.low, difference.high))
    points = f"{value:+.1f} pts [{low:+.1f}, {high:+.1f}]"
    if difference.low > 0:
        return f"{a_name} > {b_name} by {points}"
    if difference.high < 0:
        return f"{a_name} < {b_name} by {points}"
    return f"{a_name} vs {b_name}: no difference detectable ({points})"


class Comparison(Record):
    """A paired comparison of two groups of models on the same tasks."""

    a: str = Field(description="First group (e.g. 'sad').")
    b: str = Field(description="Second group (e.g. 'seqkd').")
    difference: Estimate = Field(description="Mean over tasks of success(a) - success(b).")
    verdict: str = Field(description="One line: who wins by how much, or no difference.")


class Retention(Record):
    """A group's success as a share of the teacher's, on the same tasks."""

    group: str
    compression: float = Field(description="Teacher parameters / the group's parameters.")
    success: float = Field(description="The group's success (seeds averaged per task).")
    retention: Estimate | None = Field(
        description="Sum of its per-task success / the teacher's; None when the teacher won "
        "no task (undefined)."
    )


def compare_groups(
    groups: Mapping[str, Sequence[Sequence[Trajectory]]],
    pairs: Sequence[tuple[str, str]],
    n_boot: int = 2000,
    seed: int = 0,
) -> list[Comparison]:
    """Paired bootstrap verdicts for `pairs` of groups (each group: one run per seed)."""
    by_task = {name: success_by_task(runs) for name, runs in groups.items()}
    out = []
    for a, b in pairs:
        difference = paired_difference(by_task[a], by_task[b], n_boot=n_boot, seed=seed)
        out.append(
            Comparison(
                a=a, b=b, difference=difference, verdict=comparison_verdict(a, b, difference)
            )
        )
    return out


def retention(
    group: str,
    runs: Sequence[Sequence[Trajectory]],
    teacher: Sequence[Trajectory],
    compression: float,
    n_boot: int = 2000,
    seed: int = 0,
) -> Retention:
    """Student success / teacher success, tasks resampled together (seeds averaged per task)."""
    student = success_by_task(runs)
    reference = success_by_task([teacher])
    if set(student) != set(reference):
        raise ValueError(f"{group}: retention needs the teacher's tasks")
    keys = sorted(student)
    estimate = None
    if any(reference[k] for k in keys):
        estimate = bootstrap_ratio(
            [student[k] for k in keys], [reference[k] for k in keys], n_boot=n_boot, seed=seed
        )
    return Retention(
        group=group,
        compression=compression,
        success=float(np.mean([student[k] for k in keys])),
        retention=estimate,
    )


def statistics_markdown(comparisons: Sequence[Comparison], retentions: Sequence[Retention]) -> str:
    """The report's paired comparisons and retention tables."""
    from agentdistill.results import markdown_table

    def pts(e: Estimate) -> str:
        return f"{100 * e.value:+.1f} [{100 * e.low:+.1f}, {100 * e.high:+.1f}]"

    lines = [
        "## Paired comparisons",
        "",
        "Success difference in points, mean over tasks (seeds averaged per task), with a "
        "95% paired bootstrap interval over tasks.",
        "",
        markdown_table(
            ["a", "b", "a - b (pts)", "verdict"],
            [[c.a, c.b, pts(c.difference), c.verdict] for c in comparisons],
        ),
        "",
        "## Retention",
        "",
        "Student success / teacher success on the same tasks, 95% bootstrap interval.",
        "",
        markdown_table(
            ["group", "compression", "success", "retention"],
            [
                [
                    r.group,
                    f"{r.compression:.1f}x",
                    f"{100 * r.success:.1f}%",
                    (
                        f"{100 * r.retention.value:.0f}% [{100 * r.retention.low:.0f}, "
                        f"{100 * r.retention.high:.0f}]"
                        if r.retention is not None
                        else "- (the teacher won nothing)"
                    ),
                ]
                for r in retentions
            ],
        ),
    ]
    return "\n".join(lines) + "\n"


class EnvMetrics(Record):
    """Metrics of one model on one (environment, split)."""

    env: str = Field(description="Environment name.")
    split: str = Field(description="Split evaluated.")
    episodes: int = Field(ge=1, description="Number of episodes evaluated.")
    success_rate: Estimate = Field(description="Fraction of episodes that reached the goal.")
    mean_reward: Estimate = Field(description="Mean final reward per episode.")
    mean_steps: Estimate = Field(description="Mean number of ReAct steps per episode.")
    reasoning_tokens: Estimate = Field(
        description="Mean number of reasoning tokens per episode (all steps together)."
    )
    cot_match: Estimate | None = Field(
        default=None,
        description="Mean per-task CoT match rate against the teacher, resampled over tasks; "
        "None without teacher trajectories for these tasks.",
    )
    invalid_action_rate: Estimate | None = Field(
        default=None,
        description="Invalid steps (rejected or grounded action) / steps, resampled over "
        "episodes; None when no episode has a step.",
    )
    tokens_per_s: Estimate | None = Field(
        default=None,
        description="Generated tokens / policy seconds, resampled over episodes; None when "
        "episodes carry no token counts or policy timings.",
    )
    scores: dict[str, Estimate] = Field(
        default_factory=dict,
        exclude_if=lambda value: not value,  # as before for environments without scores
        description="Mean of each environment-specific episode score (`Trajectory.scores`, "
        "e.g. HotPotQA's em and f1) over the episodes that carry it, resampled over episodes; "
        "empty (never serialised) when no episode has scores.",
    )


def _task_key(trajectory: Trajectory) -> TaskKey:
    task = trajectory.task
    return (task.env, task.split, task.task_id)


def _reasoning_ids(
    trajectories: Sequence[Trajectory], tokenizer: PreTrainedTokenizerBase
) -> list[list[int]]:
    """Token ids of each trajectory's reasoning: steps tokenized apart, then concatenated."""
    texts: list[str] = []
    owners: list[int] = []
    for i, trajectory in enumerate(trajectories):
        for step in trajectory.steps:
            if step.reasoning:
                texts.append(step.reasoning)
                owners.append(i)
    ids: list[list[int]] = [[] for _ in trajectories]
    if texts:  # one batched call: the fast tokenizer parallelises it
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        for owner, tokens in zip(owners, encoded, strict=True):
            ids[owner].extend(tokens)
    return ids


def _cot_scores(
    student: Sequence[Trajectory],
    student_ids: Sequence[list[int]],
    teacher: Sequence[Trajectory],
    teacher_ids: Sequence[list[int]],
) -> list[float]:
    reference: dict[TaskKey, Counter[int]] = {}
    for trajectory, ids in zip(teacher, teacher_ids, strict=True):
        key = _task_key(trajectory)
        if key in reference:
            # Two teacher runs of one task make the reference ambiguous; pick one run upstream.
            raise ValueError(f"teacher has several trajectories for task {key}; pass one run")
        reference[key] = Counter(ids)
    per_task: dict[TaskKey, list[float]] = defaultdict(list)
    for trajectory, ids in zip(student, student_ids, strict=True):
        key = _task_key(trajectory)
        ref = reference.get(key)
        if ref is None or ref.total() == 0:
            continue  # nothing to match against
        overlap = (Counter(ids) & ref).total()  # multiset intersection: min of counts
        per_task[key].append(overlap / ref.total())
    # Several student episodes of one task share its weight: the paper averages over tasks.
    return [float(np.mean(per_task[key])) for key in sorted(per_task)]


def cot_match_rate(
    student: Sequence[Trajectory],
    teacher: Sequence[Trajectory],
    tokenizer: PreTrainedTokenizerBase,
) -> list[float]:
    """Per-task CoT match: |student ∩ teacher reasoning tokens| / |teacher reasoning tokens|.

    Tokens are multisets (a token the teacher used twice matches at most twice). Tasks are
    matched on (env, split, task_id); tasks missing from the teacher, or where the teacher gave
    no reasoning, are skipped. Scores come sorted by task; the teacher scores 1.0 on itself.
    """
    return _cot_scores(
        student,
        _reasoning_ids(student, tokenizer),
        teacher,
        _reasoning_ids(teacher, tokenizer),
    )


def _env_metrics(
    env: str,
    split: str,
    group: Sequence[Trajectory],
    tokenizer: PreTrainedTokenizerBase,
    teacher: Sequence[Trajectory] | None,
    n_boot: int,
    seed: int,
) -> EnvMetrics:
    def ci(values: Sequence[float]) -> Estimate:
        return bootstrap_ci(values, n_boot=n_boot, seed=seed)

    def ratio(num: Sequence[float], den: Sequence[float]) -> Estimate | None:
        return bootstrap_ratio(num, den, n_boot=n_boot, seed=seed) if sum(den) > 0 else None

    ids = _reasoning_ids(group, tokenizer)
    cot_match = None
    if teacher is not None:
        reference = [t for t in teacher if (t.task.env, t.task.split) == (env, split)]
        scores = _cot_scores(group, ids, reference, _reasoning_ids(reference, tokenizer))
        cot_match = ci(scores) if scores else None

    per_key: dict[str, list[float]] = defaultdict(list)  # a score's values, episodes having it
    for trajectory in group:
        for key, value in trajectory.scores.items():
            per_key[key].append(value)
    timed = [
        (t.token_counts.generated, t.timings.policy_s)
        for t in group
        if t.token_counts is not None and t.timings is not None and t.timings.policy_s is not None
    ]
    return EnvMetrics(
        env=env,
        split=split,
        episodes=len(group),
        success_rate=ci([float(t.success) for t in group]),
        mean_reward=ci([t.reward for t in group]),
        mean_steps=ci([len(t.steps) for t in group]),
        reasoning_tokens=ci([len(x) for x in ids]),
        cot_match=cot_match,
        invalid_action_rate=ratio(
            [sum(map(is_invalid_step, t.steps)) for t in group], [len(t.steps) for t in group]
        ),
        tokens_per_s=ratio([g for g, _ in timed], [s for _, s in timed]) if timed else None,
        scores={key: ci(values) for key, values in sorted(per_key.items())},
    )


def benchmark_metrics(
    trajectories: Sequence[Trajectory],
    tokenizer: PreTrainedTokenizerBase,
    teacher_trajectories: Sequence[Trajectory] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[EnvMetrics]:
    """Metrics per (env, split), sorted. CoT match needs `teacher_trajectories`.

    `tokenizer` should be the student's: reasoning length is counted in its tokens, and every
    model in one report must be measured with the same tokenizer to be comparable.
    """
    if not trajectories:
        raise ValueError("no trajectories to evaluate")
    groups: dict[tuple[str, str], list[Trajectory]] = defaultdict(list)
    for trajectory in trajectories:
        groups[(trajectory.task.env, trajectory.task.split)].append(trajectory)
    return [
        _env_metrics(
            env, split, groups[(env, split)], tokenizer, teacher_trajectories, n_boot, seed
        )
        for env, split in sorted(groups)
    ]


# -------------------------------------------------------------------------------- report


class ReportEntry(Record):
    """One evaluated model: what it is, how big, and its metrics per environment."""

    name: str = Field(min_length=1, description="Display name, e.g. 'sad-s0'.")
    method: str = Field(min_length=1, description="Training method, e.g. 'teacher', 'sad'.")
    seed: int | None = Field(default=None, description="Training seed; None for the teacher.")
    parameters: int = Field(ge=1, description="Number of model parameters.")
    compression: float = Field(
        gt=0.0, description="Teacher parameters / this model's parameters (1.0: the teacher)."
    )
    metrics: list[EnvMetrics] = Field(description="Metrics per (env, split).")
    wall_s: float | None = Field(default=None, ge=0.0, description="Training wall time (s).")

    @model_validator(mode="after")
    def _one_per_env(self) -> ReportEntry:
        keys = [(m.env, m.split) for m in self.metrics]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{self.name}: several metrics for one (env, split): {keys}")
        return self


def _environments(entries: Sequence[ReportEntry]) -> list[tuple[str, str]]:
    return sorted({(m.env, m.split) for e in entries for m in e.metrics})


def _metrics_for(entry: ReportEntry, env: tuple[str, str]) -> EnvMetrics | None:
    return next((m for m in entry.metrics if (m.env, m.split) == env), None)


def render_markdown(entries: Sequence[ReportEntry], extra: str = "") -> str:
    """The report as markdown: per environment, a table of models and one over seeds;
    `extra` (further sections) after them."""
    # Imported here: `results` builds on this module, and pandas loads only for a report.
    from agentdistill.results import LEGEND, results_frame, to_markdown

    tables = to_markdown(results_frame(entries))
    parts = ["# Evaluation report", "", LEGEND, *(["", tables] if tables else [])]
    return "\n".join([*parts, *(["", extra.rstrip("\n")] if extra else [])]) + "\n"


def render_png(entries: Sequence[ReportEntry]) -> bytes:
    """Bar charts of success rate with CI error bars, one panel per environment, as PNG."""
    # A bare Figure renders through Agg without pyplot: no display, no global figure state.
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    envs = _environments(entries)
    colours: dict[str, str] = {}  # method -> colour, in order of first appearance
    for entry in entries:
        colours.setdefault(entry.method, f"C{len(colours) % 10}")
    bars = max((sum(_metrics_for(e, env) is not None for e in entries) for env in envs), default=1)
    fig = Figure(figsize=(max(4.0, 0.9 * bars + 1.5) * max(len(envs), 1), 4.5))
    axes = fig.subplots(1, max(len(envs), 1), squeeze=False)[0]
    if not envs:
        axes[0].text(0.5, 0.5, "no metrics", ha="center", va="center")
    for ax, env in zip(axes, envs, strict=False):
        shown = [(e, m) for e in entries if (m := _metrics_for(e, env)) is not None]
        values = np.array([100 * m.success_rate.value for _, m in shown])
        lows = np.array([100 * m.success_rate.low for _, m in shown])
        highs = np.array([100 * m.success_rate.high for _, m in shown])
        # matplotlib rejects negative error lengths; a percentile interval may sit a hair off.
        yerr = np.clip(np.stack([values - lows, highs - values]), 0.0, None)
        x = np.arange(len(shown))
        ax.bar(x, values, yerr=yerr, capsize=4, color=[colours[e.method] for e, _ in shown])
        ax.set_xticks(x, [f"{e.name}\n{e.compression:.1f}x" for e, _ in shown], fontsize=8)
        ax.set_xlim(-0.6, bars - 0.4)  # same bar width in every panel, however many bars
        ax.set_ylim(0, 105)
        ax.set_ylabel("Success rate (%)")
        ax.set_title(f"{env[0]} / {env[1]}")
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=colour, label=method) for method, colour in colours.items()]
    fig.legend(handles=handles, loc="upper right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def write_report(
    entries: Sequence[ReportEntry], out_dir: str | Path, extra_markdown: str = ""
) -> dict[str, Path]:
    """Write report.md (with `extra_markdown` sections), report.json and report.png
    atomically; return their paths by kind."""
    if not entries:
        raise ValueError("no report entries")
    out_dir = Path(out_dir)
    paths = {
        "md": write_text_atomic(out_dir / "report.md", render_markdown(entries, extra_markdown)),
        "json": write_text_atomic(
            out_dir / "report.json",
            json.dumps([e.model_dump(mode="json") for e in entries], indent=2) + "\n",
        ),
    }
    png = render_png(entries)
    with atomic_write(out_dir / "report.png") as handle:
        # files.py writes text; its binary buffer underneath takes the PNG bytes unchanged,
        # and the temporary-file-then-rename guarantee still holds.
        handle.flush()
        handle.buffer.write(png)
    paths["png"] = out_dir / "report.png"
    return paths


def read_report(path: str | Path) -> list[ReportEntry]:
    """Entries back from a report.json written by `write_report`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [ReportEntry.model_validate(item) for item in data]
