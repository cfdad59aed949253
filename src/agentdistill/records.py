"""The data model every stage exchanges: tasks, steps, trajectories, and their JSONL files.

A `Trajectory` is what a policy produced on one `Task`: the environment's first observation,
then (reasoning, action, observation) steps, and the outcome. Files hold one JSON record a
line; reading validates every line and names file and line number of a bad one; writing goes
to a temporary file that is renamed over the target, so a crash never leaves a half file.

    trajectories = read_jsonl("rollouts.jsonl", Trajectory)            # a bad line raises
    report = ReadReport()
    kept = read_jsonl(path, Trajectory, skip_invalid=True, report=report)  # or is counted

Reading takes bytes, one bounded line at a time: a line over `max_line_bytes` is skipped to
its end in chunks (never held whole), and bytes that are not UTF-8 are a bad line like bad
JSON, so no input file can exhaust memory or end a command with a traceback.
(`agentdistill.inputs` adds the trajectory limits: steps, tokens, known environments.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    JsonValue,
    ValidationError,
    field_validator,
)

from agentdistill.files import atomic_write

SCHEMA_VERSION = 1

Split = str  # environments define their own split names ("train", "valid_unseen", ...)


class Record(BaseModel):
    """Base of every record: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(Record):
    """One episode to solve, with everything needed to rebuild it."""

    env: str = Field(min_length=1, description="Environment name, e.g. 'alfworld'.")
    task_id: str = Field(min_length=1, description="Identifier, unique within (env, split).")
    split: Split = Field(min_length=1, description="Split the task belongs to.")
    goal: str = Field(description="The goal as the agent reads it.")
    task_type: str = Field(default="", description="Benchmark task family, e.g. 'pick_and_place'.")
    spec: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Environment-specific data that rebuilds the episode (a seed or a full spec).",
    )


class OracleLabel(Record):
    """What an oracle (the environment's scripted expert) would have done at a state another
    policy visited: DAgger's label (`agentdistill.dagger`)."""

    reasoning: str = Field(default="", description="The oracle's thought (empty: none).")
    action: str = Field(description="The oracle's action.")


class Step(Record):
    """One ReAct step: what the agent thought, what it did, what the environment answered."""

    reasoning: str = Field(
        default="",
        description="Thought text; empty when the agent gave none. Several thoughts in one "
        "turn are written one per line (newline-separated); each thought is one line that "
        "does not start with whitespace and keeps any trailing whitespace exactly.",
    )
    action: str = Field(
        description="The action exactly as the policy wrote it, one line (the environment "
        "receives the format's `normalize_action` of it, e.g. `search[x]` for `Search[x]`)."
    )
    observation: str = Field(description="The environment's answer to the action.")
    action_valid: bool | None = Field(
        default=None, description="Whether the environment accepted the action (None: unknown)."
    )
    imitate: bool = Field(
        default=True,
        description="Whether a student should learn this turn; False for exploration noise "
        "injected while collecting data (it stays in the context, without a loss).",
    )
    grounded_from: str | None = Field(
        default=None,
        description="The action the policy wrote when action grounding replaced it by the "
        "closest admissible command (`action`); None when the policy's own action was sent.",
    )
    oracle: OracleLabel | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The oracle's turn at the state before this step, when one labelled it "
        "(DAgger rollouts); None (never serialised): not labelled.",
    )
    written: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The turn exactly as a hand-written source put it, when its layout differs "
        "from the format's canonical rendering of `reasoning` and `action` (e.g. ReAct's "
        "ALFWorld examples: a thought left without `OK.`, `>go to` without a space). It must "
        "parse back to `reasoning` and `action`; None (the default, never serialised): the "
        "canonical rendering.",
    )

    @field_validator("reasoning")
    @classmethod
    def _thought_lines(cls, value: str) -> str:
        # Text formats end a thought at a newline, so a newline separates thoughts; a thought
        # starting with whitespace would lose it after its label (`Thought 1: `).
        if "\r" in value:
            raise ValueError("must not contain carriage returns (newlines separate thoughts)")
        if value and any(not line or line != line.lstrip() for line in value.split("\n")):
            raise ValueError(
                "every thought (one per line) must be non-empty and not start with whitespace"
            )
        return value

    @field_validator("action")
    @classmethod
    def _single_line(cls, value: str) -> str:
        # Text formats end an action at a newline; a newline inside would not round-trip
        # through rendering and parsing.
        if "\n" in value or "\r" in value:
            raise ValueError("must be a single line (no newline characters)")
        if value != value.strip():
            raise ValueError("must not start or end with whitespace")
        return value

    @field_validator("written")
    @classmethod
    def _whole_turn(cls, value: str | None) -> str | None:
        if value is not None and (not value.endswith("\n") or "\r" in value):
            raise ValueError(
                "must be a whole turn: lines ending with a newline, no carriage return"
            )
        return value

    @property
    def thoughts(self) -> list[str]:
        """The thoughts of the turn, in order (empty when the agent gave none)."""
        return self.reasoning.split("\n") if self.reasoning else []


