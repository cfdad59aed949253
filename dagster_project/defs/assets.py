"""The distillation chain as software-defined assets.

task_suites -> expert_trajectories -> teacher -> teacher_benchmark (blocking floor check)
            -> teacher_rollouts -> span_segments (blocking coverage check)
            -> student_<method> -> benchmark_<method> (one pair per method of the profile)
            -> leaderboard (report + MLflow champion)

Every asset calls the `agentdistill.experiment` stage the CLI and DVC call, writes under the
`ExperimentResource` root, and returns metadata (counts, rates, parameters, paths, MLflow
links). Students and benchmarks exist per method of the profile the graph is built for.
"""

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from agentdistill.environments.registry import make_suite
from agentdistill.evaluation import EnvMetrics
from agentdistill.experiment import (
    BenchmarkResult,
    ExperimentConfig,
    run_benchmark,
    run_report,
    run_segments,
    run_student,
    run_teacher,
    run_teacher_rollouts,
    teacher_dir,
)
from agentdistill.files import write_text_atomic
from agentdistill.records import Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import summarize
from agentdistill.teacher import expert_trajectories as play_expert
from dagster_project.defs.resources import (
    ExperimentResource,
    MLflowResource,
    default_resources,
)

SPLITS = ("train", "valid_seen", "valid_unseen")


def _tags(context: dg.AssetExecutionContext, experiment: ExperimentResource) -> dict[str, str]:
    """Tags that link an MLflow run back to this Dagster run and the DVC data version."""
    return {
        "dagster_run_id": context.run.run_id,
        "dagster_asset": context.asset_key.to_user_string(),
        "dvc_data_hash": experiment.data_version(),
        "profile": experiment.profile,
    }


def _metrics_md(results: list[tuple[str, list[EnvMetrics]]]) -> str:
    lines = ["| model | env/split | success % [95% CI] | steps | CoT % | invalid % |"]
    lines.append("|---|---|---:|---:|---:|---:|")
    for name, metrics in results:
        for m in metrics:
            s = m.success_rate
            cot = f"{100 * m.cot_match.value:.1f}" if m.cot_match else "-"
            invalid = f"{100 * m.invalid_action_rate.value:.1f}" if m.invalid_action_rate else "-"
            lines.append(
                f"| {name} | {m.env}/{m.split} | {100 * s.value:.1f} [{100 * s.low:.1f}, "
                f"{100 * s.high:.1f}] | {m.mean_steps.value:.1f} | {cot} | {invalid} |"
            )
    return "\n".join(lines)


def _flat_metrics(metrics: list[EnvMetrics]) -> dict[str, float]:
    """`alfworld/success_rate`, `..._low`, `..._high`, ... for MLflow."""
    flat: dict[str, float] = {}
    for m in metrics:
        for field in (
            "success_rate",
            "mean_reward",
            "mean_steps",
            "reasoning_tokens",
            "cot_match",
            "invalid_action_rate",
            "tokens_per_s",
        ):
            estimate = getattr(m, field)
            if estimate is None:
                continue
            key = f"{m.env}/{field}"
            flat[key], flat[f"{key}_low"], flat[f"{key}_high"] = (
                estimate.value,
                estimate.low,
                estimate.high,
            )
    return flat


# ---- the chain -----------------------------------------------------------------------------


@dg.asset(group_name="data", kinds={"python"})
def task_suites(experiment: ExperimentResource) -> dg.MaterializeResult:
    """The environment's task suites (generated, or real benchmark files when present)."""
    config = experiment.config()
    suite = make_suite(config.env)
    out = experiment.paths().root / "tasks"
    counts = {}
    for split in SPLITS:
        tasks = suite.tasks(split)
        write_jsonl(out / f"{split}.jsonl", tasks)
        counts[split] = len(tasks)
    return dg.MaterializeResult(
        metadata={
            **{f"tasks/{split}": n for split, n in counts.items()},
            "path": dg.MetadataValue.path(str(out)),
        }
    )


