"""The smoke experiment end to end through the CLI: every stage, real training and rollouts."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdistill.cli import app
from agentdistill.environments.names import EVAL_SPLITS
from agentdistill.evaluation import read_report
from agentdistill.experiment import ExperimentPaths
from agentdistill.profile import load_profile

CONFIGS = Path(__file__).parents[1] / "configs" / "experiment"
runner = CliRunner()


@pytest.fixture(scope="module")
def smoke_run(smoke_chain) -> Path:
    """The session's smoke chain (tests/conftest.py): the CLI ran it, every environment."""
    return smoke_chain.root


@pytest.mark.parametrize("name", ["default.yaml", "smoke.yaml"])
def test_experiment_configs_validate(name) -> None:
    profile = load_profile(CONFIGS / name)
    assert set(profile.envs) == {"alfworld", "webshop", "hotpotqa"}
    for env in profile.envs:
        config = profile.config(env)
        students = [n for n, _, _ in config.students()]
        assert students and len(set(students)) == len(students)
        assert config.env == env and config.benchmark.split == EVAL_SPLITS[env]


def test_smoke_experiment_lands_every_artifact(smoke_run) -> None:
    paths = ExperimentPaths(smoke_run / "alfworld")
    config = load_profile(CONFIGS / "smoke.yaml").config("alfworld")
    assert (paths.teacher / "train" / "model" / "model.safetensors").exists()
    assert paths.distill_data.exists()
    segments = json.loads((paths.segments / "summary.json").read_text())
    assert segments["span_coverage"] == 1.0 and segments["act_tokens"] > 0
    assert (paths.teacher_cache / "meta.json").exists()
    entries = read_report(paths.report / "report.json")
    students = [n for n, _, _ in config.students()]
    assert [e.name for e in entries] == ["teacher", "teacher-grounded", *students]
    assert {"sad-tiny-s0", "sad-onpolicy-s0"} <= set(students)
    assert {e.method for e in entries} >= {"sad", "sad-tiny", "sad-onpolicy", "teacher-grounded"}
    # the teacher went through a DAgger round; the on-policy student played a round
    assert (paths.teacher / "dagger" / "round-1" / "train.jsonl").exists()
    rounds = json.loads((paths.student("sad-onpolicy-s0") / "on_policy_summary.json").read_text())
    assert [r["round"] for r in rounds] == [0, 1] and rounds[1]["episodes"] == 4
    grounded = paths.benchmark("teacher-grounded") / "metrics.json"
    assert json.loads((grounded.parent / "run.json").read_text())["identity"]["benchmark"][
        "decoding"
    ]["ground_actions"]
    teacher = entries[0]
    for entry in entries[2:]:
        assert entry.compression == pytest.approx(teacher.parameters / entry.parameters)
        assert entry.compression > 3
        metrics = entry.metrics[0]
        assert metrics.episodes == config.benchmark.limit
        assert 0.0 <= metrics.success_rate.low <= metrics.success_rate.high <= 1.0
    assert (paths.report / "report.png").read_bytes()[:4] == b"\x89PNG"
    # the rooms of the games played: the teacher's train games, the benchmark's
    rooms = json.loads((paths.report / "statistics.json").read_text())["rooms"]
    assert {k: v["games"] for k, v in rooms.items()} == {
        "train": config.teacher.train_tasks,
        "valid_unseen": config.benchmark.limit,
    }
    assert "## Rooms" in (paths.report / "report.md").read_text()
    stages = [
        json.loads(line)["stage"] for line in (smoke_run / "alfworld" / "timings.jsonl").open()
    ]
    assert stages[:4] == [
        "teacher",
        "benchmark:teacher",
        "benchmark:teacher-grounded",
        "teacher_rollouts",
    ]
    assert stages[-1].startswith("benchmark:")
    # the teacher is compared with nobody: its CoT match is not a result
    assert teacher.metrics[0].cot_match is None


