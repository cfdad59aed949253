"""Import trajectories from the layouts agent data ships in: OpenAI chat, ShareGPT, alpaca, ReAct.

    config = ImportConfig(source="openai-chat", env="hotpotqa", format="react", model="gpt-4")
    result = import_files(["fireact.jsonl"], config)      # ImportFileError names file:line
    paths = write_import(result, "data/gpt4.jsonl")       # + gpt4.import.json (+ .preamble.txt)

or `agentdistill import fireact.jsonl --from openai-chat --env hotpotqa --out data/gpt4.jsonl`.

Sources (one conversation a line for the JSON ones; unknown keys are ignored and counted):
- `openai-chat`: `{"messages": [{"role": "system"|"developer"|"user"|"assistant"|"tool"|
  "function", "content": str | [{"type": "text", "text": ...}] | null, "weight": 0|1}]}`
  (OpenAI's fine-tuning files, as AgentTuning or FireAct publish them);
- `sharegpt`: `{"conversations": [{"from": "system"|"human"|"user"|"gpt"|"assistant"|
  "chatgpt"|"tool"|"function"|"observation", "value": str, "loss": bool}]}`;
- `alpaca`: `{"instruction": str, "input": str, "output": str}`, the output a whole ReAct
  transcript of turns and observations;
- `react`: text files of ReAct transcripts (what `ReactFormat.render` writes), episodes
  separated by blank lines or by a line holding `separator`.
Every JSON record may also carry `id` (the task id; default FILE_STEM-N for its N-th record),
`model` (the teacher's name), `reward` and `success`.

A transcript is cut into messages first: the lines before the first turn are the task, a turn
runs from a thought or action line (`Thought 2:`, `Action:`, `> think:`, `> go to ...`) to the
end of its action lines, an observation from there to the next turn. Then every source goes
through one conversion, which applies these choices (each counted per file in the report,
`ImportCounts`, printed by the CLI and written beside the output: nothing is silent):

- **The prompt**: everything before the first assistant message that holds an action or a
  thought label is the prompt. Its last user (or tool) message is the task, the trajectory's
  initial observation; system messages and the messages before the task (instructions, an
  acknowledgment such as AgentInstruct's `OK`) make the preamble, one message a line, written
  beside the output as OUT.preamble.txt (the most common one when episodes differ; give it to
  `agentdistill distill --preamble`). `preamble="inline"` prepends it to each initial
  observation instead. Assistant chatter after the task and before the first turn is dropped.
- **A turn** is one assistant message, read with the format's `parse` (`ReactFormat.parse`,
  the parser the rollout engine uses): thoughts one per line, the first action.
  - several actions in one turn: the first is kept and the rest of the turn is dropped, as an
    environment would have executed the first (splitting them would invent observations);
  - an action written inside a thought line (`... so I search. Action 2: Search[x]`): split off
    onto its own line;
  - text after the action's closing `]` (`Search[x] to learn more`): dropped (rule 7);
  - other text after the action line (an invented `Observation:`, chatter): dropped;
  - a turn without an action (`no_action`): `merge` (default) carries its thoughts into the
    next turn's reasoning and drops the message that answered it (ALFWorld's `OK.`, or an
    error message, counted apart); `drop` drops the turn and its answer; `error` refuses the
    conversation. Thoughts left without an action at the end are dropped.
  - layout: a turn is recorded in the format's canonical layout (what a student is prompted
    with at inference, where `HFPolicy` renders its own turns canonically), counted when the
    text differed (another label, numbering, a missing `>`); `keep_layout` keeps the text in
    `Step.written` instead, where the format can represent it.
  - an assistant turn with `weight: 0` (OpenAI) or `loss: false` (ShareGPT) is kept with
    `imitate=False`: in the context, without a loss. `tool_calls` are not read (counted).
- **Observations**: the user and tool messages after a turn, joined by a newline when several;
  `Observation 2:`-style labels are stripped (labelled formats only: ALFWorld's have none);
  an empty message is an empty observation; a turn followed directly by another has an empty
  observation; the last turn may have none (the episode ended with it).
- **Outcome**: such files rarely say whether an episode succeeded. `success` and `reward` come
  from the record's own fields if it has them, else from a reward in the final observation
  (`reward: 0.5`, `Your score ...: 1.0`; success when the reward reaches `success_threshold`),
  else `assume_success` (default True: published fine-tuning sets keep the episodes that
  succeeded) with reward 1.0 or 0.0.
- **Policy**: `PolicyInfo(kind="api")` named after the model when the record or `model` names
  one (GPT-4 and GPT-3.5 are APIs), else `kind="other"` named `import:SOURCE`.
- **Task**: the `--env` and `--split` given; the goal is the task's `Your task is to:`,
  `Question:` or `Claim:` line, else its last line.

A conversation that cannot be imported (no task, no turn with an action, a system message
after the first turn, a turn the format cannot represent, a bad record) raises
`ImportFileError` naming file and line (a transcript's: the line its episode starts on),
unless `skip_invalid`, which skips it and lists it in the report. Outputs are written
atomically.

Limits: `tool_calls` (function calling) are not read; in `alfworld` every line that is not a
think is a command, so an acknowledgment (`OK`) before the task would read as a turn: import
such files (AgentInstruct's `THOUGHT:`/`ACTION:` turns) with the `react` format.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from agentdistill.config import Config, FormatConfig
from agentdistill.environments.names import known_env_names
from agentdistill.files import write_text_atomic
from agentdistill.formats import FormatError, ReactFormat
from agentdistill.records import (
    DEFAULT_MAX_LINE_BYTES,
    PolicyInfo,
    ReadReport,
    RecordFileError,
    Step,
    Task,
    Trajectory,
    iter_jsonl,
    write_jsonl,
)

Source = Literal["openai-chat", "sharegpt", "alpaca", "react"]
SOURCES: tuple[str, ...] = ("openai-chat", "sharegpt", "alpaca", "react")


class ImportFileError(RecordFileError):
    """A conversation of an input file cannot be imported; the message names file and line."""


class ImportConfig(Config):
    """How files of another layout become trajectory records (see the module docstring)."""

    source: Source = Field(description="Input layout: openai-chat, sharegpt, alpaca or react.")
    env: str = Field(min_length=1, description="Environment of the tasks, e.g. 'hotpotqa'.")
    split: str = Field(default="train", min_length=1, description="Split of the tasks.")
    format: Literal["react", "paper", "alfworld"] = Field(
        default="react", description="ReAct format the assistant turns are written in."
    )
    numbered: bool = Field(
        default=True, description="react: the canonical layout numbers its labels."
    )
    no_action: Literal["merge", "drop", "error"] = Field(
        default="merge",
        description="A turn without an action: merge its thoughts into the next turn, drop "
        "it, or refuse the conversation.",
    )
    keep_layout: bool = Field(
        default=False,
        description="Keep a turn's own layout in Step.written where the format can represent "
        "it (default: record the canonical layout a student is prompted with).",
    )
    preamble: Literal["separate", "inline"] = Field(
        default="separate",
        description="System prompt and opening messages: a preamble file beside the output "
        "(separate) or prepended to each initial observation (inline).",
    )
    assume_success: bool = Field(
        default=True,
        description="Outcome of a conversation that states none (fine-tuning sets usually "
        "keep the successful episodes).",
    )
    success_threshold: float = Field(
        default=1.0, description="A stated reward at least this high counts as a success."
    )
    model: str | None = Field(
        default=None, description="The teacher's name when records do not say (e.g. gpt-4)."
    )
    separator: str | None = Field(
        default=None,
        description="react: a line holding exactly this text separates episodes (default: "
        "blank lines do).",
    )
    allow_unknown_env: bool = Field(
        default=False, description="Accept an environment name this build does not know."
    )
    skip_invalid: bool = Field(
        default=False, description="Skip (and list) conversations that cannot be imported."
    )
    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES, ge=1, description="Longest JSON line read, in bytes."
    )

    @model_validator(mode="after")
    def _known_env(self) -> ImportConfig:
        known = known_env_names()
        if not self.allow_unknown_env and self.env not in known:
            raise ValueError(
                f"unknown environment {self.env!r}; known: {', '.join(known)} "
                "(allow_unknown_env accepts any name)"
            )
        if self.separator is not None and not self.separator.strip():
            raise ValueError("separator must hold visible text (blank lines separate anyway)")
        return self

    def format_config(self, preamble: str = "") -> FormatConfig:
        """The format to render (and distil) the imported trajectories with."""
        return FormatConfig(name=self.format, numbered=self.numbered, preamble=preamble)


class ImportCounts(BaseModel):
    """How often each parsing choice was applied (the descriptions are the report's rows)."""

    model_config = ConfigDict(extra="forbid")

    system_prompts: int = Field(default=0, description="system messages moved to the preamble")
    opening_messages: int = Field(
        default=0, description="messages before the task moved to the preamble"
    )
    chatter_dropped: int = Field(
        default=0, description="assistant chatter between the task and the first turn dropped"
    )
    several_actions: int = Field(
        default=0, description="turns with several actions: the first kept, the rest dropped"
    )
    inline_actions: int = Field(
        default=0, description="actions inside a thought line split onto their own line"
    )
    text_after_bracket: int = Field(
        default=0, description="text after an action's closing ] dropped"
    )
    trailing_text: int = Field(
        default=0, description="other text after the action line dropped (e.g. Observation:)"
    )
    no_action_turns: int = Field(
        default=0, description="turns without an action (merged into the next, or dropped)"
    )
    answers_dropped: int = Field(
        default=0, description="non-empty answers to a turn without an action dropped (not OK.)"
    )
    thoughts_dropped_at_end: int = Field(
        default=0, description="turns without an action at the end of a conversation dropped"
    )
    layout_normalised: int = Field(
        default=0, description="turns recorded in the format's canonical layout (text differed)"
    )
    layout_kept: int = Field(
        default=0, description="turns kept verbatim in Step.written (keep_layout)"
    )
    not_imitated: int = Field(
        default=0, description="turns marked weight 0 / loss false kept with imitate=False"
    )
    tool_calls_ignored: int = Field(
        default=0, description="assistant messages whose tool_calls were not read"
    )
    observation_labels: int = Field(
        default=0, description="observation labels stripped from messages"
    )
    observations_joined: int = Field(
        default=0, description="consecutive user/tool messages joined into one observation"
    )
    empty_observations: int = Field(
        default=0, description="empty observation messages kept as empty observations"
    )
    missing_observations: int = Field(
        default=0, description="turns followed directly by another turn: empty observation"
    )
    outcome_from_record: int = Field(
        default=0, description="outcomes from the record's success/reward fields"
    )
    outcome_from_message: int = Field(
        default=0, description="outcomes from a reward in the final observation"
    )
    outcome_assumed: int = Field(
        default=0, description="outcomes assumed (assume_success), none being stated"
    )

    def add(self, counts: Counter[str]) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)


