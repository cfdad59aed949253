"""The distillation chain as software-defined assets.

task_suites -> teacher -> teacher_benchmark (blocking floor check) -> teacher_rollouts
            -> span_segments (blocking coverage check)
            -> student_<group> -> benchmark_<group> (one pair per method group, per seed)
            -> leaderboard (report + MLflow champion)

Every asset calls the `agentdistill.experiment` stage the CLI and DVC call: the stage reads
the profile's data and format, writes under the `ExperimentResource` root and logs its MLflow
runs itself (idempotently), so an asset only adds Dagster's view: metadata (counts, rates with
intervals, tables, MLflow links) and the run id tags.

Partitions: the environment's assets (task_suites .. span_segments, leaderboard) are
partitioned by environment (the profile's `environments`), the students and their benchmarks by
(environment, seed), so every seed of every method is one partition that trains alone: a
backfill runs them in parallel processes here (one run each) or in parallel pods on a cluster
(`k8s_job_executor`). An (env, seed) partition reads its environment's teacher and segments;
an environment's leaderboard reads every seed of its environment. One job per partitioning
(a Dagster job holds one): `teacher_chain` (env), `student_chain` (env|seed), `report_chain`
(env), launched in that order for an environment (`make run`), or all at once by an asset
backfill, which orders them itself.

The two gates (teacher floor, span coverage) are blocking checks the assets report
themselves, per environment; the students of another run read the same verdicts from the
artifacts (`require_floor`, the segments' summary), so a failed gate stops that environment
only, whichever run or pod trains them.
"""

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dagster as dg