class PolicyInfo(Record):
    """Which policy produced a trajectory."""

    name: str = Field(min_length=1, description="Human-readable name, e.g. 'expert' or 'sad-5m'.")
    kind: Literal["expert", "hf", "api", "human", "other"] = Field(
        description="How the policy acts: scripted expert, local HF model, remote API, person."
    )
    model: str | None = Field(default=None, description="Model path, name or endpoint.")
    revision: str | None = Field(default=None, description="Checkpoint hash or revision.")


class Timings(Record):
    """Seconds spent on an episode."""

    wall_s: float = Field(ge=0.0, description="Wall time of the whole episode.")
    policy_s: float | None = Field(default=None, ge=0.0, description="Time inside the policy.")
    env_s: float | None = Field(default=None, ge=0.0, description="Time inside the environment.")


class TokenCounts(Record):
    """Tokens processed by a model-based policy during an episode."""

    prompt: int = Field(ge=0, description="Tokens encoded as context (prefill).")
    generated: int = Field(ge=0, description="Tokens sampled by the policy.")


class Trajectory(Record):
    """A complete episode of a policy on a task."""

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, description="Version of this record layout."
    )
    task: Task
    initial_observation: str = Field(description="What the environment said on reset.")
    steps: list[Step] = Field(default_factory=list)
    success: bool = Field(description="Whether the goal was reached.")
    reward: float = Field(description="Final reward given by the environment.")
    scores: dict[str, FiniteFloat] = Field(
        default_factory=dict,
        # Left out when empty: files of environments without scores stay as they were, and
        # files written before the field read as empty (the layout version is unchanged).
        exclude_if=lambda value: not value,
        description="Environment-specific episode scores, from the environment's answer to "
        "the last step, e.g. HotPotQA em/f1 (`Environment.score_keys`; 0.0 for a key that "
        "answer lacks, as when a runner's step cap cut the episode). Empty (never "
        "serialised) for environments without scores.",
    )
    policy: PolicyInfo
    seed: int | None = Field(default=None, description="Seed of the policy's sampling, if any.")
    stop_reason: Literal["done", "step_cap", "error"] = Field(
        default="done", description="Why the episode ended."
    )
    timings: Timings | None = None
    token_counts: TokenCounts | None = None

    @field_validator("schema_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {value!r}; this build reads {SCHEMA_VERSION}"
            )
        return value


R = TypeVar("R", bound=BaseModel)