class FileReport(BaseModel):
    """What importing one file did."""

    file: str = Field(description="The input file.")
    source: str = Field(description="Its layout.")
    conversations: int = Field(default=0, description="Conversations (episodes) read.")
    imported: int = Field(default=0, description="Trajectories written.")
    skipped: int = Field(default=0, description="Conversations skipped (skip_invalid).")
    steps: int = Field(default=0, description="Steps of the imported trajectories.")
    errors: list[str] = Field(default_factory=list, description="Why each one was skipped.")
    ignored_fields: dict[str, int] = Field(
        default_factory=dict, description="Record keys not read, with how many records had them."
    )
    counts: ImportCounts = Field(
        default_factory=ImportCounts, description="How often each parsing choice was applied."
    )


class ImportReport(BaseModel):
    """The report written beside an import's output (OUT.import.json)."""

    config: dict[str, JsonValue] = Field(description="The import settings.")
    format: FormatConfig = Field(
        description="Format (with the preamble) to distil the trajectories with."
    )
    files: list[FileReport] = Field(description="One report per input file.")
    total: ImportCounts = Field(description="The counts over all files.")
    trajectories: int = Field(description="Trajectories written.")
    preambles: int = Field(description="Distinct preambles (0: none; >1: episodes differ).")
    other_preamble: int = Field(
        description="Episodes whose preamble differs from the one written (separate mode)."
    )
    output: str | None = Field(default=None, description="The trajectory file written.")
    preamble_file: str | None = Field(default=None, description="The preamble file written.")