@dg.asset(deps=[task_suites], group_name="data", kinds={"python"})
def expert_trajectories(experiment: ExperimentResource) -> dg.MaterializeResult:
    """The scripted expert on the train split (DART noise kept as context): teacher data."""
    config, paths = experiment.config(), experiment.paths()
    out = paths.teacher / "expert_train.jsonl"
    if out.exists():
        episodes = read_jsonl(out, Trajectory)
    else:
        episodes = play_expert(
            config.env,
            "train",
            config.teacher.train_tasks,
            config.teacher.expert_seed,
            out,
            config.teacher.expert_noise,
        )
    stats = summarize(episodes)
    return dg.MaterializeResult(
        metadata={
            "episodes": len(episodes),
            "success_rate": dg.MetadataValue.float(stats["success_rate"]),
            "mean_steps": dg.MetadataValue.float(stats["mean_steps"]),
            "path": dg.MetadataValue.path(str(out)),
        }
    )


@dg.asset(deps=[expert_trajectories], group_name="teacher", kinds={"pytorch"})
def teacher(
    context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    """The teacher: bootstrapped offline (or the profile's `teacher_model`), logged to MLflow."""
    config, paths = experiment.config(), experiment.paths()
    model_dir = run_teacher(config, paths)
    metadata: dict[str, Any] = {"model_dir": dg.MetadataValue.path(str(model_dir))}
    summary_file = paths.teacher / "teacher_summary.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
        metadata["parameters"] = summary["parameters"]
        metadata["final_reason_loss"] = summary["train"]["final_reason_loss"]
        metadata["final_act_loss"] = summary["train"]["final_act_loss"]
        metadata["train_wall_s"] = summary["train"]["wall_s"]
        tracker = mlflow.tracker()
        run_id = tracker.log_training(
            "teacher",
            config.teacher.model_dump(mode="json"),
            paths.teacher / "train",
            tags={**_tags(context, experiment), "role": "teacher"},
        )
        if run_id:
            metadata["mlflow_run"] = dg.MetadataValue.url(tracker.run_url(run_id))
    return dg.MaterializeResult(metadata=metadata)


def _benchmark_metadata(result: BenchmarkResult) -> dict[str, Any]:
    main = result.metrics[0]
    return {
        "success_rate": dg.MetadataValue.float(main.success_rate.value),
        "success_low": dg.MetadataValue.float(main.success_rate.low),
        "success_high": dg.MetadataValue.float(main.success_rate.high),
        "parameters": result.parameters,
        "episodes": dg.MetadataValue.path(result.episodes_file),
        "metrics": dg.MetadataValue.md(_metrics_md([(result.name, result.metrics)])),
    }


@dg.asset(deps=[teacher], group_name="teacher", kinds={"python"})
def teacher_benchmark(experiment: ExperimentResource) -> dg.MaterializeResult:
    """The teacher on the evaluation split: the bar students are measured against."""
    config, paths = experiment.config(), experiment.paths()
    result = run_benchmark(config, paths, "teacher", teacher_dir(config, paths))
    return dg.MaterializeResult(metadata=_benchmark_metadata(result))


@dg.asset_check(asset=teacher_benchmark, blocking=True)
def teacher_success_above_floor(experiment: ExperimentResource) -> dg.AssetCheckResult:
    """Distillation only starts from a teacher that reaches the configured success floor."""
    result = BenchmarkResult.model_validate_json(
        (experiment.paths().benchmark("teacher") / "metrics.json").read_text()
    )
    rate = result.metrics[0].success_rate.value
    return dg.AssetCheckResult(
        passed=rate >= experiment.teacher_floor,
        metadata={"success_rate": rate, "floor": experiment.teacher_floor},
    )


@dg.asset(deps=[teacher], group_name="teacher", kinds={"python"})
def teacher_rollouts(experiment: ExperimentResource) -> dg.MaterializeResult:
    """The teacher plays the train split; its kept episodes are the distillation data."""
    paths = experiment.paths()
    kept = run_teacher_rollouts(experiment.config(), paths)
    summary = json.loads((paths.rollouts / "summary.json").read_text())
    return dg.MaterializeResult(
        metadata={
            "episodes": summary["episodes"],
            "kept": summary["kept"],
            "success_rate": dg.MetadataValue.float(summary["success_rate"]),
            "path": dg.MetadataValue.path(str(kept)),
        }
    )


@dg.asset(deps=[teacher_rollouts], group_name="distillation", kinds={"python"})
def span_segments(experiment: ExperimentResource) -> dg.MaterializeResult:
    """REASON/ACT/OBS/PROMPT segmentation of the rollouts and the teacher's top-k cache."""
    paths = experiment.paths()
    summary = run_segments(experiment.config(), paths)
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in summary.items() if isinstance(v, int)},
            "span_coverage": dg.MetadataValue.float(summary["span_coverage"]),
            "teacher_cache": dg.MetadataValue.path(str(paths.teacher_cache)),
        }
    )


