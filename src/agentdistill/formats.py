"""ReAct text formats: render a trajectory to training/prompt text, parse model output back.

One rendering serves training and inference. The text of a trajectory is

    preamble + initial observation + "\\n" + turn(step 1) + observation(step 1) + ...

(`webshop` writes a blank line after every observation, the first included: "\\n\\n", the
format's `after_first_observation`), and a policy's *turn* for step k starts right after the
previous observation's newline, so the prompt a policy sees at step k is exactly
`render(initial, steps[:k]).text`, which is the prefix
`render(initial, steps).text[:turn_starts[k]]` of the training text.

Every character belongs to exactly one labelled segment:
- PROMPT: preamble and the initial observation (the task) with its newline (and blank line);
- REASON: the whole reasoning line the policy writes, label included (`Thought 2: ...\\n`),
  because a student that is never trained on the label never learns to open a thought;
- ACT: the whole action line the policy writes, label and final newline included, so the
  student learns where an action ends;
- OBS: the environment's answer, label included (`Observation 2: ...\\n`, or ALFWorld's `OK.`),
  and the blank line after it in `webshop`.

Formats:
- `react`: `Thought 1: ...` / `Action 1: ...` / `Observation 1: ...` (HotPotQA style;
  `numbered=False` drops the numbers);
- `paper`: `Reasoning: ...` / `Action: ...` / `Observation: ...` (the SAD paper);
- `alfworld`: `> think: ...` answered `OK.`, then `> action` and the observation (ReAct's
  ALFWorld prompts);
- `webshop`: `Action: think[...]` answered `Observation: OK.`, then `Action: search[...]` or
  `Action: click[...]` and `Observation: ` with the page text (which may span lines and
  start with a newline), a blank line after every observation (ReAct's WebShop prompt).
  A think is reasoning (REASON, `Step.reasoning`), never an action, although ReAct writes it
  as one; its `Observation: OK.` and blank line are OBS, written by the protocol (see rule 4
  for several thinks in a row).

Exactness: ReAct's published few-shot prompts (HotPotQA, FEVER, ALFWorld, WebShop) go through
`parse_episode` -> records -> `render` byte for byte. The rules that make them:

1. Actions are recorded exactly as written: `Search[x]` stays `Search[x]` in the record and
   in the text. `normalize_action` is the *command* the environment receives (`search[x]`;
   ALFWorld: lower case, single spaces, no final period); only acting applies it
   (`HFPolicy.finish_turn` puts it in `Turn.command`, which the rollout engine sends).
   WebShop: `click[Buy Now]` stays as written; the command lower-cases the verb and strips
   the argument but keeps its case (the environment lower-cases it itself).
2. The step that ends an episode renders no observation line when the environment said
   nothing (`render(..., ended=True)`, which `render_trajectory` uses): ReAct's examples end
   with their `Finish[...]` line. Prompts render with `ended=False`, so the prompt at step k
   stays a prefix of the training text.
3. A thought keeps its trailing whitespace (ReAct's text has a thought ending in a space
   before the newline). It never starts with whitespace: the parser drops the spaces after
   the label, and `Step` refuses a thought that starts with one.
4. A turn may hold several thoughts: `Step.reasoning` holds them one per line. `react`
   writes a `Thought k: ` line for each, `alfworld` a `> think: ` line for each, every one
   answered `OK.` (ReAct's ALFWorld examples mostly open with two thoughts in a row),
   `webshop` an `Action: think[...]` line for each, every one answered `Observation: OK.`
   and a blank line. A `Step` is its thoughts and then one environment action, so thinks in
   a row before an action are that action's step; ReAct counts each think as one of its 15
   steps, a step cap here counts actions only. A think with no action after it (an episode
   or a turn that stops after thinking) is not a step: `parse_episode` refuses it, and a
   policy's turn goes on until it writes an action.
5. Layout the format would write otherwise is kept verbatim in `Step.written` (set by
   `read_turn` and `parse_episode`, checked to parse back to the same reasoning and action).
   ALFWorld's protocol answers every think with `OK.`, but ReAct's hand-written examples
   leave the think before a `take` unanswered in two examples and answer one think `OK. `;
   such a turn renders exactly as written, its reply lines labelled OBS. A live policy's
   turns are always canonical (`HFPolicy` ignores `written`).
6. `>go to ...` without a space after `>` (three lines of one ReAct ALFWorld example) is such
   a layout: the action is `go to ...`, the line is kept in `Step.written`.
7. A bracket argument runs to the `]` that balances the verb's `[`, so `Finish[2,130 m
   (7,000 ft).[3]]` is one action; text after that bracket is dropped as junk. An argument
   may hold `[` and `]` in balanced pairs only.
8. Few-shot prompts are joined as ReAct's code joins them (`join_few_shot`, styles in
   `FEW_SHOT_STYLES`): ALFWorld `instruction\\n` + examples back to back +
   `\\nHere is the task.\\n`; HotPotQA `instruction\\n\\n` + examples back to back; FEVER
   `\\n` + `instruction\\n` + examples separated by a blank line + `\\n`; WebShop: no
   instruction (ReAct's prompt is the example alone; an instruction given must end with its
   own newline), examples separated by a blank line, then `\\n`: ReAct's live first
   observation starts with a newline (every page element does), so a blank line separates
   the example's final `Action: click[Buy Now]` from the task; here the first observation is
   written without it, as the example's own. The task's first observation and its end
   (`after_first_observation`) follow, as for any prompt.

Transcripts (`parse_episode`): the first observation is every line before the first turn; a
turn runs from its first thought line to its action line; an observation runs from the action
line to the next turn and may span lines (HotPotQA pages do). In ALFWorld a turn is a run of
`> think:` lines, each answered by at most one `OK.` line, ending in a `>` command line;
lines that do not form one belong to the observation (one ReAct example writes a think
between an action and its result: that think is part of the result). In WebShop a turn is a
run of `Action: think[...]` lines, each answered by at most one `Observation: OK.` line and
blank lines, ending in an `Action: ` line that is not a think; an observation runs from its
`Observation: ` line to the blank line before the next turn, and an `Action:` line that
begins no turn (a think left without an action) is refused. An episode ends with an action
that has no observation line (ReAct's example ends with `Action: click[Buy Now]`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

import numpy as np
from pydantic import ValidationError

from agentdistill.records import Step, Trajectory


class SpanLabel(IntEnum):
    """Label of a character or token. Values are stable: they are stored in arrays."""

    PROMPT = 0
    REASON = 1
    ACT = 2
    OBS = 3


Span = tuple[int, int]


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
    reasoning_spans: tuple[Span | None, ...]
    """Character range from the first thought's start to the last thought's end of each step
    (exactly the reasoning when the step has one thought; None when it has none)."""
    action_spans: tuple[Span, ...]
    """Exact character range of each step's action content."""
    thought_spans: tuple[tuple[Span, ...], ...] = ()
    """Exact character range of each thought of each step (empty when the step has none)."""

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
class ParsedEpisode:
    """An episode read back from its text (`ReactFormat.parse_episode`)."""

    initial_observation: str
    steps: tuple[Step, ...]
    ended: bool
    """The last step has no observation line (ReAct's examples end with their final action);
    render with `ended=True` (what `render_trajectory` does) to write it back."""


