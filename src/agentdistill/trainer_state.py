"""Trainer state (optimizer, scheduler, RNG, counters) on disk without pickle.

    save_trainer_state(folder, {"optimizer": opt.state_dict(), "step": 12, ...})
    state = load_trainer_state(folder)

A pickle runs code when it is loaded, so a tampered checkpoint in a shared run folder could
run anything on resume. The state is written instead as `trainer_state.safetensors` (every
tensor) plus `trainer_state.json` (everything else, each tensor replaced by a reference to its
safetensors key). Reading either file parses data only. A `trainer_state.pt` (a pickle, as
older versions and other trainers write) is never read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

TENSORS_FILE = "trainer_state.safetensors"
JSON_FILE = "trainer_state.json"
PICKLE_FILE = "trainer_state.pt"

# Markers of non-JSON values in the JSON tree; a dict key is never one of them.
_TENSOR, _ITEMS, _TUPLE = "__tensor__", "__items__", "__tuple__"


class CheckpointError(ValueError):
    """A checkpoint cannot be read safely or completely; the message names the file."""


def _encode(value: Any, where: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {_TENSOR: key}
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, f"{where}[{i}]", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        # JSON keys are strings: the optimizer's integer parameter ids keep their type as pairs.
        if all(isinstance(k, str) and k not in (_TENSOR, _ITEMS, _TUPLE) for k in value):
            return {k: _encode(v, f"{where}.{k}", tensors) for k, v in value.items()}
        return {
            _ITEMS: [
                [_encode(k, where, tensors), _encode(v, f"{where}.{k}", tensors)]
                for k, v in value.items()
            ]
        }
    raise TypeError(f"trainer state field {where!r}: cannot store a {type(value).__name__}")


def _decode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        key = value[_TENSOR]
        if key not in tensors:
            raise CheckpointError(f"{where}: tensor {key!r} is missing from {TENSORS_FILE}")
        return tensors[key]
    if _TUPLE in value:
        return tuple(_decode(v, tensors, where) for v in value[_TUPLE])
    if _ITEMS in value:
        return {_decode(k, tensors, where): _decode(v, tensors, where) for k, v in value[_ITEMS]}
    return {k: _decode(v, tensors, where) for k, v in value.items()}


def save_trainer_state(folder: str | Path, state: dict[str, Any]) -> None:
    """Write `state` as safetensors + JSON into `folder` (a temporary checkpoint folder)."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, "state", tensors)
    save_file(tensors, str(folder / TENSORS_FILE))
    (folder / JSON_FILE).write_text(json.dumps(tree), encoding="utf-8")


def has_trainer_state(folder: str | Path) -> bool:
    """Whether `folder` holds a trainer state this project writes (or only a pickle one)."""
    folder = Path(folder)
    return any((folder / name).exists() for name in (JSON_FILE, TENSORS_FILE, PICKLE_FILE))


def load_trainer_state(folder: str | Path) -> dict[str, Any]:
    """Read the state `save_trainer_state` wrote; `CheckpointError` for anything else."""
    folder = Path(folder)
    tensors_path, json_path = folder / TENSORS_FILE, folder / JSON_FILE
    if not (tensors_path.exists() and json_path.exists()):
        if (folder / PICKLE_FILE).exists():
            raise CheckpointError(
                f"{folder / PICKLE_FILE}: a pickled trainer state, which this project never "
                "loads (unpickling can run arbitrary code); its own checkpoints hold "
                f"{TENSORS_FILE} + {JSON_FILE}. Use --restart to start over."
            )
        raise CheckpointError(
            f"{folder}: incomplete checkpoint (needs {TENSORS_FILE} + {JSON_FILE})"
        )
    try:
        tensors = load_file(str(tensors_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{tensors_path}: not a readable safetensors file ({exc})") from exc
    try:
        tree = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{json_path}: not valid JSON ({exc})") from exc
    state = _decode(tree, tensors, str(json_path))
    if not isinstance(state, dict):
        raise CheckpointError(f"{json_path}: expected an object at the top level")
    return state
