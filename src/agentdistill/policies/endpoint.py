"""A model behind an OpenAI-compatible endpoint (vLLM, SGLang, `agentdistill serve`) as a policy.

    config = EndpointConfig(base_url="http://127.0.0.1:8000/v1", model="teacher")
    policy = EndpointPolicy(config, get_format("alfworld"), preamble=few_shot)
    trajectories = run_rollouts(policy, lambda: make_env("alfworld"), tasks)

    agentdistill rollout --policy endpoint --base-url http://127.0.0.1:8000/v1 --model teacher \\
        --format alfworld --out teacher.jsonl

It plays as `HFPolicy` plays: the prompt of step k is the format's rendering of the episode
so far with the preamble (`fmt.prompt`), every turn ends in `hf.finish_turn` (parsing, the
command sent, action grounding), and the turn protocol is the format's `turn_state`. A
server cannot call `turn_state` while it generates, so the policy asks for one line at a time
(`stop=["\\n"]`; every stop sequence of the formats begins with a newline, and `turn_state`
reads complete lines only, so no decision is made anywhere else): after each line it adds the
newline back, asks `turn_state`, and either ends the turn, appends the protocol's answer
(ALFWorld's `OK.` after a think) and asks again with the longer prompt, or simply asks again.
The in-process policy continues a turn from the tokens it generated, not from their text
tokenized again (a model that wrote `for`+`ikely` does not read `fori`+`kely`); so does this
one when the server returns token ids (vLLM's `return_token_ids`): the next request of the
turn is the token ids so far, the answer's own tokens included. The turn's token budget
(`max_turn_tokens`) counts generated and injected tokens, as the server counts them. So a
greedy endpoint and a greedy in-process model of the same weights play the same actions
(tests/test_endpoint.py). One limit: a token that runs past a newline (say `\n\n`) loses
what follows the newline, since a server cuts its text at the stop string.

Requests go through the official `openai` client: `/v1/completions` (or, with `chat`,
`/v1/chat/completions` for chat-only servers: the prompt is one user message and a partial
turn an assistant message continued with vLLM's `continue_final_message`). The episodes of a
batch are served by a thread pool of `max_concurrency` (the server batches them). Each request
has a timeout (`timeout_s`); failures the client deems transient (connection errors,
timeouts, 408/409/429/5xx) are retried by the client itself, `max_retries` times with
exponential backoff (0.5 s doubling up to 8 s, with jitter; a server's Retry-After wins).

The API key is read from the environment variable `api_key_env` (default OPENAI_API_KEY;
"EMPTY", what vLLM expects without --api-key, when unset). It lives only inside the client:
it is never logged, nor put in `info`, `settings` or any trajectory.

vLLM's extension fields (`extensions`, on by default; off for a strict OpenAI server):
`add_special_tokens` (the tokenizer adds BOS only when `DecodingConfig.add_bos`, as the
in-process policy) and `return_token_ids` (above); a server that ignores them is spoken to in
text. The `stop_reason` of each answer (vLLM's) tells a stop string from the end of sequence;
without it, a stop is taken to be the newline.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, JsonValue

from agentdistill.config import Config
from agentdistill.formats import ReactFormat
from agentdistill.policies.base import Policy, PolicySession, Turn, hash_seed
from agentdistill.policies.hf import DecodingConfig, finish_turn
from agentdistill.records import PolicyInfo, Step, Task

log = logging.getLogger(__name__)

NO_KEY = "EMPTY"
"""The key sent when the variable is unset: local servers without a key accept anything."""

LINE_STOP = "\n"


class EndpointConfig(Config):
    """Where the endpoint is and how to talk to it."""

    base_url: str = Field(
        description="The server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (vLLM, "
        "SGLang or `agentdistill serve`)."
    )
    model: str = Field(min_length=1, description="The served model's name (`--model-name`).")
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        min_length=1,
        description="Environment variable holding the API key (unset: 'EMPTY', for local "
        "servers started without a key). The key itself is never written anywhere.",
    )
    max_concurrency: int = Field(
        default=16, ge=1, description="Requests in flight at once (a thread pool)."
    )
    timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one request.")
    max_retries: int = Field(
        default=4,
        ge=0,
        description="Retries of a failed request by the openai client (exponential backoff "
        "from 0.5 s, doubling up to 8 s; connection errors, timeouts, 408/409/429/5xx).",
    )
    chat: bool = Field(
        default=False,
        description="Use /v1/chat/completions (for chat-only servers) instead of "
        "/v1/completions; the prompt becomes one user message.",
    )
    extensions: bool = Field(
        default=True,
        description="Send vLLM's extension fields (add_special_tokens, "
        "return_tokens_as_token_ids, continue_final_message); off for a strict OpenAI server.",
    )
    decoding: DecodingConfig = Field(
        default_factory=DecodingConfig, description="How tokens are chosen (as HFPolicy)."
    )

    @property
    def public_url(self) -> str:
        """`base_url` without any user:password part (safe to record)."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class EndpointError(RuntimeError):
    """The endpoint failed (after the client's retries) or answered something unusable."""


