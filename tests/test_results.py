"""The results table: frame, flat keys, leaderboard and every renderer, on hand-made entries."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from rich.console import Console

from agentdistill.cli import _metrics_table
from agentdistill.evaluation import EnvMetrics, Estimate, ReportEntry, render_markdown
from agentdistill.results import (
    COLUMNS,
    DESCRIPTIONS,
    METRICS,
    benchmark_frame,
    compact_markdown,
    describe,
    flat_metrics,
    leaderboard,
    records,
    results_frame,
    rich_table,
    score_keys,
    to_markdown,
)
from dagster_project.defs.metadata import results_md_metadata, results_table_metadata


def est(value: float, low: float, high: float, n: int = 10) -> Estimate:
    return Estimate(value=value, low=low, high=high, n=n)


def metrics(
    success: Estimate,
    *,
    env: str = "alfworld",
    split: str = "valid_unseen",
    episodes: int = 10,
    steps: float = 10.0,
    cot: Estimate | None = None,
    invalid: Estimate | None = None,
    speed: Estimate | None = None,
) -> EnvMetrics:
    return EnvMetrics(
        env=env,
        split=split,
        episodes=episodes,
        success_rate=success,
        mean_reward=success,
        mean_steps=est(steps, steps - 2, steps + 2),
        reasoning_tokens=est(30.0, 20.0, 40.0),
        cot_match=cot,
        invalid_action_rate=invalid,
        tokens_per_s=speed,
    )


def entries() -> list[ReportEntry]:
    return [
        ReportEntry(
            name="teacher",
            method="teacher",
            parameters=2_000_000,
            compression=1.0,
            # compared with itself: 1.0 by construction, must not show up as a result
            metrics=[
                metrics(
                    est(0.6, 0.3, 0.9),
                    steps=8.0,
                    cot=est(1.0, 1.0, 1.0),
                    invalid=est(0.05, 0.0, 0.1),
                    speed=est(120.0, 100.0, 140.0),
                )
            ],
        ),
        ReportEntry(
            name="sad-s0",
            method="sad",
            seed=0,
            parameters=500_000,
            compression=4.0,
            wall_s=5400.0,
            # given out of order: rows come sorted by (env, split)
            metrics=[
                metrics(est(0.2, 0.0, 0.5), env="webshop", split="test", episodes=5),
                metrics(est(0.4, 0.1, 0.7), cot=est(0.5, 0.4, 0.6), invalid=est(0.1, 0.05, 0.15)),
            ],
        ),
        ReportEntry(
            name="sad-s1",
            method="sad",
            seed=1,
            parameters=500_000,
            compression=4.0,
            wall_s=600.0,
            metrics=[metrics(est(0.5, 0.2, 0.8), cot=est(0.7, 0.6, 0.8))],
        ),
    ]


@pytest.fixture
def frame() -> pd.DataFrame:
    return results_frame(entries())


def test_frame_shape_columns_and_values(frame: pd.DataFrame) -> None:
    assert frame.shape == (4, 9 + 3 * len(METRICS))
    assert list(frame.columns) == list(COLUMNS)
    assert set(DESCRIPTIONS) == set(COLUMNS)  # every column documented
    assert frame["model"].tolist() == ["teacher", "sad-s0", "sad-s0", "sad-s1"]
    assert frame["env"].tolist() == ["alfworld", "alfworld", "webshop", "alfworld"]
    assert frame["seed"].tolist()[1:] == [0, 0, 1] and pd.isna(frame["seed"].iloc[0])
    assert frame["parameters"].tolist() == [2_000_000, 500_000, 500_000, 500_000]
    assert frame["compression"].tolist() == [1.0, 4.0, 4.0, 4.0]
    assert math.isnan(frame["train_wall_s"].iloc[0])
    assert frame["train_wall_s"].tolist()[1:] == [5400.0, 5400.0, 600.0]
    assert frame["episodes"].tolist() == [10, 10, 5, 10]

    sad = frame.iloc[1]
    assert (sad["success_rate"], sad["success_rate_low"], sad["success_rate_high"]) == (
        0.4,
        0.1,
        0.7,
    )
    assert (sad["cot_match"], sad["cot_match_low"], sad["cot_match_high"]) == (0.5, 0.4, 0.6)
    assert sad["mean_steps_low"] == 8.0 and sad["invalid_action_rate_high"] == 0.15
    # absent metrics are NaN
    assert math.isnan(sad["tokens_per_s"]) and math.isnan(frame.iloc[2]["invalid_action_rate"])
    # the teacher's self-comparison is dropped, with its interval
    teacher = frame.iloc[0]
    assert all(math.isnan(teacher[c]) for c in ("cot_match", "cot_match_low", "cot_match_high"))
    assert teacher["tokens_per_s"] == 120.0


def test_frame_is_json_friendly(frame: pd.DataFrame) -> None:
    assert all(isinstance(c, str) for c in frame.columns)
    assert {str(t) for t in frame.dtypes} <= {"object", "int64", "Int64", "float64"}
    # what MLflow's log_table writes: missing values become null
    table = json.loads(frame.to_json(orient="split", index=False))
    assert table["columns"] == list(COLUMNS)
    teacher = dict(zip(table["columns"], table["data"][0], strict=True))
    assert teacher["seed"] is None and teacher["cot_match"] is None
    assert teacher["success_rate"] == 0.6
    # records(): plain Python values, None for missing
    first = records(frame)[0]
    assert first["seed"] is None and first["train_wall_s"] is None
    assert type(first["parameters"]) is int and type(first["success_rate"]) is float


def test_frame_rejects_a_model_twice() -> None:
    twice = [entries()[1], entries()[1]]
    with pytest.raises(ValueError, match="several rows"):
        results_frame(twice)


def test_empty_frame_keeps_columns_and_dtypes() -> None:
    empty = results_frame([])
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0
    assert str(empty["seed"].dtype) == "Int64" and str(empty["episodes"].dtype) == "int64"
    assert to_markdown(empty) == "" and leaderboard(empty) == {}


def test_flat_metrics_key_scheme(frame: pd.DataFrame) -> None:
    assert flat_metrics(frame, "sad-s1") == {
        "alfworld/valid_unseen/episodes": 10,
        "alfworld/valid_unseen/success_rate": 0.5,
        "alfworld/valid_unseen/success_rate_low": 0.2,
        "alfworld/valid_unseen/success_rate_high": 0.8,
        "alfworld/valid_unseen/mean_reward": 0.5,
        "alfworld/valid_unseen/mean_reward_low": 0.2,
        "alfworld/valid_unseen/mean_reward_high": 0.8,
        "alfworld/valid_unseen/mean_steps": 10.0,
        "alfworld/valid_unseen/mean_steps_low": 8.0,
        "alfworld/valid_unseen/mean_steps_high": 12.0,
        "alfworld/valid_unseen/reasoning_tokens": 30.0,
        "alfworld/valid_unseen/reasoning_tokens_low": 20.0,
        "alfworld/valid_unseen/reasoning_tokens_high": 40.0,
        "alfworld/valid_unseen/cot_match": 0.7,
        "alfworld/valid_unseen/cot_match_low": 0.6,
        "alfworld/valid_unseen/cot_match_high": 0.8,
    }
    # two environments, one prefix each; the teacher has no CoT match key
    sad = flat_metrics(frame, "sad-s0")
    assert sad["webshop/test/success_rate_low"] == 0.0 and sad["webshop/test/episodes"] == 5
    assert sad["alfworld/valid_unseen/invalid_action_rate"] == 0.1
    assert "webshop/test/invalid_action_rate" not in sad
    teacher = flat_metrics(frame, "teacher")
    assert not any("cot_match" in key for key in teacher)
    assert teacher["alfworld/valid_unseen/tokens_per_s_high"] == 140.0
    with pytest.raises(KeyError, match="nobody"):
        flat_metrics(frame, "nobody")


def test_leaderboard(frame: pd.DataFrame) -> None:
    board = leaderboard(frame)
    assert list(board) == ["teacher", "sad-s0", "sad-s1"]
    assert board["sad-s1"] == {
        "parameters": 500_000,
        "compression": 4.0,
        **flat_metrics(frame, "sad-s1"),
    }
    assert board["teacher"]["parameters"] == 2_000_000
    assert board["sad-s0"]["webshop/test/success_rate"] == 0.2
    json.dumps(board, allow_nan=False)  # valid JSON for DVC: no NaN anywhere
    # rounded for a readable `dvc metrics show`
    odd = results_frame([entries()[2].model_copy(update={"compression": 10 / 3})])
    assert leaderboard(odd, digits=2)["sad-s1"]["compression"] == 3.33


def test_markdown_tables(frame: pd.DataFrame) -> None:
    md = to_markdown(frame)
    assert md.startswith("## alfworld / valid_unseen\n\n| Model | Method | Seed |")
    assert "\n## webshop / test\n" in md
    alfworld = md.split("## webshop")[0]
    assert (
        "| teacher | teacher | - | 2M | 1.0x | 10 | 60.0 [30.0, 90.0] | 8.0 | 30.0 | - | 5.0 "
        "| 120.0 | - |" in alfworld
    )
    assert (
        "| sad-s0 | sad | 0 | 500K | 4.0x | 10 | 40.0 [10.0, 70.0] | 10.0 | 30.0 | 50.0 | 10.0 "
        "| - | 1.5 h |" in alfworld
    )
    assert "| sad-s1 | sad | 1 | 500K | 4.0x | 10 | 50.0 [20.0, 80.0] |" in alfworld
    assert "| 70.0 | - | - | 10 min |" in alfworld
    over_seeds = alfworld.split("### Over seeds")[1]
    assert "| teacher | 2M | 1.0x | 1 | - | 60.0 | - | 60.0 | 60.0 |" in over_seeds
    # std of 40 and 50 (ddof 1) is 7.07
    assert "| sad | 500K | 4.0x | 2 | 0, 1 | 45.0 | 7.1 | 40.0 (seed 0) | 50.0 (seed 1) |" in (
        over_seeds
    )
    webshop = md.split("## webshop / test")[1]
    assert "| sad-s0 | sad | 0 | 500K | 4.0x | 5 | 20.0 [0.0, 50.0] |" in webshop
    assert "| sad-s1 |" not in webshop

    report = render_markdown(entries())
    assert report.startswith("# Evaluation report\n\n")
    assert "'-' for the teacher" in report and md in report


def test_compact_markdown(frame: pd.DataFrame) -> None:
    lines = compact_markdown(frame).splitlines()
    assert lines[0] == "| model | env/split | success % [95% CI] | steps | CoT % | invalid % |"
    assert lines[2] == "| teacher | alfworld/valid_unseen | 60.0 [30.0, 90.0] | 8.0 | - | 5.0 |"
    assert lines[4] == "| sad-s0 | webshop/test | 20.0 [0.0, 50.0] | 10.0 | - | - |"
    assert len(lines) == 2 + 4


def test_rich_table_renders(frame: pd.DataFrame) -> None:
    console = Console(record=True, width=160)
    console.print(rich_table(frame, "results"))
    text = console.export_text()
    assert "results" in text and "success % [95% CI]" in text
    rows = [line for line in text.splitlines() if "alfworld/valid_unseen" in line]
    assert len(rows) == 3
    assert "teacher" in rows[0] and "60.0 [30.0, 90.0]" in rows[0] and " - " in rows[0]
    assert "sad-s0" in rows[1] and "50.0" in rows[1] and "10.0" in rows[1]


@dataclass
class Result:
    """What `experiment.BenchmarkResult` offers: name, parameters, metrics."""

    name: str
    parameters: int
    metrics: list[EnvMetrics]


def test_benchmark_frame_and_cli_table() -> None:
    results = [
        Result("teacher", 2_000_000, [metrics(est(0.6, 0.3, 0.9), cot=est(1.0, 1.0, 1.0))]),
        Result("sad-s0", 500_000, [metrics(est(0.4, 0.1, 0.7), cot=est(0.5, 0.4, 0.6))]),
    ]
    frame = benchmark_frame(results)
    assert frame["method"].iloc[0] == "teacher" and pd.isna(frame["method"].iloc[1])
    assert frame["compression"].tolist() == [1.0, 4.0]
    assert math.isnan(frame["cot_match"].iloc[0]) and frame["cot_match"].iloc[1] == 0.5
    assert frame["seed"].isna().all() and frame["train_wall_s"].isna().all()
    # without the teacher there is nothing to compress against
    alone = benchmark_frame(results[1:])
    assert math.isnan(alone["compression"].iloc[0]) and alone["cot_match"].iloc[0] == 0.5
    # over seeds of runs with an unknown method still renders
    assert "| - | 500K | - | 1 | - | 40.0 |" in to_markdown(alone)

    console = Console(record=True, width=160)
    console.print(_metrics_table("benchmark -> out", results))
    text = console.export_text()
    assert "benchmark -> out" in text and "40.0 [10.0, 70.0]" in text and "50.0" in text


def test_dagster_metadata(frame: pd.DataFrame) -> None:
    table = results_table_metadata(frame)
    assert isinstance(table, dg.TableMetadataValue)
    columns = {c.name: c.type for c in table.schema.columns}
    assert list(columns) == list(COLUMNS)
    assert columns["model"] == "string" and columns["seed"] == "int"
    assert columns["parameters"] == "int" and columns["success_rate_low"] == "float"
    assert table.schema.columns[0].description == "display name"
    assert len(table.records) == 4
    teacher = table.records[0].data
    assert teacher["model"] == "teacher" and teacher["seed"] is None
    assert teacher["cot_match"] is None and teacher["success_rate"] == 0.6
    assert table.records[2].data["env"] == "webshop"

    md = results_md_metadata(frame[frame["model"] == "sad-s1"])
    assert isinstance(md, dg.MarkdownMetadataValue)
    assert "| sad-s1 | alfworld/valid_unseen | 50.0 [20.0, 80.0] | 10.0 | 70.0 | - |" in md.value
    # both are valid materialization metadata
    dg.MaterializeResult(metadata={"results": table, "metrics": md})


def test_mlflow_takes_the_frame_and_flat_metrics(tmp_path: Path, frame: pd.DataFrame) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from agentdistill.tracking import OFFLINE_ENV

    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, os.environ.get(key, value))
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        experiment = client.create_experiment("results", (tmp_path / "artifacts").as_uri())
        run_id = client.create_run(experiment).info.run_id
        flat = flat_metrics(frame, "sad-s0")
        client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in flat.items()])
        client.log_table(run_id, data=frame, artifact_file="results.json")

        assert client.get_run(run_id).data.metrics == pytest.approx(flat)
        path = client.download_artifacts(run_id, "results.json", str(tmp_path))
    logged = json.loads(Path(path).read_text())
    assert logged["columns"] == list(COLUMNS)
    assert [row[0] for row in logged["data"]] == frame["model"].tolist()
    assert logged["data"][0][COLUMNS.index("cot_match")] is None  # the teacher: null


def scored_entries() -> list[ReportEntry]:
    """HotPotQA with its EM and F1 beside ALFWorld and WebShop, which have no scores."""
    hotpot = metrics(est(0.4, 0.2, 0.6), env="hotpotqa", split="test").model_copy(
        update={"scores": {"f1": est(0.55, 0.35, 0.75), "em": est(0.4, 0.2, 0.6)}}
    )
    web = metrics(est(0.1, 0.0, 0.3), env="webshop", split="test").model_copy(
        update={"mean_reward": est(0.62, 0.5, 0.74)}
    )
    return [
        ReportEntry(
            name="sad-s0",
            method="sad",
            seed=0,
            parameters=500_000,
            compression=4.0,
            metrics=[metrics(est(0.4, 0.1, 0.7)), hotpot, web],
        )
    ]


def test_scores_get_columns_keys_and_table_cells() -> None:
    frame = results_frame(scored_entries())
    scores = ["em", "em_low", "em_high", "f1", "f1_low", "f1_high"]  # sorted by key
    assert list(frame.columns) == [*COLUMNS, *scores] and score_keys(frame) == ["em", "f1"]
    assert {str(frame[c].dtype) for c in scores} == {"float64"}
    hotpot = frame[frame["env"] == "hotpotqa"].iloc[0]
    assert (hotpot["f1"], hotpot["f1_low"], hotpot["f1_high"]) == (0.55, 0.35, 0.75)
    assert frame[frame["env"] != "hotpotqa"][scores].isna().all().all()  # the others: NaN
    assert describe("f1_low") == "mean episode score 'f1': 95% CI lower bound"
    assert describe("success_rate") == DESCRIPTIONS["success_rate"]

    flat = flat_metrics(frame, "sad-s0")
    assert flat["hotpotqa/test/f1"] == 0.55 and flat["hotpotqa/test/em_high"] == 0.6
    assert flat["hotpotqa/test/f1_low"] == 0.35
    assert not any(key.endswith(("/f1", "/em")) for key in flat if "hotpotqa" not in key)
    # WebShop's score is its mean reward (x 100 in the report): no key of its own
    assert flat["webshop/test/mean_reward"] == 0.62 and "webshop/test/score" not in flat
    board = leaderboard(frame)["sad-s0"]
    assert board["hotpotqa/test/f1"] == 0.55
    json.dumps(board, allow_nan=False)
    # a frame without scores keeps the fixed columns
    assert list(results_frame(entries()).columns) == list(COLUMNS)
    assert score_keys(results_frame([])) == []


def test_report_tables_show_scores_only_where_they_exist() -> None:
    md = to_markdown(results_frame(scored_entries()))
    alfworld, rest = md.split("## hotpotqa / test")
    hotpot, webshop = rest.split("## webshop / test")
    assert "Score" not in alfworld and "F1" not in alfworld
    assert "| Episodes | Success % [95% CI] | EM % [95% CI] | F1 % [95% CI] | Steps |" in hotpot
    assert "| 40.0 [20.0, 60.0] | 40.0 [20.0, 60.0] | 55.0 [35.0, 75.0] | 10.0 |" in hotpot
    assert "| Success % [95% CI] | Score [95% CI] | Steps |" in webshop and "F1" not in webshop
    assert "| 10.0 [0.0, 30.0] | 62.0 [50.0, 74.0] | 10.0 |" in webshop
    assert "Score (WebShop): mean final reward x 100" in render_markdown(scored_entries())

    console = Console(record=True, width=200)
    console.print(rich_table(results_frame(scored_entries())))
    lines = console.export_text().splitlines()
    assert any("EM %" in line and "F1 %" in line for line in lines)
    assert any("hotpotqa/test" in line and "55.0" in line for line in lines)

    table = results_table_metadata(results_frame(scored_entries()))
    described = {c.name: c.description for c in table.schema.columns}
    assert described["em"] == "mean episode score 'em' (environment-specific)"


@pytest.mark.parametrize(("key", "clash"), [("seed", "seed"), ("f1_low", "f1_low")])
def test_score_keys_must_not_clash_with_columns(key: str, clash: str) -> None:
    scores = {key: est(0.5, 0.4, 0.6), "f1": est(0.5, 0.4, 0.6)}
    bad = metrics(est(0.4, 0.1, 0.7)).model_copy(update={"scores": scores})
    entry = ReportEntry(name="m", method="sad", parameters=1, compression=1.0, metrics=[bad])
    with pytest.raises(ValueError, match=f"clash.*{clash}"):
        results_frame([entry])