from agentdistill.experiment import (
    BenchmarkOutcome,
    ExperimentConfig,
    ExperimentPaths,
    StudentSpec,
    require_floor,
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
from agentdistill.runtime import RuntimeConfig
from agentdistill.tracking import Tracker
from dagster_project.defs.metadata import results_md_metadata, results_table_metadata
from dagster_project.defs.resources import (
    ExperimentResource,
    MLflowResource,
    default_resources,
    from_repo,
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


# ---- partitions, gates, GPUs ----------------------------------------------------------------

FLOOR_CHECK = "teacher_success_above_floor"
COVERAGE_CHECK = "segments_cover_every_span"
ENV, SEED = "env", "seed"  # the dimensions of a student's partition
# one job per partitioning, launched in this order for an environment
TEACHER_JOB, STUDENT_JOB, REPORT_JOB = "teacher_chain", "student_chain", "report_chain"
GPU = "nvidia.com/gpu"
K8S_CONFIG_TAG = "dagster-k8s/config"
Executor = Literal["multiprocess", "k8s"]


# How the two partitionings meet: an (env, seed) partition reads its environment's partition
# of an environment's asset; an environment's partition reads all its (env, seed) partitions.
# Dagster infers that mapping (MultiToSingleDimensionPartitionMapping on `env`) for a
# dependency between a one-dimension asset and a multi-partitioned one with that dimension,
# without the beta warning an explicit one prints on every load; the tests check it does.


def env_partitions(envs: Sequence[str]) -> dg.StaticPartitionsDefinition:
    """One partition per environment of the profile."""
    return dg.StaticPartitionsDefinition(list(envs))


def student_partitions(envs: Sequence[str], seeds: Sequence[int]) -> dg.MultiPartitionsDefinition:
    """One partition per (environment, seed): keys `<env>|<seed>` (Dagster orders the
    dimensions by name), e.g. `alfworld|0`."""
    return dg.MultiPartitionsDefinition(
        {ENV: env_partitions(envs), SEED: dg.StaticPartitionsDefinition([str(s) for s in seeds])}
    )


def _env_seed(context: dg.AssetExecutionContext) -> tuple[str, int]:
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    return keys[ENV], int(keys[SEED])


def coverage_passed(summary: Mapping[str, Any]) -> bool:
    """The span-coverage gate on the segments' summary: the check `span_segments` reports
    and the test every student asset repeats (it runs in another run, maybe another pod)."""
    return summary["span_coverage"] == 1.0 and summary["act_tokens"] > 0


def gpu_tags(runtimes: Sequence[RuntimeConfig]) -> dict[str, Any]:
    """Op tags asking dagster-k8s for one GPU per step pod when a profile runs the asset's
    models on CUDA in some environment (`runtime.device: cuda`). `auto` asks for none: it
    takes a GPU where there is one, so it runs anywhere. One, because a step runs in one
    process; other executors ignore the tag."""
    if not any(runtime.device == "cuda" for runtime in runtimes):
        return {}
    limits = {GPU: "1"}
    return {K8S_CONFIG_TAG: {"container_config": {"resources": {"limits": limits}}}}


# ---- the chain -----------------------------------------------------------------------------


def chain_assets(profile: ExperimentProfile) -> list[dg.AssetsDefinition]:
    """Every asset of the chain for a profile: the environment's assets partitioned by its
    environments, the students and their benchmarks by (environment, seed)."""
    partitions = env_partitions(profile.envs)
    per_seed = student_partitions(profile.envs, profile.config(profile.envs[0]).seeds)
    configs = [profile.config(env) for env in profile.envs]
    config = configs[0]  # every environment trains the same students
    # which assets ask for a GPU: the runtime each runs its models under, in any environment
    gpu = {
        "teacher": gpu_tags([c.teacher_config().runtime for c in configs]),
        "inference": gpu_tags([c.runtime for c in configs]),
        "distill": gpu_tags([c.distill_runtime for c in configs]),
    }

    @dg.asset(group_name="data", kinds={"python"}, partitions_def=partitions)
    def task_suites(
        context: dg.AssetExecutionContext, experiment: ExperimentResource
    ) -> dg.MaterializeResult:
        """The task files every stage reads (`data/<env>/<split>.jsonl`, tracked by DVC)."""
        return _task_suites(experiment.config(context.partition_key))

    @dg.asset(
        deps=[task_suites],
        group_name="teacher",
        kinds={"pytorch"},
        partitions_def=partitions,
        op_tags=gpu["teacher"],
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
        op_tags=gpu["inference"],
        check_specs=[dg.AssetCheckSpec(FLOOR_CHECK, asset="teacher_benchmark", blocking=True)],
    )
    def teacher_benchmark(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        """The teacher on the evaluation split and the trivial policies' floor it must clear
        (a blocking check: distillation only starts from a teacher that clears it)."""
        return _teacher_benchmark(context, experiment, mlflow)

    @dg.asset(
        deps=[teacher_benchmark],
        group_name="teacher",
        kinds={"python"},
        partitions_def=partitions,
        op_tags=gpu["inference"],
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
        op_tags=gpu["distill"],  # the teacher cache runs in the students' runtime
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
            _student_asset(method, per_seed, [span_segments, teacher_benchmark], gpu["distill"]),
            _benchmark_asset(method, per_seed, teacher_benchmark, gpu["inference"]),
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
        passed=coverage_passed(summary),
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


def _specs(config: ExperimentConfig, key: str, seed: int) -> list[StudentSpec]:
    """The group's student of one seed: one, or none for an ablation (which trains the
    first seed only) at another seed."""
    return [s for s in config.student_specs() if _key(s.group) == key and s.seed == seed]


def _require_gates(paths: ExperimentPaths) -> None:
    """The environment's two gates, for a student of another run than the assets that
    report them (a blocking check only stops its own run): the teacher's floor
    (`require_floor`, as the CLI and DVC) and the segments' span coverage."""
    summary_file = paths.segments / "summary.json"
    for file in (paths.floor, summary_file):
        if not file.exists():
            raise dg.Failure(
                f"no {file}: materialize the environment's `{TEACHER_JOB}` first",
                allow_retries=False,
            )
        if file == paths.floor:
            require_floor(paths)  # before the segments: a failed floor never made any
    summary = json.loads(summary_file.read_text())
    if not coverage_passed(summary):
        raise dg.Failure(
            f"the segments under {paths.root} fail `{COVERAGE_CHECK}` (span_coverage "
            f"{summary['span_coverage']}, act_tokens {summary['act_tokens']}): no student "
            "is distilled from them",
            allow_retries=False,
        )


def _student_asset(
    method: str,
    partitions: dg.MultiPartitionsDefinition,
    deps: Sequence[dg.AssetsDefinition],
    op_tags: Mapping[str, Any],
) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"student_{method}",
        deps=list(deps),  # by environment: see `env_partitions`
        group_name="distillation",
        kinds={"pytorch"},
        partitions_def=partitions,
        op_tags=op_tags,
        description=f"The `{method}` student of one seed, logged to MLflow.",
    )
    def student(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        env, seed = _env_seed(context)
        config, paths = experiment.config(env), experiment.paths(env)
        specs = _specs(config, method, seed)
        if specs:
            _require_gates(paths)
        tracker = mlflow.tracker(config)
        rows, links = [], {}
        for spec in specs:
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
                "seed": seed,
            }
        )

    return student


def _benchmark_asset(
    method: str,
    partitions: dg.MultiPartitionsDefinition,
    teacher_benchmark: dg.AssetsDefinition,
    op_tags: Mapping[str, Any],
) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"benchmark_{method}",
        # the same (env, seed) of the student; the teacher's episodes of its environment
        deps=[f"student_{method}", teacher_benchmark],
        group_name="evaluation",
        kinds={"python"},
        partitions_def=partitions,
        op_tags=op_tags,
        description=f"The `{method}` student of one seed on the evaluation split; registered "
        "in MLflow.",
    )
    def benchmark(
        context: dg.AssetExecutionContext, experiment: ExperimentResource, mlflow: MLflowResource
    ) -> dg.MaterializeResult:
        env, seed = _env_seed(context)
        config, paths = experiment.config(env), experiment.paths(env)
        tracker = mlflow.tracker(config)
        outcomes = []
        for spec in _specs(config, method, seed):
            name = spec.name
            outcomes.append(
                run_benchmark(
                    config, paths, name, paths.student(name) / "model", tracker, _tags(context)
                )
            )
        if not outcomes:
            return dg.MaterializeResult(metadata={"method": method, "seed": seed})
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
        # every seed of its environment's benchmarks
        deps=[teacher_benchmark, *[f"benchmark_{m}" for m in groups]],  # every seed
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


# ---- executors and definitions --------------------------------------------------------------

# what a step pod must see as the run pod does: the profile, its places, the MLflow store
# (passed by name: the value is read in the run pod, never written into the job's config)
POD_ENV = ("AGENTDISTILL_PROFILE", "AGENTDISTILL_ROOT", "MLFLOW_TRACKING_URI")


# What every step process imports (torch, transformers, MLflow: seconds each time): a forkserver
# imports it once per run and forks each step from there, instead of a fresh interpreter per
# step importing it again. Importing is all the server does (no threads, no CUDA), so the forks
# are safe.
PRELOADED = ("dagster_project.definitions", "agentdistill.experiment")


def local_executor(environ: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """Dagster's multiprocess executor: a run's independent steps (the method groups of an
    (env, seed) partition) in parallel processes, `AGENTDISTILL_MAX_CONCURRENT` at once
    (1 by default: training saturates this machine's cores), forked from a server that has
    imported the stage code (`PRELOADED`)."""
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": int(environ.get("AGENTDISTILL_MAX_CONCURRENT", "1")),
            "start_method": {"forkserver": {"preload_modules": list(PRELOADED)}},
        }
    )