@dataclass(frozen=True)
class TurnState:
    """Where an incrementally generated turn stands (see `ReactFormat.turn_state`)."""

    done: bool
    """The turn holds a complete action line; generation stops."""
    end: int = -1
    """When done: index in the turn text right after the action line's newline."""
    inject: str = ""
    """Text the protocol answers before the policy continues (ALFWorld's `OK.` after a think)."""


@dataclass(frozen=True)
class FewShotStyle:
    """How ReAct's code joins an instruction, example episodes and the task into one prompt.

    The preamble is `lead + instruction + after_instruction + between.join(examples) +
    before_task`; the task's first observation and its newline follow it.
    """

    lead: str = ""
    after_instruction: str = "\n"
    between: str = ""
    before_task: str = ""


FEW_SHOT_STYLES: dict[str, FewShotStyle] = {
    # 'Interact with a household ... examples.\n' + example + example + '\nHere is the task.\n'
    "alfworld": FewShotStyle(before_task="\nHere is the task.\n"),
    # instruction ending in a newline, then examples that open with a blank line, back to back
    "hotpotqa": FewShotStyle(after_instruction="\n\n"),
    # one string: a blank line, the instruction line, examples each followed by a blank line
    "fever": FewShotStyle(lead="\n", between="\n", before_task="\n"),
    # WebShop: no instruction, the example alone; the live first observation starts with a
    # newline, a blank line after the example's last action (examples: one blank line apart)
    "webshop": FewShotStyle(after_instruction="", between="\n", before_task="\n"),
}


def join_few_shot(instruction: str, examples: Sequence[str], style: FewShotStyle) -> str:
    """The few-shot preamble: the instruction and the rendered examples, joined by `style`."""
    return (
        style.lead
        + instruction
        + style.after_instruction
        + style.between.join(examples)
        + style.before_task
    )


class FormatError(ValueError):
    """A step cannot be rendered in a format (its text would not parse back)."""


