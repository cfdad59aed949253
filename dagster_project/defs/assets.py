"""The distillation chain as software-defined assets.

task_suites -> teacher -> teacher_benchmark (blocking floor check) -> teacher_rollouts
            -> span_segments (blocking coverage check)
            -> student_<method> -> benchmark_<method> (one pair per method of the profile)
            -> leaderboard (report + MLflow champion)

Every asset calls the `agentdistill.experiment` stage the CLI and DVC call: the stage reads
the profile's data and format, writes under the `ExperimentResource` root and logs its MLflow
runs itself (idempotently), so an asset only adds Dagster's view: metadata (counts, rates with
intervals, tables, MLflow links) and the run id tags.

Every asset is partitioned by environment (the profile's `environments`): a partition is one
environment's whole chain under `<root>/<env>/`, so a user materializes one environment
alone (`dg launch --assets '*' --partition webshop`) or all of them (a backfill). The two
gates (teacher floor, span coverage) are blocking checks the assets report themselves, per
partition: a failed one stops that environment's chain only.
"""

import json
import os
from collections.abc import Sequence
from typing import Any

import dagster as dg

from agentdistill.experiment import (
    BenchmarkOutcome,
    ExperimentConfig,
    StudentSpec,
    run_benchmark,
    run_report,
    run_segments,
    run_student,
    run_tasks,
    run_teacher,
    run_teacher_benchmark,
    run_teacher_rollouts,
)
from agentdistill.profile import ExperimentProfile
from agentdistill.results import benchmark_frame
from agentdistill.tracking import Tracker
from dagster_project.defs.metadata import results_md_metadata, results_table_metadata
from dagster_project.defs.resources import (
    ExperimentResource,
    MLflowResource,
    default_resources,
)


def _tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    """Tags that link an MLflow run back to the Dagster run that logged it."""
    return {
        "dagster_run_id": context.run.run_id,
        "dagster_asset": context.asset_key.to_user_string(),
    }


def _link(tracker: Tracker, run_id: str) -> dict[str, Any]:
    return {"mlflow_run": dg.MetadataValue.url(tracker.run_url(run_id))} if run_id else {}


def _benchmark_metadata(outcomes: list[BenchmarkOutcome]) -> dict[str, Any]:
    frame = benchmark_frame([o.result for o in outcomes])
    metadata: dict[str, Any] = {
        "results": results_table_metadata(frame),
        "results_md": results_md_metadata(frame),
    }
    if len(outcomes) == 1:
        main = outcomes[0].result.metrics[0].success_rate
        metadata |= {
            "success_rate": dg.MetadataValue.float(main.value),
            "success_low": dg.MetadataValue.float(main.low),
            "success_high": dg.MetadataValue.float(main.high),
            "episodes": dg.MetadataValue.path(outcomes[0].result.episodes_file),
        }
    return metadata


# ---- the chain -----------------------------------------------------------------------------

FLOOR_CHECK = "teacher_success_above_floor"
COVERAGE_CHECK = "segments_cover_every_span"


def env_partitions(envs: Sequence[str]) -> dg.StaticPartitionsDefinition:
    """One partition per environment of the profile."""
    return dg.StaticPartitionsDefinition(list(envs))