@dataclass
class ImportResult:
    """Trajectories imported from some files, the report, and the preamble they share."""

    trajectories: list[Trajectory]
    report: ImportReport
    preamble: str = ""


# ---- messages ----------------------------------------------------------------------------

Role = Literal["system", "user", "assistant"]


@dataclass
class Message:
    """One message of a conversation, in the importer's terms (tool answers are `user`)."""

    role: Role
    content: str
    imitate: bool = True
    tool_calls: bool = False


@dataclass
class Conversation:
    """A conversation with what its record says besides the messages."""

    messages: list[Message]
    task_id: str
    model: str | None = None
    reward: float | None = None
    success: bool | None = None


class _Invalid(ValueError):
    """This conversation cannot be imported (the message says why)."""


class ImportRecord(BaseModel):
    """Keys any JSON record may carry besides its conversation; other keys are ignored."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = Field(default=None, description="Task id.")
    model: str | None = Field(default=None, description="The model that wrote the turns.")
    reward: float | None = Field(default=None, description="The episode's final reward.")
    success: bool | None = Field(default=None, description="Whether the episode succeeded.")


class _ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Part type; only 'text' parts are read.")
    text: str | None = Field(default=None, description="The text of a text part.")


class _ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"] = Field(
        description="Who speaks; tool and function results are observations."
    )
    content: str | list[_ContentPart] | None = Field(
        default=None, description="Text, or a list of content parts."
    )
    weight: Literal[0, 1] | None = Field(
        default=None, description="OpenAI: 0 leaves an assistant turn out of training."
    )
    tool_calls: list[JsonValue] | None = Field(
        default=None, description="Function calls (not read: ReAct text only)."
    )


class OpenAIChatRecord(ImportRecord):
    """A line of an OpenAI chat fine-tuning file."""

    messages: list[_ChatMessage] = Field(min_length=1, description="The conversation.")


_SHAREGPT_ROLES: dict[str, Role] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "tool": "user",
    "function": "user",
    "observation": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
}


class _ShareGPTTurn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    speaker: Literal[
        "system", "human", "user", "tool", "function", "observation", "gpt", "assistant", "chatgpt"
    ] = Field(alias="from", description="Who speaks.")
    value: str = Field(description="The text.")
    loss: bool | None = Field(default=None, description="False: not trained on.")


class ShareGPTRecord(ImportRecord):
    """A line of a ShareGPT file."""

    conversations: list[_ShareGPTTurn] = Field(min_length=1, description="The conversation.")


class AlpacaRecord(ImportRecord):
    """A line of an alpaca file whose output is a whole ReAct transcript."""

    instruction: str = Field(description="The instruction (or the task).")
    input: str = Field(default="", description="The task, when the instruction is general.")
    output: str = Field(description="The whole ReAct transcript.")


def _text(content: str | list[_ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise _Invalid(f"a content part of type {part.type!r} (only text is read)")
        parts.append(part.text)
    return "".join(parts)


def _chat_messages(record: OpenAIChatRecord) -> list[Message]:
    messages = []
    for item in record.messages:
        role: Role = {"system": "system", "developer": "system", "assistant": "assistant"}.get(
            item.role, "user"
        )  # type: ignore[assignment]
        messages.append(
            Message(
                role=role,
                content=_text(item.content),
                imitate=item.weight != 0,
                tool_calls=role == "assistant" and bool(item.tool_calls),
            )
        )
    return messages


def _sharegpt_messages(record: ShareGPTRecord) -> list[Message]:
    return [
        Message(
            role=_SHAREGPT_ROLES[turn.speaker], content=turn.value, imitate=turn.loss is not False
        )
        for turn in record.conversations
    ]


# ---- transcripts -------------------------------------------------------------------------

# The labels `LabeledLinesFormat.parse` accepts, at the very start of a transcript line
# (parse_episode's turns are not indented either).
_REASON_LINE = re.compile(r"(?:thought|reasoning|think)[ \t]*\d*[ \t]*[:\uff1a]", re.I)
_ACTION_LINE = re.compile(r"(?:action|act)[ \t]*\d*[ \t]*[:\uff1a](.*)$", re.I)
_INLINE_ACTION = re.compile(r"\bAction\s*\d*\s*:\s?\S")
_OBS_LINE = re.compile(r"(?:observation|obs)[ \t]*\d*[ \t]*[:\uff1a]", re.I)
# ALFWorld: every line the agent writes starts with `>`; `OK.` answers a think.
_ALF_THINK = re.compile(r">\s*think\s*:", re.I)
_ALF_REPLY = "OK."


def _lines(text: str) -> list[str]:
    """Lines of `text` after normalising line endings; a final newline ends the last line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def split_transcript(text: str, format_name: str) -> list[Message]:
    """Cut a ReAct transcript into messages: the task, then turns and observations.

    A turn starts at a thought or action line and runs through its action lines (an
    `Action:` alone on its line takes the next line too); in `alfworld` it is a run of `>`
    lines, each think optionally answered by `OK.`. Lines that are no turn's belong to the
    observation before them (the lines before the first turn: the task).
    """
    messages: list[Message] = []
    block: list[str] = []
    in_turn = False  # the current block is a turn
    acted = False  # the current turn holds an action line
    awaiting = False  # an action label with nothing after it: its action is the next line
    after_think = False  # alfworld: the previous line was a think

    def flush() -> None:
        if block or not in_turn:
            messages.append(Message("assistant" if in_turn else "user", "\n".join(block)))
        block.clear()

    for line in _lines(text):
        if format_name == "alfworld":
            turn_line = line.startswith(">")
            continues = turn_line or (after_think and line.strip() == _ALF_REPLY)
            is_action = turn_line and not _ALF_THINK.match(line)
            after_think = turn_line and not is_action
            if in_turn and continues:
                block.append(line)
                continue
            if turn_line:  # a turn begins
                if block or messages:
                    flush()
                in_turn = True
                block.append(line)
                continue
            if in_turn:
                flush()
                in_turn = False
            block.append(line)
            continue
        if in_turn and awaiting:
            block.append(line)
            awaiting, acted = False, True
            continue
        action = _ACTION_LINE.match(line)
        turn_line = bool(action or _REASON_LINE.match(line))
        if in_turn and not (_OBS_LINE.match(line) or (acted and not turn_line)):
            block.append(line)
        elif turn_line:
            if block or messages:
                flush()
            in_turn, acted = True, False
            block.append(line)
        else:
            if in_turn:
                flush()
                in_turn = False
            block.append(line)
            continue
        if action:
            awaiting = not action.group(1).strip()
            acted = acted or not awaiting
        elif _INLINE_ACTION.search(line):
            acted = True
    if block or messages:
        flush()
    return messages


