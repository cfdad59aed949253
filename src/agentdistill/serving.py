"""A small OpenAI-compatible server for a local Hugging Face causal LM (`agentdistill serve`).

    agentdistill serve runs/teacher/train/model --port 8000 [--model-name teacher]
    curl localhost:8000/v1/completions -d '{"model": "teacher", "prompt": "...",
        "max_tokens": 32, "temperature": 0, "stop": ["\\n"], "logprobs": 5}'

    app = create_app(ServeConfig(model_dir="runs/teacher/train/model"))   # in-process

It exists so the endpoint teacher (`policies.endpoint`, `distillation.endpoint_cache`) can be
tested and used without vLLM, and answers the fields vLLM answers for what it implements:

- `GET /v1/models`;
- `POST /v1/completions`: `prompt` (a string, a list of strings, token ids or lists of them),
  `max_tokens`, `temperature` (0: greedy), `top_p`, `seed`, `stop` (strings), `n` = 1,
  `logprobs` (top-k of each generated token: `tokens`, `token_logprobs`, `top_logprobs`,
  `text_offset`), `echo` (the prompt comes back first, its tokens' log-probabilities too;
  `max_tokens: 0` returns the prompt alone), and vLLM's extensions `prompt_logprobs`,
  `return_tokens_as_token_ids` (tokens written `token_id:123`), `return_token_ids`,
  `add_special_tokens`, `skip_special_tokens`, `ignore_eos`; every choice carries vLLM's
  `stop_reason` (the stop string that ended it; null for EOS or length);
- `POST /v1/chat/completions`: minimal; the messages become one prompt with the tokenizer's
  chat template, or, for a base model without one, their contents joined (so a chat request
  of the text so far continues it as a completion would). vLLM's `continue_final_message`
  and `add_generation_prompt` are honoured. No logprobs.

Log-probabilities are the model's raw distribution (vLLM's default `raw_logprobs`: before
temperature and top-p), computed in float32; `logprobs` and `prompt_logprobs` are capped by
`max_logprobs` (vLLM's `--max-logprobs`, default 20: the OpenAI API's own cap).

Requests are served one at a time (a lock around the model): on a CPU a single forward pass
already uses every core, and batching requests would need a scheduler this test server does
not need. The endpoint policy's concurrent requests queue here; vLLM batches them. What this
server does share between requests is the KV cache of a prompt's prefix (`prefix_cache`, a
simple form of vLLM's automatic prefix caching): an agent's next request extends its last
one (the episode so far plus one more line), so only the new tokens are encoded.

With `api_key_env`, every `/v1` request must carry `Authorization: Bearer <the variable's
value>` (401 otherwise); the key is never logged. `fail_first` answers the first N generation
requests 503, to exercise a client's retries.
"""

from __future__ import annotations

import copy
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agentdistill.config import Config
from agentdistill.policies.hf import GrowingLayer, new_cache
from agentdistill.runtime import RuntimeConfig

log = logging.getLogger(__name__)

LOGPROB_FLOOR = -9999.0
"""vLLM writes -inf log-probabilities as this (JSON has no infinity)."""


class ServeConfig(Config):
    """What `agentdistill serve` serves, where, and how."""

    model_dir: str = Field(description="Folder of the HF causal LM (weights and tokenizer).")
    model_name: str | None = Field(
        default=None,
        description="Name clients ask for (`model` of a request); default: the folder's name.",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port (0: any free port).")
    max_logprobs: int = Field(
        default=20,
        ge=0,
        description="Most top log-probabilities a request may ask for per position "
        "(`logprobs`, `prompt_logprobs`), as vLLM's --max-logprobs.",
    )
    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the API key every request must present "
        "(Authorization: Bearer); None: no key checked.",
    )
    fail_first: int = Field(
        default=0,
        ge=0,
        description="Answer the first N generation requests with 503 (tests of client retries).",
    )
    prefix_cache: int = Field(
        default=16,
        ge=0,
        description="Recent sequences whose KV cache is kept for a request that extends one "
        "(an agent's next turn); 0: every prompt is encoded whole.",
    )
    runtime: RuntimeConfig = Field(
        default_factory=lambda: RuntimeConfig(device="cpu"),
        description="Device and precision of the model (default: the CPU in fp32).",
    )

    @property
    def served_name(self) -> str:
        return self.model_name or Path(self.model_dir).name


