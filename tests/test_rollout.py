import pytest

from agentdistill.config import FormatConfig
from agentdistill.environments.registry import make_env
from agentdistill.formats import get_format
from agentdistill.models import build_model
from agentdistill.policies.expert import ExpertPolicy
from agentdistill.policies.hf import (
    CachedSession,
    DecodingConfig,
    EpisodeContext,
    HFPolicy,
    ground_action,
)
from agentdistill.records import Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, run_rollouts, summarize
from agentdistill.training import TrainConfig, train_lm

FMT = get_format("alfworld")
QUIET = RolloutConfig(batch_size=4, max_steps=6, show_progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, expert_train, alfworld_tokenizer):
    """A small model trained briefly: it writes well-formed but imperfect turns."""
    model = build_model(
        "student-10x",
        vocab_size=len(alfworld_tokenizer),
        seed=0,
        pad_token_id=alfworld_tokenizer.pad_token_id,
    )
    # Over-fit a few episodes: enough to write well-formed turns, in seconds.
    config = TrainConfig(
        epochs=14,
        batch_tokens=2048,
        lr=5e-3,
        log_every=10,
        save_every=1000,
    )
    train_lm(
        model,
        alfworld_tokenizer,
        expert_train[:16],
        config,
        tmp_path_factory.mktemp("m"),
        FormatConfig(name="alfworld"),
        show_progress=False,
    )
    return model


def policy(model, tokenizer, cached=True, **decoding) -> HFPolicy:
    return HFPolicy(
        model, tokenizer, FMT, DecodingConfig(max_turn_tokens=64, **decoding), cached=cached
    )


def moves(trajectories: list[Trajectory]) -> list[list[tuple[str, str]]]:
    return [[(s.reasoning, s.action) for s in t.steps] for t in trajectories]


def test_expert_policy_wins_everything(small_suite) -> None:
    tasks = small_suite.tasks("valid_unseen")
    out = run_rollouts(
        ExpertPolicy("alfworld"),
        lambda: make_env("alfworld"),
        tasks,
        RolloutConfig(batch_size=3, show_progress=False),
    )
    assert [t.task.task_id for t in out] == [t.task_id for t in tasks]
    assert summarize(out)["success_rate"] == 1.0


def test_cached_and_naive_decode_the_same_greedy_turns(
    trained, alfworld_tokenizer, small_suite
) -> None:
    tasks = small_suite.tasks("valid_unseen")[:4]
    make = lambda: make_env("alfworld")  # noqa: E731
    cached = run_rollouts(policy(trained, alfworld_tokenizer), make, tasks, QUIET)
    naive = run_rollouts(policy(trained, alfworld_tokenizer, cached=False), make, tasks, QUIET)
    assert moves(cached) == moves(naive)
    parsed = sum(1 for t in cached for s in t.steps if s.action)
    assert parsed > 0.5 * sum(len(t.steps) for t in cached)  # the model writes real actions
    # batch composition does not change greedy results
    alone = run_rollouts(
        policy(trained, alfworld_tokenizer), make, tasks, QUIET.model_copy(update={"batch_size": 1})
    )
    assert moves(alone) == moves(cached)
    # the cached engine encodes far fewer prompt tokens
    prompt = lambda out: sum(t.token_counts.prompt for t in out)  # noqa: E731
    assert prompt(cached) < prompt(naive) / 2


@pytest.mark.parametrize("eager", [False, True], ids=["batched-contexts", "eager-contexts"])
def test_refilled_slots_and_partial_turns_decode_the_naive_turns(
    trained, alfworld_tokenizer, small_suite, monkeypatch, eager
) -> None:
    """7 episodes through 3 slots: rows are refilled as episodes end, turns of different
    lengths come back from different `act` calls, and contexts are fed beside decoding rows
    (eager: at once, in pieces of 5 tokens); greedy turns stay the naive engine's."""
    if eager:
        monkeypatch.setattr(CachedSession, "CONTEXT_COST", 0.0)
        monkeypatch.setattr(CachedSession, "CONTEXT_CHUNK", 5)
    answers: list[tuple[int, int]] = []
    act = CachedSession.act

    def counted(self, slots):
        turns = act(self, slots)
        answers.append((len(slots), len(turns)))
        return turns

    monkeypatch.setattr(CachedSession, "act", counted)
    tasks = small_suite.tasks("valid_unseen")[:7]
    make = lambda: make_env("alfworld")  # noqa: E731
    config = RolloutConfig(batch_size=3, max_steps=5, show_progress=False)
    cached = run_rollouts(policy(trained, alfworld_tokenizer), make, tasks, config)
    naive = run_rollouts(policy(trained, alfworld_tokenizer, cached=False), make, tasks, config)
    assert [t.task.task_id for t in cached] == [t.task_id for t in tasks]  # task order
    assert moves(cached) == moves(naive)
    assert any(answered < asked for asked, answered in answers)  # some turns came back early
    # the stateless API decodes the same turns, from contexts of different lengths at once
    contexts = [
        EpisodeContext(t.initial_observation, t.steps[:k], task_id=t.task.task_id)
        for t, k in zip(cached, (0, 1, 2, 3, 4, 1, 3), strict=True)
    ]
    turns = policy(trained, alfworld_tokenizer).next_turns(contexts)
    assert [(turn.reasoning, turn.action) for turn in turns] == [
        (t.steps[k].reasoning, t.steps[k].action)
        for t, k in zip(cached, (0, 1, 2, 3, 4, 1, 3), strict=True)
    ]


