"""A Hugging Face causal LM as a ReAct policy, with a batched KV-cache session and a naive one.

The context of an episode is always the format's canonical rendering: the prompt at step k is
`fmt.prompt(first_observation, steps[:k], preamble)`, byte for byte the text the model was
trained on. The cached session never re-encodes history: each episode keeps its keys and
values in one batched cache; new text (the observation, the next turn's scaffold) is fed as a
chunk; generated tokens stay in the cache when they are exactly the canonical tokens of the
parsed turn, and otherwise are masked out and replaced by the canonical tokens (a model that
wrote `Action 1:  search[x] now` continues from `Action 1: search[x]`, as in training).

Rows of the batch advance in lockstep. Padding inside the cache (a row that had less to
feed, or had finished its turn) is masked and does not move that row's positions, so every
row sees exactly its own tokens at their own positions.

The naive session calls `model.generate` on the whole prompt at every step: the baseline the
benchmark compares against, and the reference the tests check greedy equivalence with.

A stateless caller (the served champion, `agentdistill.mlflow_agent`) asks for one turn of an
episode it holds itself: `policy.next_turns([EpisodeContext(first_observation, steps,
admissible)])` opens a session, resumes each episode with its history (its whole context
encoded at once, as the naive engine does) and decodes one turn with the same protocol.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rapidfuzz
import torch
from pydantic import Field, JsonValue
from transformers import DynamicCache, StoppingCriteria, StoppingCriteriaList
from transformers.cache_utils import DynamicLayer

from agentdistill.config import Config
from agentdistill.fingerprints import model_sha256
from agentdistill.formats import FormatError, ReactFormat
from agentdistill.policies.base import Policy, PolicySession, Turn, hash_seed
from agentdistill.records import PolicyInfo, Step, Task

log = logging.getLogger(__name__)


class DecodingConfig(Config):
    """How a model policy picks tokens."""

    temperature: float = Field(default=0.0, ge=0.0, description="0 = greedy decoding.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    seed: int = Field(default=0, description="Sampling seed (per episode: seed + task id).")
    max_turn_tokens: int = Field(default=96, gt=0, description="Token budget of one turn.")
    add_bos: bool = Field(default=False, description="Start the context with the BOS token.")
    ground_actions: bool = Field(
        default=False,
        description=(
            "Replace an action the environment does not list as admissible by the closest "
            "admissible command (rapidfuzz ratio); the context then shows the grounded "
            "action. Only for environments that list admissible commands (ALFWorld)."
        ),
    )


@dataclass
class _Episode:
    task: Task
    first_observation: str
    generator: torch.Generator
    steps: list[Step] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # tokens to feed before generating
    admissible: Sequence[str] | None = None  # the environment's current admissible commands
    prompt: str | None = None  # a caller's ready prompt standing for the rendered context


@dataclass(frozen=True)
class EpisodeContext:
    """An episode so far, as a stateless caller hands it over for its next turn."""

    first_observation: str = ""
    steps: Sequence[Step] = ()
    """The steps so far, each with its observation, as the context shows them (a grounded
    step holds the grounded action: the one `Turn.action` gave)."""
    admissible: Sequence[str] | None = None
    prompt: str | None = None
    """A ready prompt (the format's text up to where the turn starts, preamble included)
    instead of `first_observation` and `steps`; the turn is then parsed as step 0."""
    task_id: str = "request"
    """Seeds sampling (`DecodingConfig.seed` + task id), as a rollout of that task does."""


def ground_action(action: str, admissible: Sequence[str]) -> str:
    """`action` if admissible, else the most similar admissible command (ties: first listed)."""
    if action in admissible:
        return action
    best = rapidfuzz.process.extractOne(action, admissible, scorer=rapidfuzz.fuzz.ratio)
    return best[0] if best else action


def finish_turn(
    fmt: ReactFormat,
    decoding: DecodingConfig,
    index: int,
    admissible: Sequence[str] | None,
    text: str,
) -> tuple[Turn, str]:
    """Parse a model's finished turn for step `index`; return it with its canonical text.

    The step keeps the action as the model wrote it (`Search[x]`, `Go to desk 1`): the
    context shows it and the trajectory records it. The environment receives the format's
    `normalize_action` of it (`Turn.command`); grounding compares that command with the
    `admissible` ones. The canonical text never keeps a layout variant (`Step.written`): what
    the context shows is always the format's own rendering. Every model policy (in-process or
    behind an endpoint) ends its turns here, so they decide alike.
    """
    parsed = fmt.parse(text)
    try:
        step = Step(reasoning=parsed.reasoning, action=parsed.action or "", observation="")
        fmt.check_step(step, index)
    except (FormatError, ValueError):  # not representable: an invalid, empty action
        step = Step(action="", observation="")
    command = fmt.normalize_action(step.action) if step.action else ""
    grounded_from = None
    if decoding.ground_actions and command and admissible:
        grounded = ground_action(command, admissible)
        if grounded != command:
            grounded_from = step.action
            step = Step(reasoning=step.reasoning, action=grounded, observation="")
            command = grounded
    turn = Turn(
        reasoning=step.reasoning,
        action=step.action,
        command=command,
        raw=text,
        parsed=parsed.ok and bool(step.action),
        grounded_from=grounded_from,
    )
    return turn, fmt.turn_text(step, index)


class HFPolicy(Policy):
    """A causal LM that writes ReAct turns in a text format."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: ReactFormat,
        decoding: DecodingConfig | None = None,
        preamble: str = "",
        name: str = "model",
        model_id: str | None = None,
        cached: bool = True,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.fmt = fmt
        self.decoding = decoding or DecodingConfig()
        self.preamble = preamble
        self.name = name
        self.model_id = model_id
        self.cached = cached
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @property
    def device(self) -> torch.device:
        """Where the model's weights are: every tensor fed to it is created there."""
        parameter = next(iter(self.model.parameters()), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    @property
    def info(self) -> PolicyInfo:
        return PolicyInfo(name=self.name, kind="hf", model=self.model_id)

    @property
    def settings(self) -> dict[str, JsonValue]:
        # The cached and naive engines decode the same turns: `cached` is not a setting.
        return {
            "decoding": self.decoding.model_dump(mode="json"),
            "format": self.fmt.name,
            "numbered": getattr(self.fmt, "numbered", None),
            "preamble_sha256": hashlib.sha256(self.preamble.encode()).hexdigest(),
            "weights_sha256": self.weights_sha256,
            # another precision decodes other turns (fp32, the default, is not written, so
            # earlier partial runs still resume); the device is not a setting
            **({"dtype": str(dtype)} if (dtype := self.device_dtype) != torch.float32 else {}),
        }

    @property
    def device_dtype(self) -> torch.dtype:
        """The precision of the model's weights."""
        parameter = next(iter(self.model.parameters()), None)
        return parameter.dtype if parameter is not None else torch.float32

    @functools.cached_property
    def weights_sha256(self) -> str | None:
        """Hash of the model folder's weights (a model retrained in place is another policy);
        None when the model does not come from a folder of safetensors weights."""
        if not self.model_id or not Path(str(self.model_id)).is_dir():
            return None
        try:
            return model_sha256(self.model_id)
        except OSError:  # no safetensors there
            return None

    def session(self, batch_size: int) -> PolicySession:
        return CachedSession(self) if self.cached else NaiveSession(self)

    # ---- shared helpers ---------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def new_episode(
        self,
        task: Task,
        first_observation: str,
        admissible: Sequence[str] | None = None,
        steps: Sequence[Step] = (),
        prompt: str | None = None,
    ) -> _Episode:
        """An episode's state; with `steps` (or a ready `prompt`) one that has a history."""
        generator = torch.Generator().manual_seed(hash_seed(self.decoding.seed, task.task_id))
        episode = _Episode(
            task, first_observation, generator, list(steps), admissible=admissible, prompt=prompt
        )
        episode.pending = self.context_ids(episode)
        return episode

    def next_turns(self, contexts: Sequence[EpisodeContext]) -> list[Turn]:
        """The next turn of each episode given by its history: a one-turn rollout, stateless.

        Each episode is resumed in a fresh session with its whole context encoded at once
        (`context_ids`, the naive engine's input) and decoded by this policy's engine with the
        rollout's protocol: stop at the format's turn end, protocol injections, parsing,
        `normalize_action`, grounding against `admissible`. Greedy turns are those a rollout
        of the same episode decodes. Sampled turns are seeded per request, not per episode:
        they differ from a rollout's after its first turn.
        """
        # the engine `session` picks, typed: `resume` belongs to these two sessions only
        session = CachedSession(self) if self.cached else NaiveSession(self)
        for slot, context in enumerate(contexts):
            task = Task(env="request", task_id=context.task_id, split="request", goal="")
            episode = self.new_episode(
                task,
                context.first_observation,
                context.admissible,
                context.steps,
                context.prompt,
            )
            session.resume(slot, episode)
        turns: dict[int, Turn] = {}
        while len(turns) < len(contexts):  # a session answers the turns it completes
            turns.update(session.act([s for s in range(len(contexts)) if s not in turns]))
        return [turns[slot] for slot in range(len(contexts))]  # the session is dropped

    def choose(self, logits: torch.Tensor, generator: torch.Generator) -> int:
        """Greedy or nucleus sampling from one row of logits."""
        if self.decoding.temperature == 0.0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self.decoding.temperature, dim=-1)
        if self.decoding.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self.decoding.top_p
            filtered = torch.zeros_like(probs)
            filtered[order[keep]] = sorted_probs[keep]
            probs = filtered
        return int(torch.multinomial(probs, 1, generator=generator))

    def finish_turn(self, episode: _Episode, text: str) -> tuple[Turn, str]:
        """Parse a finished turn; return it with its canonical text (see `finish_turn`)."""
        return finish_turn(self.fmt, self.decoding, len(episode.steps), episode.admissible, text)

    def observation_text(self, episode: _Episode) -> str:
        """Text after the last turn: its observation, as the format renders it."""
        return self.fmt.observation_text(episode.steps[-1], len(episode.steps) - 1)

    def context_ids(self, episode: _Episode) -> list[int]:
        """The whole canonical context so far, encoded at once (the naive engine's input)."""
        if episode.prompt is not None:  # a caller's prompt: one turn only (`next_turns`)
            text = episode.prompt
        else:
            text = self.fmt.prompt(episode.first_observation, episode.steps, self.preamble)
        ids = self.encode(text)
        if self.decoding.add_bos and self.tokenizer.bos_token_id is not None:
            ids.insert(0, self.tokenizer.bos_token_id)
        return ids


