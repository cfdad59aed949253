"""MLflow layer against a real local SQLite store (no mocks, offline).

One store serves the whole module: its first use runs MLflow's migrations (a few seconds).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from transformers import LlamaConfig, LlamaForCausalLM

from agentdistill.config import ConfigError, FormatConfig
from agentdistill.mlflow_agent import AgentTurn
from agentdistill.tokenizer import train_byte_level_bpe
from agentdistill.tracking import (
    OFFLINE_ENV,
    Tracker,
    TrackingConfig,
    flatten_params,
    offline_environment,
)
from agentdistill.training import TrainConfig, TrainSummary

STEPS = [10, 20, 30, 40]
REACT = FormatConfig(name="react")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    """Offline env, a decoy global tracking URI and a scratch working directory.

    Anything that used MLflow's process-wide store instead of the tracker's would create the
    decoy database or files in the scratch directory; the last test checks neither happened.
    """
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, os.environ.get(key, value))
        decoy = tmp_path_factory.mktemp("decoy") / "global.db"
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{decoy}")
        cwd = tmp_path_factory.mktemp("cwd")
        mp.chdir(cwd)
        yield {"decoy": decoy, "cwd": cwd, "root": tmp_path_factory.mktemp("store")}


def write_training_dir(out: Path, seed: int, fmt: FormatConfig | None = None) -> Path:
    """What `train_lm` leaves: metrics.jsonl, train_summary.json and the HF folder model/ with
    the format it was trained in (`fmt`; None: no record, as in a user's folder)."""
    tokenizer = train_byte_level_bpe(["go to shelf 1", "take apple 2 from table 1"] * 4, 300)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model_dir = out / "model"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    if fmt is not None:
        fmt.save(model_dir)
    with (out / "metrics.jsonl").open("w") as handle:
        for step in STEPS:
            record = {
                "step": step,
                "epoch": step / 40,
                "loss": 4.0 - step / 20,
                "reason_loss": 4.5 - step / 20,
                "act_loss": 3.0 - step / 40,
                "lr": 1e-3 * step / 40,
                "tokens_per_s": 1000.0 + step,
            }
            handle.write(json.dumps(record) + "\n")
    summary = TrainSummary(
        steps=40,
        epochs=1.0,
        tokens_seen=40_000,
        loss_tokens=12_000,
        final_loss=2.0,
        final_reason_loss=2.5,
        final_act_loss=2.0,
        tokens_per_s=1040.0,
        wall_s=38.5,
        truncated_sequences=1,
        model_dir=str(model_dir),
    )
    (out / "train_summary.json").write_text(summary.model_dump_json(indent=2))
    return out


@pytest.fixture(scope="module")
def tracker(sandbox) -> Tracker:
    return Tracker(TrackingConfig(root=str(sandbox["root"]), experiment="test-exp"), env="alfworld")


@pytest.fixture(scope="module")
def train_config() -> dict:
    config = TrainConfig(seed=3, lr=5e-4).model_dump(mode="json")
    config["format"] = {"name": "react", "preamble": "p" * 7000}  # over the 6000-char limit
    return config


@pytest.fixture(scope="module")
def trained(tracker: Tracker, train_config: dict, tmp_path_factory) -> dict:
    """Four logged training runs (different seeds)."""
    runs = {}
    for seed in (0, 1, 2, 3):
        out = write_training_dir(tmp_path_factory.mktemp(f"train{seed}"), seed, REACT)
        tags = {"method": "sad", "seed": str(seed), "dagster_run_id": f"dg-{seed}"}
        runs[seed] = tracker.log_training(f"sad-seed{seed}", train_config, out, tags)
    return runs


def test_offline_environment_keeps_explicit_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in OFFLINE_ENV:
        monkeypatch.setenv(key, "placeholder")  # recorded, so teardown restores the original
        monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    offline_environment()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["DO_NOT_TRACK"] == "1"


def test_config_and_lazy_local_store(tmp_path: Path) -> None:
    assert all(field.description for field in TrackingConfig.model_fields.values())
    root = tmp_path / "store"
    local = Tracker(TrackingConfig(root=str(root)))
    assert local.tracking_uri == f"sqlite:///{root}/mlflow.db"
    assert local.artifact_location == (root / "artifacts").as_uri()
    assert not root.exists()  # nothing is created before the first use
    server = Tracker(TrackingConfig(tracking_uri="http://mlflow.internal:5000"))
    assert server.tracking_uri == "http://mlflow.internal:5000"
    assert server.artifact_location is None
    database = Tracker(TrackingConfig(tracking_uri=f"sqlite:///{tmp_path}/db/x.db"))
    assert database.artifact_location == (tmp_path / "db" / "artifacts").as_uri()  # not ./mlruns
    off = Tracker(TrackingConfig(root=str(root), enabled=False))
    assert off.log_training("x", {}, tmp_path) == ""
    assert off.log_benchmark("x", {"a": 1.0}) == ""
    assert off.register("") is None
    assert off.promote_champion()[0] is None
    assert not root.exists()


def test_flatten_params() -> None:
    flat = flatten_params(
        {"a": {"b": {"c": 1}, "d": [1, 2]}, "e": None, "f": True, "g h!": "x" * 7000, "i": {}}
    )
    assert flat["a.b.c"] == "1"
    assert flat["a.d"] == "[1, 2]"
    assert flat["e"] == "None"
    assert flat["f"] == "True"
    assert len(flat["g h_"]) == 6000
    assert flat["g h_"].endswith("[truncated]")
    assert flat["i"] == "{}"


def test_log_training(tracker: Tracker, trained: dict, train_config: dict, tmp_path: Path) -> None:
    client = MlflowClient(tracker.tracking_uri)
    run = client.get_run(trained[1])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "sad-seed1"
    assert run.info.experiment_id == tracker.experiment_id
    params = run.data.params
    assert params["lr"] == "0.0005"
    assert params["seed"] == "3"
    assert params["format.name"] == "react"
    assert len(params["format.preamble"]) == 6000
    assert params["summary.model_dir"].endswith("model")
    tags = run.data.tags
    assert tags["method"] == "sad"
    assert tags["seed"] == "1"
    assert tags["dagster_run_id"] == "dg-1"

    for name in ("loss", "reason_loss", "act_loss", "lr", "tokens_per_s", "epoch"):
        history = client.get_metric_history(trained[1], name)
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == STEPS, name
    losses = {m.step: m.value for m in client.get_metric_history(trained[1], "loss")}
    assert losses == {s: pytest.approx(4.0 - s / 20) for s in STEPS}
    assert run.data.metrics["summary/final_loss"] == 2.0
    assert run.data.metrics["summary/tokens_seen"] == 40_000
    assert len(client.get_metric_history(trained[1], "summary/tokens_per_s")) == 1

    artifacts = {a.path for a in client.list_artifacts(trained[1])}
    assert {"config.json", "train"} <= artifacts
    train_files = {a.path for a in client.list_artifacts(trained[1], "train")}
    assert train_files == {"train/metrics.jsonl", "train/train_summary.json"}
    local = mlflow.artifacts.download_artifacts(
        run_id=trained[1],
        artifact_path="config.json",
        dst_path=str(tmp_path),
        tracking_uri=tracker.tracking_uri,
    )
    local = Path(local)
    assert json.loads(local.read_text()) == train_config  # untruncated

    model_uri = tracker.model_uri(trained[1])
    assert model_uri.startswith("models:/m-")
    logged = client.get_logged_model(model_uri.removeprefix("models:/"))
    assert logged.source_run_id == trained[1]
    assert Path(logged.artifact_location.removeprefix("file://"), "MLmodel").is_file()

    url = tracker.run_url(trained[1])
    assert url == f"http://127.0.0.1:5000/#/experiments/{tracker.experiment_id}/runs/{trained[1]}"


def test_log_benchmark(tracker: Tracker, trained: dict, tmp_path: Path) -> None:
    client = MlflowClient(tracker.tracking_uri)
    report = tmp_path / "report.md"
    report.write_text("# ALFWorld\n")
    (tmp_path / "report.json").write_text("{}")
    metrics = {
        "alfworld/success_rate": 0.5,
        "alfworld/success_rate_low": 0.4,
        "alfworld/success_rate_high": 0.6,
    }
    run_id = tracker.log_benchmark(
        "bench-teacher", metrics, [report, tmp_path / "report.json"], {"policy": "teacher"}
    )
    run = client.get_run(run_id)
    assert run_id not in trained.values()
    assert run.info.status == "FINISHED"
    assert run.data.metrics == metrics
    assert run.data.tags["policy"] == "teacher"
    files = {a.path for a in client.list_artifacts(run_id, "benchmark")}
    assert files == {"benchmark/report.md", "benchmark/report.json"}

    into = tracker.log_benchmark(
        "alfworld", {"alfworld/success_rate": 0.7}, [report], {"bench": "yes"}, run_id=trained[0]
    )
    assert into == trained[0]
    student = client.get_run(trained[0])
    assert student.data.metrics["alfworld/success_rate"] == 0.7
    assert student.data.metrics["summary/final_loss"] == 2.0  # training metrics still there
    assert student.data.tags["bench"] == "yes"
    assert student.data.tags["method"] == "sad"
    assert {a.path for a in client.list_artifacts(trained[0], "benchmark")} == {
        "benchmark/report.md"
    }
    with pytest.raises(FileNotFoundError):
        tracker.log_benchmark("x", {}, [tmp_path / "missing.md"], {}, run_id=trained[0])


def test_register_and_champion_rule(tracker: Tracker, trained: dict) -> None:
    root = tracker.config.root

    def with_floor(floor: float) -> Tracker:
        return Tracker(
            TrackingConfig(
                root=root, experiment="test-exp", registered_model="rule", success_floor=floor
            )
        )

    rule = with_floor(0.4)
    client = MlflowClient(rule.tracking_uri, registry_uri=rule.tracking_uri)
    assert rule.promote_champion()[0] is None  # no registered model yet

    def register(run: str, rate: float, low: float, params: int) -> int:
        tags = {"method": "sad", "success_rate": rate, "success_low": low, "parameters": params}
        return rule.register(run, tags)

    v1 = register(trained[0], 0.60, 0.50, 1_000_000)
    v2 = register(trained[1], 0.80, 0.30, 500_000)  # best rate, but its CI low is under 0.4
    v3 = register(trained[2], 0.60, 0.45, 800_000)  # ties v1 on rate, fewer parameters
    assert (v1, v2, v3) == (1, 2, 3)
    mv = client.get_model_version("rule", str(v3))
    assert mv.run_id == trained[2]
    assert mv.tags["success_low"] == "0.45"
    # registering a run again keeps its version (and refreshes its tags)
    assert register(trained[0], 0.60, 0.50, 1_000_000) == v1
    assert len(client.search_model_versions("name='rule'")) == 3

    version, reason = rule.promote_champion()
    assert version == v3
    assert "0.600" in reason and "0.450" in reason and "800,000" in reason
    assert "success_low" in reason and "fewer parameters" in reason
    assert int(client.get_model_version_by_alias("rule", "champion").version) == v3
    assert client.get_model_version("rule", str(v3)).tags["champion_reason"] == reason
    assert client.get_registered_model("rule").description == f"champion: {reason}"
    assert rule.promote_champion() == (version, reason)  # idempotent

    assert with_floor(0.0).promote_champion()[0] == v2  # no floor: the best rate wins

    v4 = register(trained[3], 0.60, 0.45, 800_000)  # exact tie with v3: the newest wins
    assert rule.promote_champion()[0] == v4
    assert int(client.get_model_version_by_alias("rule", "champion").version) == v4

    version, reason = with_floor(0.9).promote_champion()
    assert version is None
    assert "no champion" in reason
    assert int(client.get_model_version_by_alias("rule", "champion").version) == v4  # kept


def test_champion_rule_compares_one_profile(tracker: Tracker, trained: dict) -> None:
    """Smoke students never compete with the default profile's for its alias."""
    rule = Tracker(
        TrackingConfig(root=tracker.config.root, experiment="test-exp", registered_model="p")
    )
    tags = {"success_low": 0.1, "parameters": 1000}
    smoke = rule.register(trained[0], {**tags, "profile": "smoke", "success_rate": 0.9})
    default = rule.register(trained[1], {**tags, "profile": "default", "success_rate": 0.2})
    assert rule.promote_champion(profile="default")[0] == default
    assert rule.promote_champion(profile="smoke")[0] == smoke
    assert rule.promote_champion(profile="other")[0] is None
    per_env = Tracker(TrackingConfig(root=tracker.config.root), env="webshop")
    assert per_env.registered_model == "agentdistill-webshop-student"
    with pytest.raises(ValueError, match="needs an environment"):
        _ = Tracker(TrackingConfig()).registered_model


def test_training_run_is_logged_once_per_key(tracker: Tracker, tmp_path: Path) -> None:
    out = write_training_dir(tmp_path / "keyed", seed=7, fmt=REACT)
    first = tracker.log_training("keyed", {"a": 1}, out, run_key="k-1")
    assert tracker.log_training("keyed", {"a": 1}, out, run_key="k-1") == first
    assert tracker.find_run("k-1") == first
    assert tracker.log_training("keyed", {"a": 2}, out, run_key="k-2") != first
    metrics = {"alfworld/valid_unseen/success_rate": 0.5}
    tracker.log_benchmark("b", metrics, run_id=first, run_key="b-1")
    tracker.log_benchmark("b", metrics, run_id=first, run_key="b-1")
    history = tracker.client.get_metric_history(first, "alfworld/valid_unseen/success_rate")
    assert len(history) == 1


def test_champion_loads_back(tracker: Tracker, trained: dict, tmp_path: Path) -> None:
    version = tracker.register(
        trained[0], {"success_rate": "0.5", "success_low": "0.3", "parameters": "9000"}
    )
    assert tracker.promote_champion()[0] == version
    name = tracker.registered_model
    with tracker.using_store():
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    requests = [{"first_observation": "go to shelf", "steps": []}, {"prompt": "take apple\n"}]
    outputs = model.predict(requests, params={"max_new_tokens": 5})
    assert len(outputs) == 2
    assert all(isinstance(turn, AgentTurn) and turn.generated_tokens <= 5 for turn in outputs)

    folder = tracker.download_hf_model(dst=tmp_path / "hf")
    assert (folder / "config.json").is_file()
    assert (folder / "tokenizer.json").is_file()
    reloaded = LlamaForCausalLM.from_pretrained(folder)
    assert sum(p.numel() for p in reloaded.parameters()) > 0


def test_checkpoint_needs_a_format(tracker: Tracker, tmp_path: Path) -> None:
    """An agent is prompted in its training format: a folder without one is refused unless
    the format is given, before any run is created."""
    out = write_training_dir(tmp_path / "plain", seed=8)
    runs = len(tracker.client.search_runs([tracker.experiment_id]))
    with pytest.raises(ConfigError, match="records no text format"):
        tracker.log_training("plain", {}, out)
    assert len(tracker.client.search_runs([tracker.experiment_id])) == runs
    run_id = tracker.log_training("plain", {}, out, fmt=REACT)
    model_id = tracker.model_uri(run_id).removeprefix("models:/")
    location = tracker.client.get_logged_model(model_id).artifact_location
    mlmodel = Model.load(Path(location.removeprefix("file://"), "MLmodel"))
    config = mlmodel.flavors["python_function"]["config"]
    assert config == {"runtime": {"device": "cpu", "dtype": "fp32"}, "format": REACT.model_dump()}
    assert mlmodel.signature.params.to_dict()[0] == {
        "name": "max_new_tokens",
        "default": 96,
        "shape": None,
        "type": "long",
    }


def test_process_state_untouched(sandbox) -> None:
    """Runs last: the decoy global store was never used and nothing landed in the cwd."""
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{sandbox['decoy']}"
    assert not sandbox["decoy"].exists()
    assert list(sandbox["cwd"].iterdir()) == []