def _transcript_blocks(text: str, separator: str | None) -> list[tuple[int, str]]:
    """(first line number, text) of each episode of a transcript file."""
    episodes: list[tuple[int, str]] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(_lines(text), start=1):
        boundary = line.strip() == separator if separator is not None else not line.strip()
        if boundary:
            if current and any(part.strip() for part in current):
                episodes.append((start, "\n".join(current)))
            current = []
            continue
        if not current:
            start = number
        current.append(line)
    if current and any(part.strip() for part in current):
        episodes.append((start, "\n".join(current)))
    return episodes


# ---- one conversation -> a trajectory ----------------------------------------------------

_THOUGHT_LABEL = re.compile(
    r"^[ \t]*>?[ \t]*(?:thought|reasoning|think)[ \t]*\d*[ \t]*[:\uff1a]", re.I | re.M
)
_OBS_PREFIX = re.compile(r"^[ \t]*(?:observation|obs)[ \t]*\d*[ \t]*[:\uff1a][ \t]?", re.I)
_REWARD = re.compile(r"\b(?:reward|score)\b[^:=\n]{0,40}[:=][ \t]*(-?\d+(?:\.\d+)?)", re.I)
_GOAL = re.compile(
    r"^[ \t]*(?:your task is to|question|claim)[ \t]*:[ \t]*(\S.*?)\s*$", re.I | re.M
)