class RecordFileError(ValueError):
    """A line of a JSONL file is not a valid record; the message names file and line."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


def _describe(error: ValidationError, model: type[BaseModel]) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "<record>"
        parts.append(f"field '{where}': {item['msg']}")
    return f"invalid {model.__name__}: " + "; ".join(parts)


@dataclass
class ReadReport:
    """What `read_jsonl` skipped when asked to skip bad lines."""

    read: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


#: Default bound on one line of a JSONL file, in bytes (its newline not counted). Records here
#: are a few KB (ALFWorld trajectories up to ~13 KB, tasks ~300 B); WebShop pages and HotPotQA
#: paragraphs make longer observations, still far below 1 MiB. The bound is what reading one
#: line may cost: Python holds a line several times over (bytes, text, parsed JSON, records).
DEFAULT_MAX_LINE_BYTES = 1 << 20

# An over-long line is skipped in pieces of this size, so skipping it costs no more memory.
_SKIP_CHUNK = 1 << 20
# JSON's `\u` escape of a surrogate: only then can a parsed string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[tuple[bytes | None, int]]:
    """Each line's bytes and its length; (None, length) for a line over `limit` bytes.

    The length leaves out the newline. An over-long line is read on to its end in chunks and
    dropped, so memory stays bounded by `limit` whatever the file holds.
    """
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        if line.endswith(b"\n") or len(line) <= limit:  # whole (the last may lack its newline)
            yield line, len(line.removesuffix(b"\n"))
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = handle.readline(_SKIP_CHUNK)
            if not line:
                break
            size += len(line)
        yield None, size - int(line.endswith(b"\n"))


def _lone_surrogate(data: Any) -> str | None:
    """The first lone surrogate in a parsed JSON value (from a `\\ud800`-style escape)."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.object[exc.start : exc.end]
    return None


def _parse_line(raw: bytes, model: type[R]) -> R | str | None:
    """The record on one line, why the line holds none, or None for a blank line.

    Every problem comes back as a message; no exception escapes, whatever the bytes.
    """
    try:
        # Without its line ending, so that an error at the end of a line has a column on it.
        text = raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "not readable JSON (nested too deeply)"
    except ValueError as exc:  # e.g. an integer over Python's 4300-digit conversion limit
        return f"not readable JSON ({str(exc).split(':')[0]})"
    if _SURROGATE_ESCAPE.search(text) and (lone := _lone_surrogate(data)) is not None:
        # Python reads `"\\ud800"` into a string no UTF-8 writer accepts: writing the record
        # back (or tokenizing it) would fail far from here.
        return f"not valid Unicode (a lone surrogate {lone!a} in a string)"
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return _describe(exc, model)
    except RecursionError:
        return f"invalid {model.__name__}: nested too deeply"


def iter_jsonl(
    path: str | Path,
    model: type[R],
    *,
    skip_invalid: bool = False,
    report: ReadReport | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    check: Callable[[R], str | None] | None = None,
) -> Iterator[R]:
    """Yield validated records from a JSONL file.

    Blank lines are ignored. A bad line raises `RecordFileError` naming file and line, unless
    `skip_invalid`, in which case it is counted (and described) in `report`. A line is bad
    when it is over `max_line_bytes`, not UTF-8, not JSON, not a valid `model`, or when
    `check` (given the record) returns a problem.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, not {max_line_bytes}")
    path = Path(path)
    report = report if report is not None else ReadReport()
    with path.open("rb") as handle:
        for number, (raw, size) in enumerate(_bounded_lines(handle, max_line_bytes), start=1):
            parsed = (
                f"line is {size} bytes, over the limit of {max_line_bytes} (max_line_bytes)"
                if raw is None
                else _parse_line(raw, model)
            )
            if parsed is None:
                continue
            if isinstance(parsed, str):
                problem = parsed
            else:
                problem = check(parsed) if check is not None else None
                if problem is None:
                    report.read += 1
                    yield parsed
                    continue
            if not skip_invalid:
                raise RecordFileError(path, number, problem)
            report.skipped += 1
            report.errors.append(f"{path}:{number}: {problem}")


def read_jsonl(
    path: str | Path,
    model: type[R],
    *,
    skip_invalid: bool = False,
    report: ReadReport | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    check: Callable[[R], str | None] | None = None,
) -> list[R]:
    """Read a whole JSONL file into validated records (see `iter_jsonl`)."""
    return list(
        iter_jsonl(
            path,
            model,
            skip_invalid=skip_invalid,
            report=report,
            max_line_bytes=max_line_bytes,
            check=check,
        )
    )


def write_jsonl(path: str | Path, records: Iterable[BaseModel]) -> int:
    """Write records as JSONL atomically (temporary file, then rename); return the count.

    If serialising any record fails, the target is left exactly as it was.
    """
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(record.model_dump_json())
            handle.write("\n")
            count += 1
    return count
