"""The whole asset graph materialized on the smoke profile: real training, a real MLflow store.

Every test reads the state the module's chain left and changes nothing the others read, so
they pass in any order; the reruns happen inside their own fixtures.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from agentdistill.cli import app
from dagster_project.defs.assets import (
    GPU,
    PRELOADED,
    REPORT_JOB,
    STUDENT_JOB,
    TEACHER_JOB,
    build_definitions,
    chain_partitions,
)
from dagster_project.defs.resources import ExperimentResource, MLflowResource

REPO = Path(__file__).resolve().parents[1]
SMOKE = "configs/experiment/smoke.yaml"
ENV = "alfworld"  # the smoke profile's environment: the partition every test materializes
MODEL = "agentdistill-alfworld-student"


def _state(client: MlflowClient, experiment_id: str) -> dict:
    """Runs, model versions and the alias: what a rerun must leave untouched."""
    runs = client.search_runs([experiment_id], max_results=1000)
    versions = client.search_model_versions(f"name='{MODEL}'")
    return {
        "runs": sorted(r.info.run_id for r in runs),
        "versions": sorted(int(v.version) for v in versions),
        "champion": client.get_registered_model(MODEL).aliases.get("smoke-champion"),
    }


def _materialize(
    defs: dg.Definitions, env: str, instance: dg.DagsterInstance | None = None
) -> list[dg.ExecuteInProcessResult]:
    """An environment's whole chain as `make run` launches it: the three jobs in order, one
    run per partition (the teacher chain, each seed's students, the report)."""
    return [
        defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False
        )
        for job, keys in chain_partitions(defs, env)
        for key in keys
    ]


def _materialized(results: list[dg.ExecuteInProcessResult]) -> dict[str, set[str]]:
    """Partitions materialized, by asset."""
    done: dict[str, set[str]] = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            done.setdefault(event.asset_key.to_user_string(), set()).add(str(event.partition))
    return done


def _seed_root(artifacts: Path, root: Path) -> None:
    """An environment's chain up to its segments (from `artifacts`) in a new root: no
    teacher retraining."""
    for stage in ("teacher", "teacher_benchmark", "teacher_rollouts", "segments"):
        shutil.copytree(artifacts / ENV / stage, root / ENV / stage)


@pytest.fixture(scope="module")
def chain(smoke_chain, tmp_path_factory):
    """The asset graph over a copy of the session's smoke chain (the CLI built it): every
    asset runs its stage function on the same artifacts and store, so the wiring must find
    exactly the CLI's work (a wrong path, config or key would retrain or log anew). The
    report and one seed's benchmark are deleted first: those Dagster recomputes for real."""
    root = tmp_path_factory.mktemp("dagster")
    copy = smoke_chain.copy_to(root / "artifacts", root / "mlflow", (ENV,))
    for stage in ("report", "benchmarks/sad-s0"):
        shutil.rmtree(copy.root / ENV / stage)
    experiment = ExperimentResource(profile=SMOKE, root=str(copy.root))
    mlflow = MLflowResource(tracking_uri=copy.tracking_uri)
    defs = build_definitions(experiment, mlflow)
    instance = dg.DagsterInstance.ephemeral()
    tracker = mlflow.tracker(experiment.config())
    before = _state(tracker.client, tracker.experiment_id)
    results = _materialize(defs, ENV, instance)
    first = _state(tracker.client, tracker.experiment_id)
    # a second materialization, then the CLI on the same artifacts and store: no new runs,
    # no new versions, the champion stays (tracking is keyed by stage, config and inputs)
    again = _materialize(defs, ENV, instance)
    second = _state(tracker.client, tracker.experiment_id)
    cli = CliRunner().invoke(
        app,
        ["experiment", "--config", SMOKE, "--out", str(copy.root), "--env", ENV],
        env={"MLFLOW_TRACKING_URI": tracker.tracking_uri},
    )
    third = _state(tracker.client, tracker.experiment_id)
    return {
        "defs": defs,
        "experiment": experiment,
        "mlflow": mlflow,
        "results": results,
        "instance": instance,
        "root": root,
        "states": (before, first, second, third),
        "reruns": (again, cli),
    }