class _Builder:
    """Appends labelled pieces of text, recording segments and content spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.segments: list[Segment] = []

    def add(self, text: str, label: SpanLabel, step: int) -> Span:
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
_VERB = re.compile(r"([A-Za-z_][A-Za-z_ ]*?)\s*\[")


def _bracket_action(text: str) -> tuple[str, str, int] | None:
    """`Verb[argument]` at the start of `text`: (verb, argument, index after the closing `]`).

    The argument ends at the `]` that balances the verb's `[` (rule 7); None when `text` does
    not start with a verb and a bracket, or the bracket never closes.
    """
    match = _VERB.match(text)
    if match is None:
        return None
    depth = 0
    for position in range(match.end() - 1, len(text)):
        char = text[position]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return match.group(1), text[match.end() : position], position + 1
    return None


def _exact_action(text: str) -> str:
    """An action as written: stripped, cut after the bracket that closes `Verb[` (rule 7)."""
    text = text.strip()
    bracket = _bracket_action(text)
    return text[: bracket[2]] if bracket is not None else text


def _bracket_command(action: str) -> str:
    """Strip; `Verb[arg]` gets a lower-case verb, a stripped argument, nothing after `]`."""
    action = action.strip()
    bracket = _bracket_action(action)
    if bracket is not None:
        verb, argument, _ = bracket
        return f"{_WS.sub('', verb).lower()}[{argument.strip()}]"
    return action


def _lines(text: str) -> list[str]:
    # Only \n (after normalising \r\n and \r) separates lines: str.splitlines would also split
    # on characters such as \x1c or \u2028 that may legitimately occur inside a thought.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


class ReactFormat(ABC):
    """A ReAct text format: rendering, parsing and the turn protocol for generation."""

    name: str
    few_shot_style: FewShotStyle
    """How ReAct joins few-shot examples of this format (see `join_few_shot`)."""
    after_first_observation: str = "\n"
    """What follows the first observation, before the first turn (PROMPT)."""

    def render(
        self,
        initial_observation: str,
        steps: Sequence[Step],
        preamble: str = "",
        *,
        ended: bool = False,
    ) -> RenderedTrajectory:
        """Render an episode (possibly partial) to text with its labelled segments.

        `ended`: the last step ended the episode, so an empty observation of it writes no
        observation line (rule 2).
        """
        out = _Builder()
        out.add(preamble + initial_observation + self.after_first_observation, SpanLabel.PROMPT, -1)
        starts, ends, reasons, actions, thoughts = [], [], [], [], []
        for index, step in enumerate(steps):
            self.check_step(step, index)
            starts.append(out.length)
            thought_spans, action_span = self._add_turn(out, step, index)
            ends.append(out.length)
            thoughts.append(thought_spans)
            reasons.append((thought_spans[0][0], thought_spans[-1][1]) if thought_spans else None)
            actions.append(action_span)
            final = ended and index == len(steps) - 1
            if not (final and not step.observation):
                self._render_observation(out, step, index)
        return RenderedTrajectory(
            text="".join(out.parts),
            segments=tuple(out.segments),
            turn_starts=tuple(starts),
            turn_ends=tuple(ends),
            reasoning_spans=tuple(reasons),
            action_spans=tuple(actions),
            thought_spans=tuple(thoughts),
        )

    def render_trajectory(self, trajectory: Trajectory, preamble: str = "") -> RenderedTrajectory:
        """Render a whole episode: its last step ended it (`render(..., ended=True)`)."""
        return self.render(trajectory.initial_observation, trajectory.steps, preamble, ended=True)

    def prompt(self, initial_observation: str, steps: Sequence[Step], preamble: str = "") -> str:
        """The text a policy is prompted with before its next step."""
        return self.render(initial_observation, steps, preamble).text

    def check_step(self, step: Step, index: int) -> None:
        """Raise `FormatError` if the step would not parse back to itself."""
        if step.written is not None:
            self._written_layout(step, index)
            return
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
        self._add_turn(out, step, index)
        return "".join(out.parts)

    def observation_text(self, step: Step, index: int) -> str:
        """The environment's answer to step `index` alone (what `render` puts after the turn)."""
        out = _Builder()
        self._render_observation(out, step, index)
        return "".join(out.parts)

    # ---- exact reading of written text ------------------------------------------------------
    def read_turn(self, text: str, index: int, observation: str = "") -> Step:
        """The step whose turn `index` renders exactly as `text` (one whole turn).

        Reasoning and action are what `parse` reads; when the canonical rendering of them
        differs from `text`, `text` is kept in `Step.written` (rule 5). Raises `FormatError`
        if `text` is not one turn that parses back exactly.
        """
        parsed = self.parse(text)
        if parsed.action is None:
            raise FormatError(f"step {index}: format '{self.name}' finds no action in {text!r}")
        try:
            step = Step(reasoning=parsed.reasoning, action=parsed.action, observation=observation)
            if self.turn_text(step, index) == text:
                return step
            step = Step(
                reasoning=parsed.reasoning,
                action=parsed.action,
                observation=observation,
                written=text,
            )
        except (ValidationError, FormatError) as exc:
            raise FormatError(
                f"step {index}: format '{self.name}' cannot represent {text!r}: {exc}"
            ) from exc
        self.check_step(step, index)
        return step

    def parse_episode(self, text: str) -> ParsedEpisode:
        """Read one episode's text (no preamble) back into steps that render it exactly.

        Raises `FormatError` when the text is not exactly what `render` would write for some
        steps (see the module docstring for where turns and observations begin and end).
        """
        episode, length = self._read_episode(text)
        if length != len(text):
            raise FormatError(
                f"format '{self.name}': the episode ends at character {length} but the text "
                f"goes on with {text[length : length + 40]!r}"
            )
        return episode

    def parse_episodes(self, text: str, separator: str = "") -> list[ParsedEpisode]:
        """Read several episodes written one after the other, `separator` between two.

        An episode ends where its last action has no observation line (ReAct's HotPotQA and
        FEVER examples); in `alfworld` an observation runs to the next turn, so the whole
        text is one episode: read ALFWorld examples one by one.
        """
        episodes: list[ParsedEpisode] = []
        position = 0
        while position < len(text):
            if episodes and separator:
                if not text.startswith(separator, position):
                    raise FormatError(
                        f"format '{self.name}': expected {separator!r} between episodes at "
                        f"character {position}"
                    )
                position += len(separator)
            episode, length = self._read_episode(text[position:])
            episodes.append(episode)
            position += length
        return episodes

    def _read_episode(self, text: str) -> tuple[ParsedEpisode, int]:
        """The episode at the start of `text` and the number of characters it spans."""
        lines = text.split("\n")
        complete = len(lines) - 1  # lines ending with a newline
        first = self._next_turn(lines, 0, complete)
        if first == 0:
            raise FormatError(
                f"format '{self.name}': an episode starts with its first observation, "
                f"not {text[:40]!r}"
            )
        head = "".join(part + "\n" for part in lines[:first])
        if not head.endswith(self.after_first_observation):
            raise FormatError(
                f"format '{self.name}': the first observation must end with "
                f"{self.after_first_observation!r} before the first turn"
            )
        steps: list[Step] = []
        ended = False
        line = first
        while line < complete:
            action_line = self._turn_at(lines, line, complete)
            if action_line is None:
                break
            turn = "\n".join(lines[line : action_line + 1]) + "\n"
            index = len(steps)
            observed = self._observation_at(lines, action_line + 1, complete, index)
            if observed is None:  # no observation line: the episode ends with this action
                steps.append(self.read_turn(turn, index))
                line, ended = action_line + 1, True
                break
            observation, line = observed
            steps.append(self.read_turn(turn, index, observation))
        length = sum(len(part) + 1 for part in lines[:line])
        initial = head[: len(head) - len(self.after_first_observation)]
        episode = ParsedEpisode(initial, tuple(steps), ended)
        rendered = self.render(episode.initial_observation, steps, ended=ended).text
        if rendered != text[:length]:  # a safety net: every piece above was checked already
            raise FormatError(f"format '{self.name}': the episode would render differently")
        return episode, length

    def _next_turn(self, lines: list[str], start: int, complete: int) -> int:
        """Index of the first line from `start` on that begins a turn (`complete` if none)."""
        line = start
        while line < complete and self._turn_at(lines, line, complete) is None:
            line += 1
        return line

    def _written_layout(
        self, step: Step, index: int
    ) -> tuple[list[tuple[str, SpanLabel]], tuple[Span, ...], Span]:
        """Check `step.written` and cut it into labelled lines; spans relative to its start.

        Valid when it is one whole turn that parses back to the step's reasoning and action,
        each thought is on its own line before the action line, and the action line holds the
        action. Reasoning lines are REASON, reply lines (`OK.`) OBS, the action line ACT.
        """
        text = step.written or ""

        def refuse(why: str) -> FormatError:
            return FormatError(
                f"step {index}: format '{self.name}' cannot render written={text!r}: {why}"
            )

        state = self.turn_state(text)
        if not (state.done and state.end == len(text)):
            raise refuse("it is not one whole turn")
        parsed = self.parse(text)
        if (parsed.reasoning, parsed.action) != (step.reasoning, step.action):
            raise refuse(
                f"it parses as reasoning={parsed.reasoning!r} action={parsed.action!r}, "
                f"not reasoning={step.reasoning!r} action={step.action!r}"
            )
        lines = text[:-1].split("\n")
        pending = step.thoughts
        pieces: list[tuple[str, SpanLabel]] = []
        thought_spans: list[Span] = []
        start = 0
        for line in lines[:-1]:
            offset = self._thought_offset(line, pending[0]) if pending else None
            if offset is not None:
                thought_spans.append((start + offset, start + offset + len(pending[0])))
                pending = pending[1:]
                pieces.append((line + "\n", SpanLabel.REASON))
            else:
                pieces.append((line + "\n", self._layout_label(line)))
            start += len(line) + 1
        where = lines[-1].rfind(step.action)
        if pending or where < 0:
            raise refuse("its thoughts and action are not each at the end of their own line")
        pieces.append((lines[-1] + "\n", SpanLabel.ACT))
        return pieces, tuple(thought_spans), (start + where, start + where + len(step.action))

    def _layout_label(self, line: str) -> SpanLabel:
        """Label of a line of a written turn that holds no thought and is not the action."""
        return SpanLabel.REASON

    def _thought_offset(self, line: str, thought: str) -> int | None:
        """Where `thought` starts in `line` of a written turn when the line writes it (None:
        it does not); a thought ends its line in the formats that write it after a label."""
        return len(line) - len(thought) if line.endswith(thought) else None

    def _add_turn(self, out: _Builder, step: Step, index: int) -> tuple[tuple[Span, ...], Span]:
        if step.written is None:
            return self._render_turn(out, step, index)
        pieces, thoughts, (action_start, action_end) = self._written_layout(step, index)
        base = out.length
        for piece, label in pieces:
            out.add(piece, label, index)
        return (
            tuple((base + start, base + end) for start, end in thoughts),
            (base + action_start, base + action_end),
        )

    @abstractmethod
    def _render_turn(self, out: _Builder, step: Step, index: int) -> tuple[tuple[Span, ...], Span]:
        """Append the policy's canonical turn; return the thought spans and the action span."""

    @abstractmethod
    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        """Append the environment's answer to the step."""

    @abstractmethod
    def _turn_at(self, lines: list[str], start: int, complete: int) -> int | None:
        """If a turn begins at line `start` of a transcript, the index of its action line."""

    @abstractmethod
    def _observation_at(
        self, lines: list[str], start: int, complete: int, index: int
    ) -> tuple[str, int] | None:
        """Step `index`'s observation starting at line `start`: (text, line after it); None
        when no observation line follows the action."""

    @abstractmethod
    def parse(self, text: str) -> ParsedTurn:
        """Parse a policy's raw output for one turn. Never raises: failures set `error`.

        Reasoning and action come back exactly as written (rules 1, 3, 4, 7); output that is
        not in the format's shape is recovered as well as possible.
        """

    @abstractmethod
    def normalize_action(self, action: str) -> str:
        """The command the environment receives for an action (rule 1)."""

    @abstractmethod
    def turn_state(self, turn_text: str) -> TurnState:
        """Inspect a partially generated turn: finished, needs an injected answer, or neither."""

    @property
    @abstractmethod
    def stop_sequences(self) -> tuple[str, ...]:
        """Stop strings for a remote model that cannot call `turn_state` while generating."""


