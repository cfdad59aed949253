"""The teacher's top-k log-probabilities, computed once per trajectory set and kept on disk.

    cache = build_teacher_cache(teacher, segs, cache_dir, k=32, temperature=1.0)
    targets = cache.targets(batch, positions)          # TeacherTargets at a Batch's positions

A distillation run needs the teacher's distribution at every trained position in every
epoch; recomputing it costs a teacher forward pass per student step. The cache stores, for
every position of every sequence (position t predicts token t+1), the top-k token ids, their
log-probabilities and the log of the mass outside the top k, plus each sequence's mean
teacher entropy over REASON and ACT tokens (the curriculum's gamma term). Files are .npy
arrays (memory-mapped on load) and a `meta.json` whose fingerprint (teacher weights and
dtype, token ids and span labels of the segmented set, k, temperature) decides whether an
existing cache is reused. The folder is written beside its final path and renamed into place
when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from agentdistill.distillation.losses import TeacherTargets, rest_logprob
from agentdistill.runtime import RuntimeConfig
from agentdistill.segmentation import Batch, Segmentation, collate, length_batches

log = logging.getLogger(__name__)

CACHE_VERSION = 2


def _weight_files(model: Any) -> list[Path]:
    """The safetensors files `model` was loaded from, when it came from a local folder."""
    source = str(getattr(model, "name_or_path", "") or "")
    folder = Path(source) if source else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(folder.glob("*.safetensors"))


def _hash_weights(model: Any, digest: Any) -> None:
    files = _weight_files(model)
    if files:
        # Loaded from a folder: hashing its files is as good as hashing the tensors (this
        # assumes the weights were not changed in memory since loading, as for a teacher).
        for path in files:
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 24):
                    digest.update(chunk)
        return
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}".encode())
        # a byte view hashes any dtype (numpy has no bfloat16)
        digest.update(flat.view(torch.uint8).numpy().tobytes())


def fingerprint(model: Any, segs: Sequence[Segmentation], k: int, temperature: float) -> str:
    """Hash of what the cache content depends on: weights (and the dtype the model computes
    in), token ids and span labels of every sequence, k, temperature."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}:{k}:{temperature}".encode())
    digest.update(str(getattr(model, "dtype", "")).encode())
    _hash_weights(model, digest)
    for seg in segs:
        digest.update(seg.input_ids.astype(np.int64).tobytes())
        # labels decide the curriculum entropy (and reflect the not-imitated noise steps)
        digest.update(seg.labels.astype(np.int8).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


@dataclass
class TeacherCache:
    """Per-position top-k teacher targets for a fixed list of segmented sequences."""

    indices: np.ndarray  # int32 [N, k]
    logprobs: np.ndarray  # float32 [N, k]
    rest_logprob: np.ndarray  # float32 [N]
    starts: np.ndarray  # int64 [S + 1]: rows of sequence s are starts[s]:starts[s+1]
    entropy: np.ndarray  # float32 [S]: mean teacher entropy over REASON and ACT positions
    meta: dict[str, Any]

    @staticmethod
    def load(path: str | Path) -> TeacherCache:
        folder = Path(path)
        meta_file = folder / "meta.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{folder}: no teacher cache here (meta.json missing)")
        arrays = {
            name: np.load(folder / f"{name}.npy", mmap_mode="r")
            for name in ("indices", "logprobs", "rest_logprob", "starts", "entropy")
        }
        return TeacherCache(**arrays, meta=json.loads(meta_file.read_text()))

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def targets(self, batch: Batch, positions: torch.Tensor) -> TeacherTargets:
        """Targets at `positions` (bool [B, T-1]) of `batch`'s sequences, in row-major order,
        on the device of `positions` (the cache itself is float32 on the host)."""
        device = positions.device
        positions = positions.cpu()  # rows of the memory-mapped arrays are picked on the host
        rows_in_seq = torch.nonzero(positions, as_tuple=False)  # [N, 2]: (batch row, position)
        sequence_index = batch.sequence_index.numpy()
        starts = torch.from_numpy(np.asarray(self.starts)[sequence_index])
        lengths = torch.from_numpy(np.asarray(self.starts)[sequence_index + 1]) - starts
        if bool((rows_in_seq[:, 1] >= lengths[rows_in_seq[:, 0]]).any()):
            raise ValueError("batch positions beyond the cached sequence: stale teacher cache")
        rows = (starts[rows_in_seq[:, 0]] + rows_in_seq[:, 1]).numpy()
        return TeacherTargets(
            logprobs=torch.from_numpy(np.asarray(self.logprobs[rows], dtype=np.float32)).to(device),
            indices=torch.from_numpy(np.asarray(self.indices[rows], dtype=np.int64)).to(device),
            rest_logprob=torch.from_numpy(np.asarray(self.rest_logprob[rows], dtype=np.float32)).to(
                device
            ),
        )


