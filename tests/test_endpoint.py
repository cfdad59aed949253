"""A teacher behind an OpenAI-compatible endpoint: `agentdistill serve` on a real localhost
port, driven by the official `openai` client through the endpoint policy and cache."""

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import torch
import uvicorn
from typer.testing import CliRunner

from agentdistill.cli import app as cli_app
from agentdistill.config import FormatConfig
from agentdistill.distillation.endpoint_cache import (
    TokenizerMismatchError,
    build_endpoint_cache,
)
from agentdistill.distillation.teacher_cache import build_teacher_cache
from agentdistill.distillation.trainer import DistillConfig, distill
from agentdistill.environments.registry import make_env
from agentdistill.formats import get_format
from agentdistill.models import build_model, load_model
from agentdistill.policies.endpoint import EndpointConfig, EndpointError, EndpointPolicy
from agentdistill.policies.hf import DecodingConfig, HFPolicy
from agentdistill.records import Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.serving import LocalModel, ServeConfig, create_app
from agentdistill.tokenizer import load_tokenizer, save_tokenizer, train_byte_level_bpe
from agentdistill.training import TrainConfig, segment_all

FMT = get_format("alfworld")
FORMAT = FormatConfig(name="alfworld")
QUIET = RolloutConfig(batch_size=4, max_steps=6, show_progress=False)
NAME = "tiny-teacher"
KEY_ENV = "AGENTDISTILL_TEST_KEY"
KEY = "sk-test-" + secrets.token_hex(12)
LOGPROB_TOLERANCE = 1e-4
"""Endpoint and local cache compute the same model in float32, one sequence alone versus a
padded batch: their log-probabilities agree to this (absolute)."""


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, expert_train, alfworld_tokenizer) -> Path:
    """A tiny model fitted for seconds: it writes ALFWorld-like lines (thinks, actions,
    rambling to the token budget), enough to exercise every branch of the turn protocol."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is faster than two contending
    try:
        model = build_model(
            "student-30x",
            vocab_size=len(alfworld_tokenizer),
            seed=0,
            pad_token_id=alfworld_tokenizer.pad_token_id,
            eos_token_id=alfworld_tokenizer.eos_token_id,
        )
        texts = [FMT.render_trajectory(t).text for t in expert_train]
        rows = torch.tensor([alfworld_tokenizer(text)["input_ids"][:192] for text in texts])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(0)
        for _ in range(100):
            batch = rows[torch.randint(0, len(rows), (8,), generator=generator)]
            loss = model(input_ids=batch, labels=batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    folder = tmp_path_factory.mktemp("teacher")
    model.save_pretrained(folder)
    save_tokenizer(alfworld_tokenizer, folder)
    FORMAT.save(folder)
    return folder


@pytest.fixture(scope="module")
def engine(teacher_dir) -> LocalModel:
    config = ServeConfig(model_dir=str(teacher_dir), model_name=NAME)
    return LocalModel.load(config)


@contextmanager
def serving(engine: LocalModel, **settings) -> Iterator[str]:
    """Serve `engine` on a free localhost port in a thread; yield the API root URL."""
    config = ServeConfig(model_dir="unused", model_name=NAME, **settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(config, engine), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join()


@pytest.fixture(scope="module")
def base_url(engine) -> Iterator[str]:
    """The shared server: it requires the API key, which the clients read from KEY_ENV."""
    os.environ[KEY_ENV] = KEY
    try:
        with serving(engine, api_key_env=KEY_ENV) as url:
            yield url
    finally:
        os.environ.pop(KEY_ENV, None)


@pytest.fixture(scope="module", autouse=True)
def cli_server(
    tmp_path_factory, alfworld_tokenizer
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`agentdistill serve` in its own process, started first so that its boot (imports,
    model loading) overlaps the other tests; `test_serve_and_rollout_commands` uses it."""
    folder = tmp_path_factory.mktemp("served")
    build_model("student-30x", vocab_size=len(alfworld_tokenizer), seed=1).save_pretrained(folder)
    save_tokenizer(alfworld_tokenizer, folder)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    log_file = folder / "serve.log"
    command = [sys.executable, "-m", "agentdistill.cli", "serve", str(folder), "--port"]
    command += [str(port), "--model-name", NAME, "--api-key-env", KEY_ENV]
    with log_file.open("w") as log:
        process = subprocess.Popen(
            command, env={**os.environ, KEY_ENV: KEY}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log_file
    finally:
        process.kill()
        process.wait(timeout=30)


def endpoint(base_url: str, **changes) -> EndpointConfig:
    return EndpointConfig(base_url=base_url, model=NAME, api_key_env=KEY_ENV, **changes)


def moves(trajectories: list[Trajectory]) -> list[list[tuple[str, str, bool]]]:
    return [[(s.reasoning, s.action, s.action_valid) for s in t.steps] for t in trajectories]


# ---- the server speaks vLLM's dialect ------------------------------------------------------


def test_server_answers_vllm_fields(base_url, engine) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list().data] == [NAME]
    prompt = "You are in the middle of a room.\n"
    answer = client.completions.create(
        model=NAME, prompt=prompt, max_tokens=12, temperature=0, stop=["\n"], logprobs=3
    )
    choice = answer.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert choice.stop_reason == ("\n" if choice.finish_reason == "stop" else None)
    assert "\n" not in choice.text
    lp = choice.logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert len(lp.tokens) == answer.usage.completion_tokens
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert top[token] == logprob and 3 <= len(top) <= 4  # the token itself + the top 3
    # echo, max_tokens=0: the prompt scored, token ids and vLLM's prompt_logprobs
    ids = engine.encode(prompt, add_special_tokens=False)
    scored = client.completions.create(
        model=NAME,
        prompt=prompt,
        max_tokens=0,
        echo=True,
        logprobs=2,
        extra_body={"return_tokens_as_token_ids": True, "prompt_logprobs": 2},
    ).choices[0]
    assert scored.text == prompt
    assert scored.logprobs.tokens == [f"token_id:{i}" for i in ids]
    assert scored.logprobs.token_logprobs[0] is None and scored.logprobs.top_logprobs[0] is None
    assert scored.prompt_logprobs[0] is None
    second = scored.prompt_logprobs[1][str(ids[1])]
    assert second["logprob"] == pytest.approx(scored.logprobs.token_logprobs[1])
    assert second["rank"] >= 1
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([ids])).logits[0, 0]
    expected = torch.log_softmax(logits.float(), -1)[ids[1]].item()
    assert scored.logprobs.token_logprobs[1] == pytest.approx(expected, abs=1e-5)
    # the cap on logprobs, and a chat request
    with pytest.raises(openai.BadRequestError, match="max allowed: 20"):
        client.completions.create(model=NAME, prompt=prompt, max_tokens=1, logprobs=21)
    chat = client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": prompt}], max_tokens=5, temperature=0
    )
    plain = client.completions.create(model=NAME, prompt=prompt, max_tokens=5, temperature=0)
    assert chat.choices[0].message.content == plain.choices[0].text


