"""ReAct text formats: render a trajectory to training/prompt text, parse model output back.

One rendering serves training and inference. The text of a trajectory is

    preamble + initial observation + "\\n" + turn(step 1) + observation(step 1) + ...

and a policy's *turn* for step k starts right after the previous observation's newline, so
the prompt a policy sees at step k is exactly `render(initial, steps[:k]).text`, which is the
prefix `render(initial, steps).text[:turn_starts[k]]` of the training text.

Every character belongs to exactly one labelled segment:
- PROMPT: preamble and the initial observation (the task) with its newline;
- REASON: the whole reasoning line the policy writes, label included (`Thought 2: ...\\n`),
  because a student that is never trained on the label never learns to open a thought;
- ACT: the whole action line the policy writes, label and final newline included, so the
  student learns where an action ends;
- OBS: the environment's answer, label included (`Observation 2: ...\\n`, or ALFWorld's `OK.`).

Formats:
- `react`: `Thought 1: ...` / `Action 1: ...` / `Observation 1: ...` (HotPotQA style;
  `numbered=False` drops the numbers);
- `paper`: `Reasoning: ...` / `Action: ...` / `Observation: ...` (the SAD paper);
- `alfworld`: `> think: ...` answered `OK.`, then `> action` and the observation (ReAct's
  ALFWorld prompts).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

import numpy as np

from agentdistill.records import Step, Trajectory


class SpanLabel(IntEnum):
    """Label of a character or token. Values are stable: they are stored in arrays."""

    PROMPT = 0
    REASON = 1
    ACT = 2
    OBS = 3


@dataclass(frozen=True)
class Segment:
    """A labelled character range `[start, end)` of rendered text; `step` is -1 for the prompt."""

    start: int
    end: int
    label: SpanLabel
    step: int


@dataclass(frozen=True)
class RenderedTrajectory:
    """Rendered text with its segmentation and the positions a policy's turns start and end."""

    text: str
    segments: tuple[Segment, ...]
    turn_starts: tuple[int, ...]
    """`turn_starts[k]`: index where the policy's text for step k begins (its prompt's end)."""
    turn_ends: tuple[int, ...]
    """`turn_ends[k]`: index where the policy's turn for step k ends and the observation begins."""
    reasoning_spans: tuple[tuple[int, int] | None, ...]
    """Exact character range of each step's reasoning content (None when the step has none)."""
    action_spans: tuple[tuple[int, int], ...]
    """Exact character range of each step's action content."""

    def prompt(self, step: int) -> str:
        """The prompt a policy sees before writing step `step` (0-based)."""
        return self.text[: self.turn_starts[step]]

    def turn_text(self, step: int) -> str:
        """What the policy's turn for step `step` consists of (including any injected text)."""
        return self.text[self.turn_starts[step] : self.turn_ends[step]]

    def char_labels(self) -> np.ndarray:
        """Per-character labels (int8), one per character of `text`."""
        labels = np.empty(len(self.text), dtype=np.int8)
        for seg in self.segments:
            labels[seg.start : seg.end] = seg.label
        return labels

    def char_steps(self) -> np.ndarray:
        """Per-character step index (int32; -1 for the prompt)."""
        steps = np.empty(len(self.text), dtype=np.int32)
        for seg in self.segments:
            steps[seg.start : seg.end] = seg.step
        return steps


@dataclass(frozen=True)
class ParsedTurn:
    """What a policy's raw output said: its reasoning and its action (None if it gave none)."""

    reasoning: str
    action: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.action is not None


@dataclass(frozen=True)
class TurnState:
    """Where an incrementally generated turn stands (see `ReactFormat.turn_state`)."""

    done: bool
    """The turn holds a complete action line; generation stops."""
    end: int = -1
    """When done: index in the turn text right after the action line's newline."""
    inject: str = ""
    """Text the protocol answers before the policy continues (ALFWorld's `OK.` after a think)."""