class LabeledLinesFormat(ReactFormat):
    """`<Reason label>: ...` / `<Action label>: ...` / `<Observation label>: ...` lines."""

    few_shot_style = FEW_SHOT_STYLES["hotpotqa"]

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

    def _render_turn(self, out: _Builder, step: Step, index: int) -> tuple[tuple[Span, ...], Span]:
        thoughts = []
        for thought in step.thoughts:  # rule 4: one labelled line per thought
            out.add(self._label(self.reason_label, index), SpanLabel.REASON, index)
            thoughts.append(out.add(thought, SpanLabel.REASON, index))
            out.add("\n", SpanLabel.REASON, index)
        out.add(self._label("Action", index), SpanLabel.ACT, index)
        action_span = out.add(step.action, SpanLabel.ACT, index)
        out.add("\n", SpanLabel.ACT, index)
        return tuple(thoughts), action_span

    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        out.add(self._label("Observation", index) + step.observation + "\n", SpanLabel.OBS, index)

    def normalize_action(self, action: str) -> str:
        """Strip; `Verb[arg]` gets a lower-case verb, a stripped argument, nothing after `]`."""
        return _bracket_command(action)

    def parse(self, text: str) -> ParsedTurn:
        # (content, labelled) per reasoning line; an unlabelled line continues a thought
        entries: list[tuple[str, bool]] = []
        action: str | None = None
        awaiting_action = False  # saw "Action:" with nothing after it on the line
        for line in _lines(text):
            if not line.strip():
                continue
            if awaiting_action:
                action = _exact_action(line)
                break
            if self._OBS_LABEL.match(line):
                break  # the model went on to invent an observation; the turn is over
            match = self._ACTION_LABEL.match(line)
            if match:
                rest = match.group(1)
                if rest.strip():
                    action = _exact_action(rest)
                    break
                awaiting_action = True
                continue
            match = self._REASON_LABEL.match(line)
            # rule 3: the content starts after the label's space; trailing whitespace stays
            content = match.group(1).lstrip() if match else line.lstrip()
            inline = self._INLINE_ACTION.search(content)
            if inline and content[inline.end() :].strip():
                entries.append((content[: inline.start()].strip(), match is not None))
                action = _exact_action(content[inline.end() :])
                break
            entries.append((content, match is not None))
        if action is None and entries:
            # No action label at all: accept a bare `verb[arg]` last line as the action.
            last = entries[-1][0].strip()
            bracket = _bracket_action(last)
            if bracket is not None and bracket[2] == len(last):
                return ParsedTurn(self._join(entries[:-1]), last)
        if not action:
            return ParsedTurn(self._join(entries), None, "no action found")
        return ParsedTurn(self._join(entries), action)

    @staticmethod
    def _join(entries: Sequence[tuple[str, bool]]) -> str:
        """Thoughts one per line: a labelled line opens a thought, an unlabelled one continues
        the current thought (joined by a space, as a recovery); empty thoughts are dropped."""
        thoughts: list[str] = []
        for content, labelled in entries:
            if labelled or not thoughts:
                thoughts.append(content)
            elif content:
                previous = thoughts[-1].rstrip()
                thoughts[-1] = f"{previous} {content}" if previous else content
        return "\n".join(thought for thought in thoughts if thought.strip())

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

    def _turn_at(self, lines: list[str], start: int, complete: int) -> int | None:
        # labelled thought lines, then an action line with its action, none indented
        for line in range(start, complete):
            text = lines[line]
            if not text or text[0].isspace():
                return None
            match = self._ACTION_LABEL.match(text)
            if match:
                return line if match.group(1).strip() else None
            if not self._REASON_LABEL.match(text):
                return None
        return None

    def _observation_at(
        self, lines: list[str], start: int, complete: int, index: int
    ) -> tuple[str, int] | None:
        if start >= complete or not self._OBS_LABEL.match(lines[start]):
            return None
        label = self._label("Observation", index)
        if not lines[start].startswith(label):
            raise FormatError(
                f"step {index}: format '{self.name}' writes the observation label {label!r}, "
                f"not {lines[start][: len(label) + 8]!r}"
            )
        end = self._next_turn(lines, start + 1, complete)
        return "\n".join([lines[start][len(label) :], *lines[start + 1 : end]]), end

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\nObservation",)


