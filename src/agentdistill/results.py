"""One results table (pandas) for every place that shows or logs benchmark numbers.

The report, the CLI, Dagster metadata, MLflow and the DVC leaderboard all start from the frame
built here, so a number has one spelling and one key wherever it appears.

    from agentdistill.results import flat_metrics, leaderboard, results_frame, to_markdown

    frame = results_frame(entries)          # entries: list[evaluation.ReportEntry]
    print(to_markdown(frame))               # the report's tables, per (env, split)
    flat_metrics(frame, "sad-s0")           # {"alfworld/valid_unseen/success_rate": 0.62, ...}
    leaderboard(frame)                      # {"sad-s0": {"parameters": ..., ...}, ...}

Columns of the frame (one row per model x (env, split), in the order the models were given,
then sorted by (env, split)):

    model          str    display name ("sad-s0", "teacher")
    method         str    training method ("teacher", "sad", ...); missing when unknown
    seed           Int64  training seed; <NA> for the teacher or when unknown
    parameters     int64  number of model parameters
    compression    float  teacher parameters / model parameters; NaN when unknown
    train_wall_s   float  training wall time in seconds; NaN when unknown
    env, split     str    environment and split evaluated
    episodes       int64  episodes evaluated
    <metric>, <metric>_low, <metric>_high   float  value and 95% bootstrap interval, for each
        metric of METRICS; NaN where the metric is absent. Rates are fractions (0..1), not %.

then, for each environment score key present (`EnvMetrics.scores`: HotPotQA's `em`, `f1`),
sorted by key:
    <key>, <key>_low, <key>_high   float  mean episode score and its interval; NaN in the
        rows of environments without that score.

`cot_match` is NaN for the teacher: compared with itself it is 1.0 by construction, which
measures nothing. WebShop's score (mean reward x 100) is `mean_reward`: the report shows it
as a Score column (`names.REWARD_SCORES`), with no column or key of its own.

Flat keys, one scheme for MLflow metrics and the DVC leaderboard: `{env}/{split}/{metric}`,
`{env}/{split}/{metric}_low`, `{env}/{split}/{metric}_high` for every metric present (NaN ones
are left out), and `{env}/{split}/episodes`; e.g. `alfworld/valid_unseen/success_rate_low`;
scores likewise: `hotpotqa/test/f1`, `hotpotqa/test/f1_low`, ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from agentdistill.environments.names import REWARD_SCORES

if TYPE_CHECKING:
    from rich.table import Table

    from agentdistill.evaluation import EnvMetrics, ReportEntry

METRICS: tuple[str, ...] = (
    "success_rate",
    "mean_reward",
    "mean_steps",
    "reasoning_tokens",
    "cot_match",
    "invalid_action_rate",
    "tokens_per_s",
)
IDENTITY: tuple[str, ...] = (
    "model",
    "method",
    "seed",
    "parameters",
    "compression",
    "train_wall_s",
    "env",
    "split",
    "episodes",
)
SUFFIXES: tuple[str, ...] = ("", "_low", "_high")  # value, then its interval
COLUMNS: tuple[str, ...] = IDENTITY + tuple(
    f"{metric}{suffix}" for metric in METRICS for suffix in SUFFIXES
)
# Explicit dtypes: an all-None column would otherwise become `object`, and an int column with
# one missing value would silently turn float. All of them serialise to JSON (NaN/<NA> as null).
DTYPES: dict[str, str] = {
    "model": "object",
    "method": "object",
    "seed": "Int64",
    "parameters": "int64",
    "compression": "float64",
    "train_wall_s": "float64",
    "env": "object",
    "split": "object",
    "episodes": "int64",
    **{column: "float64" for column in COLUMNS[len(IDENTITY) :]},
}
_METRIC_DOCS = {
    "success_rate": "fraction of episodes that reached the goal",
    "mean_reward": "mean final reward per episode",
    "mean_steps": "mean ReAct steps per episode",
    "reasoning_tokens": "mean reasoning tokens per episode",
    "cot_match": "mean per-task CoT match with the teacher (NaN for the teacher itself)",
    "invalid_action_rate": "invalid (rejected or grounded) steps / steps",
    "tokens_per_s": "generated tokens / policy seconds",
}
DESCRIPTIONS: dict[str, str] = {
    "model": "display name",
    "method": "training method; missing when unknown",
    "seed": "training seed; missing for the teacher",
    "parameters": "number of model parameters",
    "compression": "teacher parameters / model parameters",
    "train_wall_s": "training wall time (s)",
    "env": "environment",
    "split": "split evaluated",
    "episodes": "episodes evaluated",
    **{
        f"{metric}{suffix}": f"{doc}{bound}"
        for metric, doc in _METRIC_DOCS.items()
        for suffix, bound in (
            ("", ""),
            ("_low", ": 95% CI lower bound"),
            ("_high", ": 95% CI upper bound"),
        )
    },
}
#: Column labels of known environment scores (others show their key).
SCORE_LABELS: dict[str, str] = {"em": "EM", "f1": "F1"}
TEACHER_METHOD = "teacher"
LEGEND = (
    "Intervals: 95% bootstrap percentile over episodes (CoT match: over tasks). "
    "Invalid actions include actions replaced by grounding. "
    "Compression: teacher parameters / model parameters. "
    "CoT match: share of the teacher's reasoning tokens a model reproduces on the same task; "
    "'-' for the teacher (compared with itself it is 100% by construction) and where no "
    "teacher reference exists. "
    "EM and F1 (HotPotQA): the official answer exact match and token F1, mean over episodes "
    "(an episode that never answered scores 0). "
    "Score (WebShop): mean final reward x 100."
)


class BenchmarkLike(Protocol):
    """What `benchmark_frame` reads from a result (e.g. `experiment.BenchmarkResult`)."""

    @property
    def name(self) -> str: ...

    @property
    def parameters(self) -> int: ...

    @property
    def metrics(self) -> Sequence[EnvMetrics]: ...


# ------------------------------------------------------------------------------- the frame


def score_keys(frame: pd.DataFrame) -> list[str]:
    """The environment score keys that have columns in `frame` (after COLUMNS, three each)."""
    return [str(column) for column in frame.columns[len(COLUMNS) :: len(SUFFIXES)]]


def describe(column: str) -> str:
    """What a column of the frame holds: DESCRIPTIONS, or a score column's description."""
    if column in DESCRIPTIONS:
        return DESCRIPTIONS[column]
    for suffix, bound in (("_low", ": 95% CI lower bound"), ("_high", ": 95% CI upper bound")):
        if column.endswith(suffix):
            return f"mean episode score {column.removesuffix(suffix)!r}{bound}"
    return f"mean episode score {column!r} (environment-specific)"


