"""Reliability and security: checkpoints load no code, run folders refuse a changed run,
files respect the umask, credentials never show.

Input limits and encodings are in test_input_limits.py, rollout resume and locking in
test_rollout_resume.py, and Dagster reruns that log nothing new in
test_dagster.py::test_reruns_log_nothing_new.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from agentdistill.cli import app
from agentdistill.config import FormatConfig
from agentdistill.files import write_text_atomic
from agentdistill.models import build_model
from agentdistill.profile import load_profile
from agentdistill.records import write_jsonl
from agentdistill.run_folder import RunMismatchError
from agentdistill.teacher import TeacherConfig, bootstrap_teacher
from agentdistill.tokenizer import save_tokenizer
from agentdistill.trainer_state import CheckpointError, load_trainer_state, save_trainer_state
from agentdistill.training import TrainConfig, span_losses, train_lm

FMT = FormatConfig(name="alfworld")
runner = CliRunner()


class _Payload:
    """Unpickling this creates `marker`: proof that loading the file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny(tokenizer):
    return build_model(
        "student-30x", vocab_size=len(tokenizer), seed=0, pad_token_id=tokenizer.pad_token_id
    )


def _train(out, data, tokenizer, **changes):
    config = TrainConfig(
        **{"epochs": 1, "batch_tokens": 4096, "save_every": 1, "log_every": 1, **changes}
    )
    return train_lm(_tiny(tokenizer), tokenizer, data, config, out, FMT, show_progress=False)


# -- checkpoints load no code ----------------------------------------------------------------