@dataclass
class _Turn:
    """An assistant turn as read: (reasoning, action or None) and the text it came from."""

    reasoning: str
    action: str | None
    text: str
    imitate: bool
    counts: Counter[str] = field(default_factory=Counter)


def _read_assistant(fmt: ReactFormat, content: str, imitate: bool) -> _Turn:
    """Reasoning and first action of one assistant message, with the choices it needed."""
    counts: Counter[str] = Counter()
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    state = fmt.turn_state(text)
    turn, rest = (text[: state.end], text[state.end :]) if state.done else (text, "")
    parsed = fmt.parse(turn)
    if parsed.action is None:
        return _Turn(parsed.reasoning, None, turn, imitate)
    if rest.strip():
        counts["several_actions" if fmt.parse(rest).action else "trailing_text"] += 1
    last = turn.rstrip("\n").split("\n")[-1]
    if not last.rstrip().endswith(parsed.action):
        counts["text_after_bracket"] += 1
    if fmt.parse(last + "\n").reasoning:  # the action line also holds a thought
        counts["inline_actions"] += 1
    return _Turn(parsed.reasoning, parsed.action, turn, imitate, counts)


def _observation(fmt: ReactFormat, content: str, counts: Counter[str]) -> str:
    if fmt.name != "alfworld":  # ALFWorld observations carry no label
        match = _OBS_PREFIX.match(content)
        if match:
            counts["observation_labels"] += 1
            return content[match.end() :]
    return content


def _goal(initial_observation: str) -> str:
    match = _GOAL.search(initial_observation)
    if match:
        return match.group(1)
    lines = [line.strip() for line in initial_observation.split("\n") if line.strip()]
    return lines[-1] if lines else ""


def _preamble_text(messages: Iterable[Message]) -> str:
    return "".join(m.content if m.content.endswith("\n") else m.content + "\n" for m in messages)


def _is_turn(fmt: ReactFormat, message: Message) -> bool:
    """An assistant message that acts or thinks (the first one ends the prompt)."""
    if message.role != "assistant":
        return False
    return bool(_THOUGHT_LABEL.search(message.content)) or (
        _read_assistant(fmt, message.content, True).action is not None
    )


