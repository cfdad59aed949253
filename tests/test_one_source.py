"""One source of truth per run: the experiment's format and preamble reach every stage, the
task files under data/ are what runs play, and every profile's teacher floor is a real bar."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agentdistill.config import ConfigError, FormatConfig, resolve_format
from agentdistill.experiment import (
    ExperimentConfig,
    ExperimentPaths,
    benchmark_model,
    model_policy,
    run_teacher,
    run_teacher_benchmark,
    teacher_dir,
)
from agentdistill.fingerprints import file_sha256
from agentdistill.profile import load_profile
from agentdistill.records import Task, Trajectory, read_jsonl, write_jsonl
from agentdistill.task_data import load_tasks, task_file
from agentdistill.training import segment_all

REPO = Path(__file__).parents[1]
CONFIGS = REPO / "configs" / "experiment"
PREAMBLE = "Solve household tasks. Think, then act.\n\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder with a few train tasks and two valid_unseen tasks, the first edited."""
    folder = tmp_path_factory.mktemp("data")
    train = load_tasks("alfworld", "train").tasks[:24]
    write_jsonl(task_file("alfworld", "train", folder), train)
    valid = load_tasks("alfworld", "valid_unseen").tasks[:2]
    edited = valid[0].model_copy(
        update={"task_id": "edited-0", "spec": {**valid[0].spec, "index": 7}}
    )
    write_jsonl(task_file("alfworld", "valid_unseen", folder), [edited, valid[1]])
    return folder


@pytest.fixture(scope="module")
def experiment(data_dir: Path, tmp_path_factory) -> tuple[ExperimentConfig, ExperimentPaths]:
    """A tiny profile with a preamble and a non-default format; its teacher trained."""
    config = load_profile(
        CONFIGS / "smoke.yaml",
        [
            f"data_dir={data_dir}",
            "per_env.alfworld.format.name=react",
            f"per_env.alfworld.format.preamble={json.dumps(PREAMBLE)}",
            "teacher.train_tasks=24",
            "benchmark.limit=2",
            "benchmark.max_steps=3",
            "tracking.enabled=false",
        ],
    ).config("alfworld")
    paths = ExperimentPaths(tmp_path_factory.mktemp("run"))
    run_teacher(config, paths)
    return config, paths


def test_model_records_its_format_and_refuses_another(experiment) -> None:
    config, paths = experiment
    model = teacher_dir(config, paths)
    assert FormatConfig.recorded(model) == config.format
    assert config.format.preamble == PREAMBLE and config.format.name == "react"
    with pytest.raises(ConfigError, match="prompted as it was trained"):
        resolve_format(model, FormatConfig(name="alfworld"))
    with pytest.raises(ConfigError, match="prompted as it was trained"):
        resolve_format(model, FormatConfig(name="react"))  # the preamble is part of it


def test_benchmark_prompt_is_the_training_prefix(experiment) -> None:
    """What the benchmark feeds the model at step k is byte for byte the training text's prefix."""
    config, paths = experiment
    policy = model_policy(config, teacher_dir(config, paths), config.benchmark.decoding, "t")
    policy.cached = False  # the naive engine hands the whole prompt to `generate`: record it
    prompts: list[list[int]] = []
    generate = policy.model.generate

    def recording_generate(input_ids, **kwargs):
        prompts.append(input_ids[0].tolist())
        return generate(input_ids, **kwargs)

    policy.model.generate = recording_generate
    tasks = load_tasks(config.env, "valid_unseen", config.data_dir)
    result = benchmark_model(policy, tasks, paths.root / "probe", config.benchmark, config.env)
    episodes = read_jsonl(result.episodes_file, Trajectory)
    segs, _ = segment_all(episodes, policy.tokenizer, config.format, 10_000)
    fmt = config.format.build()
    expected = []
    for episode, seg in zip(episodes, segs, strict=True):
        rendered = fmt.render_trajectory(episode, config.format.preamble)
        assert seg.text == rendered.text and seg.text.startswith(PREAMBLE)
        for k in range(len(episode.steps)):
            prefix = seg.text[: rendered.turn_starts[k]]
            expected.append(policy.tokenizer(prefix, add_special_tokens=False)["input_ids"])
            assert policy.tokenizer.decode(expected[-1]) == prefix
    assert len(prompts) == len(expected) > 0
    assert sorted(prompts) == sorted(expected)


def test_runs_play_the_tasks_in_data(experiment, data_dir: Path) -> None:
    """An edited task in data/ is what the benchmark plays, and its hash is what is logged."""
    config, paths = experiment
    outcome, floor = run_teacher_benchmark(config, paths, enforce=False)
    episodes = read_jsonl(outcome.result.episodes_file, Trajectory)
    assert [e.task.task_id for e in episodes] == ["edited-0", load_tasks(
        "alfworld", "valid_unseen").tasks[1].task_id]  # fmt: skip
    assert episodes[0].task.spec["index"] == 7
    data = task_file("alfworld", "valid_unseen", data_dir)
    assert outcome.result.data_sha256 == file_sha256(data)
    assert set(floor.trivial_success) == {"random_admissible", "repeat_first"}


def test_missing_task_file_is_generated_and_said(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        tasks = load_tasks("alfworld", "valid_seen", tmp_path)
    assert "absent: generating it" in caplog.text
    assert tasks.path.exists() and len(tasks.tasks) == 140
    with pytest.raises(FileNotFoundError, match="make data"):
        load_tasks("alfworld", "valid_unseen", tmp_path, generate_missing=False)


def test_task_of_another_split_is_refused(tmp_path: Path) -> None:
    task = Task(env="alfworld", task_id="x", split="train", goal="g")
    write_jsonl(task_file("alfworld", "valid_unseen", tmp_path), [task])
    with pytest.raises(ValueError, match=r"valid_unseen.jsonl:1: .* expected alfworld/valid_"):
        load_tasks("alfworld", "valid_unseen", tmp_path)


@pytest.mark.parametrize("profile", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_profile_has_a_real_teacher_floor(profile: str) -> None:
    """Only the smoke profile may let any teacher through; the others need a margin."""
    config = load_profile(CONFIGS / profile).config("alfworld")
    assert config.name == profile.removesuffix(".yaml")
    floor = config.teacher_floor
    if config.name == "smoke":
        assert floor.absolute == 0.0
        assert config.tracking.champion_alias != "champion"  # never competes with real runs
    else:
        assert (floor.absolute or 0) > 0 or (floor.absolute is None and floor.margin >= 0.05)
        assert floor.trivial_policies and config.tracking.success_floor > 0
