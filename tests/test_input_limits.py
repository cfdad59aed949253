"""Input limits and encodings: what a trajectory file from outside may hold, and how a bad
line is named (`file:line: ...`) by the reader and by every command that reads one.

The fuzz tests at the end feed the JSONL reader arbitrary bytes and every ReAct format's
parsers arbitrary text: only the errors the modules name may come out.
"""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentdistill.cli import app
from agentdistill.config import FormatConfig
from agentdistill.formats import FORMAT_NAMES, FormatError, ParsedEpisode, get_format
from agentdistill.inputs import InputLimits, count_tokens, read_trajectories
from agentdistill.records import (
    DEFAULT_MAX_LINE_BYTES,
    ReadReport,
    RecordFileError,
    Step,
    Trajectory,
    read_jsonl,
)
from agentdistill.segmentation import encode_with_offsets, segment_trajectory
from agentdistill.tokenizer import save_tokenizer, train_byte_level_bpe

EXAMPLES = Path(__file__).parents[1] / "examples"
GOOD = (EXAMPLES / "alfworld.jsonl").read_bytes().strip()  # env alfworld, 7 steps
runner = CliRunner()
FUZZ = settings(max_examples=150, deadline=None)


def good(task_id: str = "example-0", **task: Any) -> bytes:
    """The example ALFWorld trajectory as one JSONL line, with another task id or fields."""
    record = json.loads(GOOD)
    record["task"].update(task_id=task_id, **task)
    return json.dumps(record).encode()


def write(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    # A refused input ends the command with exit code 2, never with a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher folder as `distill` reads it first: a tokenizer and the recorded format."""
    folder = tmp_path_factory.mktemp("teacher")
    fmt = get_format("alfworld")
    text = fmt.render_trajectory(Trajectory.model_validate_json(GOOD)).text
    save_tokenizer(train_byte_level_bpe([text], vocab_size=300), folder)
    FormatConfig(name="alfworld").save(folder)
    return folder


# ---- encodings -------------------------------------------------------------------------------


def test_non_utf8_line_is_a_bad_line_named_by_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", good("a"), b'{"task": "caf\xe9"}', good("b"))
    with pytest.raises(
        RecordFileError, match=r"t\.jsonl:2: not valid UTF-8 \(byte 0xe9 at column 14\)"
    ):
        read_jsonl(path, Trajectory)
    report = ReadReport()
    kept = read_jsonl(path, Trajectory, skip_invalid=True, report=report)
    assert [t.task.task_id for t in kept] == ["a", "b"]
    assert (report.read, report.skipped) == (2, 1) and report.errors[0].startswith(f"{path}:2:")


def test_validate_and_segment_show_name_a_non_utf8_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", good("a"), b"\xff\xfe garbage", good("b"))
    for command in (["validate"], ["segment", "show"]):
        result = run(*command, str(path))
        assert result.exit_code == 2
        assert "bad.jsonl:2: not valid UTF-8 (byte 0xff at column 1)" in result.output
        assert "--skip-invalid" in result.output  # the hint, on commands that take the flag
    result = run("validate", str(path), "--skip-invalid")
    assert result.exit_code == 0 and "2 valid, 1 skipped" in result.output
    assert "skipped" in result.output and "bad.jsonl:2: not valid UTF-8" in result.output
    result = run("segment", "show", str(path), "--skip-invalid", "--format", "alfworld", "-i", "1")
    assert result.exit_code == 0 and "alfworld/b" in result.output


def test_distill_names_the_file_and_line(tmp_path: Path, tokenizer_dir: Path) -> None:
    path = write(tmp_path / "bad.jsonl", good("a"), b"\xc3(")
    args = ["distill", "--teacher", str(tokenizer_dir), "--trajectories", str(path)]
    result = run(*args, "--out", str(tmp_path / "d"))
    assert result.exit_code == 2
    assert f"{path.name}:2: not valid UTF-8 (byte 0xc3 at column 1)" in result.output
    assert not (tmp_path / "d").exists()  # refused before anything is written
    # Skipped, the bad line is printed and distillation goes on (to the missing model here).
    result = run(*args, "--out", str(tmp_path / "d"), "--skip-invalid")
    assert result.exit_code == 2 and "skipped" in result.output
    assert f"{path.name}:2: not valid UTF-8" in result.output
    error = result.output.split("error:", 1)[1]  # the teacher folder holds no model
    assert "model" in error and "UTF-8" not in error


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        # Python reads `\ud800` into a string no UTF-8 writer accepts (write_jsonl would fail)
        (good(goal="\ud800 mug"), r"not valid Unicode \(a lone surrogate '\\ud800' in a string\)"),
        (b"[" * 100_000, r"not readable JSON \(nested too deeply\)"),
        (b"1" * 5000, r"not readable JSON \(Exceeds the limit \(4300 digits\)"),
        (b"\xef\xbb\xbf" + good(), r"not valid JSON \(Unexpected UTF-8 BOM"),
    ],
    ids=["lone-surrogate", "deep-nesting", "huge-integer", "bom"],
)
def test_unreadable_json_is_a_bad_line(tmp_path: Path, line: bytes, problem: str) -> None:
    path = write(tmp_path / "t.jsonl", good("a"), line)
    with pytest.raises(RecordFileError, match=r"t\.jsonl:2: " + problem):
        read_jsonl(path, Trajectory)


