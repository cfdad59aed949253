"""The teacher cache filled from a teacher behind an OpenAI-compatible endpoint.

    cache = build_endpoint_cache(EndpointConfig(base_url=url, model="teacher"), segs,
                                 "runs/x/teacher_cache", student_tokenizer, k=20)

    # or in a distillation run: teacher_source=endpoint plus the endpoint
    agentdistill distill --teacher TOKENIZER_DIR --trajectories t.jsonl --out runs/sad \\
        --set teacher_source=endpoint --set top_k=20 \\
        --set teacher_endpoint.base_url=http://HOST:8000/v1 --set teacher_endpoint.model=NAME

It writes the on-disk layout `teacher_cache.build_teacher_cache` writes (top-k token ids,
their log-probabilities, the log of the mass outside them, per-sequence entropy), so training
reads it alike. For every segmented trajectory it asks the server to score the text, not to
continue it: `/v1/completions` with `echo=True, logprobs=k, max_tokens=0`, and with vLLM's
extensions (`EndpointConfig.extensions`) `return_tokens_as_token_ids` (tokens come back as
`token_id:123`, so nothing depends on how a token's text reads) and `add_special_tokens=False`
(no BOS the student's sequences lack). The echoed position t+1 holds the teacher's top-k for
the token after position t: row t of the cache.

Logit distillation needs one vocabulary, so the endpoint's tokens of each text must be the
student tokenizer's tokens of the same text: checked for every sequence, and a
`TokenizerMismatchError` names the first position where they differ. Without token ids, each
token text is mapped to the one student token that decodes to it (an ambiguous text is an
error asking for token ids).

Limits: the OpenAI API returns at most 20 log-probabilities per position (vLLM:
`--max-logprobs`, default 20), so k <= 20 (enforced); the returned top-k are the teacher's
raw log-probabilities, so only temperature 1 is exact (enforced). The mass outside the top k
is the rest bucket, as the local cache's: log(1 - sum of the top-k probabilities). The
curriculum's entropy is that of the top-k plus the rest bucket (a lower bound of the full
entropy the local cache computes: merging outcomes never increases entropy).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from agentdistill.distillation.teacher_cache import (
    CACHE_VERSION,
    TeacherCache,
    reusable_cache,
    write_teacher_cache,
)
from agentdistill.formats import SpanLabel
from agentdistill.policies.endpoint import EndpointConfig, EndpointError, make_client
from agentdistill.segmentation import Segmentation

log = logging.getLogger(__name__)

MAX_API_LOGPROBS = 20
"""The most log-probabilities per position the OpenAI API returns (vLLM's default cap)."""
_TOKEN_ID = "token_id:"
_FLOOR = -9999.0  # what vLLM writes for -inf; exp() of it is 0


class TokenizerMismatchError(ValueError):
    """The endpoint's tokens of a text are not the student tokenizer's tokens of it."""


def check_endpoint_cache_settings(k: int, temperature: float) -> None:
    """Fail early on what an endpoint cannot give: k > 20, or a temperature other than 1."""
    if not 1 <= k <= MAX_API_LOGPROBS:
        raise ValueError(
            f"top_k={k}: an endpoint returns at most {MAX_API_LOGPROBS} log-probabilities per "
            f"position (the OpenAI API's cap, vLLM's default --max-logprobs); use top_k <= "
            f"{MAX_API_LOGPROBS}"
        )
    if temperature != 1.0:
        raise ValueError(
            f"temperature={temperature}: an endpoint returns the teacher's raw "
            "log-probabilities, and a softened top-k cannot be renormalised without the full "
            "distribution; use temperature 1 with an endpoint teacher"
        )


def endpoint_fingerprint(
    config: EndpointConfig, segs: Sequence[Segmentation], k: int, temperature: float
) -> str:
    """What the cache depends on: the served model (name and address), k, temperature,
    and the token ids and span labels of every sequence."""
    head = f"v{CACHE_VERSION}:endpoint:{config.public_url}:{config.model}:{k}:{temperature}"
    digest = hashlib.sha256(head.encode())
    for seg in segs:
        digest.update(seg.input_ids.astype(np.int64).tobytes())
        digest.update(seg.labels.astype(np.int8).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


class _Vocabulary:
    """Token ids from the texts an endpoint names tokens by (when it gives no ids)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._by_text: dict[str, list[int]] | None = None

    def text(self, token: int) -> str:
        return str(self.tokenizer.decode([int(token)]))

    def same(self, name: str, token: int) -> bool:
        """Whether the endpoint's `name` is the student's token `token`."""
        if name.startswith(_TOKEN_ID):
            return int(name[len(_TOKEN_ID) :]) == token
        return name == self.text(token)  # by text: an ambiguous text cannot fail here

    def id(self, name: str) -> int:
        if name.startswith(_TOKEN_ID):
            return int(name[len(_TOKEN_ID) :])
        if self._by_text is None:
            by_text: dict[str, list[int]] = {}
            for token in range(len(self.tokenizer)):
                by_text.setdefault(self.text(token), []).append(token)
            self._by_text = by_text
        ids = self._by_text.get(name, [])
        if len(ids) != 1:
            raise TokenizerMismatchError(
                f"the endpoint names a token {name!r} that "
                + ("no student token decodes to" if not ids else f"several ({ids[:5]}) decode to")
                + "; ask the server for token ids (vLLM: return_tokens_as_token_ids, sent "
                "when EndpointConfig.extensions is on)"
            )
        return ids[0]


def _text_to_send(seg: Segmentation, tokenizer: Any) -> str:
    """The text whose tokens are the sequence's: cut after its last token when the sequence
    was cut to a maximum length and the cut text tokenizes the same, else the whole text."""
    n = len(seg)
    end = int(seg.offsets[n - 1][1])
    if end < len(seg.text):
        cut = seg.text[:end]
        ids = list(tokenizer(cut, add_special_tokens=False)["input_ids"])
        if ids == [int(x) for x in seg.input_ids]:
            return cut
    return seg.text


def _mismatch(
    index: int, seg: Segmentation, position: int, theirs: str, vocab: _Vocabulary
) -> TokenizerMismatchError:
    ours = vocab.text(int(seg.input_ids[position])) if position < len(seg) else "(end)"
    start = int(seg.offsets[min(position, len(seg) - 1)][0])
    return TokenizerMismatchError(
        f"sequence {index}: the endpoint's tokenizer differs from the student's: first "
        f"difference at token {position}: endpoint {theirs!r}, student {ours!r} (text "
        f"{seg.text[max(0, start - 30) : start + 30]!r}). Logit distillation from an endpoint "
        "needs the student to use the teacher's tokenizer (or use method 'seqkd'); a BOS "
        "token at position 0 means the server adds one (vLLM: add_special_tokens=false)."
    )


def _score_sequence(
    client: Any,
    config: EndpointConfig,
    seg: Segmentation,
    index: int,
    k: int,
    vocab: _Vocabulary,
) -> list[list[tuple[int, float]]]:
    """The teacher's top-k (id, log-probability) at each position 0..len-2 of a sequence."""
    extra = (
        {"return_tokens_as_token_ids": True, "add_special_tokens": False}
        if config.extensions
        else {}
    )
    try:
        answer = client.completions.create(
            model=config.model,
            prompt=_text_to_send(seg, vocab.tokenizer),
            max_tokens=0,
            echo=True,
            logprobs=k,
            temperature=0.0,
            extra_body=extra,
        )
    except Exception as exc:  # the client's errors, after its retries
        raise EndpointError(
            f"{config.public_url}: scoring sequence {index} with '{config.model}' failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    logprobs = answer.choices[0].logprobs if answer.choices else None
    if logprobs is None or logprobs.tokens is None or logprobs.top_logprobs is None:
        raise EndpointError(
            f"{config.public_url}: no prompt log-probabilities in the answer (the server must "
            "support echo with logprobs on /v1/completions, as vLLM does)"
        )
    names: list[str] = list(logprobs.tokens)
    n = len(seg)
    for position in range(n):
        theirs = names[position] if position < len(names) else "(end)"
        if position >= len(names) or not vocab.same(theirs, int(seg.input_ids[position])):
            raise _mismatch(index, seg, position, theirs, vocab)
    wanted = min(k, len(vocab.tokenizer))
    rows = []
    for position in range(1, n):
        top = logprobs.top_logprobs[position] or {}
        entries = sorted(
            ((vocab.id(name), float(value)) for name, value in top.items()),
            key=lambda entry: -entry[1],
        )[:wanted]
        if len(entries) < wanted:
            raise EndpointError(
                f"{config.public_url}: {len(entries)} log-probabilities at a position where "
                f"{wanted} were asked (is the server capped lower? vLLM: --max-logprobs)"
            )
        rows.append(entries)
    return rows


def _rest_logprob(top: np.ndarray) -> float:
    """log(1 - sum(exp(top))): the mass outside the top k (-inf when nothing is left)."""
    mass = float(np.exp(top.astype(np.float64)).sum())
    return math.log1p(-mass) if mass < 1.0 else float("-inf")


def _bucket_entropy(top: np.ndarray, rest: float) -> float:
    p = np.exp(top.astype(np.float64))
    entropy = -float((p * top).sum())
    if rest > float("-inf"):
        entropy -= math.exp(rest) * rest
    return entropy


def build_endpoint_cache(
    config: EndpointConfig,
    segs: Sequence[Segmentation],
    out_dir: str | Path,
    tokenizer: Any,
    k: int = MAX_API_LOGPROBS,
    temperature: float = 1.0,
    show_progress: bool = True,
    client: Any = None,
) -> TeacherCache:
    """Fill (or reuse, when the fingerprint matches) the teacher cache of `segs` from the
    endpoint; `tokenizer` is the student's (the sequences' own)."""
    check_endpoint_cache_settings(k, temperature)
    if config.chat:
        raise ValueError(
            "the teacher cache needs /v1/completions with echo and logprobs: a chat endpoint "
            "cannot score a given text (set chat: false)"
        )
    out = Path(out_dir)
    key = endpoint_fingerprint(config, segs, k, temperature)
    cached = reusable_cache(out, key)
    if cached is not None:
        return cached
    began = time.perf_counter()
    client = client if client is not None else make_client(config)
    vocab = _Vocabulary(tokenizer)
    k = min(k, len(tokenizer))
    lengths = np.array([max(len(s) - 1, 0) for s in segs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    total = int(starts[-1])
    indices = np.zeros((total, k), dtype=np.int32)
    logprobs = np.zeros((total, k), dtype=np.float32)
    rest = np.zeros(total, dtype=np.float32)
    entropy = np.zeros(len(segs), dtype=np.float32)

    def score(index: int) -> tuple[int, list[list[tuple[int, float]]]]:
        if lengths[index] == 0:
            return index, []
        return index, _score_sequence(client, config, segs[index], index, k, vocab)

    with (
        Progress(disable=not show_progress, transient=True) as progress,
        ThreadPoolExecutor(max_workers=config.max_concurrency) as pool,
    ):
        bar = progress.add_task("teacher cache (endpoint)", total=len(segs))
        for index, rows in pool.map(score, range(len(segs))):
            base = int(starts[index])
            labels = segs[index].labels[1:]  # row t predicts token t+1
            trained = []
            for t, entries in enumerate(rows):
                top = np.array([value for _, value in entries], dtype=np.float64)
                top = np.maximum(top, _FLOOR)
                indices[base + t] = [token for token, _ in entries]
                logprobs[base + t] = top
                rest[base + t] = _rest_logprob(top)
                if labels[t] in (SpanLabel.REASON, SpanLabel.ACT):
                    trained.append(_bucket_entropy(top, float(rest[base + t])))
            entropy[index] = float(np.mean(trained)) if trained else 0.0
            progress.advance(bar)
    meta = {
        "version": CACHE_VERSION,
        "fingerprint": key,
        "k": k,
        "temperature": temperature,
        "sequences": len(segs),
        "positions": total,
        "vocab_size": len(tokenizer),
        "teacher": {"endpoint": config.public_url, "model": config.model},
        "seconds": time.perf_counter() - began,
    }
    return write_teacher_cache(out, indices, logprobs, rest, starts, entropy, meta)