class GrowingLayer(DynamicLayer):
    """A KV-cache layer that appends into a pre-allocated buffer (doubling when full).

    The stock layer concatenates the whole cache on every decoded token, which on a CPU costs
    more than the attention itself; here an append writes only the new keys and values.
    `keys`/`values` stay views of the buffer; if someone replaces them (row selection,
    compaction), the next append rebuilds the buffer from them.
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        old = self.keys.shape[-2] if self.keys.dim() == 4 else 0
        new = old + key_states.shape[-2]
        buffer = self._key_buffer
        backed = (
            buffer is not None
            and old > 0
            and self.keys.data_ptr() == buffer.data_ptr()
            and buffer.shape[0] == key_states.shape[0]
        )
        if not backed or buffer is None or buffer.shape[-2] < new:
            shape = (*key_states.shape[:2], max(64, 2 * new), key_states.shape[-1])
            self._key_buffer = key_states.new_empty(shape)
            self._value_buffer = value_states.new_empty(shape)
            if old:
                self._key_buffer[:, :, :old] = self.keys
                self._value_buffer[:, :, :old] = self.values
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[:, :, old:new] = key_states
        self._value_buffer[:, :, old:new] = value_states
        self.keys = self._key_buffer[:, :, :new]
        self.values = self._value_buffer[:, :, :new]
        return self.keys, self.values


def new_cache(model: Any) -> DynamicCache:
    """A dynamic cache whose plain layers append in place (see `GrowingLayer`)."""
    cache = DynamicCache(config=model.config)
    cache.layers = [
        GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache


class _TurnDecoder:
    """Incremental state of one row's turn."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy = policy
        self.ids: list[int] = []
        self.forced: deque[int] = deque()
        self.done = False
        self.text = ""
        self.end = -1
        self.generated = 0

    def next_token(self, logits: torch.Tensor, generator: torch.Generator) -> int:
        if self.forced:
            return self.forced.popleft()
        self.generated += 1
        return self.policy.choose(logits, generator)

    def push(self, token: int) -> None:
        """Record a fed token and check whether the turn is complete or needs an injection."""
        self.ids.append(token)
        if self.forced:
            return
        self.text = self.policy.tokenizer.decode(self.ids, skip_special_tokens=True)
        state = self.policy.fmt.turn_state(self.text)
        if token == self.policy.tokenizer.eos_token_id:
            self.done, self.end = True, len(self.text)  # the model ended its output
        elif state.done:
            self.done, self.end = True, state.end
        elif state.inject:
            self.forced.extend(self.policy.encode(state.inject))
        elif len(self.ids) >= self.policy.decoding.max_turn_tokens:
            self.done, self.end = True, len(self.text)

    @property
    def turn_text(self) -> str:
        return self.text[: self.end] if self.end >= 0 else self.text