# ---- the protocol ------------------------------------------------------------------------------


class _Request(BaseModel):
    # Unknown fields are ignored (with a warning), as vLLM does: clients send extras.
    model_config = ConfigDict(extra="allow")


class CompletionRequest(_Request):
    """The fields of OpenAI's `/v1/completions` (and vLLM's extensions) this server reads."""

    model: str | None = None
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(default=16, ge=0)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int = 1
    seed: int | None = None
    stop: str | list[str] | None = None
    logprobs: int | None = Field(default=None, ge=0)
    echo: bool = False
    stream: bool = False
    prompt_logprobs: int | None = Field(default=None, ge=0)
    return_tokens_as_token_ids: bool = False
    return_token_ids: bool = False
    add_special_tokens: bool = True
    skip_special_tokens: bool = True
    ignore_eos: bool = False


class ChatMessage(BaseModel):
    role: str
    content: str | None = None


class ChatRequest(_Request):
    """The fields of OpenAI's `/v1/chat/completions` this server reads (no logprobs)."""

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=0)
    max_completion_tokens: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int = 1
    seed: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool = False
    stream: bool = False
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    add_special_tokens: bool = False
    ignore_eos: bool = False


class APIError(Exception):
    """An error answered to the client as OpenAI's `{"error": {...}}`."""

    def __init__(
        self, status: int, message: str, kind: str = "BadRequestError", param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.status,
            }
        }
        return JSONResponse(body, status_code=self.status)


# ---- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """One token with its log-probability, rank and the top-k alternatives at its position."""

    token: int
    logprob: float
    rank: int
    top: tuple[tuple[int, float], ...]


@dataclass
class Generation:
    """What one prompt produced."""

    prompt_ids: list[int]
    prompt_positions: list[Position | None] | None = None
    """Log-probabilities of each prompt token (None for the first); None when not asked."""
    token_ids: list[int] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    text: str = ""
    finish_reason: Literal["stop", "length"] = "length"
    stop_reason: str | None = None


@dataclass(frozen=True)
class Sampling:
    """How one request generates."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None
    prompt_logprobs: int | None = None
    ignore_eos: bool = False
    skip_special_tokens: bool = True


def _positions(logprobs: torch.Tensor, tokens: torch.Tensor, k: int) -> list[Position]:
    """Per row: the log-probability and rank of `tokens[row]` and the top-k of the row."""
    chosen = logprobs.gather(-1, tokens[:, None])[:, 0]
    ranks = (logprobs > chosen[:, None]).sum(-1) + 1
    if k > 0:
        top_lp, top_ids = torch.topk(logprobs, min(k, logprobs.shape[-1]), dim=-1)
        tops = [
            tuple(zip(ids, lps, strict=True))
            for ids, lps in zip(top_ids.tolist(), top_lp.tolist(), strict=True)
        ]
    else:
        tops = [() for _ in range(len(tokens))]
    return [
        Position(token, logprob, rank, top)
        for token, logprob, rank, top in zip(
            tokens.tolist(), chosen.tolist(), ranks.tolist(), tops, strict=True
        )
    ]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    m = min(len(a), len(b))
    differ = np.nonzero(np.asarray(a[:m]) != np.asarray(b[:m]))[0]
    return int(differ[0]) if len(differ) else m


class PrefixCache:
    """KV caches of recent sequences, for requests whose prompt begins with one of them.

    An entry is (the token ids whose keys and values it holds, the cache). A request takes
    the entry sharing the longest prefix with its prompt: the entry itself when the prompt
    extends it whole (the usual next turn; the entry is replaced by the longer sequence
    afterwards), a copy cut to the shared prefix otherwise. The least recently stored entry
    goes first.
    """

    MIN_SHARED = 8
    """Fewer shared tokens than this are encoded again rather than copied."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: list[tuple[list[int], Any]] = []

    def take(self, ids: Sequence[int]) -> tuple[int, Any]:
        """(tokens already in the cache, the cache) for a prompt; (0, None) when none fits."""
        best, shared = -1, 0
        for index, (seq, _) in enumerate(self.entries):
            n = _common_prefix(seq, ids)
            if n > shared:
                best, shared = index, n
        shared = min(shared, len(ids) - 1)  # at least one token is fed, for its logits
        if best < 0 or shared < self.MIN_SHARED:
            return 0, None
        seq, cache = self.entries[best]
        if shared == len(seq):
            del self.entries[best]
        else:
            cache = copy.deepcopy(cache)
            cache.crop(shared - len(seq))
        return shared, cache

    def put(self, ids: list[int], cache: Any) -> None:
        self.entries.append((ids, cache))
        del self.entries[: max(0, len(self.entries) - self.size)]