def convert(
    conversation: Conversation, config: ImportConfig, fmt: ReactFormat
) -> tuple[Trajectory, str, Counter[str]]:
    """One conversation as a trajectory, its preamble and the choices applied.

    Raises `_Invalid` (a ValueError) when it cannot be imported.
    """
    messages = conversation.messages
    counts: Counter[str] = Counter()
    first = next((i for i, m in enumerate(messages) if _is_turn(fmt, m)), None)
    if first is None:
        raise _Invalid("no assistant turn with an action")
    task_at = next((i for i in range(first - 1, -1, -1) if messages[i].role == "user"), None)
    if task_at is None:
        raise _Invalid("no user message (the task) before the first assistant turn")
    opening = messages[:task_at]
    counts["system_prompts"] += sum(m.role == "system" for m in opening)
    counts["opening_messages"] += sum(m.role != "system" for m in opening)
    counts["chatter_dropped"] += first - task_at - 1
    preamble = _preamble_text(opening)
    initial = messages[task_at].content
    if config.preamble == "inline" and preamble:
        initial = preamble + initial
        preamble = ""

    steps: list[Step] = []
    carried: list[str] = []  # thoughts of turns without an action, for the next turn
    pending: _Turn | None = None  # the last turn, waiting for its observation
    answers: list[str] = []
    dropping = False  # the messages after a turn without an action are dropped

    def close() -> None:
        nonlocal pending
        if pending is None:
            return
        if len(answers) > 1:
            counts["observations_joined"] += len(answers) - 1
        observation = "\n".join(answers)
        if answers and not observation:
            counts["empty_observations"] += 1
        steps.append(_step(pending, observation))
        pending = None

    def _step(turn: _Turn, observation: str) -> Step:
        index = len(steps)
        assert turn.action is not None
        own = turn.reasoning.split("\n") if turn.reasoning else []
        reasoning = "\n".join([*carried, *own])
        merged = bool(carried)
        carried.clear()
        try:
            step = Step(reasoning=reasoning, action=turn.action, observation=observation)
            if not turn.imitate:
                step = step.model_copy(update={"imitate": False})
                counts["not_imitated"] += 1
            fmt.check_step(step, index)
            canonical = not merged and fmt.turn_text(step, index) == turn.text
            if not canonical:
                kept = None
                if config.keep_layout and not merged and not turn.counts:
                    try:
                        kept = fmt.read_turn(turn.text, index, observation)
                    except FormatError:
                        kept = None
                if kept is not None and kept.written is not None:
                    step = step.model_copy(update={"written": kept.written})
                    counts["layout_kept"] += 1
                else:
                    counts["layout_normalised"] += 1
        except (ValidationError, FormatError) as exc:
            raise _Invalid(f"turn {index + 1}: {_reason(exc)}") from exc
        counts.update(turn.counts)
        return step

    for message in messages[first:]:
        if message.role == "assistant":
            if pending is not None and not answers:
                counts["missing_observations"] += 1
            close()
            answers = []
            if message.tool_calls:
                counts["tool_calls_ignored"] += 1
            turn = _read_assistant(fmt, message.content, message.imitate)
            if turn.action is None:
                counts["no_action_turns"] += 1
                if config.no_action == "error":
                    raise _Invalid(
                        f"turn {len(steps) + 1} has no action: {message.content[:60]!r} "
                        "(no_action: merge or drop accept it)"
                    )
                if config.no_action == "merge" and turn.reasoning:
                    carried.extend(turn.reasoning.split("\n"))
                dropping = True
                continue
            pending, dropping = turn, False
        elif message.role == "user":
            if dropping:
                text = message.content.strip()
                if text and text != _ALF_REPLY:
                    counts["answers_dropped"] += 1
                continue
            answers.append(_observation(fmt, message.content, counts))
        else:  # a system message inside the conversation: an instruction, not an answer
            raise _Invalid("a system message after the first turn")
    close()
    if carried:
        counts["thoughts_dropped_at_end"] += 1
    trajectory = _trajectory(conversation, config, initial, steps, counts)
    return trajectory, preamble, counts


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'step'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
    return str(exc)


def _trajectory(
    conversation: Conversation,
    config: ImportConfig,
    initial: str,
    steps: list[Step],
    counts: Counter[str],
) -> Trajectory:
    reward, success = conversation.reward, conversation.success
    if reward is not None or success is not None:
        counts["outcome_from_record"] += 1
        if success is None:
            success = reward is not None and reward >= config.success_threshold
        if reward is None:
            reward = float(success)
    else:
        final = steps[-1].observation if steps else ""
        stated = _REWARD.findall(final)
        if stated:
            counts["outcome_from_message"] += 1
            reward = float(stated[-1])
            success = reward >= config.success_threshold
        else:
            counts["outcome_assumed"] += 1
            success = config.assume_success
            reward = float(success)
    model = conversation.model or config.model
    policy = PolicyInfo(
        name=model or f"import:{config.source}",
        kind="api" if model else "other",
        model=model,
    )
    try:
        return Trajectory(
            task=Task(
                env=config.env,
                task_id=conversation.task_id,
                split=config.split,
                goal=_goal(initial),
            ),
            initial_observation=initial,
            steps=steps,
            success=success,
            reward=reward,
            policy=policy,
        )
    except ValidationError as exc:
        raise _Invalid(_reason(exc)) from exc