# ---- (a) the endpoint policy plays as the in-process policy --------------------------------


@pytest.mark.parametrize("ground", [False, True])
def test_endpoint_rollouts_equal_in_process_rollouts(
    base_url, teacher_dir, small_suite, ground
) -> None:
    tasks = small_suite.tasks("valid_unseen")[:4]
    decoding = DecodingConfig(max_turn_tokens=48, ground_actions=ground)
    make = lambda: make_env("alfworld")  # noqa: E731
    local = HFPolicy(load_model(teacher_dir), load_tokenizer(teacher_dir), FMT, decoding)
    expected = run_rollouts(local, make, tasks, QUIET)
    remote = EndpointPolicy(endpoint(base_url, decoding=decoding, max_concurrency=4), FMT)
    played = run_rollouts(remote, make, tasks, QUIET)
    assert moves(played) == moves(expected)
    steps = [s for t in played for s in t.steps]
    assert any(s.reasoning for s in steps)  # thinks, answered `OK.` by the protocol
    assert any(s.action for s in steps) and any(not s.action_valid for s in steps)
    assert [s.grounded_from for s in steps] == [s.grounded_from for t in expected for s in t.steps]
    assert played[0].policy.kind == "api" and played[0].policy.model == NAME


def test_chat_mode_plays_the_same_turns_on_a_base_model(base_url, small_suite) -> None:
    # A base model without a chat template: the server continues the joined messages.
    tasks = small_suite.tasks("valid_unseen")[:2]
    make = lambda: make_env("alfworld")  # noqa: E731
    config = RolloutConfig(batch_size=2, max_steps=3, show_progress=False)
    decoding = DecodingConfig(max_turn_tokens=48)
    plain = run_rollouts(
        EndpointPolicy(endpoint(base_url, decoding=decoding), FMT), make, tasks, config
    )
    chat = EndpointPolicy(endpoint(base_url, decoding=decoding, chat=True), FMT)
    assert moves(run_rollouts(chat, make, tasks, config)) == moves(plain)


