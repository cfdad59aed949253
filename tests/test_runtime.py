"""The runtime setting: devices, bf16, gradient accumulation and a 2-process gloo job.

Tolerances (asserted below):
- bf16 vs fp32 teacher cache of the same weights: the top-1 token agrees at >= 97% of the
  positions; its log-probability differs by <= 0.02 on average and <= 0.15 at most.
- gradient accumulation, 2 micro-batches x 2 vs one step on both sequences in one batch,
  equal loss-token counts: gradients within 1e-6 + 1e-4 x |g| (the same sums in another
  float32 order), logged loss within 1e-5 relative.
- 2 gloo processes (torchrun) vs 1 process accumulating the same 2 micro-batches per step:
  per-step loss within 1e-5 relative, final weights within 1e-6 (with one thread per
  process both runs are bit-identical; threads reorder float sums, hence the margin).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError
from safetensors import safe_open
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

import agentdistill
from agentdistill.cli import app
from agentdistill.config import ConfigError, FormatConfig, load_config
from agentdistill.distillation.teacher_cache import build_teacher_cache
from agentdistill.distillation.trainer import DistillConfig, distill
from agentdistill.inputs import read_trajectories
from agentdistill.models import build_model, load_model
from agentdistill.records import write_jsonl
from agentdistill.run_folder import RunMismatchError
from agentdistill.runtime import DeviceUnavailableError, RuntimeConfig, is_main_process
from agentdistill.segmentation import collate
from agentdistill.trainer_state import load_trainer_state, save_trainer_state
from agentdistill.training import TrainConfig, segment_all, span_losses, train_lm

FMT = FormatConfig(name="alfworld")
SRC = Path(agentdistill.__file__).parents[1]
TESTS = Path(__file__).parent
NO_GPU = not torch.cuda.is_available()


def student(tokenizer, seed: int = 0):
    return build_model(
        "student-30x", vocab_size=len(tokenizer), seed=seed, pad_token_id=tokenizer.pad_token_id
    )


def config(**changes) -> TrainConfig:
    base = dict(epochs=2, batch_tokens=4096, lr=3e-3, save_every=2, log_every=1, seed=1)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as each torchrun process has (OMP_NUM_THREADS=1): the single-process
    reference sums floats in the same order. Models this small gain nothing from more, and
    on a shared machine spare threads only wait for busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- devices and dtypes --------------------------------------------------------------------


def test_auto_resolves_to_this_machines_device() -> None:
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert RuntimeConfig(device="auto").torch_device.type == expected
    assert RuntimeConfig().torch_dtype == torch.float32
    assert RuntimeConfig(dtype="bf16").torch_dtype == torch.bfloat16
    assert is_main_process()  # no launcher here: the only process writes


def test_an_unknown_device_or_dtype_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="device"):
        RuntimeConfig(device="tpu")
    with pytest.raises(ConfigError, match=r"runtime\.dtype"):
        load_config(DistillConfig, None, ["runtime.dtype=fp8"])
    with pytest.raises(ConfigError, match=r"runtime\.gradient_accumulation"):
        load_config(DistillConfig, None, ["runtime.gradient_accumulation=0"])


@pytest.mark.skipif(not NO_GPU, reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, expert_train, alfworld_tokenizer) -> None:
    cuda = RuntimeConfig(device="cuda")  # a profile for a GPU box still loads here
    with pytest.raises(DeviceUnavailableError, match=r"runtime\.device=cuda, but torch sees no"):
        _ = cuda.torch_device
    # used: refused before anything is written
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU"):
        train_lm(
            student(alfworld_tokenizer),
            alfworld_tokenizer,
            expert_train[:2],
            config(),
            tmp_path / "run",
            FMT,
            runtime=cuda,
            show_progress=False,
        )
    assert not (tmp_path / "run").exists()
    # on the command line: a one-line error and exit code 2, no traceback
    folder = tmp_path / "model"
    student(alfworld_tokenizer).save_pretrained(folder)
    alfworld_tokenizer.save_pretrained(folder)
    FMT.save(folder)
    result = CliRunner().invoke(
        app, ["benchmark", "--model", str(folder), "--out", str(tmp_path / "bench"),
              "--data", str(tmp_path / "data"), "--device", "cuda"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "runtime.device=cuda" in result.output and "Traceback" not in result.output


def test_precisions_that_cannot_train_are_refused() -> None:
    with pytest.raises(ValueError, match="autocast"):
        RuntimeConfig(device="cpu", dtype="fp16").check_training()
    mixed = RuntimeConfig(device="cpu", dtype="fp16", autocast=True)
    assert mixed.train_dtype == torch.float32 and mixed.grad_scaler() is not None
    assert RuntimeConfig(device="cpu", dtype="bf16").train_dtype == torch.bfloat16
    assert RuntimeConfig(device="cpu", dtype="bf16", autocast=True).grad_scaler() is None


def test_identity_holds_precision_and_micro_batches_not_the_device() -> None:
    assert RuntimeConfig(device="cpu").identity() == {}  # the default reads as before
    assert RuntimeConfig(device="cuda").identity() == {}  # a run may move to another machine
    two = RuntimeConfig(gradient_accumulation=2).identity()
    assert two == RuntimeConfig().identity(processes=2)  # 1 process x 2 == 2 processes x 1
    assert RuntimeConfig(dtype="bf16").identity()["runtime"]["dtype"] == "bf16"


# ---- bf16 on the CPU -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_teacher(tmp_path_factory, expert_train, alfworld_tokenizer) -> Path:
    """A small teacher trained a little (peaked distributions: a meaningful top-1)."""
    out = tmp_path_factory.mktemp("teacher")
    model = build_model(
        "student-10x", len(alfworld_tokenizer), seed=7, pad_token_id=alfworld_tokenizer.pad_token_id
    )
    settings = TrainConfig(epochs=4, batch_tokens=2048, lr=1e-2, save_every=1000, log_every=100)
    summary = train_lm(
        model, alfworld_tokenizer, expert_train[:32], settings, out, FMT, show_progress=False
    )
    return Path(summary.model_dir)


def test_bf16_teacher_cache_agrees_with_fp32(
    tmp_path, trained_teacher, expert_train, alfworld_tokenizer
) -> None:
    segs, _ = segment_all(expert_train[32:40], alfworld_tokenizer, FMT, 1024)
    caches = {}
    for dtype in ("fp32", "bf16"):
        runtime = RuntimeConfig(device="cpu", dtype=dtype)
        teacher = load_model(trained_teacher, dtype=runtime.torch_dtype)
        assert teacher.dtype == runtime.torch_dtype
        caches[dtype] = build_teacher_cache(
            teacher, segs, tmp_path / dtype, k=8, runtime=runtime, show_progress=False
        )
    fp32, bf16 = caches["fp32"], caches["bf16"]
    assert bf16.meta["fingerprint"] != fp32.meta["fingerprint"]  # one cache per precision
    for name in ("logprobs", "rest_logprob", "entropy"):  # float32 on disk whatever computed
        assert np.load(tmp_path / "bf16" / f"{name}.npy").dtype == np.float32
    top1 = np.asarray(fp32.indices)[:, 0] == np.asarray(bf16.indices)[:, 0]
    gap = np.abs(np.asarray(fp32.logprobs)[:, 0] - np.asarray(bf16.logprobs)[:, 0])
    assert top1.mean() >= 0.97, top1.mean()
    # bf16 keeps 8 bits of mantissa: a rare near-tie position moves by a few tenths
    tail = float(np.quantile(gap, 0.99))
    assert gap.mean() <= 0.02 and tail <= 0.1 and gap.max() <= 0.5, (gap.mean(), tail, gap.max())
    assert np.exp(np.asarray(fp32.logprobs)[:, 0]).mean() > 0.1  # the teacher is not flat


def test_bf16_state_round_trips(tmp_path) -> None:
    tensor = torch.randn(3, 4).to(torch.bfloat16)
    save_trainer_state(tmp_path, {"optimizer": {"state": {0: {"exp_avg": tensor}}}})
    loaded = load_trainer_state(tmp_path)["optimizer"]["state"][0]["exp_avg"]
    assert loaded.dtype == torch.bfloat16 and torch.equal(loaded, tensor)


def test_bf16_student_trains_resumes_and_refuses_another_dtype(
    tmp_path, expert_train, alfworld_tokenizer
) -> None:
    data, bf16 = expert_train[:32], RuntimeConfig(device="cpu", dtype="bf16")
    straight = student(alfworld_tokenizer)
    train_lm(straight, alfworld_tokenizer, data, config(), tmp_path / "a", FMT,
             runtime=bf16, show_progress=False)  # fmt: skip
    assert straight.dtype == torch.bfloat16
    history = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < history[0]["loss"] - 1.0
    with safe_open(tmp_path / "a" / "model" / "model.safetensors", "pt") as weights:
        assert all(weights.get_tensor(k).dtype == torch.bfloat16 for k in weights.keys())  # noqa: SIM118
    moments = load_trainer_state(tmp_path / "a" / "checkpoint")["optimizer"]["state"]
    assert {v["exp_avg"].dtype for v in moments.values()} == {torch.bfloat16}
    run = json.loads((tmp_path / "a" / "run.json").read_text())["identity"]
    assert run["runtime"] == {"dtype": "bf16", "autocast": False, "micro_batches_per_step": 1}

    calls = {"n": 0}

    def crash_at_five(model, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the run dies after its step-4 checkpoint
        return span_losses(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train_lm(student(alfworld_tokenizer), alfworld_tokenizer, data, config(),
                 tmp_path / "b", FMT, loss_fn=crash_at_five, runtime=bf16,
                 show_progress=False)  # fmt: skip
    resumed = student(alfworld_tokenizer)  # a fresh process starts from scratch weights
    train_lm(resumed, alfworld_tokenizer, data, config(), tmp_path / "b", FMT,
             runtime=bf16, show_progress=False)  # fmt: skip
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name  # the same bf16 operations in the same order
    # the same folder in fp32 is another run
    with pytest.raises(RunMismatchError, match=r"runtime\.dtype: 'bf16' -> '<unset>'"):
        train_lm(student(alfworld_tokenizer), alfworld_tokenizer, data, config(),
                 tmp_path / "b", FMT, runtime=RuntimeConfig(device="cpu"),
                 show_progress=False)  # fmt: skip


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_autocast_trains_fp32_master_weights(
    tmp_path, dtype, expert_train, alfworld_tokenizer
) -> None:
    mixed = RuntimeConfig(device="cpu", dtype=dtype, autocast=True)
    model = student(alfworld_tokenizer)
    seen: list[torch.dtype] = []

    def recording_loss(model, batch):
        seen.append(model.lm_head(torch.ones(1, 64)).dtype)  # an fp32 layer under autocast
        return span_losses(model, batch)

    summary = train_lm(model, alfworld_tokenizer, expert_train[:8], config(max_steps=2),
                       tmp_path, FMT, loss_fn=recording_loss, runtime=mixed,
                       show_progress=False)  # fmt: skip
    assert model.dtype == torch.float32 and set(seen) == {mixed.torch_dtype}
    assert math.isfinite(summary.final_loss)
    run = json.loads((tmp_path / "run.json").read_text())["identity"]
    assert run["runtime"]["autocast"] is True
    state = load_trainer_state(tmp_path / "checkpoint")
    assert ("grad_scaler" in state) == (dtype == "fp16")  # fp16's loss scale resumes too


def test_a_policy_runs_in_its_runtime(tmp_path, alfworld_tokenizer, small_suite) -> None:
    from agentdistill.environments.registry import make_env
    from agentdistill.policies.hf import DecodingConfig
    from agentdistill.rollout import RolloutConfig, run_rollouts
    from agentdistill.teacher import load_policy

    student(alfworld_tokenizer, seed=2).save_pretrained(tmp_path)
    alfworld_tokenizer.save_pretrained(tmp_path)
    fmt, decoding = FMT.build(), DecodingConfig(max_turn_tokens=8)
    plain = load_policy(tmp_path, fmt, decoding)
    bf16 = load_policy(tmp_path, fmt, decoding, runtime=RuntimeConfig(device="cpu", dtype="bf16"))
    assert bf16.model.dtype == torch.bfloat16 and bf16.device.type == "cpu"
    # another precision decodes other turns: a partial rollout of one is not resumed by the other
    assert "dtype" in bf16.settings and "dtype" not in plain.settings
    tasks = small_suite.tasks("valid_unseen")[:2]
    quiet = RolloutConfig(show_progress=False, max_steps=2)
    cached = run_rollouts(bf16, lambda: make_env("alfworld"), tasks, quiet)
    naive = load_policy(tmp_path, fmt, decoding, cached=False,
                        runtime=RuntimeConfig(device="cpu", dtype="bf16"))  # fmt: skip
    again = run_rollouts(naive, lambda: make_env("alfworld"), tasks, quiet)
    # both engines run in bf16 (their turns may differ in the last bits: not compared)
    assert [len(t.steps) for t in cached] == [len(t.steps) for t in again] == [2, 2]


# ---- gradient accumulation -----------------------------------------------------------------


def _step_gradient(monkeypatch, model, tokenizer, data, batch_tokens, runtime, out):
    """The gradient of one `train_lm` step (read just before clipping), and its logged loss."""
    grads: list[torch.Tensor] = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters, *args, **kwargs):
        parameters = list(parameters)
        grads.extend(p.grad.detach().clone() for p in parameters)
        return clip(parameters, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    settings = config(epochs=1, batch_tokens=batch_tokens, max_steps=1)
    train_lm(model, tokenizer, data, settings, out, FMT, order=[0, 1], runtime=runtime,
             show_progress=False)  # fmt: skip
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    loss = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["loss"]
    return grads, loss


def _loss_tokens(seg, tokenizer) -> int:
    return int(collate([seg], pad_id=tokenizer.pad_token_id).trained_mask.sum())


def test_gradient_accumulation_averages_micro_batches(
    tmp_path, monkeypatch, expert_train, alfworld_tokenizer
) -> None:
    """2 micro-batches x accumulation 2 = the mean of their per-token-mean gradients: one
    step on both sequences in one batch when they hold as many loss tokens, not otherwise."""
    tok = alfworld_tokenizer
    segs, _ = segment_all(expert_train, tok, FMT, 1024)
    counts = [_loss_tokens(s, tok) for s in segs]
    equal = next((i, j) for i in range(len(segs)) for j in range(i + 1, len(segs))
                 if counts[i] == counts[j])  # fmt: skip
    unequal = next((i, j) for i in range(len(segs)) for j in range(i + 1, len(segs))
                   if counts[i] < 0.8 * counts[j])  # fmt: skip
    for case, (i, j) in (("equal", equal), ("unequal", unequal)):
        data = [expert_train[i], expert_train[j]]
        longest = max(len(segs[i]), len(segs[j]))
        accumulated, acc_loss = _step_gradient(
            monkeypatch, student(tok), tok, data, longest,  # one sequence per batch
            RuntimeConfig(device="cpu", gradient_accumulation=2), tmp_path / f"{case}-acc",
        )  # fmt: skip
        merged, merged_loss = _step_gradient(
            monkeypatch, student(tok), tok, data, 2 * longest,  # both in one batch
            RuntimeConfig(device="cpu"), tmp_path / f"{case}-one",
        )  # fmt: skip
        # what accumulation equals in every case: the mean of the separate gradients
        separate = []
        for seg in (segs[i], segs[j]):
            model = student(tok)
            span_losses(model, collate([seg], pad_id=tok.pad_token_id))[0].backward()
            separate.append([p.grad for p in model.parameters()])
        for a, g1, g2 in zip(accumulated, *separate, strict=True):
            torch.testing.assert_close(a, (g1 + g2) / 2, atol=1e-6, rtol=1e-4)
        distance = max(float((a - m).abs().max()) for a, m in zip(accumulated, merged, strict=True))
        scale = max(float(m.abs().max()) for m in merged)
        if case == "equal":
            assert distance <= 1e-6 + 1e-4 * scale, (distance, scale)
            assert acc_loss == pytest.approx(merged_loss, rel=1e-5)
        else:  # every micro-batch weighs the same, not every token
            assert distance > 1e-3 * scale, (distance, scale)
            assert acc_loss != pytest.approx(merged_loss, rel=1e-4)


# ---- two processes (gloo) ------------------------------------------------------------------


DDP_CONFIG = {
    "method": "sad",
    "student": "student-30x",
    "top_k": 8,
    "train": {"epochs": 2, "batch_tokens": 1024, "lr": 0.003, "save_every": 2, "log_every": 1,
              "seed": 1},
}  # fmt: skip


@pytest.fixture(scope="module")
def ddp_inputs(tmp_path_factory, trained_teacher, expert_train) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ddp")
    write_jsonl(folder / "trajectories.jsonl", expert_train[:16])
    (folder / "config.yaml").write_text(yaml.safe_dump(DDP_CONFIG))
    return {"teacher": trained_teacher, "trajectories": folder / "trajectories.jsonl",
            "config": folder / "config.yaml", "root": folder}  # fmt: skip


def _torchrun(args: list[str], logs: Path) -> subprocess.CompletedProcess[str]:
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "--log-dir", str(logs),
               "--redirects", "3", *args]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _rank_output(logs: Path, rank: int) -> str:
    files = sorted(logs.glob(f"*/attempt_*/{rank}/*.log"))
    assert files, f"no logs of rank {rank} under {logs}"
    return "".join(f.read_text() for f in files)


@pytest.fixture(scope="module")
def single_run(ddp_inputs, tmp_path_factory) -> tuple[Path, float]:
    """One process accumulating 2 micro-batches per step: the global batch of 2 x 1."""
    out = tmp_path_factory.mktemp("single") / "out"
    settings = load_config(DistillConfig, ddp_inputs["config"], ["runtime.gradient_accumulation=2",
                                                                 "runtime.device=cpu"])  # fmt: skip
    began = time.perf_counter()  # one thread, as each torchrun process (`one_thread`)
    distill(settings, ddp_inputs["teacher"], read_trajectories(ddp_inputs["trajectories"]),
            out, show_progress=False)  # fmt: skip
    return out, time.perf_counter() - began


@pytest.fixture(scope="module")
def ddp_run(ddp_inputs) -> tuple[Path, Path, float]:
    """`agentdistill distill` in 2 CPU processes under torchrun (gloo)."""
    out, logs = ddp_inputs["root"] / "ddp", ddp_inputs["root"] / "ddp-logs"
    began = time.perf_counter()
    done = _torchrun(
        ["-m", "agentdistill.cli", "distill", "--teacher", str(ddp_inputs["teacher"]),
         "--trajectories", str(ddp_inputs["trajectories"]), "--out", str(out),
         "--config", str(ddp_inputs["config"]), "--device", "cpu"],
        logs,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr + _rank_output(logs, 0)
    return out, logs, time.perf_counter() - began


def _history(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*")}


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(out / "model").state_dict()


def test_two_gloo_processes_match_one_process(single_run, ddp_run) -> None:
    (single, single_s), (ddp, logs, ddp_s) = single_run, ddp_run
    one, two = _history(single), _history(ddp)
    # rank 0 alone wrote: one line per step, the files of a single-process run, nothing else
    assert [h["step"] for h in two] == list(range(1, len(one) + 1)) == [h["step"] for h in one]
    assert _files(ddp) == _files(single)
    assert not any(name.endswith((".tmp", ".old")) for name in _files(ddp))
    # 2 processes x 1 micro-batch is the same run as 1 process x 2: the same identity
    assert json.loads((ddp / "run.json").read_text()) == json.loads(
        (single / "run.json").read_text()
    )
    relative = [abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(one, two, strict=True)]
    assert max(relative) <= 1e-5, relative
    assert two[-1]["loss"] < two[0]["loss"]
    a, b = _weights(single), _weights(ddp)
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0, msg=name)
    # rank 1 said nothing (rank 0 printed the summary and logged for the job)
    assert _rank_output(logs, 1).strip() == ""
    rank0 = _rank_output(logs, 0)
    assert "student -> " in rank0 and "distilling sad" in rank0
    print(
        f"\nloss max relative difference {max(relative):.2e}; wall: 1 process {single_s:.1f} s "
        f"(in-process), 2 processes {ddp_s:.1f} s (torchrun, with start-up)"
    )


def test_an_interrupted_two_process_run_resumes(ddp_inputs, ddp_run) -> None:
    """Both processes die at step 5 (after the step-4 checkpoint); started again, every
    process loads the checkpoint (train_lm checks that their weights agree at the end) and
    the run ends where the uninterrupted one did."""
    out, logs = ddp_inputs["root"] / "ddp-resumed", ddp_inputs["root"] / "resume-logs"
    script = [str(TESTS / "ddp_distill.py"), str(ddp_inputs["teacher"]),
              str(ddp_inputs["trajectories"]), str(out), str(ddp_inputs["config"])]  # fmt: skip
    crashed = _torchrun([*script, "5"], logs / "crash")
    assert crashed.returncode != 0
    assert (out / "checkpoint").exists() and not (out / "model").exists()
    assert len(_history(out)) == 4
    done = _torchrun(script, logs / "resume")
    assert done.returncode == 0, done.stdout + done.stderr + _rank_output(logs / "resume", 0)
    straight, _, _ = ddp_run
    assert [h["step"] for h in _history(out)] == [h["step"] for h in _history(straight)]
    for a, b in zip(_history(straight), _history(out), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)
    a, b = _weights(straight), _weights(out)
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0, msg=name)