def test_sampled_episodes_do_not_depend_on_their_slot(
    trained, alfworld_tokenizer, small_suite
) -> None:
    tasks = small_suite.tasks("valid_unseen")[:5]
    make = lambda: make_env("alfworld")  # noqa: E731
    runs = [
        run_rollouts(
            policy(trained, alfworld_tokenizer, temperature=1.0, seed=3),
            make,
            tasks,
            RolloutConfig(batch_size=size, max_steps=4, show_progress=False),
        )
        for size in (2, 5)
    ]
    assert moves(runs[0]) == moves(runs[1])


def test_ground_action_picks_the_closest_admissible_command() -> None:
    admissible = ["go to cabinet 1", "go to cabinet 2", "open drawer 1", "look"]
    assert ground_action("go to cabinet 2", admissible) == "go to cabinet 2"
    assert ground_action("go to cabinet 7", admissible) == "go to cabinet 1"  # first of a tie
    assert ground_action("open drawer 3", admissible) == "open drawer 1"


def test_grounded_rollouts_only_play_admissible_actions(
    trained, alfworld_tokenizer, small_suite
) -> None:
    tasks = small_suite.tasks("valid_unseen")[:4]
    make = lambda: make_env("alfworld")  # noqa: E731
    cached = run_rollouts(
        policy(trained, alfworld_tokenizer, ground_actions=True), make, tasks, QUIET
    )
    naive = run_rollouts(
        policy(trained, alfworld_tokenizer, cached=False, ground_actions=True), make, tasks, QUIET
    )
    assert moves(cached) == moves(naive)  # the grounded action is the context for both engines
    steps = [s for t in cached for s in t.steps if s.action]
    assert steps and all(s.action_valid for s in steps)
    assert all(s.grounded_from != s.action for s in steps)  # recorded only when replaced
    # the ungrounded run shows what the model wrote: the grounded run records it
    plain = run_rollouts(policy(trained, alfworld_tokenizer), make, tasks, QUIET)
    first = plain[0].steps[0]
    grounded = cached[0].steps[0]
    assert grounded.action == first.action or grounded.grounded_from == first.action


def test_sampling_is_seeded(trained, alfworld_tokenizer, small_suite) -> None:
    tasks = small_suite.tasks("valid_unseen")[:4]
    make = lambda: make_env("alfworld")  # noqa: E731
    runs = [
        run_rollouts(
            policy(trained, alfworld_tokenizer, temperature=1.0, top_p=0.9, seed=s),
            make,
            tasks,
            QUIET,
        )
        for s in (1, 1, 2)
    ]
    assert moves(runs[0]) == moves(runs[1])
    assert moves(runs[0]) != moves(runs[2])


def test_unparseable_output_is_an_invalid_action(alfworld_tokenizer, small_suite, tmp_path) -> None:
    untrained = build_model("student-30x", vocab_size=len(alfworld_tokenizer), seed=5)
    tasks = small_suite.tasks("valid_unseen")[:2]
    out = run_rollouts(
        HFPolicy(untrained, alfworld_tokenizer, FMT, DecodingConfig(max_turn_tokens=12)),
        lambda: make_env("alfworld"),
        tasks,
        QUIET,
    )
    steps = [s for t in out for s in t.steps]
    assert len(steps) == 2 * QUIET.max_steps
    assert all(s.action_valid is False for s in steps)
    assert all(t.stop_reason == "step_cap" and not t.success for t in out)
    assert all(t.token_counts.generated > 0 and t.timings.wall_s > 0 for t in out)
    write_jsonl(tmp_path / "r.jsonl", out)
    assert read_jsonl(tmp_path / "r.jsonl", Trajectory) == out