def _rows(
    name: str,
    method: str | None,
    seed: int | None,
    parameters: int,
    compression: float,
    train_wall_s: float | None,
    metrics: Sequence[EnvMetrics],
) -> list[dict[str, Any]]:
    rows = []
    for m in sorted(metrics, key=lambda m: (m.env, m.split)):
        row: dict[str, Any] = {
            "model": name,
            "method": method,
            "seed": seed,
            "parameters": parameters,
            "compression": compression,
            "train_wall_s": math.nan if train_wall_s is None else train_wall_s,
            "env": m.env,
            "split": m.split,
            "episodes": m.episodes,
        }
        for metric in METRICS:
            estimate = getattr(m, metric)
            if metric == "cot_match" and method == TEACHER_METHOD:
                estimate = None  # the teacher against itself: 1.0 by construction
            row[metric] = math.nan if estimate is None else estimate.value
            row[f"{metric}_low"] = math.nan if estimate is None else estimate.low
            row[f"{metric}_high"] = math.nan if estimate is None else estimate.high
        for key, score in m.scores.items():
            row[key], row[f"{key}_low"], row[f"{key}_high"] = score.value, score.low, score.high
        rows.append(row)
    return rows


def _frame(rows: list[dict[str, Any]], metrics: Iterable[EnvMetrics]) -> pd.DataFrame:
    # A column per score key any environment reports; NaN in the rows of the others.
    keys = sorted({key for m in metrics for key in m.scores})
    scores = [f"{key}{suffix}" for key in keys for suffix in SUFFIXES]
    clashes = sorted(set(scores) & set(COLUMNS)) + sorted(
        column for column in set(scores) if scores.count(column) > 1
    )
    if clashes:
        # e.g. a score named `seed`, or `f1` beside `f1_low`: two numbers under one key
        raise ValueError(f"score keys clash with other columns: {clashes}")
    columns = [*COLUMNS, *scores]
    dtypes = {**DTYPES, **dict.fromkeys(scores, "float64")}
    frame = pd.DataFrame(rows, columns=columns).astype(dtypes)
    duplicated = frame.duplicated(["model", "env", "split"])
    if duplicated.any():
        # flat keys are per model and (env, split): two rows would overwrite each other
        twice = frame.loc[duplicated, ["model", "env", "split"]].values.tolist()
        raise ValueError(f"several rows for one model and (env, split): {twice}")
    return frame