# ---- files -------------------------------------------------------------------------------


@dataclass
class _Collected:
    trajectories: list[Trajectory] = field(default_factory=list)
    preambles: list[str] = field(default_factory=list)


def record_conversation(record: ImportRecord, format_name: str, task_id: str) -> Conversation:
    """The conversation a JSON record holds (an alpaca output cut in `format_name`)."""
    if isinstance(record, OpenAIChatRecord):
        messages = _chat_messages(record)
    elif isinstance(record, ShareGPTRecord):
        messages = _sharegpt_messages(record)
    else:
        assert isinstance(record, AlpacaRecord)
        # a general instruction with the task as input: the instruction is a system prompt
        head = (
            [Message("system", record.instruction), Message("user", record.input)]
            if record.input
            else [Message("user", record.instruction)]
        )
        messages = head + split_transcript(record.output, format_name)
    given = str(record.id) if record.id is not None else ""
    return Conversation(
        messages=messages,
        task_id=given or task_id,
        model=record.model,
        reward=record.reward,
        success=record.success,
    )


_RECORDS: dict[str, type[ImportRecord]] = {
    "openai-chat": OpenAIChatRecord,
    "sharegpt": ShareGPTRecord,
    "alpaca": AlpacaRecord,
}


def import_file(
    path: str | Path, config: ImportConfig
) -> tuple[list[Trajectory], list[str], FileReport]:
    """Import one file: its trajectories, each one's preamble, and the file's report.

    Raises `ImportFileError` (file:line) for a conversation that cannot be imported, unless
    `config.skip_invalid`; an unreadable file raises OSError.
    """
    path = Path(path)
    fmt = config.format_config().build()
    report = FileReport(file=str(path), source=config.source)
    collected = _Collected()
    ignored: Counter[str] = Counter()

    def take(conversation: Conversation) -> None:
        trajectory, preamble, counts = convert(conversation, config, fmt)
        collected.trajectories.append(trajectory)
        collected.preambles.append(preamble)
        report.counts.add(counts)
        report.steps += len(trajectory.steps)

    if config.source == "react":
        _import_transcripts(path, config, fmt, take, report)
    else:
        read = ReadReport()
        model = _RECORDS[config.source]

        def check(record: ImportRecord) -> str | None:
            ordinal = read.read + read.skipped + 1
            try:
                take(record_conversation(record, config.format, f"{path.stem}-{ordinal}"))
            except ValueError as exc:
                return str(exc)
            ignored.update(list(record.model_extra or {}))
            return None

        try:
            for _ in iter_jsonl(
                path,
                model,
                skip_invalid=config.skip_invalid,
                report=read,
                max_line_bytes=config.max_line_bytes,
                check=check,
            ):
                pass
        except ImportFileError:
            raise
        except RecordFileError as exc:
            prefix = f"{exc.path}:{exc.line}: "
            raise ImportFileError(exc.path, exc.line, str(exc).removeprefix(prefix)) from exc
        report.conversations = read.read + read.skipped
        report.skipped = read.skipped
        report.errors = list(read.errors)
    report.imported = len(collected.trajectories)
    report.ignored_fields = dict(sorted(ignored.items()))
    return collected.trajectories, collected.preambles, report