class LocalModel:
    """A causal LM and its tokenizer, generating for one request at a time."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        device: torch.device,
        prefix_cache: int = 16,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.lock = threading.Lock()
        self.vocab_size = int(model.get_input_embeddings().num_embeddings)
        # Only plain caches can be cut to a prefix (not sliding windows, not linear attention).
        plain = all(isinstance(layer, GrowingLayer) for layer in new_cache(model).layers)
        self.prefix_cache = PrefixCache(prefix_cache) if prefix_cache > 0 and plain else None
        self.max_length = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        eos = getattr(model.generation_config, "eos_token_id", None)
        eos_ids = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {i for i in [*eos_ids, tokenizer.eos_token_id] if i is not None}
        self._token_text: dict[int, str] = {}

    @classmethod
    def load(cls, config: ServeConfig) -> LocalModel:
        from agentdistill.models import load_model
        from agentdistill.tokenizer import load_tokenizer

        runtime = config.runtime
        model = load_model(config.model_dir, dtype=runtime.torch_dtype).to(runtime.torch_device)
        tokenizer = load_tokenizer(config.model_dir)
        return cls(model, tokenizer, config.served_name, runtime.torch_device, config.prefix_cache)

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])

    def token_text(self, token: int) -> str:
        """A token's text alone (vLLM's `decoded_token`)."""
        text = self._token_text.get(token)
        if text is None:
            text = self.tokenizer.decode([token])
            self._token_text[token] = text
        return text

    def _logprobs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits.float(), dim=-1)

    def _choose(self, logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
        """Greedy at temperature 0; else nucleus sampling (as `HFPolicy.choose`)."""
        if sampling.temperature == 0.0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
        if sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < sampling.top_p
            filtered = torch.zeros_like(probs)
            filtered[order[keep]] = sorted_probs[keep]
            probs = filtered
        return int(torch.multinomial(probs.cpu(), 1, generator=generator))

    def _stop_at(self, text: str, stops: Sequence[str]) -> tuple[int, str] | None:
        """The earliest stop string in `text`: (its index, the string)."""
        found = [(text.find(stop), stop) for stop in stops if stop and stop in text]
        return min(found) if found else None

    @torch.no_grad()
    def generate(self, prompt_ids: list[int], sampling: Sampling) -> Generation:
        """Prompt log-probabilities (when asked) and up to `max_tokens` new tokens."""
        if not prompt_ids:
            raise APIError(400, "the prompt is empty", param="prompt")
        if not all(0 <= token < self.vocab_size for token in prompt_ids):
            raise APIError(400, f"a prompt token id is outside [0, {self.vocab_size})", "prompt")
        if len(prompt_ids) + sampling.max_tokens > self.max_length:
            raise APIError(
                400,
                f"This model's maximum context length is {self.max_length} tokens. However, "
                f"you requested {len(prompt_ids) + sampling.max_tokens} tokens "
                f"({len(prompt_ids)} in the messages, {sampling.max_tokens} in the completion).",
                param="max_tokens",
            )
        result = Generation(prompt_ids=list(prompt_ids))
        generator = torch.Generator()
        if sampling.seed is not None:
            generator.manual_seed(sampling.seed)
        else:
            generator.seed()
        with self.lock:
            ids = torch.tensor([prompt_ids], device=self.device)
            use_cache = sampling.max_tokens > 0
            cached, cache = 0, None
            if use_cache:
                # A scored prompt needs the logits of all its positions: no prefix reuse then.
                if self.prefix_cache is not None and sampling.prompt_logprobs is None:
                    cached, cache = self.prefix_cache.take(prompt_ids)
                if cache is None:
                    cache = new_cache(self.model)
            out = self.model(input_ids=ids[:, cached:], cache=cache, use_cache=use_cache)
            if sampling.prompt_logprobs is not None:
                rows = self._logprobs(out.logits[0, :-1])
                result.prompt_positions = [
                    None,
                    *_positions(rows, ids[0, 1:], sampling.prompt_logprobs),
                ]
            logits = out.logits[0, -1]
            try:
                return self._decode(result, sampling, generator, cache, logits)
            finally:
                if cache is not None and self.prefix_cache is not None:
                    # what the cache holds: the prompt and every generated token but the last
                    fed = [*prompt_ids, *result.token_ids[:-1]]
                    if cache.get_seq_length() == len(fed):
                        self.prefix_cache.put(fed, cache)

    def _decode(
        self,
        result: Generation,
        sampling: Sampling,
        generator: torch.Generator,
        cache: Any,
        logits: torch.Tensor,
    ) -> Generation:
        """Choose tokens until a stop string, the end of sequence or `max_tokens`."""
        stops = sampling.stop
        for _ in range(sampling.max_tokens):
            token = self._choose(logits, sampling, generator)
            result.token_ids.append(token)
            if sampling.logprobs is not None:
                chosen = torch.tensor([token], device=logits.device)
                row = self._logprobs(logits)[None]
                result.positions.extend(_positions(row, chosen, sampling.logprobs))
            text = self.tokenizer.decode(
                result.token_ids, skip_special_tokens=sampling.skip_special_tokens
            )
            stop = self._stop_at(text, stops) if stops else None
            if stop is not None:
                result.text, result.finish_reason, result.stop_reason = (
                    text[: stop[0]],
                    "stop",
                    stop[1],
                )
                return result
            result.text = text
            if token in self.eos_ids and not sampling.ignore_eos:
                result.finish_reason = "stop"  # stop_reason None: the EOS token
                return result
            if len(result.token_ids) == sampling.max_tokens:
                break
            out = self.model(
                input_ids=torch.tensor([[token]], device=self.device),
                cache=cache,
                use_cache=True,
            )
            cache, logits = out.cache, out.logits[0, -1]
        result.finish_reason = "length"
        return result


# ---- answers ---------------------------------------------------------------------------------


def _clamp(logprob: float) -> float:
    return max(logprob, LOGPROB_FLOOR)


def completion_logprobs(
    engine: LocalModel,
    tokens: Sequence[int],
    positions: Sequence[Position | None],
    as_ids: bool,
) -> dict[str, Any]:
    """OpenAI's legacy `logprobs` object: `tokens`, `token_logprobs`, `top_logprobs` (the
    token itself first, then the top k) and `text_offset` (each token's start in the text,
    counted from 0 as vLLM does)."""

    def name(token: int) -> str:
        return f"token_id:{token}" if as_ids else engine.token_text(token)

    out: dict[str, list[Any]] = {
        "text_offset": [],
        "token_logprobs": [],
        "tokens": [],
        "top_logprobs": [],
    }
    offset = 0
    for token, position in zip(tokens, positions, strict=True):
        text = name(token)
        out["tokens"].append(text)
        out["text_offset"].append(offset)
        offset += len(text)
        if position is None:
            out["token_logprobs"].append(None)
            out["top_logprobs"].append(None)
            continue
        out["token_logprobs"].append(_clamp(position.logprob))
        top = {text: _clamp(position.logprob)}
        for other, logprob in position.top:
            top.setdefault(name(other), _clamp(logprob))
        out["top_logprobs"].append(top)
    return out


def prompt_logprobs_field(
    engine: LocalModel, positions: Sequence[Position | None]
) -> list[dict[str, dict[str, Any]] | None]:
    """vLLM's `prompt_logprobs`: per prompt token, {token id: {logprob, rank, decoded_token}}
    for the token itself and the top k (None for the first token)."""
    out: list[dict[str, dict[str, Any]] | None] = []
    for position in positions:
        if position is None:
            out.append(None)
            continue
        entries = {
            str(position.token): {
                "logprob": _clamp(position.logprob),
                "rank": position.rank,
                "decoded_token": engine.token_text(position.token),
            }
        }
        for rank, (other, logprob) in enumerate(position.top, start=1):
            entries.setdefault(
                str(other),
                {
                    "logprob": _clamp(logprob),
                    "rank": rank,
                    "decoded_token": engine.token_text(other),
                },
            )
        out.append(entries)
    return out


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)


def _check_common(
    config: ServeConfig, model: str | None, n: int, stream: bool, extra: dict[str, Any] | None
) -> None:
    if model is not None and model != config.served_name:
        raise APIError(
            404,
            f"The model `{model}` does not exist (this server serves `{config.served_name}`).",
            kind="NotFoundError",
            param="model",
        )
    if n != 1:
        raise APIError(400, "only n=1 is supported", param="n")
    if stream:
        raise APIError(400, "streaming is not supported", param="stream")
    if extra:
        log.warning("ignoring unsupported request fields: %s", ", ".join(sorted(extra)))


def _check_logprobs(config: ServeConfig, value: int | None, param: str) -> None:
    if value is not None and value > config.max_logprobs:
        raise APIError(
            400,
            f"Requested {param} of {value}, which is greater than max allowed: "
            f"{config.max_logprobs}",
            param=param,
        )


def _prompts(engine: LocalModel, request: CompletionRequest) -> list[tuple[str | None, list[int]]]:
    """Each prompt as (text, token ids); text is None for prompts given as token ids."""
    prompt = request.prompt
    if isinstance(prompt, str):
        items: list[Any] = [prompt]
    elif prompt and all(isinstance(x, int) for x in prompt):
        items = [prompt]
    else:
        items = list(prompt)
    if not items:
        raise APIError(400, "the prompt is empty", param="prompt")
    out: list[tuple[str | None, list[int]]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, engine.encode(item, request.add_special_tokens)))
        else:
            out.append((None, [int(x) for x in item]))
    return out


def complete(config: ServeConfig, engine: LocalModel, request: CompletionRequest) -> dict[str, Any]:
    """Answer a `/v1/completions` request (a JSON-able dict, vLLM's fields)."""
    _check_common(config, request.model, request.n, request.stream, request.model_extra)
    _check_logprobs(config, request.logprobs, "logprobs")
    _check_logprobs(config, request.prompt_logprobs, "prompt_logprobs")
    max_tokens = 16 if request.max_tokens is None else request.max_tokens
    if max_tokens == 0 and not request.echo:
        raise APIError(400, "max_tokens must be at least 1 without echo", param="max_tokens")
    # Echo with logprobs needs the prompt's log-probabilities (vLLM: prompt_logprobs = logprobs).
    prompt_k = request.prompt_logprobs
    if prompt_k is None and request.echo and request.logprobs is not None:
        prompt_k = request.logprobs
    sampling = Sampling(
        max_tokens=max_tokens,
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=request.seed,
        stop=_stops(request.stop),
        logprobs=request.logprobs,
        prompt_logprobs=prompt_k,
        ignore_eos=request.ignore_eos,
        skip_special_tokens=request.skip_special_tokens,
    )
    choices, prompt_tokens, completion_tokens = [], 0, 0
    for index, (text, ids) in enumerate(_prompts(engine, request)):
        result = engine.generate(ids, sampling)
        prompt_tokens += len(ids)
        completion_tokens += len(result.token_ids)
        out_text = result.text
        tokens: list[int] = list(result.token_ids)
        positions: list[Position | None] = list(result.positions)
        if request.echo:
            prompt_text = text if text is not None else engine.tokenizer.decode(ids)
            out_text = prompt_text + out_text
            tokens = [*ids, *tokens]
            positions = [*(result.prompt_positions or [None] * len(ids)), *positions]
        choice: dict[str, Any] = {
            "index": index,
            "text": out_text,
            "logprobs": (
                completion_logprobs(engine, tokens, positions, request.return_tokens_as_token_ids)
                if request.logprobs is not None
                else None
            ),
            "finish_reason": result.finish_reason,
            "stop_reason": result.stop_reason,
            "prompt_logprobs": (
                prompt_logprobs_field(engine, result.prompt_positions)
                if result.prompt_positions is not None
                else None
            ),
        }
        if request.return_token_ids:
            choice["prompt_token_ids"] = ids
            choice["token_ids"] = result.token_ids
        choices.append(choice)
    return {
        "id": f"cmpl-{secrets.token_hex(16)}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": config.served_name,
        "choices": choices,
        "system_fingerprint": None,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chat_prompt(engine: LocalModel, request: ChatRequest) -> str:
    """The text a chat request continues: the chat template's, or the contents joined."""
    messages = [{"role": m.role, "content": m.content or ""} for m in request.messages]
    if getattr(engine.tokenizer, "chat_template", None):
        return str(
            engine.tokenizer.apply_chat_template(
                messages,
                tokenize=False,
                add_generation_prompt=request.add_generation_prompt
                and not request.continue_final_message,
                continue_final_message=request.continue_final_message,
            )
        )
    # A base model has no roles: the conversation is its text, continued as a completion.
    return "".join(m["content"] for m in messages)


def chat(config: ServeConfig, engine: LocalModel, request: ChatRequest) -> dict[str, Any]:
    """Answer a `/v1/chat/completions` request (minimal: text only)."""
    _check_common(config, request.model, request.n, request.stream, request.model_extra)
    if request.logprobs:
        raise APIError(400, "this server gives no logprobs on chat completions", param="logprobs")
    prompt = chat_prompt(engine, request)
    ids = engine.encode(prompt, request.add_special_tokens)
    # no limit given: the rest of the context, as vLLM does
    max_tokens = request.max_completion_tokens or request.max_tokens or engine.max_length - len(ids)
    result = engine.generate(
        ids,
        Sampling(
            max_tokens=max_tokens,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            seed=request.seed,
            stop=_stops(request.stop),
            ignore_eos=request.ignore_eos,
        ),
    )
    return {
        "id": f"chatcmpl-{secrets.token_hex(16)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": config.served_name,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "logprobs": None,
                "finish_reason": result.finish_reason,
                "stop_reason": result.stop_reason,
            }
        ],
        "usage": {
            "prompt_tokens": len(ids),
            "completion_tokens": len(result.token_ids),
            "total_tokens": len(ids) + len(result.token_ids),
        },
    }


