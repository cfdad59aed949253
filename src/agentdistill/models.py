"""Models: any Hugging Face causal LM by path or name, and built-in presets made from scratch.

Built-in presets are standard `transformers` Llama configurations, so every checkpoint this
project writes loads again with `AutoModelForCausalLM.from_pretrained`. Nothing is downloaded:
names resolve against local folders and the local HF cache only, unless the caller allows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from agentdistill.config import Config


class ModelPreset(Config):
    """Shape of a from-scratch Llama model."""

    hidden_size: int = Field(gt=0, description="Width of the residual stream.")
    layers: int = Field(gt=0, description="Transformer blocks.")
    heads: int = Field(gt=0, description="Attention heads (key/value heads: the same).")
    intermediate_size: int = Field(gt=0, description="Width of the MLP.")
    max_positions: int = Field(default=4096, gt=0, description="Longest sequence (RoPE).")


PRESETS: dict[str, ModelPreset] = {
    # ~5.1M parameters at vocabulary 1024 (the teacher of the offline default)
    "teacher": ModelPreset(hidden_size=256, layers=6, heads=8, intermediate_size=704),
    # ~0.48M: 10.4x smaller than the teacher
    "student-10x": ModelPreset(hidden_size=128, layers=2, heads=4, intermediate_size=288),
    # ~0.17M: 30.3x smaller
    "student-30x": ModelPreset(hidden_size=64, layers=2, heads=4, intermediate_size=176),
    # smoke runs only: a second student size far below the smoke teacher
    "student-tiny": ModelPreset(hidden_size=32, layers=1, heads=2, intermediate_size=88),
}


def build_model(
    preset: str | ModelPreset,
    vocab_size: int,
    seed: int = 0,
    pad_token_id: int | None = None,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
) -> LlamaForCausalLM:
    """A freshly initialised Llama model of a preset (deterministic for a seed)."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(
                f"unknown model preset {preset!r}; expected one of {', '.join(PRESETS)}"
            )
        preset = PRESETS[preset]
    if preset.hidden_size % preset.heads:
        raise ValueError(
            f"hidden_size {preset.hidden_size} is not divisible by heads {preset.heads}"
        )
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=preset.hidden_size,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.heads,
        intermediate_size=preset.intermediate_size,
        max_position_embeddings=preset.max_positions,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def build_model_for_tokenizer(
    preset: str | ModelPreset, tokenizer: Any, seed: int = 0
) -> LlamaForCausalLM:
    """`build_model` sized to `tokenizer`'s vocabulary, with its special token ids."""
    return build_model(
        preset,
        vocab_size=len(tokenizer),
        seed=seed,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def load_model(
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    allow_download: bool = False,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> PreTrainedModel:
    """Load any HF causal LM from a folder or (cached) hub name; safetensors only.

    `dtype`: the precision of its weights (None: the checkpoint's). `device`: where they
    go; a GPU's weights are loaded straight onto it (no full copy in host memory first).
    With a `RuntimeConfig`: `load_model(path, dtype=runtime.torch_dtype,
    device=runtime.check())`.
    """
    if device is not None and torch.device(device).type != "cpu":
        kwargs.setdefault("device_map", str(device))
    try:
        return AutoModelForCausalLM.from_pretrained(
            str(name_or_path),
            trust_remote_code=trust_remote_code,
            local_files_only=not allow_download,
            use_safetensors=True,
            dtype=dtype,
            **kwargs,
        )
    except OSError as exc:
        where = "locally" if not allow_download else "locally or on the hub"
        raise FileNotFoundError(
            f"model '{name_or_path}' not found {where}: give a folder with config.json and "
            f"safetensors weights ({exc})"
        ) from exc


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