def _entropy(logprobs: torch.Tensor) -> torch.Tensor:
    return -(logprobs.exp() * logprobs).sum(-1)


def reusable_cache(out: Path, key: str) -> TeacherCache | None:
    """The cache in `out` when it was computed for fingerprint `key`, else None (stale or
    absent: the caller recomputes it)."""
    if not (out / "meta.json").exists():
        return None
    cached = TeacherCache.load(out)
    if cached.meta.get("fingerprint") == key:
        log.info("teacher cache %s is up to date", out)
        return cached
    log.info("teacher cache %s is stale: recomputing", out)
    return None


@torch.no_grad()
def build_teacher_cache(
    teacher: Any,
    segs: Sequence[Segmentation],
    out_dir: str | Path,
    k: int = 32,
    temperature: float = 1.0,
    batch_tokens: int = 8192,
    pad_id: int = 0,
    show_progress: bool = True,
    runtime: RuntimeConfig | None = None,
) -> TeacherCache:
    """Compute (or reuse, when the fingerprint matches) the teacher cache for `segs`.

    `runtime` places the teacher (its device, weights in `runtime.dtype`; default: where and
    as it is). The log-probabilities are computed in float32 from the teacher's logits
    whatever its precision, and stored as float32; the fingerprint records the teacher's
    dtype (a bf16 teacher's cache is not an fp32 one's), not the device.
    """
    out = Path(out_dir)
    if runtime is not None:
        runtime.place(teacher)
    device = next(iter(teacher.parameters())).device
    key = fingerprint(teacher, segs, k, temperature)
    cached = reusable_cache(out, key)
    if cached is not None:
        return cached
    began = time.perf_counter()
    teacher.eval()
    vocab = teacher.get_output_embeddings().weight.shape[0]
    k = min(k, vocab)
    lengths = np.array([max(len(s) - 1, 0) for s in segs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    total = int(starts[-1])
    indices = np.zeros((total, k), dtype=np.int32)
    logprobs = np.zeros((total, k), dtype=np.float32)
    rest = np.zeros(total, dtype=np.float32)
    entropy = np.zeros(len(segs), dtype=np.float32)
    batches = length_batches([len(s) for s in segs], batch_tokens)
    with Progress(disable=not show_progress, transient=True) as progress:
        bar = progress.add_task("teacher cache", total=len(segs))
        for batch_ids in batches:
            batch = collate([segs[i] for i in batch_ids], pad_id=pad_id).to(device)
            logits = teacher(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
            ).logits[:, :-1]  # the last position predicts no token of the sequence
            full = torch.log_softmax(logits.float() / temperature, dim=-1)
            top, top_ids = torch.topk(full, k, dim=-1)
            # one transfer per batch; the rows are copied into the arrays on the host
            rest_lp, ent = rest_logprob(full, top_ids).cpu(), _entropy(full).cpu()
            top, top_ids, trained_mask = top.cpu(), top_ids.cpu(), batch.trained_mask.cpu()
            for row, seq in enumerate(batch_ids):
                n = int(lengths[seq])
                span = slice(int(starts[seq]), int(starts[seq]) + n)
                indices[span] = top_ids[row, :n].numpy()
                logprobs[span] = top[row, :n].numpy()
                rest[span] = rest_lp[row, :n].numpy()
                trained = trained_mask[row, :n]
                entropy[seq] = float(ent[row, :n][trained].mean()) if trained.any() else 0.0
            progress.advance(bar, len(batch_ids))
    meta = {
        "version": CACHE_VERSION,
        "fingerprint": key,
        "k": k,
        "temperature": temperature,
        "sequences": len(segs),
        "positions": total,
        "vocab_size": int(vocab),
        "seconds": time.perf_counter() - began,
    }
    return write_teacher_cache(out, indices, logprobs, rest, starts, entropy, meta)


def write_teacher_cache(
    out: Path,
    indices: np.ndarray,
    logprobs: np.ndarray,
    rest: np.ndarray,
    starts: np.ndarray,
    entropy: np.ndarray,
    meta: dict[str, Any],
) -> TeacherCache:
    """Write a cache's arrays and meta.json beside `out`, rename it into place, load it.

    Every builder (a local teacher here, an endpoint in `endpoint_cache`) writes this one
    layout, so training reads any of them alike.
    """
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, array in (
        ("indices", np.asarray(indices, dtype=np.int32)),
        ("logprobs", np.asarray(logprobs, dtype=np.float32)),
        ("rest_logprob", np.asarray(rest, dtype=np.float32)),
        ("starts", np.asarray(starts, dtype=np.int64)),
        ("entropy", np.asarray(entropy, dtype=np.float32)),
    ):
        np.save(tmp / f"{name}.npy", array)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log.info(
        "teacher cache: %d positions, k=%d, %.1f s", meta["positions"], meta["k"], meta["seconds"]
    )
    return TeacherCache.load(out)
