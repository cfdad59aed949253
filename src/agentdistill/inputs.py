"""Limits on trajectory files read from outside: line size, steps, tokens, environment names.

    limits = InputLimits(max_steps=100)
    report = ReadReport()
    trajectories = read_trajectories(
        "rollouts.jsonl", limits, skip_invalid=True, report=report,
        tokenizer=load_tokenizer("runs/teacher/model"), fmt=get_format("alfworld"),
    )

A trajectory file from a user or another tool may hold anything. Each limit turns what would
exhaust memory or time later (a 50 MB line, an episode of 10,000 steps, a trajectory of a
million tokens) or pass without a word (a misspelt environment name) into a bad line, named
`file:line:` when it is read and skippable with `skip_invalid` like any other. Every command
and pipeline stage that reads trajectories goes through `read_trajectories`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import Field

from agentdistill.config import Config
from agentdistill.environments.names import known_env_names
from agentdistill.formats import FormatError, ReactFormat
from agentdistill.records import (
    DEFAULT_MAX_LINE_BYTES,
    ReadReport,
    Trajectory,
    iter_jsonl,
)


class InputLimits(Config):
    """What one line of a trajectory file may hold before it counts as a bad line."""

    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES,
        ge=1,
        description="Longest line read, in bytes (default 1 MiB: records are a few KB, and a "
        "longer line is skipped in chunks, never held whole).",
    )
    max_steps: int = Field(
        default=200,
        ge=0,
        description="Most steps per episode (default 200: 4x ALFWorld's step cap of 50; "
        "WebShop caps at 15, ReAct's HotPotQA at 7).",
    )
    max_tokens: int = Field(
        default=65536,
        ge=1,
        description="Most tokens per trajectory, rendered in the format without its preamble, "
        "where a tokenizer is known (default 65536: 64x the default training length, which "
        "cuts longer sequences anyway).",
    )
    allow_unknown_env: bool = Field(
        default=False,
        description="Accept environment names this build does not know (default: a bad line, "
        "as a misspelt name would otherwise pass without a word).",
    )


# Text is counted in pieces of at most this many characters: a tokenizer holds ids, offsets
# and token strings for a whole text at once (~240 MB for a million tokens); a piece's share
# of that stays near 20 MB whatever the line held.
_COUNT_PIECE = 1 << 16
# Where a piece may end: after a newline or before a space, each between two non-space
# characters. Byte-level pre-tokenizers split there too, and no whitespace run is cut (they
# group a run of spaces with the newline after it).
_CUT = re.compile(r"(?<=\S\n)(?=\S)|(?<=\S)(?= \S)")


def _pieces(text: str, size: int) -> Iterator[str]:
    """`text` in pieces of at most `size` characters, cut at `_CUT` where one is in reach."""
    start = 0
    while len(text) - start > size:
        last = None
        for last in _CUT.finditer(text, start + 1, start + size):  # noqa: B007 (the last one)
            pass
        end = last.start() if last is not None else start + size
        yield text[start:end]
        start = end
    yield text[start:]


def count_tokens(tokenizer: Any, text: str, piece: int = _COUNT_PIECE) -> int:
    """Tokens of `text` with a fast tokenizer, no special tokens added (as segmentation does).

    Long text is counted `piece` characters at a time, in bounded memory: exactly for
    byte-level BPE (its pre-tokenizer splits where pieces are cut, when a cut is in reach);
    other tokenizers may differ by a token or so per piece, which a limit can afford.
    """
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "get_vocab_size"):
        backend = tokenizer  # a bare `tokenizers.Tokenizer`
    else:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer")
    return sum(len(backend.encode(part, add_special_tokens=False)) for part in _pieces(text, piece))


def trajectory_problem(
    trajectory: Trajectory,
    limits: InputLimits,
    tokenizer: Any = None,
    fmt: ReactFormat | None = None,
) -> str | None:
    """Why a valid record breaks `limits` (None: it does not). Cheap checks come first."""
    env = trajectory.task.env
    known = known_env_names()
    if not limits.allow_unknown_env and env not in known:
        return (
            f"field 'task.env': unknown environment {env!r}; known: {', '.join(known)} "
            "(allow_unknown_env accepts any name)"
        )
    steps = len(trajectory.steps)
    if steps > limits.max_steps:
        return f"field 'steps': {steps} steps, over the limit of {limits.max_steps} (max_steps)"
    if tokenizer is None or fmt is None:
        return None
    try:
        text = fmt.render_trajectory(trajectory).text
    except FormatError as exc:
        # Its tokens cannot be counted, and every later stage would fail on it the same way.
        return f"cannot be rendered in the {fmt.name} format: {exc}"
    tokens = count_tokens(tokenizer, text)
    if tokens > limits.max_tokens:
        return (
            f"{tokens} tokens in the {fmt.name} format, over the limit of "
            f"{limits.max_tokens} (max_tokens)"
        )
    return None


def iter_trajectories(
    path: str | Path,
    limits: InputLimits | None = None,
    *,
    skip_invalid: bool = False,
    report: ReadReport | None = None,
    tokenizer: Any = None,
    fmt: ReactFormat | None = None,
) -> Iterator[Trajectory]:
    """Yield the trajectories of a JSONL file; a line breaking `limits` is a bad line.

    Tokens are counted (`max_tokens`) only when both `tokenizer` and `fmt` are given; then a
    trajectory `fmt` cannot render is a bad line too. Bad lines raise `RecordFileError`
    naming file and line, or are counted in `report` with `skip_invalid` (see `iter_jsonl`).
    """
    limits = limits if limits is not None else InputLimits()
    if (tokenizer is None) != (fmt is None):
        raise ValueError("counting tokens needs both a tokenizer and a format")
    return iter_jsonl(
        path,
        Trajectory,
        skip_invalid=skip_invalid,
        report=report,
        max_line_bytes=limits.max_line_bytes,
        check=partial(trajectory_problem, limits=limits, tokenizer=tokenizer, fmt=fmt),
    )


def read_trajectories(
    path: str | Path,
    limits: InputLimits | None = None,
    *,
    skip_invalid: bool = False,
    report: ReadReport | None = None,
    tokenizer: Any = None,
    fmt: ReactFormat | None = None,
) -> list[Trajectory]:
    """Read a whole trajectory file under `limits` (see `iter_trajectories`)."""
    return list(
        iter_trajectories(
            path, limits, skip_invalid=skip_invalid, report=report, tokenizer=tokenizer, fmt=fmt
        )
    )