# ---- (b) the teacher cache from the endpoint -----------------------------------------------


def test_endpoint_cache_equals_local_cache(base_url, teacher_dir, expert_train, tmp_path) -> None:
    tokenizer = load_tokenizer(teacher_dir)
    segs = segment_all(expert_train[:4], tokenizer, FORMAT, max_length=256)[0]
    local = build_teacher_cache(
        load_model(teacher_dir), segs, tmp_path / "local", k=20, show_progress=False
    )
    remote = build_endpoint_cache(
        endpoint(base_url), segs, tmp_path / "remote", tokenizer, k=20, show_progress=False
    )
    assert remote.meta["k"] == 20 and remote.meta["positions"] == local.meta["positions"]
    assert np.array_equal(remote.starts, local.starts)
    np.testing.assert_allclose(remote.logprobs, local.logprobs, atol=LOGPROB_TOLERANCE)
    # the same top-k ids, in the same order; only a tie (two entries within the tolerance,
    # whose order is rounding noise) may swap two of them
    for row in np.nonzero((np.asarray(remote.indices) != np.asarray(local.indices)).any(1))[0]:
        assert np.abs(np.diff(local.logprobs[row])).min() < LOGPROB_TOLERANCE
    # the rest bucket: the same mass outside the top k
    np.testing.assert_allclose(
        np.exp(remote.rest_logprob), np.exp(local.rest_logprob), atol=LOGPROB_TOLERANCE
    )
    # the curriculum entropy: top-k plus the rest bucket is a lower bound of the full one
    assert np.all(np.asarray(remote.entropy) <= np.asarray(local.entropy) + 1e-4)
    # the same inputs again: the cache is reused, no request is sent (the client is unusable)
    again = build_endpoint_cache(
        endpoint(base_url),
        segs,
        tmp_path / "remote",
        tokenizer,
        k=20,
        show_progress=False,
        client=object(),
    )
    assert again.meta["fingerprint"] == remote.meta["fingerprint"]


def test_distill_from_an_endpoint_teacher(base_url, teacher_dir, expert_train, tmp_path) -> None:
    # The teacher folder needs only the tokenizer and format: no weights are loaded.
    tokenizer_only = tmp_path / "teacher"
    save_tokenizer(load_tokenizer(teacher_dir), tokenizer_only)
    FORMAT.save(tokenizer_only)
    config = DistillConfig(
        method="sad",
        top_k=20,
        teacher_source="endpoint",
        teacher_endpoint=endpoint(base_url),
        student="student-30x",
        train=TrainConfig(epochs=1, batch_tokens=4096, save_every=100, log_every=1),
    )
    summary = distill(
        config, tokenizer_only, expert_train[:4], tmp_path / "run", show_progress=False
    )
    assert summary.teacher_parameters is None and summary.train.steps > 0
    meta = json.loads((tmp_path / "run" / "teacher_cache" / "meta.json").read_text())
    assert meta["teacher"] == {"endpoint": base_url, "model": NAME}
    with pytest.raises(ValueError, match="at most 20"):
        DistillConfig(teacher_source="endpoint", teacher_endpoint=endpoint(base_url))
    with pytest.raises(ValueError, match="needs teacher_endpoint"):
        DistillConfig(teacher_source="endpoint", top_k=20)


# ---- (c) a student with another tokenizer --------------------------------------------------


def test_tokenizer_mismatch_is_a_clear_error(base_url, expert_train, tmp_path) -> None:
    other = train_byte_level_bpe(
        [FMT.render_trajectory(t).text for t in expert_train], vocab_size=300
    )
    segs = segment_all(expert_train[:1], other, FORMAT, max_length=256)[0]
    with pytest.raises(TokenizerMismatchError, match=r"first difference at token \d+"):
        build_endpoint_cache(
            endpoint(base_url), segs, tmp_path / "c", other, k=5, show_progress=False
        )
    assert not (tmp_path / "c").exists()


