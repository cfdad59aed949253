"""Where and in what precision models run: one setting for loading, training, the teacher
cache and rollouts.

    runtime = RuntimeConfig(device="auto", dtype="bf16")
    model = load_model(path, dtype=runtime.torch_dtype).to(runtime.torch_device)
    with runtime.autocast_context():
        loss = ...

`auto` takes the GPU when there is one (CUDA, then Apple MPS), else the CPU. The offline
default is the CPU in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
from pydantic import Field

from agentdistill.config import Config

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


class RuntimeConfig(Config):
    """Device, precision and gradient accumulation of every model this project runs."""

    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto",
        description="auto: the GPU when there is one (CUDA, then MPS), else the CPU. Under a "
        "distributed launcher (accelerate, torchrun) each process takes its local GPU.",
    )
    dtype: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32",
        description="Precision of the weights of models that only infer (teacher, rollout "
        "policies, the teacher cache), and of trained weights unless `autocast`.",
    )
    autocast: bool = Field(
        default=False,
        description="Train with fp32 master weights and run the forward pass in `dtype` "
        "(torch.autocast): mixed precision. False with bf16: the weights themselves are bf16.",
    )
    gradient_accumulation: int = Field(
        default=1,
        ge=1,
        description="Micro-batches summed into one optimizer step (the global batch is "
        "batch_tokens x gradient_accumulation x processes).",
    )

    @property
    def torch_device(self) -> torch.device:
        """The device `device` names (`auto` resolved on this machine)."""
        if self.device != "auto":
            return torch.device(self.device)
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @contextlib.contextmanager
    def autocast_context(self) -> Iterator[None]:
        """torch.autocast in `dtype` on the device when `autocast` is on; else nothing."""
        if not self.autocast or self.dtype == "fp32":
            yield
            return
        with torch.autocast(self.torch_device.type, dtype=self.torch_dtype):
            yield