@dg.asset_check(asset=span_segments, blocking=True)
def segments_cover_every_span(experiment: ExperimentResource) -> dg.AssetCheckResult:
    """Every thought and action of the data lies inside tokens of its own label."""
    summary = json.loads((experiment.paths().segments / "summary.json").read_text())
    return dg.AssetCheckResult(
        passed=summary["span_coverage"] == 1.0 and summary["act_tokens"] > 0,
        metadata={"span_coverage": summary["span_coverage"], "act_tokens": summary["act_tokens"]},
    )


def student_assets(config: ExperimentConfig) -> list[dg.AssetsDefinition]:
    """student_<method> and benchmark_<method> for every method of the profile."""
    methods = list(dict.fromkeys([*config.methods, *config.ablations]))
    assets: list[dg.AssetsDefinition] = []
    for method in methods:
        assets += [_student_asset(method), _benchmark_asset(method)]
    return assets


def _seeds(config: ExperimentConfig, method: str) -> list[int]:
    return [seed for name, m, seed in config.students() if m == method]


def _student_asset(method: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"student_{method}",
        deps=[span_segments, teacher_benchmark],
        group_name="distillation",
        kinds={"pytorch"},
        description=f"Students distilled with `{method}`, one per seed, logged to MLflow.",
    )
    def student(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        config, paths = experiment.config(), experiment.paths()
        tracker = mlflow.tracker()
        rows, links = [], {}
        for seed in _seeds(config, method):
            summary = run_student(config, paths, method, seed)  # type: ignore[arg-type]
            name = f"{method}-s{seed}"
            run_id = tracker.log_training(
                name,
                config.distill.model_copy(update={"method": method}).model_dump(mode="json"),
                paths.student(name),
                tags={
                    **_tags(context, experiment),
                    "role": "student",
                    "method": method,
                    "seed": str(seed),
                    "parameters": str(summary.student_parameters),
                },
            )
            write_text_atomic(
                paths.student(name) / "mlflow_run.json", json.dumps({"run_id": run_id})
            )
            if run_id:
                links[f"mlflow_run/{name}"] = dg.MetadataValue.url(tracker.run_url(run_id))
            rows.append(
                f"| {name} | {summary.student_parameters:,} | {summary.compression:.1f}x | "
                f"{summary.train.final_reason_loss:.3f} | {summary.train.final_act_loss:.3f} | "
                f"{summary.train.wall_s + summary.cache_s:.0f} |"
            )
        table = "| student | parameters | compression | REASON loss | ACT loss | wall s |\n"
        table += "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows)
        return dg.MaterializeResult(
            metadata={"students": dg.MetadataValue.md(table), **links, "method": method}
        )

    return student


def _benchmark_asset(method: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"benchmark_{method}",
        deps=[f"student_{method}", teacher_benchmark],
        group_name="evaluation",
        kinds={"python"},
        description=f"`{method}` students on the evaluation split; registered in MLflow.",
    )
    def benchmark(experiment: ExperimentResource, mlflow: MLflowResource) -> dg.MaterializeResult:
        config, paths = experiment.config(), experiment.paths()
        tracker = mlflow.tracker()
        results = []
        versions = {}
        for seed in _seeds(config, method):
            name = f"{method}-s{seed}"
            result = run_benchmark(config, paths, name, paths.student(name) / "model")
            results.append((name, result.metrics))
            run_file = paths.student(name) / "mlflow_run.json"
            run_id = json.loads(run_file.read_text())["run_id"] if run_file.exists() else ""
            if not run_id:
                continue
            tracker.log_benchmark(
                config.benchmark.split,
                _flat_metrics(result.metrics),
                [Path(result.episodes_file), paths.benchmark(name) / "metrics.json"],
                run_id=run_id,
            )
            main = result.metrics[0].success_rate
            versions[name] = tracker.register(
                run_id,
                {
                    "method": method,
                    "seed": seed,
                    "success_rate": main.value,
                    "success_low": main.low,
                    "success_high": main.high,
                    "parameters": result.parameters,
                    "benchmark": f"{config.env}/{config.benchmark.split}",
                },
            )
        return dg.MaterializeResult(
            metadata={
                "metrics": dg.MetadataValue.md(_metrics_md(results)),
                "registered_versions": dg.MetadataValue.json(versions),
            }
        )

    return benchmark


def _leaderboard_asset(config: ExperimentConfig) -> dg.AssetsDefinition:
    methods = list(dict.fromkeys([*config.methods, *config.ablations]))

    @dg.asset(
        name="leaderboard",
        deps=[teacher_benchmark, *[f"benchmark_{m}" for m in methods]],
        group_name="evaluation",
        kinds={"python"},
        description="Comparison report (markdown + plot) and the MLflow champion alias.",
    )
    def leaderboard(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        config, paths = experiment.config(), experiment.paths()
        files = run_report(config, paths)
        tracker = mlflow.tracker()
        run_id = tracker.log_benchmark(
            "leaderboard", {}, list(files.values()), tags=_tags(context, experiment)
        )
        version, reason = tracker.promote_champion()
        metadata: dict[str, Any] = {
            "report": dg.MetadataValue.md(Path(files["md"]).read_text()),
            "plot": dg.MetadataValue.path(str(files["png"])),
            "champion_version": version if version is not None else -1,
            "champion_reason": reason,
        }
        if run_id:
            metadata["mlflow_run"] = dg.MetadataValue.url(tracker.run_url(run_id))
        return dg.MaterializeResult(metadata=metadata)

    return leaderboard


def build_definitions(
    experiment: ExperimentResource | None = None, mlflow: MLflowResource | None = None
) -> dg.Definitions:
    """The whole graph for one profile, with its resources."""
    resources = default_resources()
    if experiment is not None:
        resources["experiment"] = experiment
    if mlflow is not None:
        resources["mlflow"] = mlflow
    config = resources["experiment"].config()  # type: ignore[attr-defined]
    assets = [
        task_suites,
        expert_trajectories,
        teacher,
        teacher_benchmark,
        teacher_rollouts,
        span_segments,
        *student_assets(config),
        _leaderboard_asset(config),
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=[teacher_success_above_floor, segments_cover_every_span],
        resources=resources,
        jobs=[
            dg.define_asset_job(
                "distillation_chain",
                selection=dg.AssetSelection.all(),
                # training saturates the cores: one step at a time unless told otherwise
                executor_def=dg.multiprocess_executor.configured(
                    {"max_concurrent": int(os.environ.get("AGENTDISTILL_MAX_CONCURRENT", "1"))}
                ),
            )
        ],
    )


defs = build_definitions()