def _import_transcripts(
    path: Path,
    config: ImportConfig,
    fmt: ReactFormat,
    take: Callable[[Conversation], None],
    report: FileReport,
) -> None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFileError(path, line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from exc
    for number, (line, episode) in enumerate(_transcript_blocks(text, config.separator), start=1):
        report.conversations += 1
        conversation = Conversation(
            messages=split_transcript(episode, config.format), task_id=f"{path.stem}-{number}"
        )
        try:
            take(conversation)
        except ValueError as exc:
            if not config.skip_invalid:
                raise ImportFileError(path, line, str(exc)) from exc
            report.skipped += 1
            report.errors.append(f"{path}:{line}: {exc}")


def import_files(paths: Sequence[str | Path], config: ImportConfig) -> ImportResult:
    """Import several files of one layout into one trajectory list with its report."""
    trajectories: list[Trajectory] = []
    preambles: list[str] = []
    files: list[FileReport] = []
    total = ImportCounts()
    for path in paths:
        found, their_preambles, report = import_file(path, config)
        trajectories += found
        preambles += their_preambles
        files.append(report)
        total.add(Counter(report.counts.model_dump()))
    distinct = Counter(p for p in preambles if p)
    # the most common preamble (first seen on a tie) is the one written
    preamble = max(distinct, key=lambda p: (distinct[p], -preambles.index(p)), default="")
    report = ImportReport(
        config=config.model_dump(mode="json"),
        format=config.format_config(preamble),
        files=files,
        total=total,
        trajectories=len(trajectories),
        preambles=len(distinct),
        other_preamble=sum(p != preamble for p in preambles),
    )
    return ImportResult(trajectories, report, preamble)


def report_path(out: str | Path) -> Path:
    """Where the report of an import into `out` goes: OUT.import.json beside it."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".import.json")


def preamble_path(out: str | Path) -> Path:
    """Where the preamble of an import into `out` goes: OUT.preamble.txt beside it."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".preamble.txt")


def write_import(result: ImportResult, out: str | Path) -> ImportReport:
    """Write the trajectories, the report and (if any) the preamble, each atomically."""
    out = Path(out)
    write_jsonl(out, result.trajectories)
    report = result.report.model_copy(update={"output": str(out)})
    if result.preamble:
        report.preamble_file = str(write_text_atomic(preamble_path(out), result.preamble))
    write_text_atomic(report_path(out), report.model_dump_json(indent=2) + "\n")
    return report


# ---- the layouts, written (what the importer reads; tests round-trip through them) -------


def _turns(trajectory: Trajectory, fmt: ReactFormat) -> list[tuple[str, str, bool]]:
    """(role, text, imitate) of the messages after the task: turns and observations."""
    messages: list[tuple[str, str, bool]] = []
    for index, step in enumerate(trajectory.steps):
        messages.append(("assistant", fmt.turn_text(step, index).removesuffix("\n"), step.imitate))
        last = index == len(trajectory.steps) - 1
        if not (last and not step.observation):  # rule 2: the final action may end it
            messages.append(("user", fmt.observation_text(step, index).removesuffix("\n"), True))
    return messages


def _meta(trajectory: Trajectory) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": trajectory.task.task_id,
        "reward": trajectory.reward,
        "success": trajectory.success,
    }
    if trajectory.policy.model:
        meta["model"] = trajectory.policy.model
    return meta


def to_openai_chat(trajectory: Trajectory, fmt: ReactFormat, preamble: str = "") -> dict[str, Any]:
    """A trajectory as an OpenAI chat fine-tuning record (`weight: 0` for imitate=False)."""
    messages: list[dict[str, Any]] = []
    if preamble:
        messages.append({"role": "system", "content": preamble})
    messages.append({"role": "user", "content": trajectory.initial_observation})
    for role, text, imitate in _turns(trajectory, fmt):
        message: dict[str, Any] = {"role": role, "content": text}
        if not imitate:
            message["weight"] = 0
        messages.append(message)
    return {"messages": messages, **_meta(trajectory)}


def to_sharegpt(trajectory: Trajectory, fmt: ReactFormat, preamble: str = "") -> dict[str, Any]:
    """A trajectory as a ShareGPT record (`loss: false` for imitate=False)."""
    turns: list[dict[str, Any]] = []
    if preamble:
        turns.append({"from": "system", "value": preamble})
    turns.append({"from": "human", "value": trajectory.initial_observation})
    for role, text, imitate in _turns(trajectory, fmt):
        turn: dict[str, Any] = {"from": "gpt" if role == "assistant" else "human", "value": text}
        if not imitate:
            turn["loss"] = False
        turns.append(turn)
    return {"conversations": turns, **_meta(trajectory)}


def to_alpaca(trajectory: Trajectory, fmt: ReactFormat, preamble: str = "") -> dict[str, Any]:
    """A trajectory as an alpaca record: the task, and the transcript as the output."""
    text = fmt.render_trajectory(trajectory).text
    output = text[len(trajectory.initial_observation) + 1 :]
    if preamble:
        record = {"instruction": preamble, "input": trajectory.initial_observation}
    else:
        record = {"instruction": trajectory.initial_observation, "input": ""}
    return {**record, "output": output, **_meta(trajectory)}


def to_transcript(trajectory: Trajectory, fmt: ReactFormat) -> str:
    """A trajectory as a ReAct transcript (one episode of a `react` file)."""
    return fmt.render_trajectory(trajectory).text


def dump_jsonl(records: Iterable[dict[str, Any]]) -> str:
    """JSON lines of records (for writing input files of the JSON layouts)."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