def test_whole_graph_materializes(chain) -> None:
    experiment, results = chain["experiment"], chain["results"]
    assert all(result.success for result in results)
    # one run per partition: the teacher chain, the one seed's students, the report
    assert [r.dagster_run.job_name for r in results] == [TEACHER_JOB, STUDENT_JOB, REPORT_JOB]
    config = experiment.config()
    methods = list(dict.fromkeys(s.group.replace("-", "_") for s in config.student_specs()))
    expected = {k: {ENV} for k in ("task_suites", "teacher", "teacher_benchmark")}
    expected |= {k: {ENV} for k in ("teacher_rollouts", "span_segments", "leaderboard")}
    expected |= {f"{kind}_{m}": {f"{ENV}|0"} for m in methods for kind in ("student", "benchmark")}
    assert _materialized(results) == expected
    checks = {
        e.asset_check_key.name: e.passed for r in results for e in r.get_asset_check_evaluations()
    }
    assert checks == {"teacher_success_above_floor": True, "segments_cover_every_span": True}
    events = {
        e.asset_key.to_user_string(): e
        for r in results
        for e in r.get_asset_materialization_events()
    }
    assert events["span_segments"].materialization.metadata["span_coverage"].value == 1.0
    board = events["leaderboard"].materialization.metadata
    assert "sad-s0" in board["report"].value and board["mlflow_run"].value.startswith("http")
    # the results table: one row per model, interval columns beside the value
    table = events["benchmark_sad"].materialization.metadata["results"].value
    columns = {c.name for c in table.schema.columns}
    assert {"success_rate", "success_rate_low", "success_rate_high"} <= columns
    assert [r.data["model"] for r in table.records] == ["sad-s0"]


def test_reruns_log_nothing_new(chain) -> None:
    again, cli = chain["reruns"]
    assert all(r.success for r in again) and cli.exit_code == 0, cli.output
    before, first, second, third = chain["states"]
    assert first == second == third
    # the first materialization logged only the rebuilt report (its table holds the rebuilt
    # benchmark's timing), linked to the Dagster run that made it; the rest was the CLI's
    client = chain["mlflow"].tracker(chain["experiment"].config()).client
    new = [client.get_run(r) for r in sorted(set(first["runs"]) - set(before["runs"]))]
    report_run = chain["results"][-1].run_id
    assert [(r.info.run_name, r.data.tags["dagster_run_id"]) for r in new] == [
        ("leaderboard", report_run)
    ]
    assert before["versions"] == first["versions"]
    assert len(first["versions"]) == len(chain["experiment"].config().students())
    # the deleted report and benchmark were rebuilt by Dagster's run, from the same inputs
    paths = chain["experiment"].paths(ENV)
    assert (paths.report / "leaderboard.json").exists()
    assert (paths.benchmark("sad-s0") / "metrics.json").exists()


def test_mlflow_holds_versions_alias_and_metrics(chain) -> None:
    experiment, mlflow = chain["experiment"], chain["mlflow"]
    config = experiment.config()
    tracker = mlflow.tracker(config)
    client: MlflowClient = tracker.client
    champion = client.get_model_version_by_alias(MODEL, "smoke-champion")
    assert champion.tags["champion_reason"] and champion.tags["profile"] == "smoke"
    run = client.get_run(champion.run_id)
    key = f"alfworld/{config.benchmark.split}/success_rate"
    assert key in run.data.metrics and f"{key}_low" in run.data.metrics
    assert run.data.tags["role"] == "student"
    assert run.data.tags["data_sha256"] and run.data.tags["profile"] == "smoke"
    assert len(client.get_metric_history(champion.run_id, "reason_loss")) >= 1
    # the logged config is the resolved one of that student, format included
    seed = int(champion.tags["seed"])
    assert int(run.data.params["distill.student_seed"]) == seed
    assert int(run.data.params["distill.train.seed"]) == seed
    assert run.data.params["distill.method"] == champion.tags["method"]
    assert run.data.params["format.name"] == config.format.name
    teacher_runs = client.search_runs(
        [tracker.experiment_id], f"tags.role = 'teacher' and tags.env = '{ENV}'"
    )
    assert len(teacher_runs) == 1
    assert f"alfworld/{config.benchmark.split}/success_rate" in teacher_runs[0].data.metrics