@pytest.mark.parametrize(("env", "split"), [("webshop", "test"), ("hotpotqa", "test")])
def test_smoke_chain_runs_every_environment(smoke_run, env: str, split: str) -> None:
    """WebShop and HotPotQA go through the same chain as ALFWorld, in their own formats, and
    their results land in the report and the leaderboard under `<env>/<split>/...`."""
    paths = ExperimentPaths(smoke_run / env)
    config = load_profile(CONFIGS / "smoke.yaml").config(env)
    model = paths.teacher / "train" / "model"
    assert json.loads((model / "agentdistill_format.json").read_text())["name"] == (
        config.format.name
    )
    expert = (paths.teacher / "expert_train.jsonl").read_text().splitlines()
    assert len(expert) == config.teacher.train_tasks
    assert all(json.loads(line)["task"]["env"] == env for line in expert)
    # the expert reasons (the smoke teacher, barely trained, may not: its rollouts are the
    # distillation data, so only their actions are sure to be there)
    assert any(step.get("reasoning") for line in expert for step in json.loads(line)["steps"])
    assert (paths.teacher / "dagger" / "round-1" / "train.jsonl").exists()
    segments = json.loads((paths.segments / "summary.json").read_text())
    assert segments["span_coverage"] == 1.0 and segments["act_tokens"] > 0
    entries = read_report(paths.report / "report.json")
    students = [n for n, _, _ in config.students()]
    teachers = ["teacher", "teacher-grounded"] if config.benchmark.grounded_teacher else ["teacher"]
    assert [e.name for e in entries] == [*teachers, *students]
    for entry in entries:
        (metrics,) = entry.metrics
        assert (metrics.env, metrics.split, metrics.episodes) == (env, split, 4)
    board = json.loads((paths.report / "leaderboard.json").read_text())
    assert f"{env}/{split}/success_rate_low" in board["sad-s0"]


def test_rerun_skips_finished_stages(smoke_chain, tmp_path) -> None:
    smoke_run = smoke_chain.copy_to(tmp_path / "artifacts", tmp_path / "mlflow", ("alfworld",)).root
    metrics = smoke_run / "alfworld" / "benchmarks" / "sad-s0" / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    result = runner.invoke(
        app,
        [
            "experiment",
            "--config",
            str(CONFIGS / "smoke.yaml"),
            "--out",
            str(smoke_run),
            "--env",
            "alfworld",
            "--stage",
            "students",
            "--stage",
            "benchmarks",
            "--no-track",
        ],
    )
    assert result.exit_code == 0, result.output
    assert metrics.stat().st_mtime_ns == stamp


def test_benchmark_and_distill_commands(smoke_run, tmp_path) -> None:
    paths = ExperimentPaths(smoke_run / "alfworld")
    result = runner.invoke(
        app,
        [
            "benchmark",
            "--model",
            str(paths.student("seqkd-s0") / "model"),
            "--out",
            str(tmp_path / "bench"),
            "--reference",
            str(paths.benchmark("teacher") / "valid_unseen.jsonl"),
            "--set",
            "limit=2",
            "--set",
            "max_steps=3",
        ],
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "bench" / "metrics.json").read_text())
    assert saved["metrics"][0]["episodes"] == 2
    bad = runner.invoke(
        app,
        [
            "distill",
            "--teacher",
            str(paths.root / "teacher" / "train" / "model"),
            "--trajectories",
            str(paths.distill_data),
            "--out",
            str(tmp_path / "d"),
            "--set",
            "method=magic",
        ],
    )
    assert bad.exit_code == 2 and "method" in bad.output


def test_unknown_stage_is_refused(tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "experiment",
            "--config",
            str(CONFIGS / "smoke.yaml"),
            "--out",
            str(tmp_path),
            "--stage",
            "everything",
        ],
    )
    assert result.exit_code == 2 and "unknown stage" in result.output


