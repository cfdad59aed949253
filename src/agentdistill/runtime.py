"""Where and in what precision models run, and which process of a launched job this is: one
setting for loading, training, the teacher cache and rollouts.

    runtime = RuntimeConfig(device="auto", dtype="bf16")
    model = runtime.place(load_model(path, dtype=runtime.torch_dtype))   # inference
    with runtime.autocast_context():
        loss = ...

`auto` takes the GPU when there is one (CUDA, then Apple MPS), else the CPU. The offline
default is the CPU in fp32. Asking for a device this machine lacks is a
`DeviceUnavailableError` when the device is first used, not a crash deep in torch (a profile
written for a GPU box still loads anywhere).

Precision. Models that only infer (teacher, teacher cache, rollout policies) hold their
weights in `dtype`. Training holds its weights in `dtype` too (bf16: pure bf16 training),
unless `autocast`: then the weights and the optimizer state stay fp32 and the forward pass
runs in `dtype` under `torch.autocast` (mixed precision; fp16 adds loss scaling). fp16
weights without autocast are refused for training: their gradients underflow.

Several processes. Under a launcher (`accelerate launch`, `torchrun`: they set `WORLD_SIZE`,
`RANK`, `LOCAL_RANK`) `start_processes` joins the process group (gloo on the CPU, NCCL on
GPUs, through accelerate's `PartialState`); each process takes its local GPU. Rank 0 alone
writes files and logs runs:

    start_processes(runtime)
    on_main(lambda: write_summary(out))      # rank 0 writes; the others wait, and fail with it
    if is_main_process():
        tracker.log(...)
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar

import torch
from pydantic import Field

from agentdistill.config import Config

log = logging.getLogger(__name__)

T = TypeVar("T")

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
DTYPE_NAMES: dict[torch.dtype, str] = {dtype: name for name, dtype in DTYPES.items()}


class DeviceUnavailableError(ValueError):
    """The device (or the precision on it) that the runtime setting asks for is not here."""


class MainProcessFailedError(RuntimeError):
    """Rank 0 failed in work the other processes were waiting for (its log says why)."""


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
    collective_timeout_s: int = Field(
        default=6 * 3600,
        gt=0,
        description="Under a launcher: how long a process waits in a collective (and so for "
        "rank 0's single-process work: the teacher cache, rollouts, benchmarks) before the "
        "job fails.",
    )

    @property
    def torch_device(self) -> torch.device:
        """The device `device` names (`auto` resolved on this machine; under a launcher the
        process's local GPU). `DeviceUnavailableError` when this machine lacks it."""
        kind = self.device
        if kind == "auto":
            kind = (
                "cuda"
                if torch.cuda.is_available()
                else "mps"
                if torch.backends.mps.is_available()
                else "cpu"
            )
        if kind == "cuda":
            if not torch.cuda.is_available():
                raise DeviceUnavailableError(
                    "runtime.device=cuda, but torch sees no CUDA GPU here (torch "
                    f"{torch.__version__}, built for CUDA: {torch.version.cuda or 'no'}); use "
                    "runtime.device=cpu or auto, or install a CUDA build of torch"
                )
            # a launcher starts one process per GPU and says which is this one's
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if kind == "mps" and not torch.backends.mps.is_available():
            raise DeviceUnavailableError(
                "runtime.device=mps, but Apple's Metal backend is not available here; use "
                "runtime.device=cpu or auto"
            )
        return torch.device(kind)

    @property
    def torch_dtype(self) -> torch.dtype:
        """The precision of inference weights (and of trained ones without autocast)."""
        return DTYPES[self.dtype]

    @property
    def mixed(self) -> bool:
        """Whether training runs under autocast (it is a no-op in fp32)."""
        return self.autocast and self.dtype != "fp32"

    @property
    def train_dtype(self) -> torch.dtype:
        """The precision trained weights (and the optimizer state) are held in."""
        return torch.float32 if self.mixed else self.torch_dtype

    def check(self) -> torch.device:
        """The device, once `dtype` is known to work on it (`DeviceUnavailableError` if not)."""
        device = self.torch_device
        if device.type == "cuda" and self.dtype == "bf16" and not torch.cuda.is_bf16_supported():
            raise DeviceUnavailableError(
                f"runtime.dtype=bf16, but {torch.cuda.get_device_name(device)} has no bf16 "
                "support; use fp16 with autocast, or fp32"
            )
        return device

    def check_training(self) -> torch.device:
        """`check`, and refuse precisions that cannot train (fp16 weights without autocast)."""
        device = self.check()
        if self.dtype == "fp16" and not self.autocast:
            raise ValueError(
                "runtime.dtype=fp16 trains only with runtime.autocast=true (fp32 master "
                "weights, loss scaling): fp16 weights lose their small gradients; or use bf16"
            )
        return device

    def place(self, model: Any, training: bool = False) -> Any:
        """Move `model` (in place, returned) to the device, in the inference or training
        precision."""
        device = self.check_training() if training else self.check()
        return model.to(device=device, dtype=self.train_dtype if training else self.torch_dtype)

    @contextlib.contextmanager
    def autocast_context(self) -> Iterator[None]:
        """torch.autocast in `dtype` on the device when `autocast` is on; else nothing."""
        if not self.mixed:
            yield
            return
        with torch.autocast(self.torch_device.type, dtype=self.torch_dtype):
            yield

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """The loss scaler fp16 autocast needs (bf16 has fp32's range: none)."""
        if self.mixed and self.dtype == "fp16":
            return torch.amp.GradScaler(self.torch_device.type)
        return None

    def identity(self, processes: int = 1) -> dict[str, Any]:
        """What of this setting changes the numbers a training run produces (for its
        `run.json`): the precision and the micro-batches per optimizer step (accumulation x
        processes, so 2 GPUs x 1 equals 1 GPU x 2). Not the device: a run may resume on
        another machine. Empty for the offline default (fp32, one micro-batch), so the
        identity of such a run reads as it did before this setting existed."""
        piece = {
            "dtype": self.dtype,
            "autocast": self.mixed,
            "micro_batches_per_step": self.gradient_accumulation * processes,
        }
        default = {"dtype": "fp32", "autocast": False, "micro_batches_per_step": 1}
        return {} if piece == default else {"runtime": piece}

    def inference_identity(self) -> dict[str, Any]:
        """What of this setting changes what a model that only infers produces (rollouts,
        benchmarks): its precision, recorded when not fp32 (so fp32 runs read as before)."""
        return {} if self.dtype == "fp32" else {"dtype": self.dtype}

    @staticmethod
    def of_model(model: Any) -> RuntimeConfig:
        """The setting a model already is in (its parameters' device and precision)."""
        parameter = next(iter(model.parameters()), None)
        if parameter is None:
            return RuntimeConfig(device="cpu")
        name = DTYPE_NAMES.get(parameter.dtype, "fp32")
        kind = parameter.device.type if parameter.device.type in ("cuda", "mps") else "cpu"
        return RuntimeConfig(device=kind, dtype=name)  # type: ignore[arg-type]

    def merged(self, override: RuntimeConfig) -> RuntimeConfig:
        """This setting with the fields `override` was given explicitly (a profile's
        per-stage `runtime`) replaced."""
        return self.model_copy(
            update={name: getattr(override, name) for name in override.model_fields_set}
        )


# ---- processes of a launched job ------------------------------------------------------------


def _initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def world_size() -> int:
    """Processes in the job (1 without a launcher); known from the launcher's environment
    even before `start_processes`."""
    if _initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (0 without a launcher)."""
    if _initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Whether this process writes files and logs runs (rank 0, or the only process)."""
    return rank() == 0


def start_processes(runtime: RuntimeConfig) -> None:
    """Join the launched job's process group (idempotent; nothing without a launcher).

    accelerate's `PartialState` reads the launcher's environment and picks the backend: gloo
    for CPU processes, NCCL on GPUs. Launched on a CPU-only machine (or with
    runtime.device=cpu) the processes run on the CPU.
    """
    if world_size() <= 1 or _initialized():
        return
    from accelerate import PartialState

    cpu = runtime.check().type == "cpu"
    state = PartialState(cpu=cpu, timeout=datetime.timedelta(seconds=runtime.collective_timeout_s))
    log.info(
        "process %d of %d (%s, %s)",
        state.process_index,
        state.num_processes,
        state.backend,
        state.device,
    )


def make_accelerator(runtime: RuntimeConfig) -> Any:
    """The `accelerate.Accelerator` of a launched training job (process group joined).

    It wraps the model for the launcher's strategy (DDP by default; FSDP or DeepSpeed when the
    `accelerate config` says so). Precision stays this project's setting: accelerate's own
    `--mixed_precision` would autocast a second time, so it is refused.
    """
    launcher_precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    if launcher_precision not in ("", "no"):
        raise ValueError(
            f"accelerate was launched with mixed_precision={launcher_precision}: precision is "
            "agentdistill's runtime setting; launch with --mixed_precision no (or set it so in "
            "the accelerate config) and use --set runtime.dtype=bf16 --set runtime.autocast=true"
        )
    start_processes(runtime)
    from accelerate import Accelerator

    return Accelerator(cpu=runtime.check().type == "cpu", mixed_precision="no")


def _collective_device() -> torch.device:
    # NCCL moves only GPU tensors; gloo only CPU ones
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every process (nothing in a single process)."""
    if _initialized() and world_size() > 1:
        torch.distributed.barrier()


def main_value(value: float) -> float:
    """Rank 0's `value` on every process (float64; `value` itself in a single process)."""
    if not _initialized() or world_size() <= 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    torch.distributed.broadcast(tensor, src=0)
    return float(tensor.item())


def main_decides(value: bool) -> bool:
    """Rank 0's `value` on every process: a branch around collective work must go the same
    way everywhere (a file rank 0 is about to write may already exist for a slower rank)."""
    if not _initialized() or world_size() <= 1:
        return value
    flag = torch.tensor([int(value)], device=_collective_device())
    torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """`values` summed over every process, element-wise (float64; as given in one process)."""
    if not _initialized() or world_size() <= 1:
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64, device=_collective_device())
    torch.distributed.all_reduce(tensor)
    return [float(v) for v in tensor.tolist()]


def on_main(work: Callable[[], T]) -> T | None:
    """Run `work` on rank 0 while the others wait; its result there, None elsewhere.

    Every process returns only once rank 0 is done, so what rank 0 wrote is there for all.
    If rank 0 fails, it raises its error and every other process raises
    `MainProcessFailedError` (instead of waiting for a partner that is gone).
    """
    if not _initialized() or world_size() <= 1:
        return work()
    result: T | None = None
    error: BaseException | None = None
    if is_main_process():
        try:
            result = work()
        except BaseException as exc:  # re-raised below, once the others know
            error = exc
    failed = main_decides(error is not None)
    if error is not None:
        raise error
    if failed:
        raise MainProcessFailedError(
            f"process {rank()}: rank 0 failed in work this process waited for (see its log)"
        )
    return result