def test_string_selection_materializes_a_subset(chain) -> None:
    defs, instance = chain["defs"], chain["instance"]
    # the asset-selection grammar (ANTLR) parses: the Dagster/DVC pin trap is avoided
    result = dg.materialize(
        list(defs.assets),  # type: ignore[arg-type]
        selection="key:teacher_rollouts+1",
        resources=defs.resources,
        instance=instance,
        partition_key=ENV,
    )
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert keys == {"teacher_rollouts", "span_segments"}


def test_partitions_meet_by_environment() -> None:
    """Students and benchmarks: one partition per (env, seed), reading their environment's
    teacher and segments; an environment's leaderboard reads every seed of its own."""
    experiment = ExperimentResource(profile=SMOKE, overrides=["seeds=[0,1]"])
    defs = build_definitions(experiment)
    dg.Definitions.validate_loadable(defs)
    envs = ["alfworld", "webshop", "hotpotqa"]
    seeds = defs.resolve_job_def(STUDENT_JOB).partitions_def
    assert seeds is not None
    assert seeds.get_partition_keys() == [f"{e}|{s}" for e in envs for s in (0, 1)]
    for job in (TEACHER_JOB, REPORT_JOB):
        assert defs.resolve_job_def(job).partitions_def.get_partition_keys() == envs  # type: ignore[union-attr]
    graph = defs.resolve_asset_graph()

    def parents(key: str, parent: str, child: str) -> set[str]:
        mapped = graph.get_parent_partition_keys_for_child(
            key, dg.AssetKey(parent), dg.AssetKey(child)
        )
        return set(mapped.partitions_subset.get_partition_keys())

    assert parents("webshop|1", "span_segments", "student_sad") == {"webshop"}
    assert parents("webshop|1", "teacher_benchmark", "benchmark_sad") == {"webshop"}
    assert parents("webshop|1", "student_sad", "benchmark_sad") == {"webshop|1"}
    assert parents("webshop", "benchmark_sad", "leaderboard") == {"webshop|0", "webshop|1"}
    assert chain_partitions(defs, "hotpotqa") == [
        (TEACHER_JOB, ["hotpotqa"]),
        (STUDENT_JOB, ["hotpotqa|0", "hotpotqa|1"]),
        (REPORT_JOB, ["hotpotqa"]),
    ]


