import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentdistill.records import (
    PolicyInfo,
    ReadReport,
    RecordFileError,
    Step,
    Task,
    Trajectory,
    read_jsonl,
    write_jsonl,
)


def make(i: int) -> Trajectory:
    return Trajectory(
        task=Task(
            env="alfworld",
            task_id=f"t{i}",
            split="train",
            goal="put a mug in desk",
            spec={"seed": i, "room": ["kitchen", 3]},
        ),
        initial_observation="You are in the middle of a room.",
        steps=[
            Step(reasoning="I need a mug.", action="go to desk 1", observation="On the desk 1.")
        ],
        success=i % 2 == 0,
        reward=float(i % 2 == 0),
        policy=PolicyInfo(name="expert", kind="expert"),
        seed=i,
    )


def test_round_trip(tmp_path: Path) -> None:
    records = [make(i) for i in range(5)]
    path = tmp_path / "sub" / "t.jsonl"
    assert write_jsonl(path, records) == 5
    assert read_jsonl(path, Trajectory) == records


def test_bad_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_jsonl(path, [make(0), make(1)])
    lines = path.read_text().splitlines()
    broken = json.loads(lines[1])
    broken["task"]["goal"] = 7
    path.write_text(lines[0] + "\n\n" + json.dumps(broken) + "\n")
    with pytest.raises(
        RecordFileError, match=r"t\.jsonl:3: invalid Trajectory: field 'task\.goal'"
    ):
        read_jsonl(path, Trajectory)


def test_invalid_json_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(make(0).model_dump_json() + "\n{not json\n")
    with pytest.raises(RecordFileError, match=r":2: not valid JSON"):
        read_jsonl(path, Trajectory)


def test_skip_and_count(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = [make(i) for i in range(3)]
    path.write_text(
        good[0].model_dump_json()
        + "\n[]\n"
        + good[1].model_dump_json()
        + "\n{}\n"
        + good[2].model_dump_json()
        + "\n"
    )
    report = ReadReport()
    assert read_jsonl(path, Trajectory, skip_invalid=True, report=report) == good
    assert (report.read, report.skipped) == (3, 2)
    assert report.errors[0].endswith(
        ":2: invalid Trajectory: field '<record>': "
        "Input should be a valid dictionary or instance of Trajectory"
    )


def test_failed_write_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_jsonl(path, [make(0)])
    before = path.read_bytes()

    def records():
        yield make(1)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(path, records())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]  # no temp file left behind


def test_unknown_schema_version_and_fields() -> None:
    data = json.loads(make(0).model_dump_json())
    with pytest.raises(ValidationError, match="unsupported schema_version 2"):
        Trajectory.model_validate({**data, "schema_version": 2})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Trajectory.model_validate({**data, "sucess": True})


@pytest.mark.parametrize("value", ["two\nlines", " padded", "trailing ", "a\rb"])
def test_action_must_be_one_clean_line(value: str) -> None:
    with pytest.raises(ValidationError, match="action"):
        Step(action=value, observation="")


@pytest.mark.parametrize("value", [" padded", "a\n b", "a\n\nb", "a\n", "\na", "a\rb", "\t"])
def test_thoughts_are_non_empty_lines_without_leading_whitespace(value: str) -> None:
    with pytest.raises(ValidationError, match="reasoning"):
        Step(reasoning=value, action="look", observation="")


def test_several_thoughts_and_trailing_whitespace() -> None:
    step = Step(reasoning="first thought. \nsecond\t", action="look", observation="")
    assert step.thoughts == ["first thought. ", "second\t"]
    assert Step(action="look", observation="").thoughts == []


def test_written_layout_is_serialised_only_when_set() -> None:
    plain = Step(reasoning="r", action="go to desk 1", observation="o")
    assert "written" not in plain.model_dump_json()  # files of plain steps are unchanged
    laid_out = plain.model_copy(update={"written": ">go to desk 1\n"})
    assert Step.model_validate_json(laid_out.model_dump_json()) == laid_out
    with pytest.raises(ValidationError, match="written"):
        Step(action="go to desk 1", observation="", written="> go to desk 1")