def make_client(config: EndpointConfig) -> Any:
    """The official OpenAI client for the endpoint, its key read from the environment."""
    import openai

    # The key goes into the client and nowhere else (not in a config, a log or a record).
    return openai.OpenAI(
        base_url=config.base_url,
        api_key=os.environ.get(config.api_key_env) or NO_KEY,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )


@dataclass(frozen=True)
class Reply:
    """One answer of the server: the text, why it stopped, and its tokens."""

    text: str
    stop: str | None
    """The stop string that ended it (None: the end of sequence, the length, or unknown)."""
    ended: bool
    """The model ended its output (EOS) or reached `max_tokens`: the turn is over."""
    prompt_tokens: int
    completion_tokens: int
    prompt_token_ids: list[int] | None = None
    """The prompt's token ids, when the server returns them (vLLM's `return_token_ids`)."""
    token_ids: list[int] | None = None
    """The generated token ids (the stop string's token included), likewise."""


_MISSING = object()


def _field(choice: Any, name: str) -> Any:
    """A field of an answer's choice that the OpenAI schema lacks (vLLM's extensions)."""
    value = getattr(choice, name, _MISSING)
    if value is _MISSING:
        value = (getattr(choice, "model_extra", None) or {}).get(name, _MISSING)
    return value


def _reply(choice: Any, usage: Any) -> Reply:
    text = choice.text if hasattr(choice, "text") else (choice.message.content or "")
    # vLLM tells a stop string from EOS by `stop_reason`; a server without it gets the
    # newline assumed (the only stop string the policy sends).
    stop_reason = _field(choice, "stop_reason")
    if choice.finish_reason == "stop":
        if stop_reason is _MISSING:
            stop: str | None = LINE_STOP
        else:
            stop = stop_reason if isinstance(stop_reason, str) else None
        ended = stop is None
    else:  # "length" (the budget) or anything else: no more text will come
        stop, ended = None, True
    prompt_ids, token_ids = _field(choice, "prompt_token_ids"), _field(choice, "token_ids")
    return Reply(
        text=text,
        stop=stop,
        ended=ended,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        prompt_token_ids=list(prompt_ids) if isinstance(prompt_ids, list) else None,
        token_ids=list(token_ids) if isinstance(token_ids, list) else None,
    )


@dataclass
class _Episode:
    task: Task
    first_observation: str
    steps: list[Step] = field(default_factory=list)
    admissible: Sequence[str] | None = None