def k8s_executor(environ: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """dagster-k8s's `k8s_job_executor` (the `k8s` extra): every step in its own pod, with
    the GPU its asset's `dagster-k8s/config` tag asks for. Settings from the environment:
    AGENTDISTILL_K8S_NAMESPACE (the pods' namespace; default: the run's),
    AGENTDISTILL_K8S_IMAGE (default: the image the code location runs, as under the Helm
    chart), AGENTDISTILL_K8S_PVC (a ReadWriteMany claim mounted at the artifact root:
    a student's pod reads what the teacher's wrote), AGENTDISTILL_MAX_CONCURRENT (pods of
    one run at once; default: no limit)."""
    from dagster_k8s import k8s_job_executor  # the optional extra, imported only when asked

    config: dict[str, Any] = {"env_vars": [key for key in POD_ENV if key in environ]}
    if "AGENTDISTILL_K8S_NAMESPACE" in environ:
        config["job_namespace"] = environ["AGENTDISTILL_K8S_NAMESPACE"]
    if "AGENTDISTILL_K8S_IMAGE" in environ:
        config["job_image"] = environ["AGENTDISTILL_K8S_IMAGE"]
    if "AGENTDISTILL_MAX_CONCURRENT" in environ:
        config["max_concurrent"] = int(environ["AGENTDISTILL_MAX_CONCURRENT"])
    if "AGENTDISTILL_K8S_PVC" in environ:
        root = str(from_repo(environ.get("AGENTDISTILL_ROOT", "runs/dagster")))
        config["volumes"] = [
            {
                "name": "artifacts",
                "persistentVolumeClaim": {"claimName": environ["AGENTDISTILL_K8S_PVC"]},
            }
        ]
        config["volume_mounts"] = [{"name": "artifacts", "mountPath": root}]
    return k8s_job_executor.configured(config, name="k8s")


def build_definitions(
    experiment: ExperimentResource | None = None,
    mlflow: MLflowResource | None = None,
    executor: Executor | None = None,
    environ: Mapping[str, str] | None = None,
) -> dg.Definitions:
    """The whole graph for one profile, with its resources and its three jobs, run by
    `executor` (None: $AGENTDISTILL_EXECUTOR, default `multiprocess`; `k8s`: one pod per
    step). `environ` (default: the process's) configures the executor."""
    environ = os.environ if environ is None else environ
    resources = default_resources()
    if experiment is not None:
        resources["experiment"] = experiment
    if mlflow is not None:
        resources["mlflow"] = mlflow
    profile = resources["experiment"].profile_config()  # type: ignore[attr-defined]
    assets = chain_assets(profile)
    kind = executor or environ.get("AGENTDISTILL_EXECUTOR", "multiprocess")
    if kind not in ("multiprocess", "k8s"):
        raise ValueError(f"AGENTDISTILL_EXECUTOR={kind!r}: expected multiprocess or k8s")
    executor_def = k8s_executor(environ) if kind == "k8s" else local_executor(environ)
    by_name = {a.key.to_user_string(): a for a in assets}
    per_seed = [a for a in assets if a.key.to_user_string().startswith(("student_", "benchmark_"))]
    teacher = [by_name[k] for k in ("task_suites", "teacher", "teacher_benchmark")]
    teacher += [by_name["teacher_rollouts"], by_name["span_segments"]]
    jobs = [
        dg.define_asset_job(name, selection=dg.AssetSelection.assets(*selected), description=text)
        for name, selected, text in (
            (TEACHER_JOB, teacher, "An environment's teacher, its rollouts and segments."),
            (STUDENT_JOB, per_seed, "Every student of one (env, seed) and its benchmark."),
            (REPORT_JOB, [by_name["leaderboard"]], "An environment's report and champion."),
        )
    ]
    return dg.Definitions(assets=assets, resources=resources, jobs=jobs, executor=executor_def)


def chain_partitions(defs: dg.Definitions, env: str) -> list[tuple[str, list[str]]]:
    """An environment's whole chain as (job, partition keys) in launch order: what
    `make run` launches with `dg launch` (the partitions of a step are independent)."""
    seeds = defs.resolve_job_def(STUDENT_JOB).partitions_def
    assert seeds is not None
    keys = [k for k in seeds.get_partition_keys() if k.keys_by_dimension[ENV] == env]  # type: ignore[attr-defined]
    return [(TEACHER_JOB, [env]), (STUDENT_JOB, keys), (REPORT_JOB, [env])]


defs = build_definitions()