class FormatError(ValueError):
    """A step cannot be rendered in a format (its text would not parse back)."""


class _Builder:
    """Appends labelled pieces of text, recording segments and content spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.segments: list[Segment] = []

    def add(self, text: str, label: SpanLabel, step: int) -> tuple[int, int]:
        start = self.length
        if text:
            self.parts.append(text)
            self.length += len(text)
            last = self.segments[-1] if self.segments else None
            if last is not None and last.label == label and last.step == step:
                self.segments[-1] = Segment(last.start, self.length, label, step)
            else:
                self.segments.append(Segment(start, self.length, label, step))
        return start, self.length


_WS = re.compile(r"\s+")
_BRACKET_ACTION = re.compile(r"^([A-Za-z_][A-Za-z_ ]*?)\s*\[(.*?)\]")


class ReactFormat(ABC):
    """A ReAct text format: rendering, parsing and the turn protocol for generation."""

    name: str

    def render(
        self, initial_observation: str, steps: Sequence[Step], preamble: str = ""
    ) -> RenderedTrajectory:
        """Render an episode (possibly partial) to text with its labelled segments."""
        out = _Builder()
        out.add(preamble + initial_observation + "\n", SpanLabel.PROMPT, -1)
        starts, ends, reasons, actions = [], [], [], []
        for index, step in enumerate(steps):
            self.check_step(step, index)
            starts.append(out.length)
            reason_span, action_span = self._render_turn(out, step, index)
            ends.append(out.length)
            reasons.append(reason_span)
            actions.append(action_span)
            self._render_observation(out, step, index)
        return RenderedTrajectory(
            text="".join(out.parts),
            segments=tuple(out.segments),
            turn_starts=tuple(starts),
            turn_ends=tuple(ends),
            reasoning_spans=tuple(reasons),
            action_spans=tuple(actions),
        )

    def render_trajectory(self, trajectory: Trajectory, preamble: str = "") -> RenderedTrajectory:
        return self.render(trajectory.initial_observation, trajectory.steps, preamble)

    def prompt(self, initial_observation: str, steps: Sequence[Step], preamble: str = "") -> str:
        """The text a policy is prompted with before its next step."""
        return self.render(initial_observation, steps, preamble).text

    def check_step(self, step: Step, index: int) -> None:
        """Raise `FormatError` if the step would not parse back to itself."""
        if not step.action:
            return  # an empty (invalid) action renders as an empty action line
        parsed = self.parse(self.turn_text(step, index))
        if parsed.reasoning != step.reasoning or parsed.action != step.action:
            raise FormatError(
                f"step {index}: format '{self.name}' cannot represent reasoning={step.reasoning!r} "
                f"action={step.action!r} (it would parse back as "
                f"reasoning={parsed.reasoning!r} action={parsed.action!r})"
            )

    def turn_text(self, step: Step, index: int) -> str:
        """The policy's turn for step `index` alone (what `render` puts there)."""
        out = _Builder()
        self._render_turn(out, step, index)
        return "".join(out.parts)

    def observation_text(self, step: Step, index: int) -> str:
        """The environment's answer to step `index` alone (what `render` puts after the turn)."""
        out = _Builder()
        self._render_observation(out, step, index)
        return "".join(out.parts)

    @abstractmethod
    def _render_turn(
        self, out: _Builder, step: Step, index: int
    ) -> tuple[tuple[int, int] | None, tuple[int, int]]:
        """Append the policy's turn; return the (reasoning, action) content spans."""

    @abstractmethod
    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        """Append the environment's answer to the step."""

    @abstractmethod
    def parse(self, text: str) -> ParsedTurn:
        """Parse a policy's raw output for one turn. Never raises: failures set `error`."""

    @abstractmethod
    def normalize_action(self, action: str) -> str:
        """The canonical form the parser gives an action."""

    @abstractmethod
    def turn_state(self, turn_text: str) -> TurnState:
        """Inspect a partially generated turn: finished, needs an injected answer, or neither."""

    @property
    @abstractmethod
    def stop_sequences(self) -> tuple[str, ...]:
        """Stop strings for a remote model that cannot call `turn_state` while generating."""


