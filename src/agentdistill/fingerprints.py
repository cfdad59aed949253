"""Content hashes that identify a run's inputs: files, model weights, configurations.

    file_sha256("data/alfworld/train.jsonl")
    model_sha256("runs/x/students/sad-s0/model")     # the safetensors weights + config.json
    config_sha256(config.model_dump(mode="json"))
    combined_hash([a, b, c])

Tracking keys a run by stage, resolved config and input hashes (`run_key`): the same inputs
find the same MLflow run again instead of logging a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def combined_hash(hashes: Iterable[str]) -> str:
    """One hash for several inputs (order-independent: inputs are sorted first)."""
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def model_sha256(model_dir: str | Path) -> str:
    """Hash of a Hugging Face model folder's weights (*.safetensors) and config.json.

    The bytes on disk, whatever the dtype; a folder without safetensors weights is an error
    (pickled weights are not read by this project).
    """
    folder = Path(model_dir)
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"{folder}: no model weights (*.safetensors) to fingerprint")
    parts = [f"{p.name}:{file_sha256(p)}" for p in weights]
    if (folder / "config.json").exists():
        parts.append(f"config.json:{file_sha256(folder / 'config.json')}")
    return combined_hash(parts)


def config_sha256(config: Mapping[str, Any]) -> str:
    """Hash of a JSON-able configuration (keys sorted: field order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_key(stage: str, config: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """The identity of a stage run: its name, its resolved config and its input hashes."""
    return config_sha256({"stage": stage, "config": dict(config), "inputs": dict(inputs)})