def test_one_seed_trains_alone(chain, tmp_path) -> None:
    """An (env, seed) partition of one student asset trains that student and nothing else;
    the leaderboard then gathers every seed of the environment."""
    root = tmp_path / "artifacts"
    _seed_root(chain["root"] / "artifacts", root)
    experiment = ExperimentResource(
        profile=SMOKE,
        root=str(root),
        # two seeds of two groups: seqkd's seed 0 stays untrained
        overrides=["seeds=[0,1]", "methods=[sad,seqkd]", "sizes=[]", "on_policy_methods=[]"],
    )
    mlflow = MLflowResource(root=str(tmp_path / "mlflow"))
    defs = build_definitions(experiment, mlflow)
    instance = dg.DagsterInstance.ephemeral()
    assets = list(defs.assets)  # type: ignore[arg-type]

    def materialize(selection: str, partition: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            assets,  # type: ignore[arg-type]
            selection=selection,
            resources=defs.resources,
            instance=instance,
            partition_key=partition,
        )

    one = materialize("key:student_sad", f"{ENV}|1")
    assert _materialized([one]) == {"student_sad": {f"{ENV}|1"}}
    assert [p.name for p in (root / ENV / "students").iterdir()] == ["sad-s1"]
    table = one.get_asset_materialization_events()[0].materialization.metadata["students"]
    assert [r.data["student"] for r in table.value.records] == ["sad-s1"]
    # its MLflow run links back to the Dagster run and asset that trained it
    tracker = mlflow.tracker(experiment.config())
    (logged,) = tracker.client.search_runs([tracker.experiment_id], "tags.role = 'student'")
    assert logged.data.tags["dagster_run_id"] == one.run_id
    assert logged.data.tags["dagster_asset"] == "student_sad"
    # the other seed and group, their benchmarks, then the report over all four
    rest = [materialize("key:student_sad", f"{ENV}|0")]
    rest += [materialize("key:student_seqkd or key:benchmark_*", f"{ENV}|{s}") for s in (0, 1)]
    assert sorted(p.name for p in (root / ENV / "benchmarks").iterdir()) == [
        "sad-s0", "sad-s1", "seqkd-s0", "seqkd-s1",
    ]  # fmt: skip
    board = materialize("key:leaderboard", ENV)
    report = board.get_asset_materialization_events()[0].materialization.metadata["report"]
    assert all(name in report.value for name in ("sad-s0", "sad-s1", "seqkd-s0", "seqkd-s1"))
    # Dagster sees the leaderboard's inputs as every (env, seed) partition it gathered
    status = instance.get_status_by_partition(
        dg.AssetKey("benchmark_seqkd"),
        [f"{ENV}|0", f"{ENV}|1"],
        defs.resolve_job_def(STUDENT_JOB).partitions_def,  # type: ignore[arg-type]
    )
    assert status is not None and set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    assert all(r.success for r in rest)


def test_one_environment_materializes_alone(smoke_chain, tmp_path) -> None:
    """A partition is one environment's chain: HotPotQA's, in its own folder, nothing else."""
    root = tmp_path / "artifacts"
    # the session chain's teacher: the asset finds it trained and goes on to the benchmark
    shutil.copytree(smoke_chain.root / "hotpotqa" / "teacher", root / "hotpotqa" / "teacher")
    experiment = ExperimentResource(
        profile=SMOKE, root=str(root), overrides=["tracking.enabled=false"]
    )
    defs = build_definitions(experiment, MLflowResource(root=str(tmp_path / "mlflow")))
    assert set(defs.resolve_job_def(TEACHER_JOB).partitions_def.get_partition_keys()) == {
        "alfworld",
        "webshop",
        "hotpotqa",
    }
    result = dg.materialize(
        list(defs.assets),  # type: ignore[arg-type]
        selection="+key:teacher_benchmark",  # with everything upstream
        resources=defs.resources,
        partition_key="hotpotqa",
        raise_on_error=False,
    )
    assert result.success
    assert [p.name for p in root.iterdir()] == ["hotpotqa"]
    events = result.get_asset_materialization_events()
    assert {e.asset_key.to_user_string() for e in events} == {
        "task_suites",
        "teacher",
        "teacher_benchmark",
    }
    assert {e.partition for e in events} == {"hotpotqa"}
    assert (root / "hotpotqa" / "teacher_benchmark" / "test.jsonl").exists()