def test_escaped_surrogate_pairs_and_backslashes_are_fine(tmp_path: Path) -> None:
    # json.dumps writes an emoji as a surrogate pair; `\\ud800` is a backslash, not an escape
    path = write(tmp_path / "t.jsonl", good(goal="mug \U0001f600 \\ud800"))
    assert read_jsonl(path, Trajectory)[0].task.goal == "mug \U0001f600 \\ud800"


# ---- line length -----------------------------------------------------------------------------


def test_over_long_line_is_skipped_to_its_end(tmp_path: Path) -> None:
    long = b'{"x": "' + b"y" * 5_000_000 + b'"}'
    path = write(tmp_path / "t.jsonl", good("a"), long, good("b"), b"{")
    with pytest.raises(
        RecordFileError,
        match=r"t\.jsonl:2: line is 5000009 bytes, over the limit of 100000 \(max_line_bytes\)",
    ):
        read_jsonl(path, Trajectory, max_line_bytes=100_000)
    report = ReadReport()
    kept = read_jsonl(path, Trajectory, max_line_bytes=100_000, skip_invalid=True, report=report)
    assert [t.task.task_id for t in kept] == ["a", "b"]  # the line after it is read whole
    assert [error.split(":")[1:3] for error in report.errors] == [
        ["2", " line is 5000009 bytes, over the limit of 100000 (max_line_bytes)"],
        ["4", " not valid JSON (Expecting property name enclosed in double quotes at column 2)"],
    ]  # and the numbering holds after it


@pytest.mark.parametrize("newline", [b"\n", b""], ids=["newline", "last-line"])
def test_the_limit_counts_the_line_without_its_newline(tmp_path: Path, newline: bytes) -> None:
    line = good()
    path = tmp_path / "t.jsonl"
    path.write_bytes(line + newline)
    assert len(read_jsonl(path, Trajectory, max_line_bytes=len(line))) == 1
    with pytest.raises(RecordFileError, match=rf":1: line is {len(line)} bytes, over the limit"):
        read_jsonl(path, Trajectory, max_line_bytes=len(line) - 1)


def test_default_limit_refuses_a_line_over_one_mib(tmp_path: Path) -> None:
    record = json.loads(GOOD)
    record["steps"][0]["observation"] = "x" * DEFAULT_MAX_LINE_BYTES
    path = write(tmp_path / "big.jsonl", good("a"), json.dumps(record).encode())
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert re.search(r"big\.jsonl:2: line is \d+ bytes, over the limit of 1048576", result.output)
    result = run("validate", str(path), "--max-line-bytes", str(2 * DEFAULT_MAX_LINE_BYTES))
    assert result.exit_code == 0 and "2 valid, 0 skipped" in result.output
    result = run("validate", str(path), "--max-line-bytes", "0")
    assert result.exit_code == 2 and "--max-line-bytes" in result.output


def test_a_50_mb_line_costs_little_memory(tmp_path: Path) -> None:
    record = json.loads(GOOD)
    record["steps"][0]["observation"] = "x" * (50 * 2**20)
    path = write(tmp_path / "big.jsonl", good("a"), json.dumps(record).encode(), good("b"))
    del record
    report = ReadReport()
    tracemalloc.start()
    try:
        kept = read_trajectories(path, skip_invalid=True, report=report)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [t.task.task_id for t in kept] == ["a", "b"]
    assert "over the limit of 1048576 (max_line_bytes)" in report.errors[0]
    # The line is never held whole: the peak is about one limit's worth (the old reader: 100 MiB).
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# ---- steps, tokens, environments -------------------------------------------------------------


