import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
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


# A file written before `Trajectory.scores` existed (schema_version 1, no `scores` key).
OLD_TRAJECTORY = (
    '{"schema_version":1,"task":{"env":"hotpotqa","task_id":"test-00000","split":"test",'
    '"goal":"Q?","task_type":"bridge","spec":{}},"initial_observation":"Question: Q?",'
    '"steps":[{"reasoning":"","action":"Finish[x]","observation":"Episode finished, '
    'reward = 0","action_valid":true,"imitate":true,"grounded_from":null}],"success":false,'
    '"reward":0.0,"policy":{"name":"expert","kind":"expert","model":null,"revision":null},'
    '"seed":0,"stop_reason":"done","timings":null,"token_counts":null}'
)


def test_a_trajectory_file_without_scores_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(OLD_TRAJECTORY + "\n")
    (old,) = read_jsonl(path, Trajectory)
    assert old.scores == {} and old.schema_version == 1
    # and an episode without scores is written as before: the same bytes come back
    assert old.model_dump_json() == OLD_TRAJECTORY


scores = st.dictionaries(
    st.sampled_from(["em", "f1", "score", "progress"]),
    st.floats(allow_nan=False, allow_infinity=False),
    max_size=4,
)


@given(scores)
def test_scores_round_trip_and_are_written_only_when_present(values: dict[str, float]) -> None:
    scored = make(0).model_copy(update={"scores": values})
    text = scored.model_dump_json()
    assert Trajectory.model_validate_json(text) == scored
    assert ('"scores"' in text) is bool(values)


@pytest.mark.parametrize("value", [math.nan, math.inf, "high"])
def test_scores_are_finite_numbers(value: object) -> None:
    with pytest.raises(ValidationError, match="scores"):
        Trajectory.model_validate({**make(0).model_dump(), "scores": {"f1": value}})
