"""The whole asset graph materialized on the smoke profile: real training, a real MLflow store."""

import json

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient

from dagster_project.defs.assets import build_definitions
from dagster_project.defs.resources import ExperimentResource, MLflowResource

SMOKE = "configs/experiment/smoke.yaml"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagster")
    experiment = ExperimentResource(profile=SMOKE, root=str(root / "artifacts"))
    mlflow = MLflowResource(root=str(root / "mlflow"), registered_model="smoke-student")
    defs = build_definitions(experiment, mlflow)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("distillation_chain")
    result = job.execute_in_process(instance=instance)
    return defs, experiment, mlflow, result, instance


def test_whole_graph_materializes(chain) -> None:
    _, experiment, _, result, _ = chain
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    config = experiment.config()
    methods = [*config.methods, *config.ablations]
    expected = {"task_suites", "expert_trajectories", "teacher", "teacher_benchmark"}
    expected |= {"teacher_rollouts", "span_segments", "leaderboard"}
    expected |= {f"student_{m}" for m in methods} | {f"benchmark_{m}" for m in methods}
    assert materialized == expected
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"teacher_success_above_floor": True, "segments_cover_every_span": True}
    # metadata carries numbers, tables and links
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    segments = events["span_segments"].materialization.metadata
    assert segments["span_coverage"].value == 1.0
    board = events["leaderboard"].materialization.metadata
    assert "sad-s0" in board["report"].value and board["mlflow_run"].value.startswith("http")


def test_mlflow_holds_versions_alias_and_metrics(chain) -> None:
    _, experiment, mlflow, _, _ = chain
    tracker = mlflow.tracker()
    client: MlflowClient = tracker.client
    students = experiment.config().students()
    versions = client.search_model_versions("name='smoke-student'")
    assert len(versions) == len(students)
    champion = client.get_model_version_by_alias("smoke-student", "champion")
    assert champion.tags["champion_reason"]
    run = client.get_run(champion.run_id)
    assert "alfworld/success_rate" in run.data.metrics
    assert "alfworld/success_rate_low" in run.data.metrics
    assert run.data.tags["dagster_run_id"] and run.data.tags["role"] == "student"
    assert len(client.get_metric_history(champion.run_id, "reason_loss")) >= 1
    teacher_runs = client.search_runs([tracker.experiment_id], "tags.role = 'teacher'")
    assert len(teacher_runs) == 1


def test_string_selection_materializes_a_subset(chain) -> None:
    defs, experiment, _, _, instance = chain
    assets = list(defs.assets)  # type: ignore[arg-type]
    resources = defs.resources
    # the asset-selection grammar (ANTLR) parses: the Dagster/DVC pin trap is avoided
    result = dg.materialize(
        assets, selection="key:span_segments+", resources=resources, instance=instance
    )
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "span_segments" in keys and "student_sad" in keys and "teacher" not in keys
    summary = json.loads((experiment.paths().segments / "summary.json").read_text())
    assert summary["span_coverage"] == 1.0


def test_promote_command_applies_the_rule(chain) -> None:
    from typer.testing import CliRunner

    from agentdistill.cli import app

    _, _, mlflow, _, _ = chain
    uri = mlflow.tracker().tracking_uri
    runner = CliRunner()
    args = ["promote", "--tracking-uri", uri, "--model-name", "smoke-student"]
    result = runner.invoke(app, [*args, "--floor", "0"])
    assert result.exit_code == 0 and "champion" in result.output
    nobody = runner.invoke(app, [*args, "--floor", "1.01"])
    assert nobody.exit_code == 1 and "no champion" in nobody.output