def test_teacher_floor_blocks_the_students(chain, tmp_path) -> None:
    """A profile floor the teacher cannot clear stops the chain before any student."""
    root = tmp_path / "artifacts"
    # no retraining: the chain's teacher, in this root's folder of the environment
    shutil.copytree(chain["root"] / "artifacts" / ENV / "teacher", root / ENV / "teacher")
    experiment = ExperimentResource(
        profile=SMOKE, root=str(root), overrides=["teacher_floor.absolute=1.0"]
    )
    mlflow = MLflowResource(root=str(tmp_path / "mlflow"))
    defs = build_definitions(experiment, mlflow)
    teacher, *students = _materialize(defs, ENV)[:-1]
    checks = {e.asset_check_key.name: e.passed for e in teacher.get_asset_check_evaluations()}
    assert checks["teacher_success_above_floor"] is False
    done = _materialized([teacher, *students])
    assert "teacher_benchmark" in done and "teacher_rollouts" not in done
    # the students' runs (one per seed) fail on the floor their environment's run recorded
    assert not any(k.startswith(("student_", "benchmark_")) for k in done)
    assert students and not any(r.success for r in students)
    failures = [e for r in students for e in r.all_events if e.is_step_failure]
    assert failures and all("below the floor" in str(e.step_failure_data.error) for e in failures)
    # the CLI and DVC stop at the same place, with the reason
    cli = CliRunner().invoke(
        app,
        ["experiment", "--config", SMOKE, "--out", str(root), "--no-track",
         "--set", "teacher_floor.absolute=1.0", "--stage", "teacher_rollouts"],
    )  # fmt: skip
    assert cli.exit_code == 2 and "below the floor" in cli.output


def test_promote_command_applies_the_rule(chain) -> None:
    uri = chain["mlflow"].tracker(chain["experiment"].config()).tracking_uri
    runner = CliRunner()
    args = ["promote", "--tracking-uri", uri, "--profile", "smoke", "--alias", "probe"]
    result = runner.invoke(app, [*args, "--floor", "0"])
    assert result.exit_code == 0 and "probe" in result.output
    nobody = runner.invoke(app, [*args, "--floor", "1.0", "--profile", "default"])
    assert nobody.exit_code == 1 and "no champion" in nobody.output


def test_k8s_executor_definitions_load(tmp_path) -> None:
    """The cluster path: every job runs on dagster-k8s's `k8s_job_executor` (the `k8s`
    extra), the steps of a profile that asks for CUDA request a GPU each (a tag the executor
    reads), and the definitions load as a code location would load them."""
    from dagster_k8s.job import get_user_defined_k8s_config

    environ = {
        "AGENTDISTILL_ROOT": "/runs",
        "AGENTDISTILL_K8S_PVC": "agentdistill-runs",
        "AGENTDISTILL_K8S_NAMESPACE": "distill",
        "AGENTDISTILL_MAX_CONCURRENT": "8",
    }
    # the students (and the teacher cache) on CUDA; the rest `auto`: no GPU asked
    experiment = ExperimentResource(
        profile=SMOKE, root=str(tmp_path), overrides=["distill.runtime.device=cuda"]
    )
    defs = build_definitions(experiment, executor="k8s", environ=environ)
    dg.Definitions.validate_loadable(defs)
    for name in (TEACHER_JOB, STUDENT_JOB, REPORT_JOB):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "k8s"
        config = dg.validate_run_config(job)["execution"]["k8s"]
        assert config["job_namespace"] == "distill" and config["max_concurrent"] == 8
        assert config["env_vars"] == ["AGENTDISTILL_ROOT"]  # by name: read in the run pod
        assert config["volume_mounts"] == [{"name": "artifacts", "mountPath": "/runs"}]
        claim = config["volumes"][0]["persistentVolumeClaim"]["claimName"]
        assert claim == "agentdistill-runs"

    def gpus(job: str) -> dict[str, str | None]:
        """GPUs each step's pod asks for, as the executor reads its op tags."""
        steps = defs.resolve_job_def(job).graph.node_defs
        return {
            step.name: get_user_defined_k8s_config(dict(step.tags))
            .container_config.get("resources", {})
            .get("limits", {})
            .get(GPU)
            for step in steps
        }

    students = gpus(STUDENT_JOB)
    assert {k: v for k, v in students.items() if k.startswith("student_")} == {
        "student_sad": "1",
        "student_seqkd": "1",
        "student_token_kd": "1",
        "student_sad_tiny": "1",
        "student_sad_onpolicy": "1",
    }
    assert not any(v for k, v in students.items() if k.startswith("benchmark_"))
    teacher = gpus(TEACHER_JOB)
    assert teacher == {
        "task_suites": None,
        "teacher": None,
        "teacher_benchmark": None,
        "teacher_rollouts": None,
        "span_segments": "1",  # the teacher cache: in the students' runtime
    }
    assert gpus(REPORT_JOB) == {"leaderboard": None}
    # a profile that asks for no GPU asks none of the cluster; the local default stays
    plain = build_definitions(
        ExperimentResource(profile=SMOKE, root=str(tmp_path)), executor="k8s", environ=environ
    )
    assert not any(dict(step.tags) for step in plain.resolve_job_def(STUDENT_JOB).graph.node_defs)
    local = build_definitions(experiment, environ={})
    assert local.resolve_job_def(STUDENT_JOB).executor_def.name == "multiprocess"