class AlfworldFormat(ReactFormat):
    """ReAct's ALFWorld transcript: `> think: ...` / `OK.` / `> command` / observation."""

    name = "alfworld"
    few_shot_style = FEW_SHOT_STYLES["alfworld"]
    THOUGHT_REPLY = "OK."
    _THINK = re.compile(r"^think\s*:\s?(.*)$", re.I)

    def _render_turn(self, out: _Builder, step: Step, index: int) -> tuple[tuple[Span, ...], Span]:
        thoughts = []
        for thought in step.thoughts:  # rule 4: every think is answered `OK.`
            out.add("> think: ", SpanLabel.REASON, index)
            thoughts.append(out.add(thought, SpanLabel.REASON, index))
            out.add("\n", SpanLabel.REASON, index)
            out.add(self.THOUGHT_REPLY + "\n", SpanLabel.OBS, index)
        out.add("> ", SpanLabel.ACT, index)
        action_span = out.add(step.action, SpanLabel.ACT, index)
        out.add("\n", SpanLabel.ACT, index)
        return tuple(thoughts), action_span

    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        out.add(step.observation + "\n", SpanLabel.OBS, index)

    def _layout_label(self, line: str) -> SpanLabel:
        return SpanLabel.OBS if line.strip() == self.THOUGHT_REPLY else SpanLabel.REASON

    def normalize_action(self, action: str) -> str:
        """ALFWorld commands are lower-case words separated by single spaces, no final period."""
        action = _WS.sub(" ", action.strip().lstrip(">").strip()).lower()
        return action.rstrip(".").rstrip()

    @staticmethod
    def _body(line: str) -> str:
        """A line without its leading whitespace and prompt (`>`); trailing whitespace stays."""
        body = line.lstrip()
        return body[1:].lstrip() if body.startswith(">") else body

    @staticmethod
    def _command(line: str) -> str:
        return line.strip().lstrip(">").strip()

    def parse(self, text: str) -> ParsedTurn:
        thoughts: list[str] = []
        for line in _lines(text):
            body = self._body(line)
            if not body.strip() or body.strip() == self.THOUGHT_REPLY:
                continue
            match = self._THINK.match(body)
            if match:
                thoughts.append(match.group(1).lstrip())  # rule 3: trailing whitespace stays
                continue
            return ParsedTurn(self._join(thoughts), body.strip())  # rule 1: as written
        return ParsedTurn(self._join(thoughts), None, "no action found")

    @staticmethod
    def _join(thoughts: Sequence[str]) -> str:
        return "\n".join(thought for thought in thoughts if thought.strip())

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

    def _turn_at(self, lines: list[str], start: int, complete: int) -> int | None:
        # `>` think lines, each answered by at most one reply line, then a `>` command line
        line = start
        while line < complete and lines[line].startswith(">"):
            body = lines[line][1:].strip()
            if not self._THINK.match(body):
                return line if body and body != self.THOUGHT_REPLY else None
            line += 1
            if line < complete and lines[line].strip() == self.THOUGHT_REPLY:
                line += 1
        return None

    def _observation_at(
        self, lines: list[str], start: int, complete: int, index: int
    ) -> tuple[str, int] | None:
        end = self._next_turn(lines, start, complete)
        if end == start:
            return None  # the text ends (or the next turn begins) right after the action
        return "\n".join(lines[start:end]), end

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\n",)


