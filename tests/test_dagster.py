"""The whole asset graph materialized on the smoke profile: real training, a real MLflow store.

Every test reads the state the module's chain left and changes nothing the others read, so
they pass in any order; the reruns happen inside their own fixtures.
"""

import shutil

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from agentdistill.cli import app
from dagster_project.defs.assets import build_definitions
from dagster_project.defs.resources import ExperimentResource, MLflowResource

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


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagster")
    experiment = ExperimentResource(profile=SMOKE, root=str(root / "artifacts"))
    mlflow = MLflowResource(root=str(root / "mlflow"))
    defs = build_definitions(experiment, mlflow)
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("distillation_chain").execute_in_process(
        instance=instance, partition_key=ENV
    )
    tracker = mlflow.tracker(experiment.config())
    first = _state(tracker.client, tracker.experiment_id)
    # a second materialization, then the CLI on the same artifacts and store: no new runs,
    # no new versions, the champion stays (tracking is keyed by stage, config and inputs)
    again = defs.resolve_job_def("distillation_chain").execute_in_process(
        instance=instance, partition_key=ENV
    )
    second = _state(tracker.client, tracker.experiment_id)
    cli = CliRunner().invoke(
        app,
        ["experiment", "--config", SMOKE, "--out", str(root / "artifacts"), "--env", ENV],
        env={"MLFLOW_TRACKING_URI": tracker.tracking_uri},
    )
    third = _state(tracker.client, tracker.experiment_id)
    return {
        "defs": defs,
        "experiment": experiment,
        "mlflow": mlflow,
        "result": result,
        "instance": instance,
        "root": root,
        "states": (first, second, third),
        "reruns": (again, cli),
    }


def test_whole_graph_materializes(chain) -> None:
    experiment, result = chain["experiment"], chain["result"]
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    config = experiment.config()
    methods = list(dict.fromkeys(s.group.replace("-", "_") for s in config.student_specs()))
    expected = {"task_suites", "teacher", "teacher_benchmark", "teacher_rollouts"}
    expected |= {"span_segments", "leaderboard"}
    expected |= {f"student_{m}" for m in methods} | {f"benchmark_{m}" for m in methods}
    assert materialized == expected
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"teacher_success_above_floor": True, "segments_cover_every_span": True}
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
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
    assert again.success and cli.exit_code == 0, cli.output
    first, second, third = chain["states"]
    assert first == second == third
    assert len(first["versions"]) == len(chain["experiment"].config().students())


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
    assert run.data.tags["dagster_run_id"] and run.data.tags["role"] == "student"
    assert run.data.tags["data_sha256"] and run.data.tags["profile"] == "smoke"
    assert len(client.get_metric_history(champion.run_id, "reason_loss")) >= 1
    # the logged config is the resolved one of that student, format included
    seed = int(champion.tags["seed"])
    assert int(run.data.params["distill.student_seed"]) == seed
    assert int(run.data.params["distill.train.seed"]) == seed
    assert run.data.params["distill.method"] == champion.tags["method"]
    assert run.data.params["format.name"] == config.format.name
    teacher_runs = client.search_runs([tracker.experiment_id], "tags.role = 'teacher'")
    assert len(teacher_runs) == 1
    assert f"alfworld/{config.benchmark.split}/success_rate" in teacher_runs[0].data.metrics


def test_string_selection_materializes_a_subset(chain) -> None:
    defs, instance = chain["defs"], chain["instance"]
    # the asset-selection grammar (ANTLR) parses: the Dagster/DVC pin trap is avoided
    result = dg.materialize(
        list(defs.assets),  # type: ignore[arg-type]
        selection="key:span_segments+",
        resources=defs.resources,
        instance=instance,
        partition_key=ENV,
    )
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "span_segments" in keys and "student_sad" in keys and "teacher" not in keys


def test_one_environment_materializes_alone(tmp_path) -> None:
    """A partition is one environment's chain: HotPotQA's, in its own folder, nothing else."""
    root = tmp_path / "artifacts"
    experiment = ExperimentResource(
        profile=SMOKE, root=str(root), overrides=["tracking.enabled=false"]
    )
    defs = build_definitions(experiment, MLflowResource(root=str(tmp_path / "mlflow")))
    assert set(defs.resolve_job_def("distillation_chain").partitions_def.get_partition_keys()) == {
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
    result = defs.resolve_job_def("distillation_chain").execute_in_process(
        raise_on_error=False, partition_key=ENV
    )
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["teacher_success_above_floor"] is False
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "teacher_benchmark" in done
    assert not any(k.startswith(("student_", "benchmark_")) for k in done)
    assert "teacher_rollouts" not in done
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