def chain_assets(profile: ExperimentProfile) -> list[dg.AssetsDefinition]:
    """Every asset of the chain for a profile, partitioned by its environments."""
    partitions = env_partitions(profile.envs)
    config = profile.config(profile.envs[0])  # every environment trains the same students

    @dg.asset(group_name="data", kinds={"python"}, partitions_def=partitions)
    def task_suites(
        context: dg.AssetExecutionContext, experiment: ExperimentResource
    ) -> dg.MaterializeResult:
        """The task files every stage reads (`data/<env>/<split>.jsonl`, tracked by DVC)."""
        return _task_suites(experiment.config(context.partition_key))

    @dg.asset(
        deps=[task_suites], group_name="teacher", kinds={"pytorch"}, partitions_def=partitions
    )
    def teacher(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        """The teacher: expert data + bootstrap (or the profile's `teacher_model`), in MLflow."""
        return _teacher(context, experiment, mlflow)

    @dg.asset(
        deps=[teacher],
        group_name="teacher",
        kinds={"python"},
        partitions_def=partitions,
        check_specs=[dg.AssetCheckSpec(FLOOR_CHECK, asset="teacher_benchmark", blocking=True)],
    )
    def teacher_benchmark(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        """The teacher on the evaluation split and the trivial policies' floor it must clear
        (a blocking check: distillation only starts from a teacher that clears it)."""
        return _teacher_benchmark(context, experiment, mlflow)

    @dg.asset(
        deps=[teacher_benchmark], group_name="teacher", kinds={"python"}, partitions_def=partitions
    )
    def teacher_rollouts(
        context: dg.AssetExecutionContext, experiment: ExperimentResource
    ) -> dg.MaterializeResult:
        """The teacher plays the train split; its kept episodes are the distillation data."""
        return _teacher_rollouts(experiment, context.partition_key)

    @dg.asset(
        deps=[teacher_rollouts],
        group_name="distillation",
        kinds={"python"},
        partitions_def=partitions,
        check_specs=[dg.AssetCheckSpec(COVERAGE_CHECK, asset="span_segments", blocking=True)],
    )
    def span_segments(
        context: dg.AssetExecutionContext, experiment: ExperimentResource
    ) -> dg.MaterializeResult:
        """REASON/ACT/OBS/PROMPT segmentation of the rollouts and the teacher's top-k cache
        (a blocking check: every thought and action lies inside tokens of its own label)."""
        return _span_segments(experiment, context.partition_key)

    groups = _methods(config)
    students: list[dg.AssetsDefinition] = []
    for method in groups:
        students += [
            _student_asset(method, partitions, [span_segments, teacher_benchmark]),
            _benchmark_asset(method, partitions, teacher_benchmark),
        ]
    return [
        task_suites,
        teacher,
        teacher_benchmark,
        teacher_rollouts,
        span_segments,
        *students,
        _leaderboard_asset(groups, partitions, teacher_benchmark),
    ]


def _task_suites(config: ExperimentConfig) -> dg.MaterializeResult:
    files = run_tasks(config)
    metadata: dict[str, Any] = {}
    for split, file in files.items():
        metadata[f"tasks/{split}"] = len(file.tasks)
        metadata[f"sha256/{split}"] = file.sha256
        metadata[f"path/{split}"] = dg.MetadataValue.path(str(file.path))
    return dg.MaterializeResult(metadata=metadata)


def _teacher(
    context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    env = context.partition_key
    config, paths = experiment.config(env), experiment.paths(env)
    tracker = mlflow.tracker(config)
    outcome = run_teacher(config, paths, tracker, _tags(context))
    metadata: dict[str, Any] = {"model_dir": dg.MetadataValue.path(str(outcome.model_dir))}
    if outcome.summary:
        train = outcome.summary["train"]
        metadata |= {
            "expert_episodes": outcome.summary["expert_trajectories"],
            "parameters": outcome.summary["parameters"],
            "final_loss": train["final_loss"],
            "final_reason_loss": train["final_reason_loss"],
            "final_act_loss": train["final_act_loss"],
            "train_wall_s": train["wall_s"],
        }
    return dg.MaterializeResult(metadata=metadata | _link(tracker, outcome.run_id))


def _teacher_benchmark(
    context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    env = context.partition_key
    config, paths = experiment.config(env), experiment.paths(env)
    tracker = mlflow.tracker(config)
    outcome, floor = run_teacher_benchmark(config, paths, tracker, _tags(context), enforce=False)
    metadata = _benchmark_metadata([outcome]) | {
        "floor": dg.MetadataValue.float(floor.floor),
        "floor_rule": floor.rule,
        **{f"trivial/{k}": dg.MetadataValue.float(v) for k, v in floor.trivial_success.items()},
    }
    check = dg.AssetCheckResult(
        check_name=FLOOR_CHECK,
        passed=floor.passed,
        metadata={
            "teacher_success": floor.teacher_success,
            "floor": floor.floor,
            "rule": floor.rule,
            **{f"trivial/{k}": v for k, v in floor.trivial_success.items()},
        },
    )
    return dg.MaterializeResult(
        metadata=metadata | _link(tracker, outcome.run_id), check_results=[check]
    )


def _teacher_rollouts(experiment: ExperimentResource, env: str) -> dg.MaterializeResult:
    paths = experiment.paths(env)
    kept = run_teacher_rollouts(experiment.config(env), paths)
    summary = json.loads((paths.rollouts / "summary.json").read_text())
    return dg.MaterializeResult(
        metadata={
            "episodes": summary["episodes"],
            "kept": summary["kept"],
            "success_rate": dg.MetadataValue.float(summary["success_rate"]),
            "path": dg.MetadataValue.path(str(kept)),
        }
    )


def _span_segments(experiment: ExperimentResource, env: str) -> dg.MaterializeResult:
    paths = experiment.paths(env)
    summary = run_segments(experiment.config(env), paths)
    check = dg.AssetCheckResult(
        check_name=COVERAGE_CHECK,
        passed=summary["span_coverage"] == 1.0 and summary["act_tokens"] > 0,
        metadata={"span_coverage": summary["span_coverage"], "act_tokens": summary["act_tokens"]},
    )
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in summary.items() if isinstance(v, int)},
            "span_coverage": dg.MetadataValue.float(summary["span_coverage"]),
            "teacher_cache": dg.MetadataValue.path(str(paths.teacher_cache)),
        },
        check_results=[check],
    )


def _methods(config: ExperimentConfig) -> list[str]:
    """The student groups of the profile (a method, at a size, offline or on-policy), as
    asset-name keys: 'sad', 'sad_30x', 'sad_onpolicy'."""
    return list(dict.fromkeys(_key(spec.group) for spec in config.student_specs()))


def _key(group: str) -> str:
    return group.replace("-", "_")


def _specs(config: ExperimentConfig, key: str) -> list[StudentSpec]:
    return [spec for spec in config.student_specs() if _key(spec.group) == key]


def _student_asset(
    method: str, partitions: dg.PartitionsDefinition, deps: Sequence[dg.AssetsDefinition]
) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"student_{method}",
        deps=list(deps),
        group_name="distillation",
        kinds={"pytorch"},
        partitions_def=partitions,
        description=f"Students of group `{method}`, one per seed, logged to MLflow.",
    )
    def student(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        env = context.partition_key
        config, paths = experiment.config(env), experiment.paths(env)
        tracker = mlflow.tracker(config)
        rows, links = [], {}
        for spec in _specs(config, method):
            outcome = run_student(config, paths, spec, tracker, _tags(context))
            summary, name = outcome.summary, spec.name
            if outcome.run_id:
                links[f"mlflow_run/{name}"] = dg.MetadataValue.url(tracker.run_url(outcome.run_id))
            rows.append(
                dg.TableRecord(
                    {
                        "student": name,
                        "parameters": summary.student_parameters,
                        "compression": round(summary.compression, 2),
                        "final_loss": round(summary.train.final_loss, 4),
                        "reason_loss": round(summary.train.final_reason_loss, 4),
                        "act_loss": round(summary.train.final_act_loss, 4),
                        "wall_s": round(summary.train.wall_s + summary.cache_s, 1),
                    }
                )
            )
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn("student", "string"),
                dg.TableColumn("parameters", "int"),
                *(
                    dg.TableColumn(name, "float")
                    for name in ("compression", "final_loss", "reason_loss", "act_loss", "wall_s")
                ),
            ]
        )
        return dg.MaterializeResult(
            metadata={
                "students": dg.MetadataValue.table(rows, schema=schema),
                **links,
                "method": method,
            }
        )

    return student