class EndpointPolicy(Policy):
    """A ReAct policy whose model runs behind an OpenAI-compatible endpoint."""

    def __init__(
        self,
        config: EndpointConfig,
        fmt: ReactFormat,
        preamble: str = "",
        name: str | None = None,
        client: Any = None,
    ) -> None:
        self.config = config
        self.fmt = fmt
        self.preamble = preamble
        self.name = name or config.model
        self.decoding = config.decoding
        self.client = client if client is not None else make_client(config)
        # Stop strings: the newline (see the module docstring) and any format stop that
        # does not begin with one.
        self.stops = [LINE_STOP, *(s for s in fmt.stop_sequences if not s.startswith("\n"))]
        self._encoded: dict[str, list[int] | int] = {}
        self._encoded_lock = threading.Lock()

    @property
    def info(self) -> PolicyInfo:
        return PolicyInfo(name=self.name, kind="api", model=self.config.model)

    @property
    def settings(self) -> dict[str, JsonValue]:
        import hashlib

        # The served model and how it is asked; where it is served (the URL) and the key
        # do not change episodes and stay out.
        return {
            "endpoint": {
                "model": self.config.model,
                "chat": self.config.chat,
                "extensions": self.config.extensions,
            },
            "decoding": self.decoding.model_dump(mode="json"),
            "format": self.fmt.name,
            "numbered": getattr(self.fmt, "numbered", None),
            "preamble_sha256": hashlib.sha256(self.preamble.encode()).hexdigest(),
        }

    def session(self, batch_size: int) -> PolicySession:
        return EndpointSession(self, min(batch_size, self.config.max_concurrency))

    # ---- requests ------------------------------------------------------------------------------
    def complete(
        self,
        prompt: str | list[int],
        max_tokens: int,
        seed: int | None = None,
        turn: str = "",
        add_special_tokens: bool | None = None,
    ) -> Reply:
        """One request: what follows `prompt` (text, or token ids), up to the next stop.

        In chat mode `prompt` is the user message and `turn` the partial turn; otherwise
        `turn` is appended to a text prompt.
        """
        decoding = self.decoding
        sampling: dict[str, Any] = {"temperature": decoding.temperature}
        if decoding.temperature > 0:
            sampling.update(top_p=decoding.top_p, seed=seed)
        try:
            if self.config.chat:
                assert isinstance(prompt, str)
                answer = self._chat(prompt, turn, max_tokens, sampling)
            else:
                extra: dict[str, Any] = {}
                if self.config.extensions:
                    special = decoding.add_bos if add_special_tokens is None else add_special_tokens
                    extra = {"add_special_tokens": special, "return_token_ids": True}
                answer = self.client.completions.create(
                    model=self.config.model,
                    prompt=prompt + turn if isinstance(prompt, str) else prompt,
                    max_tokens=max_tokens,
                    stop=self.stops,
                    extra_body=extra,
                    **sampling,
                )
        except Exception as exc:  # the client's errors, after its retries
            raise EndpointError(
                f"{self.config.public_url}: request to model '{self.config.model}' failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not answer.choices:
            raise EndpointError(f"{self.config.public_url}: an answer without choices")
        return _reply(answer.choices[0], answer.usage)

    def _chat(self, prompt: str, turn: str, max_tokens: int, sampling: dict[str, Any]) -> Any:
        messages: list[dict[str, str]] = [{"role": "user", "content": prompt}]
        extra: dict[str, Any] = {}
        if turn and self.config.extensions:
            # continue the partial turn as the assistant's own message (vLLM's extension)
            messages.append({"role": "assistant", "content": turn})
            extra = {"continue_final_message": True, "add_generation_prompt": False}
        elif turn:
            messages[0]["content"] = prompt + turn
        return self.client.chat.completions.create(
            model=self.config.model,
            messages=messages,
            max_tokens=max_tokens,
            stop=self.stops,
            extra_body=extra,
            **sampling,
        )

    def encode(self, text: str) -> list[int] | int:
        """The server's tokens of `text` (cached per text): their ids when it returns them,
        else only their count.

        The protocol's answers (`OK.\\n`) are fed to the model as the in-process policy
        feeds them (their own tokens) and count against the turn's budget. Without ids the
        count is that of "\\n" + text less that of "\\n" (the newline absorbs a BOS the
        server may add).
        """
        with self._encoded_lock:
            if text in self._encoded:
                return self._encoded[text]
        reply = self.complete(text, 1, add_special_tokens=False)
        encoded: list[int] | int
        if reply.prompt_token_ids is not None:
            encoded = reply.prompt_token_ids
        else:
            counts = [self.complete(LINE_STOP + t, 1).prompt_tokens for t in (text, "")]
            encoded = counts[0] - counts[1]
        with self._encoded_lock:
            self._encoded[text] = encoded
        return encoded

    def play_turn(self, episode: _Episode) -> Turn:
        """The next turn of an episode, one line per request.

        When the server returns token ids (vLLM's `return_token_ids`), the turn continues
        from the exact tokens generated so far (as the in-process policy continues from its
        own tokens); otherwise from the text, which the server tokenizes again.
        """
        budget = self.decoding.max_turn_tokens
        prompt = self.fmt.prompt(episode.first_observation, episode.steps, self.preamble)
        index = len(episode.steps)
        text = ""
        ids: list[int] | None = None  # prompt + turn token ids, once the server gave them
        used = 0  # tokens of the turn so far (generated and injected)
        base: int | None = None  # prompt tokens of the turn's first request (text mode)
        injected = 0  # tokens injected since the last answer (text mode)
        prompt_tokens = generated = requests = 0
        end = -1
        while used < budget:
            seed = hash_seed(self.decoding.seed, f"{episode.task.task_id}:{index}:{requests}")
            request: str | list[int] = ids if ids is not None else prompt
            reply = self.complete(request, budget - used, seed, turn=text if ids is None else "")
            requests += 1
            prompt_tokens += reply.prompt_tokens
            generated += reply.completion_tokens
            if ids is None and reply.prompt_token_ids is not None and reply.token_ids is not None:
                ids = reply.prompt_token_ids  # from now on the turn is continued from ids
                base = len(ids) - used
            if ids is not None and reply.token_ids is not None:
                ids = ids + reply.token_ids
                used = len(ids) - (base or 0)
            else:
                if base is None:
                    base = reply.prompt_tokens
                # The server's own count of what was fed; an estimate in chat mode.
                fed = reply.prompt_tokens - base if not self.config.chat else used + injected
                used = fed + reply.completion_tokens
            injected = 0
            text += reply.text + (reply.stop or "")
            state = self.fmt.turn_state(text)
            if state.done:
                end = state.end
                break
            if reply.ended:
                break
            if state.inject:
                text += state.inject
                encoded = self.encode(state.inject)
                if ids is not None and isinstance(encoded, list):
                    ids = ids + encoded
                    used += len(encoded)
                else:
                    ids = None  # no ids for the answer: continue from the text
                    injected = encoded if isinstance(encoded, int) else len(encoded)
                    used += injected
        turn, _ = finish_turn(
            self.fmt, self.decoding, index, episode.admissible, text[:end] if end >= 0 else text
        )
        return replace(
            turn,  # the finished turn, with this episode's token counts
            prompt_tokens=prompt_tokens,
            generated_tokens=generated,
        )


class EndpointSession(PolicySession):
    """Episodes of a batch, each turn a chain of requests; turns of a step run concurrently."""

    def __init__(self, policy: EndpointPolicy, workers: int) -> None:
        self.policy = policy
        self.workers = max(1, workers)
        self.episodes: dict[int, _Episode] = {}

    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        self.episodes[slot] = _Episode(task, first_observation, admissible=admissible)

    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        episodes = [self.episodes[slot] for slot in slots]
        if len(episodes) == 1:
            return {slots[0]: self.policy.play_turn(episodes[0])}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(episodes))) as pool:
            turns = list(pool.map(self.policy.play_turn, episodes))
        return dict(zip(slots, turns, strict=True))

    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        self.episodes[slot].steps.append(step)
        self.episodes[slot].admissible = admissible

    def finish(self, slot: int) -> None:
        self.episodes.pop(slot, None)
