"""Tokenizers: train a byte-level BPE offline, save and load it as a standard fast tokenizer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIAL_TOKENS = {"bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>"}


def check_isolated_chars(pattern: str | None) -> str | None:
    """Validate `isolate_chars`: a regex that matches single characters, or None."""
    if pattern is None:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"isolate_chars {pattern!r} is not a valid regex: {exc}") from exc
    if compiled.match("") is not None:
        raise ValueError(f"isolate_chars {pattern!r} matches the empty string")
    return pattern


def train_byte_level_bpe(
    texts: Iterable[str],
    vocab_size: int = 2048,
    min_frequency: int = 2,
    isolate_chars: str | None = None,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (GPT-2 style: every byte is in the vocabulary, so no unknowns).

    `isolate_chars` (a regex, e.g. "[A-Z0-9]"): every match is its own pre-token, so BPE never
    merges it with a neighbour. Ids made of such characters (WebShop's ASINs) then encode as
    the same token sequence wherever they appear (a results page, an item page, a thought,
    a click), which is what a small model needs to learn to copy them; LLaMA splits digits
    for the same reason. Deterministic for the same texts in the same order.
    """
    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if check_isolated_chars(isolate_chars) is None:
        tokenizer.pre_tokenizer = byte_level
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(isolate_chars), behavior="isolated"), byte_level]
        )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | Path) -> Path:
    """Save as a Hugging Face tokenizer folder (`tokenizer.json` + config)."""
    directory = Path(directory)
    tokenizer.save_pretrained(directory)
    return directory


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerFast:
    """Load a fast tokenizer from a folder, a `tokenizer.json` file, or a local HF model path.

    Nothing is downloaded: names are resolved against local files and the HF cache only.
    """
    path = Path(name_or_path)
    if path.is_file() and path.suffix == ".json":
        return PreTrainedTokenizerFast(tokenizer_file=str(path))
    if not path.exists():
        raise FileNotFoundError(
            f"tokenizer '{name_or_path}' not found: give a folder with tokenizer.json "
            "(e.g. one written by `agentdistill tokenizer train`) or a tokenizer.json file"
        )
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, local_files_only=True)
    if not tokenizer.is_fast:
        raise TypeError(f"{path}: segmentation needs a fast tokenizer (tokenizer.json)")
    return tokenizer


def tokenizer_sha256(tokenizer: PreTrainedTokenizerFast) -> str:
    """Fingerprint of a fast tokenizer's content: its model, pre-tokenizer, added tokens, and
    which of them are pad/bos/eos (two tokenizers that encode alike share it)."""
    digest = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8"))
    special = {name: getattr(tokenizer, name, None) for name in SPECIAL_TOKENS}
    digest.update(json.dumps(special, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()