def test_students_of_another_run_keep_the_coverage_gate(chain, tmp_path) -> None:
    """`span_segments`' blocking check stops its own run only: a student's run reads the
    verdict from the segments' summary and refuses segments that fail it."""
    root = tmp_path / "artifacts"
    _seed_root(chain["root"] / "artifacts", root)
    summary_file = root / ENV / "segments" / "summary.json"
    summary = json.loads(summary_file.read_text()) | {"span_coverage": 0.5}
    summary_file.write_text(json.dumps(summary))
    experiment = ExperimentResource(
        profile=SMOKE, root=str(root), overrides=["tracking.enabled=false"]
    )
    defs = build_definitions(experiment, MLflowResource(root=str(tmp_path / "mlflow")))
    result = dg.materialize(
        list(defs.assets),  # type: ignore[arg-type]
        selection="key:student_sad",
        resources=defs.resources,
        partition_key=f"{ENV}|0",
        raise_on_error=False,
    )
    assert not result.success and not result.get_asset_materialization_events()
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "segments_cover_every_span" in str(failure.step_failure_data.error)
    assert not (root / ENV / "students").exists()


@pytest.mark.slow  # a Dagster run in its own processes, as `make run` starts it: about 40 s
def test_launched_seed_trains_in_forked_step_processes(smoke_chain, tmp_path) -> None:
    """`dg launch --job student_chain --partition <env>|0`, the command `make run` runs: the
    local executor forks each step from a server that preloaded the stage code
    (`PRELOADED`), and those steps train and benchmark the seed's students for real."""
    root = tmp_path / "artifacts"
    _seed_root(smoke_chain.root, root)
    experiment = ExperimentResource(profile=SMOKE, root=str(root))
    job = build_definitions(experiment, MLflowResource()).resolve_job_def(STUDENT_JOB)
    executor = job.executor_def.apply_config_mapping({}).value["config"]  # type: ignore[index]
    assert executor["start_method"] == {"forkserver": {"preload_modules": list(PRELOADED)}}
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "AGENTDISTILL_PROFILE": SMOKE,
        "AGENTDISTILL_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    dg_cli = Path(sys.executable).parent / "dg"
    args = [str(dg_cli), "launch", "--job", "student_chain", "--partition", f"{ENV}|0"]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "RUN_SUCCESS" in log, log[-4000:]
    specs = experiment.config(ENV).student_specs()
    students = sorted(spec.name for spec in specs if spec.seed == 0)
    assert sorted(p.name for p in (root / ENV / "students").iterdir()) == students
    for name in students:
        assert (root / ENV / "students" / name / "model" / "config.json").is_file(), name
        assert (root / ENV / "benchmarks" / name / "metrics.json").is_file(), name