def test_too_many_steps(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", good("a"))
    with pytest.raises(
        RecordFileError,
        match=r"t\.jsonl:1: field 'steps': 7 steps, over the limit of 6 \(max_steps\)",
    ):
        read_trajectories(path, InputLimits(max_steps=6))
    assert len(read_trajectories(path, InputLimits(max_steps=7))) == 1
    result = run("validate", str(path), "--max-steps", "6")
    assert result.exit_code == 2 and "t.jsonl:1: field 'steps': 7 steps" in result.output
    result = run("validate", str(path), "--max-steps", "6", "--skip-invalid")
    assert result.exit_code == 0 and "0 valid, 1 skipped" in result.output


def test_too_many_tokens(tmp_path: Path, tokenizer_dir: Path) -> None:
    counting: dict[str, Any] = {
        "tokenizer": _tokenizer(tokenizer_dir),
        "fmt": get_format("alfworld"),
    }
    trajectory = Trajectory.model_validate_json(GOOD)
    tokens = len(segment_trajectory(trajectory, counting["tokenizer"], counting["fmt"]))
    path = write(tmp_path / "t.jsonl", good("a"), good("b"))
    limits = InputLimits(max_tokens=tokens - 1)
    with pytest.raises(
        RecordFileError,
        match=rf"t\.jsonl:1: {tokens} tokens in the alfworld format, over the limit of "
        rf"{tokens - 1} \(max_tokens\)",
    ):
        read_trajectories(path, limits, **counting)
    report = ReadReport()
    assert read_trajectories(path, limits, skip_invalid=True, report=report, **counting) == []
    assert report.skipped == 2
    assert len(read_trajectories(path, InputLimits(max_tokens=tokens), **counting)) == 2
    assert len(read_trajectories(path, limits)) == 2  # no tokenizer: nothing is counted
    with pytest.raises(ValueError, match="both a tokenizer and a format"):
        read_trajectories(path, limits, tokenizer=counting["tokenizer"])

    show = ["segment", "show", str(path), "--format", "alfworld", "--tokenizer", str(tokenizer_dir)]
    result = run(*show, "--max-tokens", str(tokens - 1))
    assert result.exit_code == 2 and f"t.jsonl:1: {tokens} tokens" in result.output
    assert run(*show, "--max-tokens", str(tokens)).exit_code == 0
    distill = ["distill", "--teacher", str(tokenizer_dir), "--trajectories", str(path)]
    result = run(*distill, "--out", str(tmp_path / "d"), "--max-tokens", str(tokens - 1))
    assert result.exit_code == 2 and f"t.jsonl:1: {tokens} tokens in the alfworld" in result.output


WORDS = ["go", "to", "mug", "1,", "é", "中", " ", "  ", "\n", "\n\n", " \n", "\t", "> think:"]


@given(words=st.lists(st.sampled_from(WORDS), max_size=400))
@FUZZ
def test_counting_in_pieces_counts_what_segmentation_encodes(
    words: list[str], tokenizer_dir: Path
) -> None:
    tokenizer = _tokenizer(tokenizer_dir)
    text = "".join(words)
    # Small pieces, many cuts: a long line is counted this way, in bounded memory.
    assert count_tokens(tokenizer, text, piece=64) == len(encode_with_offsets(tokenizer, text)[0])


def _tokenizer(folder: Path) -> Any:
    from agentdistill.tokenizer import load_tokenizer

    if folder not in _TOKENIZERS:
        _TOKENIZERS[folder] = load_tokenizer(folder)
    return _TOKENIZERS[folder]


_TOKENIZERS: dict[Path, Any] = {}


def test_unknown_environment(tmp_path: Path, tokenizer_dir: Path) -> None:
    path = write(tmp_path / "t.jsonl", good("a"), good("b", env="nosuchenv"))
    message = (
        "t.jsonl:2: field 'task.env': unknown environment 'nosuchenv'; known: alfworld, "
        "webshop, hotpotqa, fever"
    )
    with pytest.raises(RecordFileError, match=re.escape(message)):
        read_trajectories(path)
    assert len(read_trajectories(path, InputLimits(allow_unknown_env=True))) == 2
    for command in (
        ["validate", str(path)],
        ["segment", "show", str(path)],
        [
            "distill",
            "--teacher",
            str(tokenizer_dir),
            "--trajectories",
            str(path),
            "-o",
            str(tmp_path / "d"),
        ],
    ):
        result = run(*command)
        assert result.exit_code == 2 and message in result.output, command
    assert run("validate", str(path), "--allow-unknown-env").exit_code == 0
    result = run("segment", "show", str(path), "-i", "1", "--allow-unknown-env")
    assert result.exit_code == 0 and "nosuchenv/b" in result.output
    # The benchmarks the records are built for, played here or not, are known.
    assert run("validate", str(EXAMPLES / "trajectories.jsonl")).exit_code == 0


# ---- the commands ----------------------------------------------------------------------------


def test_segment_show_skip_invalid_counts_valid_trajectories(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", b"{", good("first"), b"[]", good("second"))
    show = ["segment", "show", str(path), "--format", "alfworld"]
    result = run(*show)
    assert result.exit_code == 2 and "t.jsonl:1: not valid JSON" in result.output
    result = run(*show, "--skip-invalid", "--index", "1")
    assert result.exit_code == 0 and "alfworld/second" in result.output
    assert "t.jsonl:1:" in result.output and "t.jsonl:3:" in result.output  # what was skipped
    result = run(*show, "--skip-invalid", "--index", "2")
    assert result.exit_code == 2 and "holds 2 valid trajectories" in result.output


def test_tokenizer_train_and_segment_report_take_the_options(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", good("a"), b"\xff", good("b"))
    train = [
        "tokenizer",
        "train",
        str(path),
        "--out",
        str(tmp_path / "tok"),
        "--format",
        "alfworld",
    ]
    result = run(*train, "--vocab-size", "300")
    assert result.exit_code == 2 and "t.jsonl:2: not valid UTF-8" in result.output
    result = run(*train, "--vocab-size", "300", "--skip-invalid")
    assert result.exit_code == 0 and "trained on 2 trajectories" in result.output
    report = [
        "segment",
        "report",
        str(path),
        "--out",
        str(tmp_path / "r"),
        "--set",
        "vocab_size=300",
    ]
    result = run(*report, "--set", "format.name=alfworld")
    assert result.exit_code == 2 and "t.jsonl:2: not valid UTF-8" in result.output
    assert "--skip-invalid" in result.output
    result = run(*report, "--set", "format.name=alfworld", "--skip-invalid", "--max-steps", "7")
    assert result.exit_code == 0
    assert json.loads((tmp_path / "r" / "stats.json").read_text())["skipped_lines"] == 1


READING_COMMANDS = ["validate", "segment show", "segment report", "tokenizer train", "distill"]


def _options(path: str) -> set[str]:
    """The option names of a command, e.g. `_options("segment show")`."""
    import typer

    command: Any = typer.main.get_command(app)
    for name in path.split():
        command = command.commands[name]  # a group's subcommand
    return {option for param in command.params for option in param.opts}


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_every_reading_command_takes_the_input_options(command: str) -> None:
    options = _options(command)
    for option in ("--skip-invalid", "--max-line-bytes", "--max-steps", "--allow-unknown-env"):
        assert option in options, (command, option)
    # --max-tokens where a tokenizer is known (validate and tokenizer train know none)
    assert ("--max-tokens" in options) == (command in {"segment show", "segment report", "distill"})


# ---- fuzzing ---------------------------------------------------------------------------------

# Arbitrary bytes, and arbitrary bytes spliced into a valid line: where bugs in a reader hide.
spliced_line = st.builds(
    lambda at, junk, cut: GOOD[:at] + junk + GOOD[at + cut :],
    st.integers(0, len(GOOD)),
    st.binary(max_size=12),
    st.integers(0, 4),
)
fuzz_line = st.one_of(st.binary(max_size=200), spliced_line, st.just(GOOD), st.just(b""))
fuzz_file = st.one_of(st.binary(max_size=400), st.lists(fuzz_line, max_size=6).map(b"\n".join))


def _check_read(path: Path, data: bytes, limits: InputLimits) -> None:
    lines = data.count(b"\n") + 1
    try:
        records = read_trajectories(path, limits)
    except RecordFileError as exc:
        match = re.match(rf"{re.escape(str(path))}:(\d+): \S", str(exc))
        assert match and 1 <= int(match[1]) <= lines, str(exc)
    else:
        assert all(isinstance(record, Trajectory) for record in records)
    report = ReadReport()
    records = read_trajectories(path, limits, skip_invalid=True, report=report)
    assert (report.read, report.skipped) == (len(records), len(report.errors))
    assert report.read + report.skipped <= lines
    assert all(error.startswith(f"{path}:") for error in report.errors)


@given(data=fuzz_file, max_line_bytes=st.sampled_from([1, 50, 2000, DEFAULT_MAX_LINE_BYTES]))
@FUZZ
def test_fuzz_reader_raises_only_named_bad_lines(
    data: bytes, max_line_bytes: int, fuzz_dir: Path
) -> None:
    path = fuzz_dir / "fuzz.jsonl"
    path.write_bytes(data)
    _check_read(path, data, InputLimits(max_line_bytes=max_line_bytes, max_steps=5))


def _with_steps(count: int) -> bytes:
    record = json.loads(GOOD)
    record["steps"] = (record["steps"] * count)[:count]
    return json.dumps(record).encode()


# Lines of known kinds (True: a record, None: blank, False: a bad line of each sort).
KINDS: dict[str, tuple[bytes, bool | None]] = {
    "good": (GOOD, True),
    "blank": (b"  \t", None),
    "not-utf8": (b'{"a": "\xff"}', False),
    "not-json": (b"{", False),
    "invalid": (b"[]", False),
    "too-long": (b"[" + b" " * 3 * len(GOOD) + b"]", False),
    "too-many-steps": (_with_steps(8), False),
    "unknown-env": (good(env="mars"), False),
}


@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), max_size=10), crlf=st.booleans())
@FUZZ
def test_fuzz_reader_names_the_right_lines(kinds: list[str], crlf: bool, fuzz_dir: Path) -> None:
    path = fuzz_dir / "kinds.jsonl"
    ending = b"\r\n" if crlf else b"\n"
    path.write_bytes(b"".join(KINDS[kind][0] + ending for kind in kinds))
    limits = InputLimits(max_line_bytes=2 * len(GOOD), max_steps=7)
    bad = [n for n, kind in enumerate(kinds, start=1) if KINDS[kind][1] is False]
    if bad:  # the first bad line, by number
        with pytest.raises(RecordFileError, match=rf"^{re.escape(str(path))}:{bad[0]}: "):
            read_trajectories(path, limits)
    report = ReadReport()
    records = read_trajectories(path, limits, skip_invalid=True, report=report)
    assert len(records) == kinds.count("good")
    numbers = [int(error[len(str(path)) + 1 :].split(":")[0]) for error in report.errors]
    assert numbers == bad  # every bad line, each by its number


# Text built from the pieces formats are made of, and text decoded from arbitrary bytes.
FRAGMENTS = [
    "Thought 1:", "Thought 2: ", "thought:", "Reasoning:", "Action 1:", "Action 2: ", "Action:",
    "Observation 1: ", "Observation:", "> think:", "think: ", "> ", ">", "OK.", "[", "]",
    "Search[", "Finish[x]", "go to desk 1", "Question: q", "\n", "\n", "\r", "\r\n", " ", "\t",
    "x", "é", "\uff1a", "\u2028", "\x1c", "\x85",
]  # fmt: skip
format_text = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda raw: raw.decode("utf-8", errors="replace")),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
)
ALL_FORMATS = [get_format(name) for name in FORMAT_NAMES] + [get_format("react", numbered=False)]


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=[*FORMAT_NAMES, "react-unnumbered"])
@given(text=format_text, separator=st.sampled_from(["", "\n", "\n\n"]))
@settings(max_examples=200, deadline=None)
def test_fuzz_format_parsers_raise_only_format_errors(fmt: Any, text: str, separator: str) -> None:
    # A policy's turn: `parse` never raises; what it reads is always a valid step.
    parsed = fmt.parse(text)
    assert parsed.ok == (parsed.action is not None) and parsed.ok != bool(parsed.error)
    if parsed.ok:
        Step(reasoning=parsed.reasoning, action=parsed.action, observation="")
    fmt.turn_state(text)
    fmt.normalize_action(text)
    # A transcript: read back exactly, or refused with a FormatError naming the format.
    try:
        episode = fmt.parse_episode(text)
    except FormatError as exc:
        assert f"format '{fmt.name}'" in str(exc)
    else:
        assert isinstance(episode, ParsedEpisode)
        rendered = fmt.render(episode.initial_observation, episode.steps, ended=episode.ended)
        assert rendered.text == text
    try:
        episodes = fmt.parse_episodes(text, separator)
    except FormatError as exc:
        assert f"format '{fmt.name}'" in str(exc)
    else:
        texts = [fmt.render(e.initial_observation, e.steps, ended=e.ended).text for e in episodes]
        assert separator.join(texts) == text