class CachedSession(PolicySession):
    """Episodes sharing one batched KV cache, a row each; rows join and leave at any time.

    `act` decodes the asked rows until at least one completes its turn and returns only the
    completed turns: the others keep their partial turns in the cache and go on at the next
    call, so a short turn (an action) never waits for a long one (a thought). A finished
    episode's row is reused by the next episode started (its old columns masked).

    One forward pass feeds some rows' new context (observation and turn scaffold) beside the
    other rows' next decoded tokens. The context pads the pass to its width, which costs
    about `CONTEXT_COST` decode steps per column, so rows waiting to feed a context wait for
    each other (ski rental): they are fed once their idle share of the decode steps since
    they began waiting reaches that cost, or at once when no asked row is decoding.
    """

    CONTEXT_COST = 0.125
    """Extra cost of one context column in a pass, in decode steps (measured on CPU)."""
    CONTEXT_CHUNK = 32
    """Longest piece of a context fed beside decoding rows (a first prompt is long)."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy = policy
        self.device = policy.device
        self.episodes: dict[int, _Episode] = {}
        self.rows: list[int | None] = []  # cache row -> slot; None: a free row
        self.cache: Any = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)
        self.positions: list[int] = []  # next position of each row
        self.decoders: dict[int, _TurnDecoder] = {}  # slot -> its turn in progress
        self.logits: dict[int, torch.Tensor] = {}  # slot -> logits of its next token
        self.prompt_counts: dict[int, int] = {}  # slot -> context tokens fed for its turn
        self.idle = 0.0  # decode steps waiting rows have lost since the last context feed

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        self.resume(slot, self.policy.new_episode(task, first_observation, admissible))

    def resume(self, slot: int, episode: _Episode) -> None:
        """Begin `episode` (from `HFPolicy.new_episode`, maybe with a history) in `slot`."""
        if slot in self.episodes:
            raise RuntimeError(f"slot {slot} holds an episode: finish it first")
        self.episodes[slot] = episode
        if None in self.rows:  # a finished episode's row: mask its columns, start over
            row = self.rows.index(None)
            self.rows[row] = slot
            self.positions[row] = 0
            self.mask[row] = 0
            return
        self.rows.append(slot)
        self.positions.append(0)
        self.mask = torch.cat([self.mask, self.mask.new_zeros((1, self.mask.shape[1]))])
        if self.cache is not None:
            for layer in self.cache.layers:
                layer.keys = torch.cat([layer.keys, layer.keys.new_zeros(layer.keys[:1].shape)])
                layer.values = torch.cat(
                    [layer.values, layer.values.new_zeros(layer.values[:1].shape)]
                )

    @torch.no_grad()
    def _feed(self, chunks: list[list[int]]) -> torch.Tensor:
        """Feed one chunk per row (right-padded, pads masked); logits at each row's last
        token, as float32 on the host (one transfer per step; tokens are picked there)."""
        width = max(1, max(len(c) for c in chunks))
        # built on the host, sent to the model's device in one copy each
        ids = torch.full((len(chunks), width), self.policy.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(chunks), width), dtype=torch.long)
        positions = torch.zeros((len(chunks), width), dtype=torch.long)
        for row, chunk in enumerate(chunks):
            n = len(chunk)
            if n:
                ids[row, :n] = torch.tensor(chunk)
                new_mask[row, :n] = 1
                positions[row, :n] = torch.arange(self.positions[row], self.positions[row] + n)
                self.positions[row] += n
            positions[row, n:] = self.positions[row]
        self.mask = torch.cat([self.mask, new_mask.to(self.device)], dim=1)
        if self.cache is None:
            self.cache = new_cache(self.policy.model)
        out = self.policy.model(
            input_ids=ids.to(self.device),
            attention_mask=self.mask,
            position_ids=positions.to(self.device),
            cache=self.cache,
            use_cache=True,
        )
        self.cache = out.cache
        last = torch.tensor([max(len(c), 1) - 1 for c in chunks], device=self.device)
        rows = torch.arange(len(chunks), device=self.device)
        return out.logits[rows, last].float().cpu()

    def _reshape(self) -> None:
        """Drop free rows and squeeze out masked columns, when enough is wasted.

        Padding, idle rows and replaced turns leave masked columns behind; left-aligning each
        row's tokens keeps the cache as long as the longest episode. Both copy the whole
        cache, so they wait until a quarter of the rows, or an eighth of the columns, is idle.
        """
        if self.cache is None:
            return
        keep = [row for row, slot in enumerate(self.rows) if slot is not None]
        mask = self.mask[keep] if len(keep) * 4 <= len(self.rows) * 3 else self.mask
        valid = mask.bool()
        width = int(valid.sum(dim=1).max()) if mask.shape[0] else 0
        squeeze = (self.mask.shape[1] - width) * 8 >= self.mask.shape[1]
        if mask is self.mask and not squeeze:
            return
        rows = None
        if mask is not self.mask:
            rows = torch.tensor(keep, device=self.device)
            self.rows = [self.rows[row] for row in keep]
            self.positions = [self.positions[row] for row in keep]
        # stable sort puts each row's kept columns first, in their original order
        order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)[:, :width]
        self.mask = torch.gather(mask, 1, order)
        for layer in self.cache.layers:
            keys, values = layer.keys, layer.values
            if rows is not None:
                keys, values = keys[rows], values[rows]
            index = order[:, None, :, None].expand(-1, keys.shape[1], -1, keys.shape[-1])
            layer.keys = torch.gather(keys, 2, index)
            layer.values = torch.gather(values, 2, index)

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        asked = set(slots)
        for slot in slots:
            if slot not in self.decoders:  # a new turn: its context is fed first
                self.decoders[slot] = _TurnDecoder(self.policy)
                self.prompt_counts[slot] = len(self.episodes[slot].pending)
        self._reshape()
        turns: dict[int, Turn] = {}
        while not turns:
            chunks, fed, tokens = self._next_chunks(asked)
            logits = self._feed(chunks)
            for row, slot in enumerate(self.rows):
                if slot is None or (row not in fed and row not in tokens):
                    continue
                self.logits[slot] = logits[row]
                if row in tokens:
                    decoder = self.decoders[slot]
                    decoder.push(tokens[row])
                    if decoder.done:
                        turns[slot] = self._end_turn(row, slot)
        return turns

    def _next_chunks(self, asked: set[int]) -> tuple[list[list[int]], set[int], dict[int, int]]:
        """What each row feeds in the next pass: the rows fed a context, and the decoded token
        of each decoding row. Waiting rows are fed together (see the class); beside decoding
        rows a context is fed in pieces of at most `CONTEXT_CHUNK` tokens."""
        waiting, decoding = [], []
        for row, slot in enumerate(self.rows):
            if slot is None or slot not in asked:
                continue
            if self.episodes[slot].pending or slot not in self.logits:
                waiting.append(row)
            else:
                decoding.append(row)
        chunks: list[list[int]] = [[] for _ in self.rows]
        fed: set[int] = set()
        if waiting:
            pending = {row: self.episodes[self.rows[row]].pending for row in waiting}  # type: ignore[index]
            width = max(len(p) for p in pending.values())
            if decoding:
                width = min(width, self.CONTEXT_CHUNK)
            if not decoding or self.idle >= self.CONTEXT_COST * width:
                for row, tokens in pending.items():
                    chunks[row] = tokens[:width]
                    self.episodes[self.rows[row]].pending = tokens[width:]  # type: ignore[index]
                fed = set(waiting)
                self.idle = 0.0
            else:
                self.idle += len(waiting) / len(self.rows)
        tokens: dict[int, int] = {}
        for row in decoding:
            slot = self.rows[row]
            assert slot is not None
            token = self.decoders[slot].next_token(self.logits[slot], self.episodes[slot].generator)
            chunks[row] = [token]
            tokens[row] = token
        return chunks, fed, tokens

    def _end_turn(self, row: int, slot: int) -> Turn:
        """The completed turn of `row`; its cache keeps exactly the canonical turn tokens."""
        policy, episode = self.policy, self.episodes[slot]
        decoder = self.decoders.pop(slot)
        turn, canonical = policy.finish_turn(episode, decoder.turn_text)
        canonical_ids = policy.encode(canonical)
        if canonical_ids != decoder.ids:
            # Not the training text: hide what was written (the row's last valid columns),
            # feed the canonical turn.
            columns = self.mask[row].nonzero().flatten()[-len(decoder.ids) :]
            self.mask[row, columns] = 0
            self.positions[row] -= len(decoder.ids)
            episode.pending = canonical_ids
            del self.logits[slot]
        prompt = self.prompt_counts.pop(slot)
        return replace(
            turn,  # the finished turn, with this episode's token counts
            prompt_tokens=prompt + len(decoder.ids) - decoder.generated,
            generated_tokens=decoder.generated,
        )

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        episode = self.episodes[slot]
        episode.steps.append(step)
        episode.admissible = admissible
        episode.pending += self.policy.encode(self.policy.observation_text(episode))

    def finish(self, slot: int) -> None:
        if slot not in self.episodes:
            return
        del self.episodes[slot]
        for table in (self.decoders, self.logits, self.prompt_counts):
            table.pop(slot, None)  # type: ignore[attr-defined]
        row = self.rows.index(slot)
        self.rows[row] = None  # reused by the next start, or dropped
        self.mask[row] = 0
        if not self.episodes:
            self.rows, self.positions, self.cache = [], [], None
            self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)


class _StopAtTurnState(StoppingCriteria):
    """Stops `generate` when the turn is complete or the protocol must inject text."""

    def __init__(self, decoder: _TurnDecoder, prompt_length: int) -> None:
        self.decoder = decoder
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        token = int(input_ids[0, -1])
        self.decoder.generated += 1
        self.decoder.push(token)
        stop = self.decoder.done or bool(self.decoder.forced)
        return torch.tensor([stop], dtype=torch.bool, device=input_ids.device)


class NaiveSession(PolicySession):
    """One episode at a time, `generate` over the whole prompt at every step (the baseline)."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy = policy
        self.episodes: dict[int, _Episode] = {}

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        self.resume(slot, self.policy.new_episode(task, first_observation, admissible))

    def resume(self, slot: int, episode: _Episode) -> None:
        """Begin `episode` (from `HFPolicy.new_episode`, maybe with a history) in `slot`."""
        self.episodes[slot] = episode

    @torch.no_grad()
    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        return {slot: self._act_one(self.episodes[slot]) for slot in slots}

    def _act_one(self, episode: _Episode) -> Turn:
        policy = self.policy
        context = policy.context_ids(episode)
        decoder = _TurnDecoder(policy)
        prompt_tokens = 0
        sampling = policy.decoding.temperature > 0
        while not decoder.done:
            if decoder.forced:  # the protocol's answer, e.g. ALFWorld's "OK." after a thought
                for token in list(decoder.forced):
                    decoder.forced.popleft()
                    decoder.push(token)
                continue
            ids = torch.tensor([context + decoder.ids], device=policy.device)
            prompt_tokens += ids.shape[1]
            budget = policy.decoding.max_turn_tokens - len(decoder.ids)
            policy.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=budget,
                do_sample=sampling,
                temperature=policy.decoding.temperature if sampling else None,
                top_p=policy.decoding.top_p if sampling else None,
                top_k=None,
                pad_token_id=policy.pad_id,
                stopping_criteria=StoppingCriteriaList([_StopAtTurnState(decoder, ids.shape[1])]),
            )
            if not decoder.done and not decoder.forced:
                decoder.done, decoder.end = True, len(decoder.text)  # budget used up
        turn, _ = policy.finish_turn(episode, decoder.turn_text)
        return replace(
            turn,  # the finished turn, with this episode's token counts
            prompt_tokens=prompt_tokens,
            generated_tokens=decoder.generated,
        )

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        self.episodes[slot].steps.append(step)
        self.episodes[slot].admissible = admissible

    def finish(self, slot: int) -> None:
        self.episodes.pop(slot, None)