def _lines(text: str) -> list[str]:
    # Only \n (after normalising \r\n and \r) separates lines: str.splitlines would also split
    # on characters such as \x1c or \u2028 that may legitimately occur inside a thought.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


class LabeledLinesFormat(ReactFormat):
    """`<Reason label>: ...` / `<Action label>: ...` / `<Observation label>: ...` lines."""

    # Labels the parser accepts, whichever the format renders: real teachers mix them up.
    _REASON_LABEL = re.compile(r"^\s*(?:thought|reasoning|think)\s*\d*\s*[:\uff1a]\s?(.*)$", re.I)
    _ACTION_LABEL = re.compile(r"^\s*(?:action|act)\s*\d*\s*[:\uff1a]\s?(.*)$", re.I)
    _OBS_LABEL = re.compile(r"^\s*(?:observation|obs)\s*\d*\s*[:\uff1a]", re.I)
    # An action label inside a thought line ("... so I search. Action 2: Search[x]").
    _INLINE_ACTION = re.compile(r"\bAction\s*\d*\s*:\s?")

    def __init__(self, name: str, reason_label: str, numbered: bool) -> None:
        self.name = name
        self.reason_label = reason_label
        self.numbered = numbered

    def _label(self, word: str, index: int) -> str:
        return f"{word} {index + 1}: " if self.numbered else f"{word}: "

    def _render_turn(
        self, out: _Builder, step: Step, index: int
    ) -> tuple[tuple[int, int] | None, tuple[int, int]]:
        reason_span = None
        if step.reasoning:
            out.add(self._label(self.reason_label, index), SpanLabel.REASON, index)
            reason_span = out.add(step.reasoning, SpanLabel.REASON, index)
            out.add("\n", SpanLabel.REASON, index)
        out.add(self._label("Action", index), SpanLabel.ACT, index)
        action_span = out.add(step.action, SpanLabel.ACT, index)
        out.add("\n", SpanLabel.ACT, index)
        return reason_span, action_span

    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        out.add(self._label("Observation", index) + step.observation + "\n", SpanLabel.OBS, index)

    def normalize_action(self, action: str) -> str:
        """Strip; `Verb[arg]` gets a lower-case verb and loses anything after its `]`."""
        action = action.strip()
        match = _BRACKET_ACTION.match(action)
        if match:
            verb = _WS.sub("", match.group(1)).lower()
            return f"{verb}[{match.group(2).strip()}]"
        return action

    def parse(self, text: str) -> ParsedTurn:
        reasoning: list[str] = []
        action: str | None = None
        awaiting_action = False  # saw "Action:" with nothing after it on the line
        for raw in _lines(text):
            line = raw.strip()
            if not line:
                continue
            if awaiting_action:
                action = self.normalize_action(line)
                break
            if self._OBS_LABEL.match(line):
                break  # the model went on to invent an observation; the turn is over
            match = self._ACTION_LABEL.match(line)
            if match:
                rest = match.group(1).strip()
                if rest:
                    action = self.normalize_action(rest)
                    break
                awaiting_action = True
                continue
            match = self._REASON_LABEL.match(line)
            content = match.group(1).strip() if match else line
            inline = self._INLINE_ACTION.search(content)
            if inline and content[inline.end() :].strip():
                reasoning.append(content[: inline.start()].strip())
                action = self.normalize_action(content[inline.end() :])
                break
            reasoning.append(content)
        thought = " ".join(part for part in reasoning if part)
        if action is None and reasoning:
            # No action label at all: accept a bare `verb[arg]` last line as the action.
            last = reasoning[-1]
            if _BRACKET_ACTION.fullmatch(last):
                return ParsedTurn(
                    " ".join(p for p in reasoning[:-1] if p), self.normalize_action(last)
                )
        if not action:
            return ParsedTurn(thought, None, "no action found")
        return ParsedTurn(thought, action)

    def turn_state(self, turn_text: str) -> TurnState:
        position = 0
        awaiting_action = False
        for line in turn_text.split("\n")[:-1]:  # complete lines only
            position += len(line) + 1
            stripped = line.strip()
            if not stripped:
                continue
            if awaiting_action or self._OBS_LABEL.match(stripped):
                return TurnState(done=True, end=position)
            match = self._ACTION_LABEL.match(stripped)
            if match:
                if match.group(1).strip():
                    return TurnState(done=True, end=position)
                awaiting_action = True
            elif self._INLINE_ACTION.search(stripped):
                return TurnState(done=True, end=position)
        return TurnState(done=False)

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\nObservation",)