class WebshopFormat(ReactFormat):
    """ReAct's WebShop transcript: `Action: think[...]` answered `Observation: OK.`, then
    `Action: search[...]` or `Action: click[...]` and `Observation: ` with the page; a blank
    line after every observation, the first one included."""

    name = "webshop"
    few_shot_style = FEW_SHOT_STYLES["webshop"]
    after_first_observation = "\n\n"
    ACTION_LABEL = "Action: "
    OBSERVATION_LABEL = "Observation: "
    THOUGHT_REPLY = "OK."
    # What the parser accepts, whichever the format writes: any case, a step number, no space.
    _ACTION = re.compile(r"^\s*action\s*\d*\s*[:\uff1a]\s?(.*)$", re.I)
    _OBSERVATION = re.compile(r"^\s*observation\s*\d*\s*[:\uff1a]", re.I)
    _THINK = re.compile(r"think\s*\[", re.I)

    @property
    def thought_answer(self) -> str:
        """What the protocol writes after a think line (OBS): the reply and a blank line."""
        return f"{self.OBSERVATION_LABEL}{self.THOUGHT_REPLY}\n\n"

    def _render_turn(self, out: _Builder, step: Step, index: int) -> tuple[tuple[Span, ...], Span]:
        thoughts = []
        for thought in step.thoughts:  # rule 4: a think per thought, each answered `OK.`
            out.add(f"{self.ACTION_LABEL}think[", SpanLabel.REASON, index)
            thoughts.append(out.add(thought, SpanLabel.REASON, index))
            out.add("]\n", SpanLabel.REASON, index)
            out.add(self.thought_answer, SpanLabel.OBS, index)
        out.add(self.ACTION_LABEL, SpanLabel.ACT, index)
        action_span = out.add(step.action, SpanLabel.ACT, index)
        out.add("\n", SpanLabel.ACT, index)
        return tuple(thoughts), action_span

    def _render_observation(self, out: _Builder, step: Step, index: int) -> None:
        out.add(f"{self.OBSERVATION_LABEL}{step.observation}\n\n", SpanLabel.OBS, index)

    def _layout_label(self, line: str) -> SpanLabel:
        if not line.strip() or self._OBSERVATION.match(line):
            return SpanLabel.OBS  # a think's answer and the blank line after it
        return SpanLabel.REASON

    def normalize_action(self, action: str) -> str:
        """`Verb[arg]` gets a lower-case verb and a stripped argument, nothing after `]`; the
        argument keeps its case (WebShop lower-cases it itself)."""
        return _bracket_command(action)

    def _content(self, line: str) -> tuple[int, str]:
        """A line without its action label: (where the content starts, the content)."""
        match = self._ACTION.match(line)
        return (match.start(1), match.group(1)) if match else (0, line)

    def _thought_of(self, content: str) -> tuple[int, str] | None:
        """The thought of `think[...]` content: (where it starts in `content`, the thought);
        None when the content is not a think. The thought ends at the `]` that balances the
        verb's `[` (text after it is dropped), or at the line's end if that never closes."""
        lead = len(content) - len(content.lstrip())
        body = content[lead:]
        match = self._THINK.match(body)
        if match is None:
            return None
        bracket = _bracket_action(body)
        argument = bracket[1] if bracket is not None else body[match.end() :]
        thought = argument.lstrip()
        return lead + match.end() + len(argument) - len(thought), thought

    def _thought_offset(self, line: str, thought: str) -> int | None:
        start, content = self._content(line)
        found = self._thought_of(content)
        return start + found[0] if found is not None and found[1] == thought else None

    def _events(self, lines: Sequence[str]) -> list[tuple[str, str, int]]:
        """The lines of a turn that count, up to the one that ends it: (kind, text, line index).

        `think` (text: the thought), `reply` (an observation line right after a think: the
        protocol's `OK.`), then `action` (text: the action as written) or `end` (an
        observation line that answers no think: the turn ended without an action). Blank
        lines are skipped; an action label alone on its line labels the next line; a line
        that is neither a think nor an observation is the action, as ReAct's code sends it.
        """
        events: list[tuple[str, str, int]] = []
        awaiting = False  # an action label alone on its line
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            if awaiting:
                content, awaiting = line, False
            elif self._OBSERVATION.match(line):
                if events and events[-1][0] == "think":
                    events.append(("reply", "", number))
                    continue
                events.append(("end", "", number))
                return events
            else:
                content = self._content(line)[1]
                if not content.strip():
                    awaiting = True
                    continue
            found = self._thought_of(content)
            if found is not None:
                events.append(("think", found[1], number))
                continue
            events.append(("action", _exact_action(content), number))
            return events
        return events

    def parse(self, text: str) -> ParsedTurn:
        thoughts: list[str] = []
        for kind, content, _ in self._events(_lines(text)):
            if kind == "think":
                thoughts.append(content)  # rule 3: trailing whitespace stays
            elif kind == "action":
                return ParsedTurn(self._join(thoughts), content)  # rule 1: as written
        return ParsedTurn(self._join(thoughts), None, "no action found")

    @staticmethod
    def _join(thoughts: Sequence[str]) -> str:
        return "\n".join(thought for thought in thoughts if thought.strip())

    def turn_state(self, turn_text: str) -> TurnState:
        lines = turn_text.split("\n")[:-1]  # complete lines only
        ends = [0]
        for line in lines:
            ends.append(ends[-1] + len(line) + 1)
        for kind, _, number in self._events(lines):
            end = ends[number + 1]
            if kind in ("action", "end"):
                return TurnState(done=True, end=end)
            if kind == "think" and end == len(turn_text):  # a think, not yet answered
                return TurnState(done=False, inject=self.thought_answer)
        return TurnState(done=False)

    def _action_content(self, line: str) -> str | None:
        """The content of a transcript line that starts with the action label (not indented)."""
        if not line or line[0].isspace():
            return None
        match = self._ACTION.match(line)
        return match.group(1) if match and match.group(1).strip() else None

    def _turn_at(self, lines: list[str], start: int, complete: int) -> int | None:
        # think lines, each answered by at most one `Observation: OK.` line and blank lines,
        # then an action line
        line = start
        while line < complete:
            content = self._action_content(lines[line])
            if content is None:
                return None
            if self._thought_of(content) is None:
                return line
            line += 1
            if line < complete and self._OBSERVATION.match(lines[line]):
                if lines[line].strip() != f"{self.OBSERVATION_LABEL}{self.THOUGHT_REPLY}":
                    return None
                line += 1
            while line < complete and not lines[line].strip():
                line += 1
        return None

    def _next_turn(self, lines: list[str], start: int, complete: int) -> int:
        end = super()._next_turn(lines, start, complete)
        for line in lines[start:end]:
            if self._ACTION.match(line) and not line[0].isspace():
                raise FormatError(
                    f"format '{self.name}': {line[:60]!r} begins no turn (a think must be "
                    "followed by an action before its observation or the episode ends)"
                )
        return end

    def _observation_at(
        self, lines: list[str], start: int, complete: int, index: int
    ) -> tuple[str, int] | None:
        if start >= complete or not self._OBSERVATION.match(lines[start]):
            return None
        label = self.OBSERVATION_LABEL
        if not lines[start].startswith(label):
            raise FormatError(
                f"step {index}: format '{self.name}' writes the observation label {label!r}, "
                f"not {lines[start][: len(label) + 8]!r}"
            )
        end = self._next_turn(lines, start + 1, complete)
        body = [lines[start][len(label) :], *lines[start + 1 : end]]
        if len(body) < 2 or body[-1]:
            raise FormatError(
                f"step {index}: format '{self.name}' ends an observation with a blank line"
            )
        return "\n".join(body[:-1]), end

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return ("\n",)


FormatName = Literal["react", "paper", "alfworld", "webshop"]
FORMAT_NAMES: tuple[str, ...] = ("react", "paper", "alfworld", "webshop")


def get_format(name: str, *, numbered: bool = True) -> ReactFormat:
    """Return a format by name; `numbered` applies to `react` only."""
    if name == "react":
        return LabeledLinesFormat("react", "Thought", numbered)
    if name == "paper":
        return LabeledLinesFormat("paper", "Reasoning", numbered=False)
    if name == "alfworld":
        return AlfworldFormat()
    if name == "webshop":
        return WebshopFormat()
    raise ValueError(f"unknown format {name!r}; expected one of {', '.join(FORMAT_NAMES)}")