def test_noisy_expert_recovers_and_marks_noise(small_suite) -> None:
    tasks = small_suite.tasks("train")[:40]
    out = run_rollouts(
        ExpertPolicy("alfworld", seed=0, noise=0.3),
        lambda: make_env("alfworld"),
        tasks,
        RolloutConfig(show_progress=False),
    )
    assert summarize(out)["success_rate"] == 1.0  # the expert recovers from every detour
    noise = [s for t in out for s in t.steps if not s.imitate]
    assert noise and all(not s.reasoning for s in noise)
    assert any(s.observation == "Nothing happens." for s in noise)  # repeated `go to`
    assert all(s.action_valid for t in out for s in t.steps if s.imitate)
    again = run_rollouts(
        ExpertPolicy("alfworld", seed=0, noise=0.3),
        lambda: make_env("alfworld"),
        tasks,
        RolloutConfig(show_progress=False),
    )
    assert moves(again) == moves(out)


def test_pretrained_model_with_few_shot_prompt(
    tmp_path, expert_train, alfworld_tokenizer, small_suite
) -> None:
    from agentdistill.teacher import few_shot_preamble, load_policy

    model = build_model("student-30x", vocab_size=len(alfworld_tokenizer), seed=2)
    model.save_pretrained(tmp_path)
    alfworld_tokenizer.save_pretrained(tmp_path)
    preamble = few_shot_preamble(expert_train[:2], FMT)
    assert preamble.count("Your task is to:") == 2 and preamble.endswith("Here is the task.\n")
    loaded = load_policy(tmp_path, FMT, DecodingConfig(max_turn_tokens=8), preamble=preamble)
    assert loaded.info.kind == "hf" and loaded.info.model == str(tmp_path)
    task = small_suite.tasks("valid_unseen")[0]
    episode = loaded.new_episode(task, "first observation")
    assert alfworld_tokenizer.decode(episode.pending).startswith(preamble)
    out = run_rollouts(
        loaded, lambda: make_env("alfworld"), [task], QUIET.model_copy(update={"max_steps": 2})
    )
    assert len(out[0].steps) == 2


def test_finish_turn_records_the_written_action_and_sends_its_command() -> None:
    import torch

    from agentdistill.policies.hf import _Episode
    from agentdistill.records import Task

    class Stub:  # finish_turn needs neither weights nor a vocabulary
        pad_token_id = 0

        def eval(self) -> "Stub":
            return self

    policy = HFPolicy(Stub(), Stub(), FMT, DecodingConfig(ground_actions=True))
    task = Task(env="alfworld", task_id="t", split="train", goal="g")
    episode = _Episode(task, "first", torch.Generator(), admissible=["go to desk 1", "look"])
    written = "> think: The desk first. \nOK.\n> Go to desk 1.\n"
    turn, canonical = policy.finish_turn(episode, written)
    assert (turn.reasoning, turn.action, turn.command) == (
        "The desk first. ",
        "Go to desk 1.",
        "go to desk 1",
    )
    assert turn.grounded_from is None and canonical == written
    # a layout variant is not kept: the context shows the canonical turn
    turn, canonical = policy.finish_turn(episode, ">look\n")
    assert (turn.action, turn.command, canonical) == ("look", "look", "> look\n")
    # grounding compares the command; a replaced action records what the model wrote
    turn, canonical = policy.finish_turn(episode, "> go to desk 2\n")
    assert (turn.action, turn.command, turn.grounded_from) == (
        "go to desk 1",
        "go to desk 1",
        "go to desk 2",
    )
    assert canonical == "> go to desk 1\n"


def test_rollouts_send_the_command_and_record_the_action() -> None:
    from collections.abc import Sequence

    from agentdistill.environments.base import Environment, StepInfo, StepResult
    from agentdistill.policies.base import Policy, PolicySession, Turn
    from agentdistill.records import PolicyInfo, Step, Task

    class Recorder(Environment):
        name = "recorder"
        max_steps = 2

        def __init__(self) -> None:
            self.received: list[str] = []

        def reset(self, task: Task) -> str:
            return "start"

        def step(self, action: str) -> StepResult:
            self.received.append(action)
            done = len(self.received) >= self.max_steps
            info = StepInfo(won=done, action_valid=True)
            return StepResult(observation="seen", done=done, reward=float(done), info=info)

    class Session(PolicySession):
        def start(self, slot: int, task: Task, first: str, admissible: object) -> None:
            pass

        def act(self, slots: Sequence[int]) -> dict[int, Turn]:
            return {s: Turn(reasoning="", action="Search[x]", command="search[x]") for s in slots}

        def observe(self, slot: int, step: Step, admissible: object) -> None:
            pass

    class Capitals(Policy):
        info = PolicyInfo(name="capitals", kind="other")

        def session(self, batch_size: int) -> PolicySession:
            return Session()

    env = Recorder()
    task = Task(env="recorder", task_id="t", split="s", goal="g")
    out = run_rollouts(Capitals(), lambda: env, [task], RolloutConfig(show_progress=False))
    assert env.received == ["search[x]", "search[x]"]
    assert [s.action for s in out[0].steps] == ["Search[x]", "Search[x]"]
