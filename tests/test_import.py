"""Importing agent data of other layouts, and distilling it without a teacher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentdistill.cli import app
from agentdistill.config import FormatConfig
from agentdistill.distillation.trainer import (
    DistillConfig,
    TeacherRequiredError,
    distill,
)
from agentdistill.formats import get_format
from agentdistill.importers import (
    Conversation,
    ImportConfig,
    ImportFileError,
    OpenAIChatRecord,
    convert,
    import_file,
    import_files,
    record_conversation,
    split_transcript,
    to_alpaca,
    to_openai_chat,
    to_sharegpt,
    to_transcript,
)
from agentdistill.inputs import read_trajectories
from agentdistill.records import PolicyInfo, Step, Task, Trajectory, read_jsonl
from agentdistill.run_folder import recorded_identity
from agentdistill.training import TrainConfig

from .strategies import sentence, steps_for, written_turn

DATA = Path(__file__).parent / "data" / "import"
runner = CliRunner()


def nonzero(counts) -> dict[str, int]:
    return {name: value for name, value in counts.model_dump().items() if value}


def imported(name: str, source: str, env: str, fmt: str = "react", **changes):
    config = ImportConfig(source=source, env=env, format=fmt, skip_invalid=True, **changes)
    return import_files([DATA / name], config)


# ---- the hand-written files, one per layout ------------------------------------------------


def test_openai_chat_file() -> None:
    result = imported("hotpotqa_openai.jsonl", "openai-chat", "hotpotqa")
    report = result.report.files[0]
    assert (report.conversations, report.imported, report.skipped, report.steps) == (4, 3, 1, 10)
    assert report.errors == [
        f"{DATA / 'hotpotqa_openai.jsonl'}:3: no assistant turn with an action"
    ]
    assert nonzero(report.counts) == {
        "system_prompts": 2,
        "several_actions": 1,
        "inline_actions": 1,
        "text_after_bracket": 1,
        "no_action_turns": 1,
        "answers_dropped": 1,
        "layout_normalised": 6,  # unnumbered labels in two conversations
        "not_imitated": 1,
        "observation_labels": 7,
        "observations_joined": 1,
        "empty_observations": 1,
        "outcome_from_record": 1,
        "outcome_from_message": 1,
        "outcome_assumed": 1,
    }
    bridges, composers, bohr = result.trajectories
    assert bridges.policy == PolicyInfo(name="gpt-4-0613", kind="api", model="gpt-4-0613")
    assert bridges.task.goal.startswith("Which bridge opened first")
    assert bridges.steps[-1].observation == "Episode finished, reward = 1"
    assert (bridges.success, bridges.reward) == (True, 1.0)
    # several actions: the first kept; a turn without an action: merged into the next one,
    # whose text after `]` is dropped; two answers joined; an inline action split off
    assert [s.action for s in composers.steps] == [
        "Search[Carl Nielsen]",
        "Search[Jean Sibelius]",
        "Finish[yes]",
    ]
    assert composers.steps[1].reasoning == (
        "Carl Nielsen was born in 1865. Next I need to search Jean Sibelius."
    )
    assert composers.steps[1].observation.endswith("early modern periods.\nYou have 2 steps left.")
    assert composers.steps[2].reasoning == (
        "Jean Sibelius was born in 1865 too. So they were born in the same year."
    )
    assert composers.policy.kind == "other" and composers.task.task_id == "hotpot-composers"
    assert [s.imitate for s in bohr.steps] == [True, False, True, True]
    assert bohr.steps[1].observation == "" and bohr.steps[-1].observation == ""
    assert result.preamble.startswith("Solve a question answering task")
    assert result.report.other_preamble == 1  # bohr had no system prompt
    fmt = get_format("react")
    for trajectory in result.trajectories:
        fmt.render_trajectory(trajectory, result.preamble)


def test_sharegpt_file() -> None:
    result = imported("alfworld_sharegpt.jsonl", "sharegpt", "alfworld")
    report = result.report.files[0]
    assert (report.conversations, report.imported, report.skipped, report.steps) == (3, 2, 1, 8)
    assert (
        "alfworld_sharegpt.jsonl:3: invalid ShareGPTRecord: field 'conversations.1.value'"
        in (report.errors[0])
    )
    assert nonzero(report.counts) == {
        "opening_messages": 4,  # the instructions and the acknowledgment `OK`, twice
        "several_actions": 1,
        "no_action_turns": 1,
        "thoughts_dropped_at_end": 1,
        "layout_normalised": 8,  # THOUGHT:/ACTION: labels
        "empty_observations": 1,
        "missing_observations": 1,
        "outcome_assumed": 2,
    }
    egg, clock = result.trajectories
    assert egg.initial_observation.startswith("Here is your task.")
    assert egg.task.goal == "put an egg in microwave."
    assert [s.action for s in egg.steps][-2:] == [
        "go to microwave 1",
        "put egg 1 in/on microwave 1",
    ]
    assert [s.observation for s in clock.steps][1:] == ["", ""]
    assert result.preamble.startswith("Interact with a household") and "\nOK\n" in result.preamble


def test_alpaca_file() -> None:
    result = imported("hotpotqa_alpaca.jsonl", "alpaca", "hotpotqa")
    report = result.report.files[0]
    assert (report.conversations, report.imported, report.skipped, report.steps) == (3, 3, 0, 8)
    assert nonzero(report.counts) == {
        "system_prompts": 1,  # an instruction with the task as input
        "several_actions": 1,
        "no_action_turns": 1,
        "answers_dropped": 1,
        "layout_normalised": 4,
        "observation_labels": 6,
        "outcome_from_message": 1,
        "outcome_assumed": 2,
    }
    towers, bridge, rivers = result.trajectories
    assert towers.initial_observation.startswith("Question: Which is taller")
    assert bridge.initial_observation.startswith("Question: The Oresund Bridge")
    assert bridge.steps[0].action == "Search[Oresund Bridge]"  # the action on its own line
    assert bridge.steps[1].reasoning == (
        "The bridge connects Copenhagen with Malmö. So the answer is Malmö."
    )
    assert rivers.steps[1].reasoning.split("\n") == [
        "The Gudenå is 176 km long. Now I need the length of the Klarälven.",
        "I need to search Klarälven.",
    ]
    assert [s.action for s in rivers.steps] == [
        "Search[Gudenå]",
        "Search[Klarälven]",
        "Finish[Klarälven]",
    ]


def test_react_transcript_file() -> None:
    result = imported("alfworld_react.txt", "react", "alfworld", fmt="alfworld")
    report = result.report.files[0]
    assert (report.conversations, report.imported, report.skipped, report.steps) == (2, 2, 0, 8)
    assert nonzero(report.counts) == {
        "several_actions": 1,
        "no_action_turns": 1,
        "thoughts_dropped_at_end": 1,
        "layout_normalised": 1,  # `>go to` and an unanswered think
        "outcome_assumed": 2,
    }
    knife, book = result.trajectories
    assert knife.task.task_id == "alfworld_react-1" and len(knife.steps) == 5
    assert len(knife.steps[0].thoughts) == 2
    # the first episode is canonical: it renders back to its text byte for byte
    text = (DATA / "alfworld_react.txt").read_text()
    assert text.startswith(get_format("alfworld").render_trajectory(knife).text + "\n")
    assert [s.action for s in book.steps] == [
        "go to desk 1",
        "take book 2 from desk 1",
        "use desklamp 1",
    ]


def test_an_invalid_conversation_names_file_and_line() -> None:
    config = ImportConfig(source="openai-chat", env="hotpotqa")
    with pytest.raises(ImportFileError, match=r"hotpotqa_openai\.jsonl:3: no assistant turn"):
        import_file(DATA / "hotpotqa_openai.jsonl", config)
    config = ImportConfig(source="react", env="alfworld", format="alfworld", no_action="error")
    with pytest.raises(ImportFileError, match=r"alfworld_react\.txt:20: turn 4 has no action"):
        import_file(DATA / "alfworld_react.txt", config)


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown environment 'hotpot'"):
        ImportConfig(source="react", env="hotpot")


def test_alfworld_thinks_answered_ok_in_separate_messages_merge() -> None:
    config = ImportConfig(source="openai-chat", env="alfworld", format="alfworld")
    messages = [
        {"role": "user", "content": "You are in a room.\nYour task is to: find a pen."},
        {"role": "assistant", "content": "think: A pen is likely on the desk."},
        {"role": "user", "content": "OK."},
        {"role": "assistant", "content": "think: I go there."},
        {"role": "user", "content": "OK."},
        {"role": "assistant", "content": "go to desk 1"},
        {"role": "user", "content": "On the desk 1, you see a pen 1."},
    ]
    conversation = chat(messages)
    trajectory, preamble, counts = convert(conversation, config, get_format("alfworld"))
    assert trajectory.steps == [
        Step(
            reasoning="A pen is likely on the desk.\nI go there.",
            action="go to desk 1",
            observation="On the desk 1, you see a pen 1.",
        )
    ]
    assert preamble == "" and counts["no_action_turns"] == 2 and counts["answers_dropped"] == 0
    dropped, _, _ = convert(
        conversation, config.model_copy(update={"no_action": "drop"}), get_format("alfworld")
    )
    assert dropped.steps[0].reasoning == ""
    inline, preamble, _ = convert(
        chat([{"role": "system", "content": "Be brief."}, *messages]),
        config.model_copy(update={"preamble": "inline"}),
        get_format("alfworld"),
    )
    assert preamble == "" and inline.initial_observation.startswith("Be brief.\nYou are in a room.")


def chat(messages: list[dict], format_name: str = "alfworld") -> Conversation:
    return record_conversation(OpenAIChatRecord(messages=messages), format_name, "t-1")


def test_keep_layout_keeps_a_representable_turn_verbatim() -> None:
    messages = [
        {"role": "user", "content": "Question: x?"},
        {"role": "assistant", "content": "thought:a\nACTION 1:Finish[y]"},
    ]
    config = ImportConfig(source="openai-chat", env="hotpotqa", keep_layout=True)
    record = chat(messages, "react")
    trajectory, _, counts = convert(record, config, get_format("react"))
    assert trajectory.steps[0].written == "thought:a\nACTION 1:Finish[y]\n"
    assert counts["layout_kept"] == 1 and counts["layout_normalised"] == 0


# ---- round trips: a trajectory written in each layout imports back to itself ------------


FORMAT_NAMES = ["react", "paper", "alfworld"]


@st.composite
def chat_trajectories(draw: st.DrawFn, name: str) -> Trajectory:
    """Trajectories with at least one step, some not imitated, some in their own layout."""
    fmt = get_format(name)
    steps = draw(steps_for(name, max_steps=4).filter(bool))
    kept = []
    for index, step in enumerate(steps):
        if draw(st.booleans()):
            written = draw(written_turn(name, index))
            step = fmt.read_turn(written, index, step.observation)
        kept.append(step.model_copy(update={"imitate": draw(st.booleans())}))
    return _trajectory(draw(st.text(max_size=40)), kept, draw(st.booleans()))


def _trajectory(initial: str, steps: list[Step], success: bool) -> Trajectory:
    return Trajectory(
        task=Task(env="test", task_id="t0", split="train", goal="g"),
        initial_observation=initial,
        steps=steps,
        success=success,
        reward=float(success),
        policy=PolicyInfo(name="hypothesis", kind="other"),
    )


def same(got: Trajectory, want: Trajectory, outcome: bool = True) -> None:
    assert got.initial_observation == want.initial_observation
    assert got.steps == want.steps
    if outcome:
        assert (got.task.task_id, got.success, got.reward) == ("t0", want.success, want.reward)


def round_trip_config(name: str, source: str, **changes) -> ImportConfig:
    return ImportConfig(source=source, env="test", format=name, allow_unknown_env=True, **changes)


@pytest.mark.parametrize("name", FORMAT_NAMES)
@given(data=st.data())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_chat_layouts_round_trip(name: str, data: st.DataObject, tmp_path: Path) -> None:
    trajectory = data.draw(chat_trajectories(name))
    preamble = data.draw(st.one_of(st.just(""), sentence().map(lambda s: s + "\n")))
    fmt = get_format(name)
    for source, write in (("openai-chat", to_openai_chat), ("sharegpt", to_sharegpt)):
        path = tmp_path / f"{source}.jsonl"
        path.write_text(json.dumps(write(trajectory, fmt, preamble)) + "\n")
        result = import_files([path], round_trip_config(name, source, keep_layout=True))
        (got,) = result.trajectories
        same(got, trajectory)
        assert result.preamble == preamble
        counts = result.report.total
        assert counts.layout_normalised == 0 and counts.several_actions == 0


# Transcripts: observations and tasks that hold no line a turn could start with, and no blank
# line (blank lines separate episodes).
text_lines = st.lists(sentence(), min_size=1, max_size=3).map("\n".join)


@st.composite
def transcript_trajectories(draw: st.DrawFn, name: str, empty_ok: bool) -> Trajectory:
    steps = draw(steps_for(name, max_steps=4).filter(bool))
    observations = st.one_of(text_lines, st.just("")) if empty_ok else text_lines
    steps = [s.model_copy(update={"observation": draw(observations)}) for s in steps]
    if draw(st.booleans()):  # the episode ends with its last action (rule 2)
        steps[-1] = steps[-1].model_copy(update={"observation": ""})
    return _trajectory(draw(text_lines), steps, draw(st.booleans()))


@pytest.mark.parametrize("name", FORMAT_NAMES)
@given(data=st.data())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_transcript_layouts_round_trip(name: str, data: st.DataObject, tmp_path: Path) -> None:
    fmt = get_format(name)
    # alpaca: the output is cut at turns only, blank lines are observations like any other
    trajectory = data.draw(transcript_trajectories(name, empty_ok=True))
    path = tmp_path / "alpaca.jsonl"
    path.write_text(json.dumps(to_alpaca(trajectory, fmt)) + "\n")
    (got,) = import_files([path], round_trip_config(name, "alpaca")).trajectories
    same(got, trajectory)
    # react files: several episodes, blank lines or a separator between them
    episodes = data.draw(
        st.lists(transcript_trajectories(name, empty_ok=name != "alfworld"), min_size=1, max_size=3)
    )
    separator = data.draw(st.sampled_from([None, "---"]))
    between = "\n" if separator is None else f"{separator}\n"
    path = tmp_path / "episodes.txt"
    path.write_text(between.join(to_transcript(t, fmt) for t in episodes))
    result = import_files([path], round_trip_config(name, "react", separator=separator))
    assert len(result.trajectories) == len(episodes)
    for got, want in zip(result.trajectories, episodes, strict=True):
        same(got, want, outcome=False)


# ---- arbitrary text: imported, or refused with the importer's error ------------------------

fragments = st.sampled_from(
    [
        "Thought 1: ",
        "Action: ",
        "Action 2:",
        "ACTION: ",
        "Search[x]",
        "Finish[",
        "]",
        "\n",
        "\r\n",
        "> ",
        "think: ",
        "OK.",
        "Observation: ",
        "reward: 0.5",
        " ",
    ]
)
messy_text = st.lists(st.one_of(fragments, st.text(max_size=12)), max_size=10).map("".join)


@pytest.mark.parametrize("name", FORMAT_NAMES)
@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_arbitrary_messages_raise_only_the_importer_error(
    name: str, data: st.DataObject, tmp_path: Path
) -> None:
    roles = st.sampled_from(["system", "user", "assistant", "tool"])
    messages = data.draw(
        st.lists(st.fixed_dictionaries({"role": roles, "content": messy_text}), max_size=8)
    )
    records = {
        "openai-chat": {"messages": messages},
        "sharegpt": {
            "conversations": [
                {
                    "from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]),
                    "value": m["content"],
                }
                for m in messages
            ]
        },
        "alpaca": {
            "instruction": data.draw(messy_text),
            "input": data.draw(st.one_of(st.just(""), messy_text)),
            "output": data.draw(messy_text),
        },
    }
    for source, record in records.items():
        path = tmp_path / f"{source}.jsonl"
        path.write_text(json.dumps(record) + "\n")
        check_import(path, round_trip_config(name, source))
    path = tmp_path / "text.txt"
    path.write_text(data.draw(st.lists(messy_text, max_size=4).map("\n\n".join)))
    check_import(path, round_trip_config(name, "react"))
    check_import(path, round_trip_config(name, "react", separator="---", no_action="error"))


def check_import(path: Path, config: ImportConfig) -> None:
    try:
        result = import_files([path], config)
    except ImportFileError as exc:
        assert str(exc).startswith(f"{path}:")
        return
    fmt = config.format_config(result.preamble).build()
    for trajectory in result.trajectories:
        fmt.render_trajectory(trajectory, result.preamble)  # every record renders
    skipping = import_files([path], config.model_copy(update={"skip_invalid": True}))
    assert skipping.report.trajectories == result.report.trajectories


def test_transcript_messages_split_at_turns() -> None:
    text = "Q?\nThought 1: a\nmore\nAction 1:\nSearch[x]\nObservation 1: y\nz\nAction 2: b"
    assert [(m.role, m.content) for m in split_transcript(text, "react")] == [
        ("user", "Q?"),
        ("assistant", "Thought 1: a\nmore\nAction 1:\nSearch[x]"),
        ("user", "Observation 1: y\nz"),
        ("assistant", "Action 2: b"),
    ]


# ---- the command line: import, then distil with no teacher ----------------------------------


def test_cli_import_then_distil_without_a_teacher(tmp_path: Path) -> None:
    out = tmp_path / "gpt4.jsonl"
    result = runner.invoke(
        app,
        [
            "import",
            str(DATA / "hotpotqa_openai.jsonl"),
            "--from",
            "openai-chat",
            "--env",
            "hotpotqa",
            "--out",
            str(out),
            "--model",
            "gpt-3.5-turbo",
            "--skip-invalid",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "turns with several actions" in result.output and "skipped" in result.output
    report = json.loads((tmp_path / "gpt4.import.json").read_text())
    assert report["files"][0]["counts"]["several_actions"] == 1 and report["trajectories"] == 3
    assert report["format"]["name"] == "react"
    preamble = tmp_path / "gpt4.preamble.txt"
    assert preamble.read_text().startswith("Solve a question answering task")
    trajectories = read_trajectories(out)
    assert [t.policy.model for t in trajectories] == [
        "gpt-4-0613",
        "gpt-3.5-turbo",
        "gpt-3.5-turbo",
    ]

    # without --skip-invalid the bad conversation is an error naming file and line
    result = runner.invoke(
        app,
        ["import", str(DATA / "hotpotqa_openai.jsonl"), "--from", "openai-chat", "--env",
         "hotpotqa", "--out", str(tmp_path / "x.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 2 and "hotpotqa_openai.jsonl:3:" in result.output
    assert not (tmp_path / "x.jsonl").exists()

    # seqkd from the imported file alone: no teacher folder anywhere
    student = tmp_path / "student"
    tiny = ["--set", "student=student-30x", "--set", "train.max_steps=3",
            "--set", "train.batch_tokens=2048", "--set", "train.log_every=1"]  # fmt: skip
    result = runner.invoke(
        app,
        ["distill", "--trajectories", str(out), "--out", str(student), "--preamble",
         str(preamble), "--set", "method=seqkd", "--vocab-size", "400", *tiny],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from agentdistill.models import load_model
    from agentdistill.tokenizer import load_tokenizer

    model_dir = student / "model"
    assert load_model(model_dir).config.vocab_size == len(load_tokenizer(model_dir))
    assert FormatConfig.recorded(model_dir) == FormatConfig(
        name="react", preamble=preamble.read_text()
    )
    identity = recorded_identity(student)
    assert identity is not None and "tokenizer_sha256" in identity
    assert "teacher_sha256" not in identity
    summary = json.loads((student / "distill_summary.json").read_text())
    assert summary["teacher_parameters"] is None and summary["compression"] is None

    # sad needs the teacher's log-probabilities: refused, saying why and what runs without
    result = runner.invoke(
        app,
        ["distill", "--trajectories", str(out), "--out", str(tmp_path / "sad"),
         "--set", "method=sad", *tiny],
    )  # fmt: skip
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "method 'sad' needs a teacher's log-probabilities" in message
    assert "seqkd or seqkd_span" in message and "--teacher" in message
    assert not (tmp_path / "sad").exists()


def test_distil_seqkd_span_with_a_given_tokenizer(tmp_path: Path) -> None:
    from agentdistill.tokenizer import save_tokenizer, train_byte_level_bpe

    trajectories = imported("hotpotqa_alpaca.jsonl", "alpaca", "hotpotqa").trajectories
    fmt = FormatConfig(name="react")
    texts = [fmt.build().render_trajectory(t).text for t in trajectories]
    tokenizer_dir = save_tokenizer(train_byte_level_bpe(texts, 320), tmp_path / "tok")
    config = DistillConfig(
        method="seqkd_span",
        student="student-30x",
        train=TrainConfig(max_steps=2, batch_tokens=2048, log_every=1),
    )
    summary = distill(
        config, None, trajectories, tmp_path / "run", show_progress=False, tokenizer=tokenizer_dir
    )
    assert summary.method == "seqkd_span" and summary.teacher_parameters is None
    assert not (tmp_path / "run" / "teacher_cache").exists()
    with pytest.raises(TeacherRequiredError, match="curriculum orders trajectories"):
        distill(config.model_copy(update={"curriculum": True}), None, trajectories, tmp_path / "c")


def test_a_given_tokenizer_must_fit_a_given_student(tmp_path: Path) -> None:
    from agentdistill.models import build_model
    from agentdistill.tokenizer import save_tokenizer, train_byte_level_bpe

    trajectories = imported("hotpotqa_alpaca.jsonl", "alpaca", "hotpotqa").trajectories
    texts = [get_format("react").render_trajectory(t).text for t in trajectories]
    tokenizer_dir = save_tokenizer(train_byte_level_bpe(texts, 400), tmp_path / "tok")
    build_model("student-30x", vocab_size=300).save_pretrained(tmp_path / "student")
    config = DistillConfig(method="seqkd", student=str(tmp_path / "student"))
    with pytest.raises(ValueError, match="embeds 300: give the tokenizer it was built with"):
        distill(config, None, trajectories, tmp_path / "run", tokenizer=tokenizer_dir)
    assert not (tmp_path / "run").exists()


def test_written_output_reads_back(tmp_path: Path) -> None:
    from agentdistill.importers import write_import

    result = imported("alfworld_sharegpt.jsonl", "sharegpt", "alfworld")
    report = write_import(result, tmp_path / "out.jsonl")
    assert read_jsonl(tmp_path / "out.jsonl", Trajectory) == result.trajectories
    assert report.preamble_file == str(tmp_path / "out.preamble.txt")