def create_app(config: ServeConfig, engine: LocalModel | None = None) -> FastAPI:
    """The FastAPI application serving `config.model_dir` (or an already loaded `engine`)."""
    engine = engine or LocalModel.load(config)
    # Read once: a key changed in the environment later is not picked up.
    api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if config.api_key_env and not api_key:
        raise ValueError(f"--api-key-env {config.api_key_env}: that variable is not set")
    app = FastAPI(title="agentdistill", docs_url=None, redoc_url=None)
    created = int(time.time())
    failures = {"left": config.fail_first}
    failures_lock = threading.Lock()

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return APIError(400, problems).response()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if api_key is not None and request.url.path.startswith("/v1"):
            given = request.headers.get("authorization", "")
            # constant-time comparison: the answer's timing must not reveal the key
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return APIError(401, "Unauthorized", kind="AuthenticationError").response()
        if request.method == "POST" and request.url.path.endswith("completions"):
            with failures_lock:
                fail = failures["left"] > 0
                failures["left"] -= int(fail)
            if fail:
                busy = APIError(503, "failing on purpose (fail_first)", "ServiceUnavailable")
                return busy.response()
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": config.served_name,
                    "object": "model",
                    "created": created,
                    "owned_by": "agentdistill",
                    "root": config.served_name,
                    "parent": None,
                    "max_model_len": engine.max_length,
                }
            ],
        }

    # Plain `def`: FastAPI runs them in its thread pool; the model's lock serializes them.
    @app.post("/v1/completions")
    def completions(request: CompletionRequest) -> dict[str, Any]:
        return complete(config, engine, request)

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatRequest) -> dict[str, Any]:
        return chat(config, engine, request)

    return app


def serve(config: ServeConfig) -> None:
    """Load the model and serve it until interrupted (uvicorn)."""
    import uvicorn

    app = create_app(config)
    log.info(
        "serving %s as '%s' on http://%s:%d/v1%s",
        config.model_dir,
        config.served_name,
        config.host,
        config.port,
        f" (API key from ${config.api_key_env})" if config.api_key_env else "",
    )
    uvicorn.run(app, host=config.host, port=config.port, log_level="info")