def results_frame(entries: Iterable[ReportEntry]) -> pd.DataFrame:
    """The results table of report entries: one row per (model, env, split); see the module."""
    entries = list(entries)
    rows = []
    for entry in entries:
        rows += _rows(
            entry.name,
            entry.method,
            entry.seed,
            entry.parameters,
            entry.compression,
            entry.wall_s,
            entry.metrics,
        )
    return _frame(rows, (m for entry in entries for m in entry.metrics))


def benchmark_frame(results: Iterable[BenchmarkLike], teacher: str = "teacher") -> pd.DataFrame:
    """The results table of bare benchmark results (name, parameters, metrics).

    The result named `teacher` gets method 'teacher' (so no CoT match) and, when present, sets
    every compression; other methods, seeds and training times are unknown here.
    """
    results = list(results)
    reference = next((r.parameters for r in results if r.name == teacher), None)
    rows = []
    for result in results:
        rows += _rows(
            result.name,
            TEACHER_METHOD if result.name == teacher else None,
            None,
            result.parameters,
            math.nan if reference is None else reference / result.parameters,
            None,
            result.metrics,
        )
    return _frame(rows, (m for result in results for m in result.metrics))


# --------------------------------------------------------------------------- flat numbers


def flat_metrics(frame: pd.DataFrame, model_name: str) -> dict[str, float]:
    """One model's metrics under the flat keys (MLflow `log_batch`/`log_metrics`).

    `{env}/{split}/{metric}` (+ `_low`, `_high`) for every metric and score present (NaN ones
    are left out), and `{env}/{split}/episodes`. Raises KeyError for a model not in the frame.
    """
    rows = frame[frame["model"] == model_name]
    if rows.empty:
        raise KeyError(f"no results for model {model_name!r}")
    flat: dict[str, float] = {}
    for values in rows.to_dict("records"):  # not itertuples: a score key needs no identifier
        prefix = f"{values['env']}/{values['split']}"
        flat[f"{prefix}/episodes"] = int(values["episodes"])
        for metric in (*METRICS, *score_keys(frame)):
            if pd.isna(values[metric]):
                continue
            for suffix in SUFFIXES:
                flat[f"{prefix}/{metric}{suffix}"] = float(values[f"{metric}{suffix}"])
    return flat