class AlfworldFormat(ReactFormat):
    """ReAct's ALFWorld transcript: `> think: ...` / `OK.` / `> command` / observation."""

    name = "alfworld"
    THOUGHT_REPLY = "OK."
    _THINK = re.compile(r"^think\s*:\s?(.*)$", re.I)

    def _render_turn(
        self, out: _Builder, step: Step, index: int
    ) -> tuple[tuple[int, int] | None, tuple[int, int]]:
        reason_span = None
        if step.reasoning:
            out.add("> think: ", SpanLabel.REASON, index)
            reason_span = out.add(step.reasoning, SpanLabel.REASON, index)
            out.add("\n", SpanLabel.REASON, index)
            out.add(self.THOUGHT_REPLY + "\n", SpanLabel.OBS, index)
        out.add("> ", SpanLabel.ACT, index)
        action_span = out.add(step.action, SpanLabel.ACT, index)
        out.add("\n", SpanLabel.ACT, index)
        return reason_span, action_span

    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        out.add(step.observation + "\n", SpanLabel.OBS, index)

    def normalize_action(self, action: str) -> str:
        """ALFWorld commands are lower-case words separated by single spaces, no final period."""
        action = _WS.sub(" ", action.strip().lstrip(">").strip()).lower()
        return action.rstrip(".").rstrip()

    @staticmethod
    def _command(line: str) -> str:
        return line.strip().lstrip(">").strip()

    def parse(self, text: str) -> ParsedTurn:
        reasoning: list[str] = []
        for raw in _lines(text):
            line = self._command(raw)
            if not line or line == self.THOUGHT_REPLY:
                continue
            match = self._THINK.match(line)
            if match:
                reasoning.append(match.group(1).strip())
                continue
            action = self.normalize_action(line)
            if action:
                return ParsedTurn(" ".join(p for p in reasoning if p), action)
        return ParsedTurn(" ".join(p for p in reasoning if p), None, "no action found")

    def turn_state(self, turn_text: str) -> TurnState:
        position = 0
        for line in turn_text.split("\n")[:-1]:  # complete lines only
            position += len(line) + 1
            command = self._command(line)
            if not command or command == self.THOUGHT_REPLY:
                continue
            if self._THINK.match(command):
                if position == len(turn_text):  # a think line, not yet answered
                    return TurnState(done=False, inject=self.THOUGHT_REPLY + "\n")
                continue
            return TurnState(done=True, end=position)
        return TurnState(done=False)

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\n",)


FormatName = Literal["react", "paper", "alfworld"]
FORMAT_NAMES: tuple[str, ...] = ("react", "paper", "alfworld")


def get_format(name: str, *, numbered: bool = True) -> ReactFormat:
    """Return a format by name; `numbered` applies to `react` only."""
    if name == "react":
        return LabeledLinesFormat("react", "Thought", numbered)
    if name == "paper":
        return LabeledLinesFormat("paper", "Reasoning", numbered=False)
    if name == "alfworld":
        return AlfworldFormat()
    raise ValueError(f"unknown format {name!r}; expected one of {', '.join(FORMAT_NAMES)}")
