"""A run folder remembers what it is, so a resume never continues a different run.

    identity = {"train": config.model_dump(mode="json"), "data": trajectories_sha256(trajs)}
    resumed = claim_run_folder(out, identity, owned=["checkpoint", "model"], restart=False)

`claim_run_folder` writes `run.json` (the resolved identity of the run: config, method, input
fingerprints) in a fresh folder. On a folder that already holds a run it compares: the same
identity resumes; another one raises `RunMismatchError` naming every differing field, unless
`restart`, which deletes what the run owns and starts over. A folder holding run artifacts but
no `run.json` (written by an older version) cannot be told apart from another run: refused
too, unless `restart`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentdistill.files import write_text_atomic

RUN_FILE = "run.json"


class RunMismatchError(ValueError):
    """A run folder holds another run than the one asked for; the message names the fields."""


def normalized(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The identity as it reads back from JSON (tuples become lists, keys sorted)."""
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def differences(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """`field: old -> new` for every dotted field that differs (a missing one reads <unset>)."""
    old, new = _flatten(normalized(recorded)), _flatten(normalized(wanted))
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, "<unset>") != new.get(key, "<unset>"):
            lines.append(f"{key}: {old.get(key, '<unset>')!r} -> {new.get(key, '<unset>')!r}")
    return lines


def recorded_identity(folder: str | Path) -> dict[str, Any] | None:
    """The identity `run.json` records in `folder`, or None when there is none."""
    path = Path(folder) / RUN_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return dict(data["identity"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunMismatchError(
            f"{path}: unreadable run record ({exc}); use --restart to start over"
        ) from exc


def matches(folder: str | Path, identity: Mapping[str, Any]) -> bool:
    """Whether `folder` records exactly `identity` (False when it records none)."""
    try:
        recorded = recorded_identity(folder)
    except RunMismatchError:
        return False
    return recorded is not None and normalized(recorded) == normalized(identity)


def _remove(folder: Path, owned: Iterable[str]) -> None:
    for name in [*owned, RUN_FILE]:
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def conflicts(folder: str | Path, identity: Mapping[str, Any], owned: Sequence[str]) -> list[str]:
    """Why `folder` cannot be resumed as the run `identity` (empty: fresh, or that run)."""
    folder = Path(folder)
    try:
        recorded = recorded_identity(folder)
    except RunMismatchError as exc:
        return [str(exc)]
    if recorded is not None:
        return differences(recorded, identity)
    present = [name for name in owned if (folder / name).exists()]
    return [f"{', '.join(present)} without a {RUN_FILE}"] if present else []


def claim_run_folder(
    folder: str | Path,
    identity: Mapping[str, Any],
    owned: Sequence[str],
    restart: bool = False,
    what: str = "run",
) -> bool:
    """Make `folder` the home of the run `identity`; True when an earlier run is resumed.

    `owned` names the files and folders the run writes there (deleted on `restart`; nothing
    else in the folder is touched).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    present = [name for name in owned if (folder / name).exists()]
    if restart:
        _remove(folder, owned)
    else:
        recorded = recorded_identity(folder)
        if recorded is not None:
            changed = differences(recorded, identity)
            if not changed:
                return True
            raise RunMismatchError(
                f"{folder} holds a {what} with other settings or inputs; refusing to resume it. "
                f"Differing fields: {'; '.join(changed)}. Use --restart to start over in this "
                "folder (its run files are deleted), or give a new output folder."
            )
        if present:
            raise RunMismatchError(
                f"{folder} holds {', '.join(present)} but no {RUN_FILE} (an older version, or "
                f"another tool, wrote it): cannot tell which {what} it is, so it is not resumed. "
                "Use --restart to start over in this folder, or give a new output folder."
            )
    record = {"identity": normalized(identity)}
    write_text_atomic(folder / RUN_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return False


def records_sha256(records: Iterable[BaseModel]) -> str:
    """SHA-256 of records as their JSON lines (what a run trained on, file or not)."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.model_dump_json().encode())
        digest.update(b"\n")
    return digest.hexdigest()