def leaderboard(frame: pd.DataFrame, digits: int = 4) -> dict[str, dict[str, float | int]]:
    """Model -> parameters, compression and flat metrics: the DVC `leaderboard.json`.

    Metrics are rounded to `digits` decimals and compression to 2 (a readable `dvc metrics
    show`); compression is left out where unknown.
    """
    board: dict[str, dict[str, float | int]] = {}
    for model in dict.fromkeys(frame["model"]):  # first-appearance order
        first = frame[frame["model"] == model].iloc[0]
        entry: dict[str, float | int] = {"parameters": int(first["parameters"])}
        if not pd.isna(first["compression"]):
            entry["compression"] = round(float(first["compression"]), 2)
        for key, value in flat_metrics(frame, model).items():
            entry[key] = value if isinstance(value, int) else round(value, digits)
        board[model] = entry
    return board


# ------------------------------------------------------------------------------ formatting


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _count(n: int) -> str:
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= divisor:
            return f"{n / divisor:.3g}{suffix}"
    return str(n)


def _pct(row: pd.Series, metric: str, with_ci: bool = False) -> str:
    value = row[metric]
    if _missing(value):
        return "-"
    text = f"{100 * value:.1f}"
    if not with_ci:
        return text
    return text + f" [{100 * row[f'{metric}_low']:.1f}, {100 * row[f'{metric}_high']:.1f}]"


def _num(value: Any) -> str:
    return "-" if _missing(value) else f"{value:.1f}"


def _text(value: Any) -> str:
    return "-" if _missing(value) else str(value)


def _times(value: Any) -> str:
    return "-" if _missing(value) else f"{value:.1f}x"


def _duration(seconds: Any) -> str:
    if _missing(seconds):
        return "-"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], text: int = 2) -> str:
    """A GitHub markdown table: the first `text` columns left-aligned, the rest right."""

    # Written by hand: pandas' to_markdown needs `tabulate`, a dependency for one function.
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---"] * text + ["---:"] * (len(header) - text)
    return "\n".join([line(header), "| " + " | ".join(aligns) + " |", *map(line, rows)])