def _benchmark_asset(
    method: str, partitions: dg.PartitionsDefinition, teacher_benchmark: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"benchmark_{method}",
        deps=[f"student_{method}", teacher_benchmark],
        group_name="evaluation",
        kinds={"python"},
        partitions_def=partitions,
        description=f"`{method}` students on the evaluation split; registered in MLflow.",
    )
    def benchmark(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        env = context.partition_key
        config, paths = experiment.config(env), experiment.paths(env)
        tracker = mlflow.tracker(config)
        outcomes = []
        for spec in _specs(config, method):
            name = spec.name
            outcomes.append(
                run_benchmark(
                    config, paths, name, paths.student(name) / "model", tracker, _tags(context)
                )
            )
        versions = {o.result.name: o.version for o in outcomes}
        return dg.MaterializeResult(
            metadata=_benchmark_metadata(outcomes)
            | {"registered_versions": dg.MetadataValue.json(versions)}
        )

    return benchmark


def _leaderboard_asset(
    groups: Sequence[str], partitions: dg.PartitionsDefinition, teacher_benchmark: Any
) -> dg.AssetsDefinition:
    @dg.asset(
        name="leaderboard",
        deps=[teacher_benchmark, *[f"benchmark_{m}" for m in groups]],
        group_name="evaluation",
        kinds={"python"},
        partitions_def=partitions,
        description="Comparison report (markdown + plot) and the MLflow champion alias.",
    )
    def leaderboard(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        env = context.partition_key
        config, paths = experiment.config(env), experiment.paths(env)
        tracker = mlflow.tracker(config)
        outcome = run_report(config, paths, tracker, _tags(context))
        metadata: dict[str, Any] = {
            "report": dg.MetadataValue.md(outcome.files["md"].read_text()),
            "plot": dg.MetadataValue.path(str(outcome.files["png"])),
            "champion_version": outcome.champion if outcome.champion is not None else -1,
            "champion_reason": outcome.reason,
        }
        return dg.MaterializeResult(metadata=metadata | _link(tracker, outcome.run_id))

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
    profile = resources["experiment"].profile_config()  # type: ignore[attr-defined]
    assets = chain_assets(profile)
    return dg.Definitions(
        assets=assets,
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
