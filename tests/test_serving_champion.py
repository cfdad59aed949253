"""The champion served as an agent by MLflow's own server (`mlflow models serve`).

A tiny student trained for seconds writes well-formed (if aimless) ALFWorld turns: a first
turn that thinks (answered `OK.` by the protocol) and acts, then action lines. It is logged,
registered and promoted in a scratch SQLite store, `mlflow models serve --env-manager local`
serves `models:/<name>@champion`, and one whole episode is played over HTTP: the served turns
must be the in-process `HFPolicy`'s greedy turns on the same episode.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow.exceptions import MlflowException

import agentdistill
from agentdistill.config import FormatConfig
from agentdistill.environments.registry import make_env
from agentdistill.mlflow_agent import AgentTurn, default_params
from agentdistill.models import build_model
from agentdistill.policies.hf import DecodingConfig
from agentdistill.records import Task, Trajectory
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.teacher import load_policy
from agentdistill.tracking import OFFLINE_ENV, Tracker, TrackingConfig
from agentdistill.training import TrainConfig, train_lm

FORMAT = FormatConfig(name="alfworld")
MAX_STEPS = 8
TURN_TOKENS = 40  # the budget of a turn, served and in-process (short: a fast test)
THOUGHT = "I need to find it first."
DECODING = DecodingConfig(max_turn_tokens=TURN_TOKENS, ground_actions=True)
READY_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, value)
        yield


def simplified(trajectory: Trajectory) -> Trajectory:
    """The expert's episode with one short fixed thought on its first turn and none after:
    the turn shapes (think, `OK.`, act; act) without thoughts a tiny model cannot learn fast."""
    steps = [
        step.model_copy(update={"reasoning": THOUGHT if index == 0 else ""})
        for index, step in enumerate(trajectory.steps)
    ]
    return trajectory.model_copy(update={"steps": steps})


@pytest.fixture(scope="module")
def student(tmp_path_factory, expert_train, alfworld_tokenizer) -> Path:
    """A training folder: a tiny model that writes whole turns after 120 steps."""
    out = tmp_path_factory.mktemp("student")
    tokenizer = alfworld_tokenizer
    model = build_model(
        "student-30x",
        vocab_size=len(tokenizer),
        seed=0,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    # Short sequences (the task and its first turns) and a high rate: the format in seconds.
    config = TrainConfig(
        epochs=20, max_steps=120, batch_tokens=2048, max_length=384, lr=1e-2, save_every=1000
    )
    data = [simplified(t) for t in expert_train]
    train_lm(model, tokenizer, data, config, out, FORMAT, show_progress=False)
    return out


@pytest.fixture(scope="module")
def champion(offline, student: Path, tmp_path_factory) -> Tracker:
    """The student logged, registered and promoted champion in a scratch SQLite store."""
    store = tmp_path_factory.mktemp("store")
    tracker = Tracker(
        TrackingConfig(tracking_uri=f"sqlite:///{store / 'mlflow.db'}"), env="alfworld"
    )
    # the decoding gives the request params' defaults (MLflow runs the example at log time)
    run_id = tracker.log_training("student", {"lr": 1e-2}, student, decoding=DECODING)
    tags = {"success_rate": "0.1", "success_low": "0.0", "parameters": "170000"}
    version = tracker.register(run_id, tags)
    assert tracker.promote_champion()[0] == version
    return tracker


@pytest.fixture(scope="module")
def task(expert_train: list[Trajectory]) -> Task:
    # a game it was trained on: the tiny model writes its first turn's thought there (on an
    # unseen full-size room it may skip it), and the protocol, not generalisation, is tested
    return expert_train[0].task


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`mlflow models serve` of the champion, started in its own process group."""

    def __init__(self, tracker: Tracker, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        package_root = str(Path(agentdistill.__file__).resolve().parents[1])
        env = {
            **os.environ,
            **OFFLINE_ENV,
            "MLFLOW_TRACKING_URI": tracker.tracking_uri,
            # this checkout's package, whatever the venv's editable install points at
            "PYTHONPATH": os.pathsep.join(
                filter(None, [package_root, os.environ.get("PYTHONPATH")])
            ),
            # MLflow starts `uvicorn` by name: the one beside this interpreter
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        command = [
            sys.executable, "-m", "mlflow", "models", "serve",
            "-m", f"models:/{tracker.registered_model}@champion",
            "--env-manager", "local", "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.started = time.perf_counter()
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.ready_s: float | None = None

    def wait_ready(self) -> float:
        """Seconds from the start until /ping answers."""
        while self.ready_s is None:
            if self.process.poll() is not None:
                pytest.fail(f"mlflow models serve exited:\n{self.log_tail()}")
            if time.perf_counter() - self.started > READY_TIMEOUT_S:
                late = f"mlflow models serve not ready in {READY_TIMEOUT_S} s"
                pytest.fail(f"{late}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    self.ready_s = time.perf_counter() - self.started
            except requests.ConnectionError:
                time.sleep(0.5)
        return self.ready_s

    def invoke(self, payload: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.url}/invocations", json=payload, timeout=120)

    def log_tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this test started
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(champion: Tracker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Started, not waited for: the tests overlap its ~30 s start with their own work."""
    running = Server(champion, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield running
    finally:
        running.stop()


def in_process_episode(champion: Tracker, task: Task, tmp_path: Path) -> Trajectory:
    """The champion's greedy grounded episode, played in-process by `HFPolicy`."""
    folder = champion.download_hf_model(dst=tmp_path / "champion")
    fmt = FormatConfig.recorded(folder)
    assert fmt == FORMAT
    policy = load_policy(folder, fmt.build(), DECODING, preamble=fmt.preamble)
    config = RolloutConfig(max_steps=MAX_STEPS, show_progress=False)
    return run_rollouts(policy, lambda: make_env("alfworld"), [task], config)[0]


def assert_one_turn(answer: dict[str, Any]) -> AgentTurn:
    """A well-formed answer: one whole turn, its text cut exactly at the turn end."""
    turn = AgentTurn.model_validate(answer)
    fmt = FORMAT.build()
    state = fmt.turn_state(turn.text)
    assert turn.complete and state.done and state.end == len(turn.text), turn
    assert turn.parsed and turn.action, turn
    written = fmt.parse(turn.text)  # what the model wrote; `action` may be grounded
    assert written.reasoning == turn.reasoning
    assert written.action == (turn.grounded_from or turn.action)
    return turn


@pytest.mark.usefixtures("server")  # not used: it starts meanwhile, for the next test
def test_predict_without_server(champion: Tracker, expert_train: list[Trajectory]) -> None:
    """The logged pyfunc in-process: both request forms, params, grounding, refusals."""
    agent = champion.load_model()
    params = agent.metadata.get_params_schema().to_dict()
    assert {p["name"]: p["default"] for p in params} == default_params(DECODING)
    expert = expert_train[0]
    steps = [s.model_dump(include={"reasoning", "action", "observation"}) for s in expert.steps[:2]]
    episode = {"first_observation": expert.initial_observation, "steps": steps}
    prompt = FORMAT.build().prompt(expert.initial_observation, expert.steps[:2], FORMAT.preamble)
    by_episode, by_prompt = agent.predict([episode, {"prompt": prompt}])
    assert by_episode == by_prompt  # the model renders the episode as the client would
    assert_one_turn(by_episode.model_dump())
    assert by_episode.command == FORMAT.build().normalize_action(by_episode.action)
    # a batch answers as each request alone
    assert agent.predict([episode]) == [by_episode]

    short = agent.predict([episode], params={"max_new_tokens": 2})[0]
    assert short.generated_tokens <= 2

    admissible = ["inventory", "look"]
    grounded = agent.predict([{**episode, "admissible": admissible}])[0]
    assert grounded.command in admissible and grounded.action == grounded.command
    if by_episode.command not in admissible:
        assert grounded.grounded_from == by_episode.action  # what the model wrote

    for bad in ({"prompt": prompt, "first_observation": "x"}, {"first_observation": "x", "y": 1}):
        with pytest.raises(MlflowException):
            agent.predict([bad])
    with pytest.raises(MlflowException, match="invalid params"):
        agent.predict([episode], params={"temperature": -1.0})


def test_served_champion_plays_an_episode(
    champion: Tracker, server: Server, task: Task, tmp_path: Path
) -> None:
    reference = in_process_episode(champion, task, tmp_path)  # while the server starts
    ready_s = server.wait_ready()

    env = make_env("alfworld")
    first = env.reset(task)
    assert first == reference.initial_observation
    admissible = env.admissible_commands
    steps: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    began = time.perf_counter()
    for _ in range(MAX_STEPS):
        request = {"first_observation": first, "steps": steps, "admissible": admissible}
        response = server.invoke({"inputs": [request]})  # default params: DECODING's
        assert response.status_code == 200, response.text
        [answer] = response.json()["predictions"]
        answers.append(answer)
        assert_one_turn(answer)
        assert answer["command"] in admissible  # grounded on the request's commands
        result = env.step(answer["command"])
        steps.append(
            {
                "reasoning": answer["reasoning"],
                "action": answer["action"],
                "observation": result.observation,
            }
        )
        admissible = result.info.admissible_commands
        if result.done:
            break
    episode_s = time.perf_counter() - began
    timing = f"served episode of {len(answers)} steps in {episode_s:.1f} s"
    print(f"\nserver ready in {ready_s:.1f} s; {timing}")

    served = [(a["reasoning"], a["action"], a["grounded_from"]) for a in answers]
    played = [(s.reasoning, s.action, s.grounded_from) for s in reference.steps]
    assert served == played  # the same turns as the in-process policy
    assert [s["observation"] for s in steps] == [s.observation for s in reference.steps]
    # the protocol ran through the server: a thought answered `OK.`, a command grounded
    assert answers[0]["text"].startswith(f"> think: {THOUGHT}\nOK.\n> ")
    assert any(a["grounded_from"] for a in answers)

    # params per request; refusals are client errors with the reason
    start = {"first_observation": first, "steps": []}
    short = server.invoke({"inputs": [start], "params": {"max_new_tokens": 2}})
    assert short.json()["predictions"][0]["generated_tokens"] <= 2
    bad = server.invoke({"inputs": [{"first_observation": first, "prompt": "x"}]})
    assert bad.status_code == 400 and "either first_observation" in bad.text
    records = server.invoke({"dataframe_records": [start]})  # a typed model takes `inputs`
    assert records.status_code == 400 and "'inputs'" in records.text