def test_payload_is_live(tmp_path) -> None:
    """The planted files below are dangerous: unpickling one does run its code."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


def test_pickled_trainer_state_is_refused_without_running(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    data = expert_train[:8]
    _train(tmp_path / "run", data, alfworld_tokenizer, max_steps=2)
    checkpoint = tmp_path / "run" / "checkpoint"
    marker = tmp_path / "ran"
    for name in ("trainer_state.safetensors", "trainer_state.json"):
        (checkpoint / name).unlink()
    torch.save({"optimizer": _Payload(marker)}, checkpoint / "trainer_state.pt")
    with pytest.raises(CheckpointError, match=r"trainer_state\.pt.*never loads"):
        _train(tmp_path / "run", data, alfworld_tokenizer, max_steps=2)
    assert not marker.exists()


def test_pickled_weights_are_refused_without_running(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    data = expert_train[:8]
    _train(tmp_path / "run", data, alfworld_tokenizer, max_steps=2)
    checkpoint = tmp_path / "run" / "checkpoint"
    marker = tmp_path / "ran"
    (checkpoint / "model.safetensors").unlink()
    torch.save({"model": _Payload(marker)}, checkpoint / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="no safetensors weights"):
        _train(tmp_path / "run", data, alfworld_tokenizer, max_steps=2)
    assert not marker.exists()


def test_tampered_state_files_are_named_errors(tmp_path, expert_train, alfworld_tokenizer) -> None:
    data = expert_train[:8]
    _train(tmp_path / "run", data, alfworld_tokenizer, max_steps=2)
    checkpoint = tmp_path / "run" / "checkpoint"
    (checkpoint / "trainer_state.safetensors").write_bytes(pickle.dumps(_Payload(tmp_path / "x")))
    with pytest.raises(CheckpointError, match=r"trainer_state\.safetensors: not a readable"):
        load_trainer_state(checkpoint)
    assert not (tmp_path / "x").exists()


def test_trainer_state_round_trips_without_pickle(tmp_path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "step": 3,
        "nested": {1: (2.5, None, "x")},
    }
    save_trainer_state(tmp_path, state)
    back = load_trainer_state(tmp_path)
    assert back["step"] == 3 and back["nested"] == {1: (2.5, None, "x")}
    assert torch.equal(back["rng"], state["rng"])
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    for key, values in state["optimizer"]["state"].items():
        for name, tensor in values.items():
            assert torch.equal(back["optimizer"]["state"][key][name], tensor), name
    fresh = torch.optim.AdamW(model.parameters(), lr=0.1)
    fresh.load_state_dict(back["optimizer"])  # loads into a real optimizer


@pytest.mark.parametrize("loader", ["AgentModel", "HFCausalLM"])  # logged now, logged before
def test_mlflow_model_loader_refuses_pickled_weights(
    tmp_path, alfworld_tokenizer, loader: str
) -> None:
    from agentdistill import mlflow_agent, tracking
    from agentdistill.config import FormatConfig

    folder = tmp_path / "model"
    _tiny(alfworld_tokenizer).save_pretrained(folder)
    save_tokenizer(alfworld_tokenizer, folder)
    FormatConfig(name="alfworld").save(folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "ran"
    torch.save({"w": _Payload(marker)}, folder / "pytorch_model.bin")
    context = SimpleNamespace(artifacts={tracking.HF_ARTIFACT: str(folder)}, model_config={})
    model = getattr(mlflow_agent, loader, None) or getattr(tracking, loader)
    with pytest.raises(OSError):
        model().load_context(context)
    assert not marker.exists()


# -- a run folder remembers what it is -------------------------------------------------------


def test_metrics_are_cut_back_to_the_checkpoint_on_resume(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    data = expert_train[:32]
    calls = {"n": 0}

    def crash_at_seven(model, batch):
        calls["n"] += 1
        if calls["n"] == 7:  # steps 5 and 6 are logged, the last checkpoint is step 4
            raise KeyboardInterrupt
        return span_losses(model, batch)

    config = TrainConfig(epochs=2, batch_tokens=4096, save_every=4, log_every=1, seed=1)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_lm(_tiny(alfworld_tokenizer), alfworld_tokenizer, data, config, out, FMT,
                 loss_fn=crash_at_seven, show_progress=False)  # fmt: skip
    logged = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4, 5, 6]
    summary = train_lm(
        _tiny(alfworld_tokenizer), alfworld_tokenizer, data, config, out, FMT, show_progress=False
    )
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, summary.steps + 1))


def test_training_refuses_a_changed_run_and_restarts_when_asked(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    data = expert_train[:8]
    out = tmp_path / "run"
    _train(out, data, alfworld_tokenizer, max_steps=2)
    with pytest.raises(RunMismatchError, match=r"train\.lr: 0\.002 -> 0\.5"):
        _train(out, data, alfworld_tokenizer, max_steps=2, lr=0.5)
    with pytest.raises(RunMismatchError, match="trajectories_sha256"):
        _train(out, expert_train[:9], alfworld_tokenizer, max_steps=2)
    # how often it checkpoints or logs does not change what is trained: resumes
    _train(out, data, alfworld_tokenizer, max_steps=2, save_every=5, log_every=3)
    config = TrainConfig(epochs=1, batch_tokens=4096, max_steps=2, lr=0.5)
    summary = train_lm(_tiny(alfworld_tokenizer), alfworld_tokenizer, data, config, out, FMT,
                       restart=True, show_progress=False)  # fmt: skip
    assert summary.steps == 2
    assert json.loads((out / "run.json").read_text())["identity"]["train"]["lr"] == 0.5


def test_a_folder_without_run_record_is_not_resumed(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    data = expert_train[:8]
    out = tmp_path / "run"
    _train(out, data, alfworld_tokenizer, max_steps=2)
    (out / "run.json").unlink()  # as an older version left it
    with pytest.raises(RunMismatchError, match=r"no run\.json"):
        _train(out, data, alfworld_tokenizer, max_steps=2)


def test_teacher_bootstrap_refuses_changed_settings(tmp_path) -> None:
    from agentdistill.task_data import load_tasks

    tasks = load_tasks("alfworld", "train", limit=4).tasks
    train = TrainConfig(epochs=1, batch_tokens=4096, max_steps=2, save_every=1)
    config = TeacherConfig(train_tasks=4, vocab_size=300, preset="student-30x", train=train)
    bootstrap_teacher(config, tmp_path, FMT, tasks=tasks)
    more = config.model_copy(update={"train": train.model_copy(update={"epochs": 3.0})})
    with pytest.raises(RunMismatchError, match=r"teacher\.train\.epochs: 1\.0 -> 3\.0"):
        bootstrap_teacher(more, tmp_path, FMT, tasks=tasks)
    with pytest.raises(RunMismatchError, match="tasks_sha256"):
        bootstrap_teacher(config, tmp_path, FMT, tasks=tasks[:3])
    result = bootstrap_teacher(more, tmp_path, FMT, tasks=tasks, restart=True)
    assert result.train.steps == 2 and (tmp_path / "run.json").exists()


@pytest.fixture()
def distill_inputs(tmp_path, expert_train, alfworld_tokenizer):
    teacher = tmp_path / "teacher"
    build_model(
        "student-10x", len(alfworld_tokenizer), seed=3, pad_token_id=alfworld_tokenizer.pad_token_id
    ).save_pretrained(teacher)
    save_tokenizer(alfworld_tokenizer, teacher)
    FMT.save(teacher)
    data = tmp_path / "trajectories.jsonl"
    write_jsonl(data, expert_train[:6])
    return teacher, data


def _distill(teacher, data, out, *extra):
    settings = ["student=student-30x", "train.max_steps=2", "train.batch_tokens=4096"]
    args = ["distill", "--teacher", str(teacher), "--trajectories", str(data), "--out", str(out)]
    for item in settings:
        args += ["--set", item]
    return runner.invoke(app, [*args, *extra])


def test_distill_cli_refuses_a_changed_resume(tmp_path, distill_inputs) -> None:
    teacher, data = distill_inputs
    out = tmp_path / "student"
    first = _distill(teacher, data, out, "--set", "method=sad")
    assert first.exit_code == 0, first.output
    weights = (out / "model" / "model.safetensors").read_bytes()
    changed = _distill(teacher, data, out, "--set", "method=seqkd", "--set", "train.lr=0.5")
    assert changed.exit_code == 2
    message = " ".join(changed.output.split())
    assert "distill.method: 'sad' -> 'seqkd'" in message and "train.lr: 0.002 -> 0.5" in message
    assert "--restart" in message
    assert (out / "model" / "model.safetensors").read_bytes() == weights  # nothing touched
    again = _distill(teacher, data, out, "--set", "method=seqkd", "--set", "train.lr=0.5",
                     "--restart")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads((out / "distill_summary.json").read_text())["method"] == "seqkd"
    assert (out / "model" / "model.safetensors").read_bytes() != weights


# -- files and secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode) -> None:
    old = os.umask(umask)
    try:
        path = write_text_atomic(tmp_path / "f.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://alice:s3cret@mlflow.internal:5000", "http://alice:***@mlflow.internal:5000"),
        ("https://s3cret@mlflow.internal/", "https://***@mlflow.internal/"),
        ("postgresql://u:s3cret@db:5432/mlflow", "postgresql://u:***@db:5432/mlflow"),
        ("https://host/mlflow?token=s3cret&x=1", "https://host/mlflow?token=***&x=1"),
        ("sqlite:////work/mlflow/mlflow.db", "sqlite:////work/mlflow/mlflow.db"),
        ("databricks", "databricks"),
    ],
)
def test_uris_are_redacted(uri, shown) -> None:
    from agentdistill.tracking import redact_uri

    assert redact_uri(uri) == shown


def test_credentials_never_reach_dagster_config_logs_or_links(monkeypatch, caplog) -> None:
    from agentdistill.tracking import _without_credentials
    from dagster_project.defs.resources import default_resources

    uri = "http://alice:s3cret@mlflow.internal:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    resource = default_resources()["mlflow"]
    assert "s3cret" not in json.dumps(resource.model_dump(), default=str)
    config = load_profile(Path(__file__).parents[1] / "configs/experiment/smoke.yaml").config(
        "alfworld"
    )
    tracker = resource.tracker(config)
    assert tracker.tracking_uri == uri  # used, never shown
    with caplog.at_level(logging.DEBUG, logger="agentdistill"):
        tracker.client  # noqa: B018 - creating the client logs the store
    assert "mlflow.internal" in caplog.text and "s3cret" not in caplog.text
    assert "s3cret" not in repr(tracker) and "s3cret" not in repr(tracker.config)
    assert _without_credentials(uri + "/?token=s3cret") == "http://mlflow.internal:5000/"