def environments(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The (env, split) pairs of the frame, sorted."""
    return sorted(set(zip(frame["env"], frame["split"], strict=True)))


def _of(frame: pd.DataFrame, env: str, split: str) -> pd.DataFrame:
    return frame[(frame["env"] == env) & (frame["split"] == split)]


# ------------------------------------------------------------------------------- markdown

MODELS_HEADER = (
    "Model",
    "Method",
    "Seed",
    "Params",
    "Compression",
    "Episodes",
    "Success % [95% CI]",
    "Steps",
    "Reasoning tokens",
    "CoT match %",
    "Invalid action %",
    "Tokens/s",
    "Train time",
)
SEEDS_HEADER = (
    "Method",
    "Params",
    "Compression",
    "Runs",
    "Seeds",
    "Mean success %",
    "Std",
    "Min",
    "Max",
)


def _scored(frame: pd.DataFrame) -> list[str]:
    """The score keys some row of `frame` has a value for."""
    return [key for key in score_keys(frame) if frame[key].notna().any()]


def _score_header(key: str) -> str:
    return f"{SCORE_LABELS.get(key, key)} % [95% CI]"


def models_markdown(frame: pd.DataFrame, env: str, split: str) -> str:
    """The report's table of models on one (env, split); after success, a column per score
    this environment reports, and WebShop's Score (mean reward x 100)."""
    rows_of = _of(frame, env, split)
    scores = _scored(rows_of)
    # After success: where a benchmark's own numbers sit in its papers' tables.
    header = [
        *MODELS_HEADER[:7],
        *(["Score [95% CI]"] if env in REWARD_SCORES else []),
        *map(_score_header, scores),
        *MODELS_HEADER[7:],
    ]
    rows = [
        [
            row["model"],
            _text(row["method"]),
            _text(row["seed"]),
            _count(int(row["parameters"])),
            _times(row["compression"]),
            str(row["episodes"]),
            _pct(row, "success_rate", with_ci=True),
            *([_pct(row, "mean_reward", with_ci=True)] if env in REWARD_SCORES else []),
            *(_pct(row, key, with_ci=True) for key in scores),
            _num(row["mean_steps"]),
            _num(row["reasoning_tokens"]),
            _pct(row, "cot_match"),
            _pct(row, "invalid_action_rate"),
            _num(row["tokens_per_s"]),
            _duration(row["train_wall_s"]),
        ]
        for _, row in rows_of.iterrows()
    ]
    return markdown_table(header, rows)


def seeds_markdown(frame: pd.DataFrame, env: str, split: str) -> str:
    """The report's "over seeds" table on one (env, split): success of runs of one method."""
    rows = []
    # Runs that differ only by seed: same method and same size (a method may come in sizes).
    groups = _of(frame, env, split).groupby(["method", "parameters"], sort=False, dropna=False)
    for (method, parameters), group in groups:
        rates = 100 * group["success_rate"]
        worst, best = group.loc[rates.idxmin()], group.loc[rates.idxmax()]

        def tagged(row: pd.Series) -> str:
            seed = "" if _missing(row["seed"]) else f" (seed {row['seed']})"
            return f"{100 * row['success_rate']:.1f}{seed}"

        seeds = [str(seed) for seed in group["seed"].dropna()]
        rows.append(
            [
                _text(method),
                _count(int(parameters)),
                _times(group["compression"].iloc[0]),
                str(len(group)),
                ", ".join(seeds) or "-",
                f"{rates.mean():.1f}",
                f"{rates.std(ddof=1):.1f}" if len(group) > 1 else "-",
                tagged(worst),
                tagged(best),
            ]
        )
    return markdown_table(SEEDS_HEADER, rows)


def to_markdown(frame: pd.DataFrame) -> str:
    """Per (env, split): a `## env / split` section with the models and the over-seeds tables."""
    sections = [
        "\n".join(
            [
                f"## {env} / {split}",
                "",
                models_markdown(frame, env, split),
                "",
                "### Over seeds",
                "",
                seeds_markdown(frame, env, split),
            ]
        )
        for env, split in environments(frame)
    ]
    return "\n\n".join(sections)


COMPACT_HEADER = ("model", "env/split", "success % [95% CI]", "steps", "CoT %", "invalid %")


def _compact_cells(row: pd.Series) -> list[str]:
    return [
        row["model"],
        f"{row['env']}/{row['split']}",
        _pct(row, "success_rate", with_ci=True),
        _num(row["mean_steps"]),
        _pct(row, "cot_match"),
        _pct(row, "invalid_action_rate"),
    ]


def compact_markdown(frame: pd.DataFrame) -> str:
    """A short table of one or a few models (Dagster asset metadata): one line per row."""
    return markdown_table(COMPACT_HEADER, [_compact_cells(row) for _, row in frame.iterrows()])


# ----------------------------------------------------------------------------------- rich


def rich_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """The CLI's table: success with its CI, steps, reasoning tokens, CoT and invalid %, then
    each environment score present (%)."""
    from rich.table import Table  # only the CLI needs rich tables

    scores = _scored(frame)
    table = Table(title=title)
    for column in ("model", "env/split", "success % [95% CI]", "steps", "reason tok", "CoT %"):
        table.add_column(column, justify="right")
    table.add_column("invalid %", justify="right")
    for key in scores:
        table.add_column(f"{SCORE_LABELS.get(key, key)} %", justify="right")
    for _, row in frame.iterrows():
        table.add_row(
            row["model"],
            f"{row['env']}/{row['split']}",
            _pct(row, "success_rate", with_ci=True),
            _num(row["mean_steps"]),
            _num(row["reasoning_tokens"]),
            _pct(row, "cot_match"),
            _pct(row, "invalid_action_rate"),
            *(_pct(row, key) for key in scores),
        )
    return table


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (int, float, str; None for missing): for JSON and Dagster."""
    out = []
    for _, row in frame.iterrows():
        out.append({column: _plain(row[column]) for column in frame.columns})
    return out


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") else value  # numpy scalar -> Python