# ---- (d) the API key: checked by the server, written nowhere -------------------------------


def test_api_key_is_sent_and_never_written(
    base_url, small_suite, expert_train, teacher_dir, tmp_path, caplog, monkeypatch
) -> None:
    caplog.set_level("DEBUG")  # every logger: openai, httpx, uvicorn, agentdistill
    tasks = small_suite.tasks("valid_unseen")[:2]
    config = RolloutConfig(batch_size=2, max_steps=2, show_progress=False)
    make = lambda: make_env("alfworld")  # noqa: E731
    policy = EndpointPolicy(endpoint(base_url), FMT)
    out = tmp_path / "episodes.jsonl"
    run_rollouts(policy, make, tasks, config, out=out)
    segs = segment_all(expert_train[:1], load_tokenizer(teacher_dir), FORMAT, 256)[0]
    build_endpoint_cache(
        endpoint(base_url),
        segs,
        tmp_path / "cache",
        load_tokenizer(teacher_dir),
        k=3,
        show_progress=False,
    )
    records = [
        json.dumps(policy.info.model_dump()),
        json.dumps(policy.settings),
        endpoint(base_url).model_dump_json(),
        caplog.text,
        *(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()),
    ]
    assert caplog.text and all(KEY not in text for text in records)
    # without the key, or with another, the server refuses (401 is not retried)
    for value in (None, "sk-wrong"):
        if value is None:
            monkeypatch.delenv(KEY_ENV, raising=False)
        else:
            monkeypatch.setenv(KEY_ENV, value)
        refused = EndpointPolicy(endpoint(base_url), FMT)
        with pytest.raises(EndpointError, match="401"):
            run_rollouts(refused, make, tasks[:1], config)


def test_serve_and_rollout_commands(cli_server, small_suite, tmp_path) -> None:
    """`agentdistill serve` in its own process, `agentdistill rollout --policy endpoint`."""
    url, process, log_file = cli_server
    for _ in range(1200):  # it booted while the other tests ran; wait for it if needed
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            assert process.poll() is None, log_file.read_text()
            time.sleep(0.1)
    assert httpx.get(f"{url}/v1/models").status_code == 401  # no key
    data = tmp_path / "data"
    write_jsonl(data / "alfworld" / "valid_unseen.jsonl", small_suite.tasks("valid_unseen")[:2])
    out = tmp_path / "out.jsonl"
    args = ["rollout", "--policy", "endpoint", "--base-url", f"{url}/v1", "--model", NAME]
    args += ["--data", str(data), "--max-steps", "2", "--batch-size", "2"]
    result = CliRunner().invoke(
        cli_app,
        [*args, "--api-key-env", KEY_ENV, "--format", "alfworld", "--out", str(out)],
        env={KEY_ENV: KEY},
    )
    assert result.exit_code == 0, result.output
    assert [len(t.steps) for t in read_jsonl(out, Trajectory)] == [2, 2]
    assert KEY not in result.output and KEY not in out.read_text()
    missing = CliRunner().invoke(cli_app, [*args, "--out", str(tmp_path / "x.jsonl")])
    assert missing.exit_code != 0 and "--format" in missing.output
    process.terminate()
    process.wait(timeout=30)
    logs = log_file.read_text()
    assert "POST /v1/completions" in logs and KEY not in logs


# ---- (e) retries ---------------------------------------------------------------------------


def test_a_failed_request_is_retried(engine, small_suite) -> None:
    tasks = small_suite.tasks("valid_unseen")[:1]
    config = RolloutConfig(batch_size=1, max_steps=1, show_progress=False)
    make = lambda: make_env("alfworld")  # noqa: E731
    with serving(engine, fail_first=1) as url:
        once = EndpointPolicy(EndpointConfig(base_url=url, model=NAME, max_retries=0), FMT)
        with pytest.raises(EndpointError, match="503"):
            run_rollouts(once, make, tasks, config)
    with serving(engine, fail_first=1) as url:
        retried = EndpointPolicy(EndpointConfig(base_url=url, model=NAME, max_retries=2), FMT)
        assert len(run_rollouts(retried, make, tasks, config)[0].steps) == 1