def test_changed_settings_rerun_what_they_touch(smoke_chain, tmp_path, caplog) -> None:
    """A profile setting changed between runs retrains the students it defines (and
    re-benchmarks them); the stages it does not touch keep their outputs."""
    from agentdistill.fingerprints import model_sha256

    smoke_run = smoke_chain.copy_to(tmp_path / "artifacts", tmp_path / "mlflow", ("alfworld",)).root
    paths = ExperimentPaths(smoke_run / "alfworld")
    untouched = [paths.teacher / "teacher_summary.json", paths.segments / "summary.json"]
    stamps = [p.stat().st_mtime_ns for p in untouched]
    student = paths.student("sad-s0")
    old_weights = model_sha256(student / "model")
    args = ["experiment", "--config", str(CONFIGS / "smoke.yaml"), "--out", str(smoke_run),
            "--env", "alfworld", "--stage", "students", "--stage", "benchmarks",
            "--no-track"]  # fmt: skip
    result = runner.invoke(app, [*args, "--set", "distill.train.lr=0.001"])
    assert result.exit_code == 0, result.output
    assert "student sad-s0: settings or inputs changed (train.lr: 0.003 -> 0.001" in caplog.text
    identity = json.loads((student / "run.json").read_text())["identity"]
    assert identity["train"]["lr"] == 0.001
    new_weights = model_sha256(student / "model")
    assert new_weights != old_weights
    bench = json.loads((paths.benchmark("sad-s0") / "run.json").read_text())["identity"]
    assert bench["model_sha256"] == new_weights
    assert [p.stat().st_mtime_ns for p in untouched] == stamps
    # the same settings again: nothing is retrained
    stamp = (student / "distill_summary.json").stat().st_mtime_ns
    again = runner.invoke(app, [*args, "--set", "distill.train.lr=0.001"])
    assert again.exit_code == 0, again.output
    assert (student / "distill_summary.json").stat().st_mtime_ns == stamp


def test_timings_table_groups_every_stage(smoke_run, tmp_path) -> None:
    config = load_profile(CONFIGS / "smoke.yaml").config("alfworld")
    result = runner.invoke(app, ["timings", str(smoke_run / "alfworld")])
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells[1:]
        for line in result.output.splitlines()[2:]
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    students = len(config.students())
    assert rows["students"][0] == rows["student benchmarks"][0] == str(students)
    assert rows["teacher benchmarks"][0] == "2"  # ungrounded and grounded
    # the teacher, its two benchmarks, the rollouts, the segments; each student and benchmark
    assert rows["**total**"][0] == str(5 + 2 * students)
    timings = [json.loads(line) for line in (smoke_run / "alfworld" / "timings.jsonl").open()]
    total = sum(t["seconds"] for t in timings) / 60
    assert float(rows["**total**"][1]) == pytest.approx(total, abs=0.05)
    # a broken line is named, with its file and line number
    (tmp_path / "timings.jsonl").write_text('{"stage": "teacher", "seconds": 1.0}\n{"stage": 3}\n')
    bad = runner.invoke(app, ["timings", str(tmp_path)])
    assert bad.exit_code == 2
    assert "timings.jsonl:2: invalid StageTiming: field 'stage'" in bad.output


def test_room_table_reads_first_observations_and_names_a_bad_line(tmp_path) -> None:
    from agentdistill.experiment import _train_first_observations
    from agentdistill.records import RecordFileError

    paths = ExperimentPaths(tmp_path)
    assert _train_first_observations(paths) == []  # nothing played yet
    expert = paths.teacher / "expert_train.jsonl"
    expert.parent.mkdir(parents=True)
    expert.write_text('{"initial_observation": "a", "steps": []}\n\n{"steps": []}\n')
    with pytest.raises(RecordFileError, match=r"expert_train\.jsonl:3: .*initial_observation"):
        _train_first_observations(paths)
    expert.write_text('{"initial_observation": "a", "steps": []}\n{"initial_observation": "b"}\n')
    assert _train_first_observations(paths) == ["a", "b"]
