"""Distil a teacher into a student: one trainer, the method chosen by config.

    summary = distill(DistillConfig(method="sad"), teacher_dir, trajectories, out_dir)

Methods (see ../shared/specs/method.md and `losses.py`):
- `seqkd`: cross-entropy on the teacher trajectories' REASON and ACT tokens (imitation);
- `seqkd_span`: the same cross-entropy with SAD's per-span normalisation and lambda weights
  (tells whether SAD's gain comes from the KL or from the structure);
- `token_kd`: forward KL to the teacher at every token of the flat trajectory;
- `sad`: lambda_r * KL over REASON + lambda_a * KL over ACT, each normalised over its own
  tokens; OBS and PROMPT get no loss. Ablations `sad_reason_only`, `sad_act_only`.
With a temperature T != 1 every KL is multiplied by T^2 (`losses.kd_loss`).
The divergence is the forward KL unless `divergence` chooses another per span type
(`DivergenceConfig`: reverse KL or GKD's generalized JSD for REASON, ACT or token_kd's flat
sequence).

Trajectories are segmented with the student's tokenizer, which for logit distillation must be
the teacher's vocabulary (checked: a clear error otherwise). The teacher's distribution comes
from the on-disk top-k cache (`teacher_cache.py`, default) or is computed exactly over the
full vocabulary at every step (`teacher_source="online"`). With `teacher_source="endpoint"`
the cache is filled from a teacher served behind an OpenAI-compatible API
(`teacher_endpoint`, see `endpoint_cache.py`): `teacher_dir` then only needs the teacher's
tokenizer (and format record); no weights are loaded. Training, checkpoints, resume and
per-span logging are the shared `training.train_lm`.

Without a teacher (`teacher_dir=None`), `seqkd` and `seqkd_span` learn from the trajectories
alone (e.g. imported from a black-box API's outputs, `agentdistill.importers`): the student's
tokenizer is the one given, the student folder's own, or a byte-level BPE trained on the
trajectories; the run identity records that tokenizer's fingerprint instead of the teacher's.
The other methods need the teacher's log-probabilities and are refused
(`TeacherRequiredError`).

    summary = distill(DistillConfig(method="seqkd"), None, trajectories, out_dir)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, field_validator, model_validator

from agentdistill.config import Config, FormatConfig, resolve_format
from agentdistill.distillation.losses import (
    CE_METHODS,
    KL_METHODS,
    Divergence,
    Method,
    TeacherTargets,
    check_jsd_beta,
    combine_span_losses,
    loss_mask,
    span_kd_loss,
)
from agentdistill.distillation.teacher_cache import TeacherCache, build_teacher_cache
from agentdistill.files import write_text_atomic
from agentdistill.fingerprints import model_sha256
from agentdistill.formats import SpanLabel
from agentdistill.models import (
    PRESETS,
    build_model_for_tokenizer,
    count_parameters,
    load_model,
)
from agentdistill.policies.endpoint import EndpointConfig
from agentdistill.records import Trajectory
from agentdistill.run_folder import claim_run_folder
from agentdistill.runtime import RuntimeConfig, on_main, start_processes
from agentdistill.segmentation import Batch, Segmentation
from agentdistill.tokenizer import load_tokenizer, tokenizer_sha256, train_byte_level_bpe
from agentdistill.training import (
    TRAIN_OWNED,
    LossFn,
    SpanParts,
    TrainConfig,
    TrainSummary,
    logits_at,
    segment_all,
    span_losses,
    train_identity,
    train_lm,
)

log = logging.getLogger(__name__)


class DivergenceConfig(Config):
    """Which divergence to the teacher each span type is trained with (KL methods only).

    The defaults are the paper's: the forward KL everywhere.
    """

    reason: Divergence = Field(
        default="forward_kl",
        description="Divergence at REASON targets (sad and its ablations): forward_kl = "
        "KL(teacher || student), reverse_kl = KL(student || teacher), jsd = JSD(jsd_beta).",
    )
    act: Divergence = Field(
        default="forward_kl",
        description="Divergence at ACT targets (sad and its ablations): forward_kl, "
        "reverse_kl or jsd.",
    )
    flat: Divergence = Field(
        default="forward_kl",
        description="Divergence at every target of token_kd's flat sequence (observations "
        "included): forward_kl, reverse_kl or jsd.",
    )
    jsd_beta: float = Field(
        default=0.5,
        description="beta of jsd, strictly between 0 and 1: beta * KL(teacher || M) + "
        "(1 - beta) * KL(student || M), M = beta * teacher + (1 - beta) * student (GKD's "
        "eq. 1 and TRL's convention; 0.5 is the symmetric JSD). TRL's beta = 0 and 1 are "
        "forward_kl and reverse_kl here.",
    )

    @field_validator("jsd_beta")
    @classmethod
    def _beta_inside(cls, beta: float) -> float:
        return check_jsd_beta(beta)

    def by_label(self, method: str) -> dict[SpanLabel, Divergence]:
        """The divergence of each target label `method` trains (empty for CE methods)."""
        if method == "token_kd":
            return {label: self.flat for label in SpanLabel}
        if method in KL_METHODS:
            return {SpanLabel.REASON: self.reason, SpanLabel.ACT: self.act}
        return {}

    def in_effect(self, method: str) -> dict[str, Any] | None:
        """The settings `method` reads, for the run identity; None when that is the default
        (forward KL wherever it applies), so runs recorded before this setting keep theirs."""
        if method == "token_kd":
            used: dict[str, Divergence] = {"flat": self.flat}
        elif method in KL_METHODS:
            used = {"reason": self.reason, "act": self.act}
        else:
            return None
        if all(kind == "forward_kl" for kind in used.values()):
            return None
        return {**used, **({"jsd_beta": self.jsd_beta} if "jsd" in used.values() else {})}


class DistillConfig(Config):
    """A distillation run: method, loss settings, student, optimisation."""

    method: Method = Field(
        default="sad", description="Loss: seqkd, seqkd_span, token_kd, sad, ablations."
    )
    lambda_reason: float = Field(default=1.0, ge=0, description="Weight of the REASON loss.")
    lambda_act: float = Field(default=1.0, ge=0, description="Weight of the ACT loss.")
    span_normalize: bool = Field(
        default=True,
        description="Normalise each span loss by its own token count (False: the paper's "
        "weighted sum, divided by the REASON+ACT token count).",
    )
    temperature: float = Field(
        default=1.0,
        gt=0,
        description="Softmax temperature T of the KL (teacher and student); the KL is "
        "multiplied by T^2 so gradient magnitudes do not change with T (Hinton et al.).",
    )
    divergence: DivergenceConfig = Field(
        default_factory=DivergenceConfig,
        description="Divergence to the teacher per span type (REASON, ACT, token_kd's flat "
        "sequence), each times T^2; default the forward KL everywhere. KL methods only.",
    )
    top_k: int = Field(default=32, ge=1, description="Teacher entries kept per position.")
    teacher_source: Literal["cache", "online", "endpoint"] = Field(
        default="cache",
        description="cache: top-k log-probs computed once and stored; online: the exact "
        "full-vocabulary teacher distribution computed at every step; endpoint: the cache "
        "filled from `teacher_endpoint` (top_k <= 20, temperature 1).",
    )
    teacher_endpoint: EndpointConfig | None = Field(
        default=None,
        description="The teacher served behind an OpenAI-compatible API (vLLM, SGLang, "
        "`agentdistill serve`), for teacher_source=endpoint.",
    )
    curriculum: bool = Field(default=False, description="Order trajectories easy-first by C.")
    curriculum_alpha: float = Field(default=1.0, description="C weight of reasoning length.")
    curriculum_beta: float = Field(default=1.0, description="C weight of action length.")
    curriculum_gamma: float = Field(default=1.0, description="C weight of teacher entropy.")
    student: str = Field(
        default="student-10x",
        description="A model preset (built from scratch with the teacher's tokenizer) or the "
        "folder of an HF causal LM to start from.",
    )
    student_seed: int = Field(default=0, description="Seed of the student's initialisation.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Optimisation.")
    runtime: RuntimeConfig = Field(
        default_factory=RuntimeConfig,
        description="Device and precision of the teacher (cache or online) and the student, "
        "and the student's gradient accumulation.",
    )

    @model_validator(mode="after")
    def _endpoint_teacher(self) -> DistillConfig:
        if self.teacher_source == "endpoint":
            from agentdistill.distillation.endpoint_cache import check_endpoint_cache_settings

            if self.teacher_endpoint is None:
                raise ValueError("teacher_source=endpoint needs teacher_endpoint (base_url, model)")
            check_endpoint_cache_settings(self.top_k, self.temperature)
        return self

    @model_validator(mode="after")
    def _divergence_needs_a_kl_method(self) -> DistillConfig:
        # cross-entropy trains on hard labels: a divergence setting would be silently ignored
        if self.method in CE_METHODS:
            default = DivergenceConfig()
            changed = [
                f"divergence.{name}={getattr(self.divergence, name)}"
                for name in DivergenceConfig.model_fields
                if getattr(self.divergence, name) != getattr(default, name)
            ]
            if changed:
                raise ValueError(
                    f"{', '.join(changed)}: method {self.method!r} trains with cross-entropy "
                    f"on the teacher's tokens, no divergence; the setting applies to "
                    f"{', '.join(KL_METHODS)}"
                )
        return self


class DistillSummary(BaseModel):
    """What a finished distillation run reports (`distill_summary.json`)."""

    method: str
    seed: int
    student_parameters: int
    teacher_parameters: int | None = Field(
        description="Parameters of the teacher; None: distilled from trajectories alone."
    )
    compression: float | None = Field(
        description="Teacher parameters / student parameters; None without a teacher."
    )
    trajectories: int
    cache_s: float
    train: TrainSummary
    model_dir: str


class TeacherRequiredError(ValueError):
    """A method needs the teacher's log-probabilities, and no teacher was given."""


def check_teacher_free(config: DistillConfig) -> None:
    """Raise `TeacherRequiredError` unless `config` can run from trajectories alone."""
    if config.method in KL_METHODS:
        need = f"method {config.method!r} needs"
        why = (
            f"the KL methods ({', '.join(KL_METHODS)}) match the teacher's distribution over "
            "the vocabulary at every trained token"
        )
    elif config.curriculum:
        need = "curriculum: true needs"
        why = "the curriculum orders trajectories by the teacher's entropy"
    else:
        return
    raise TeacherRequiredError(
        f"{need} a teacher's log-probabilities: {why}, which trajectories alone do not "
        "hold. Give a teacher model folder (--teacher DIR), or use "
        f"{' or '.join(CE_METHODS)} (cross-entropy on the trajectories' REASON and ACT "
        "tokens), which run without one."
    )


def teacher_free_tokenizer(
    config: DistillConfig,
    trajectories: Sequence[Trajectory],
    fmt: FormatConfig,
    tokenizer: str | Path | None = None,
    vocab_size: int = 1024,
) -> Any:
    """The student's tokenizer when there is no teacher to take it from.

    The one given (a folder or a tokenizer.json), else the student model folder's own when
    the student is an HF folder, else a byte-level BPE of `vocab_size` trained on the
    trajectories rendered in `fmt` (deterministic: a resumed run trains the same one).
    """
    if tokenizer is not None:
        given = load_tokenizer(tokenizer)
        if config.student not in PRESETS:  # ids past the model's embedding table would crash
            from transformers import AutoConfig

            try:
                model_config = AutoConfig.from_pretrained(config.student, local_files_only=True)
            except OSError:  # no such model: loading it says so
                model_config = None
            rows = getattr(model_config, "vocab_size", None)
            if rows is not None and len(given) > rows:
                raise ValueError(
                    f"tokenizer {tokenizer} has {len(given)} tokens but the student "
                    f"{config.student!r} embeds {rows}: give the tokenizer it was built with"
                )
        return given
    if config.student not in PRESETS:
        return load_tokenizer(config.student)
    react = fmt.build()
    texts = [react.render_trajectory(t, fmt.preamble).text for t in trajectories]
    return train_byte_level_bpe(texts, vocab_size=vocab_size)


class VocabularyMismatchError(ValueError):
    """Teacher and student do not share a vocabulary, so their logits cannot be compared."""


def check_shared_vocabulary(
    teacher_tokenizer: Any, student_tokenizer: Any, teacher: Any, student: Any
) -> None:
    """Fail clearly unless teacher and student index the same tokens the same way."""
    t_vocab, s_vocab = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
    if t_vocab != s_vocab:
        only_t = sorted(set(t_vocab) - set(s_vocab))[:5]
        only_s = sorted(set(s_vocab) - set(t_vocab))[:5]
        moved = sorted(t for t in set(t_vocab) & set(s_vocab) if t_vocab[t] != s_vocab[t])[:5]
        raise VocabularyMismatchError(
            "teacher and student tokenizers differ (logit distillation needs one vocabulary): "
            f"{len(t_vocab)} vs {len(s_vocab)} tokens; only in teacher {only_t}, only in "
            f"student {only_s}, different ids {moved}. Build the student with the teacher's "
            "tokenizer, or use method 'seqkd'."
        )
    if teacher is None:  # an endpoint teacher: its tokens are checked against the student's
        return
    t_out = teacher.get_output_embeddings().weight.shape[0]
    s_out = student.get_output_embeddings().weight.shape[0]
    if t_out != s_out:
        raise VocabularyMismatchError(
            f"teacher output layer has {t_out} rows but the student's has {s_out}: logit "
            "distillation needs the same vocabulary size"
        )


def curriculum_order(
    segs: Sequence[Segmentation], entropy: np.ndarray, config: DistillConfig
) -> list[int]:
    """Easy first by C = alpha*len(reasoning) + beta*len(actions) + gamma*teacher entropy.

    Lengths are token counts divided by their corpus mean (method.md's choice), entropy is
    the mean teacher entropy over REASON and ACT tokens.
    """
    reason = np.array([s.counts()["REASON"] for s in segs], dtype=np.float64)
    act = np.array([s.counts()["ACT"] for s in segs], dtype=np.float64)
    score = (
        config.curriculum_alpha * reason / max(reason.mean(), 1e-9)
        + config.curriculum_beta * act / max(act.mean(), 1e-9)
        + config.curriculum_gamma * np.asarray(entropy, dtype=np.float64)
    )
    return [int(i) for i in np.argsort(score, kind="stable")]


def loss_fn_for(
    config: DistillConfig, teacher: Any = None, cache: TeacherCache | None = None
) -> LossFn:
    """The loss of `config.method` as a `train_lm` loss function.

    KL methods read the teacher's targets from `cache`, or compute them exactly over the
    full vocabulary with `teacher` when there is no cache; cross-entropy methods need
    neither.
    """
    if config.method == "seqkd":
        return span_losses
    if config.method in KL_METHODS and cache is None and teacher is None:
        raise ValueError(f"method {config.method!r} needs a teacher or a teacher cache")

    def loss_fn(model: Any, batch: Batch) -> tuple[torch.Tensor, SpanParts]:
        positions = loss_mask(batch, config.method)
        student_logits = logits_at(model, batch, positions)
        kinds = batch.target_kinds[positions]
        if config.method not in KL_METHODS:  # seqkd_span: hard labels
            per_position = torch.nn.functional.cross_entropy(
                student_logits.float(), batch.target_ids[positions], reduction="none"
            )
        else:
            if cache is not None:
                targets = cache.targets(batch, positions)
            else:
                with torch.no_grad():
                    teacher_logits = logits_at(teacher, batch, positions)
                targets = TeacherTargets.full(teacher_logits, config.temperature)
            per_position = span_kd_loss(
                student_logits,
                targets,
                kinds,
                config.divergence.by_label(config.method),
                config.temperature,
                config.divergence.jsd_beta,
            )
        return combine_span_losses(
            per_position,
            kinds,
            config.method,
            config.lambda_reason,
            config.lambda_act,
            config.span_normalize,
        )

    return loss_fn


def build_student(config: DistillConfig, tokenizer: Any) -> Any:
    """A preset built from scratch with `tokenizer`'s vocabulary, or a user's HF model."""
    if config.student in PRESETS:
        return build_model_for_tokenizer(config.student, tokenizer, config.student_seed)
    return load_model(config.student)


DISTILL_OWNED = (*TRAIN_OWNED, "distill_summary.json")
"""What `distill` writes in its folder (deleted by a restart; a cache there is kept: it is
keyed by its own fingerprint)."""


def distill_identity(
    config: DistillConfig,
    teacher_dir: str | Path | None,
    trajectories: Sequence[Trajectory],
    fmt: FormatConfig,
    tokenizer: Any = None,
) -> dict[str, Any]:
    """What defines a distillation run: method and loss settings, student, optimisation,
    precision and micro-batches per step (not the device: `RuntimeConfig.identity`),
    format, the teacher's weights (without a teacher: the student tokenizer's fingerprint)
    and the trajectories."""
    settings = config.model_dump(mode="json", exclude={"train", "runtime"})
    endpoint = config.teacher_endpoint
    if endpoint is None:
        # absent unless used: the runs recorded before the field existed keep their identity
        settings.pop("teacher_endpoint", None)
    else:
        # which model, served where; not how it is reached (concurrency, timeout, key variable)
        settings["teacher_endpoint"] = {"base_url": endpoint.public_url, "model": endpoint.model}
    # what the method reads of it, absent when the paper's default: old runs keep their identity
    divergence = config.divergence.in_effect(config.method)
    if divergence is None:
        settings.pop("divergence")
    else:
        settings["divergence"] = divergence
    if teacher_dir is None:
        if tokenizer is None:
            raise ValueError("without a teacher, the identity needs the student's tokenizer")
        source: dict[str, str | None] = {"tokenizer_sha256": tokenizer_sha256(tokenizer)}
    elif config.teacher_source == "endpoint":
        # an endpoint teacher is identified by its model and address (above)
        source = {"teacher_sha256": None}
    else:
        source = {"teacher_sha256": model_sha256(teacher_dir)}
    return {
        **train_identity(config.train, fmt, trajectories, config.runtime),
        "distill": settings,
        **source,
    }


def distill(
    config: DistillConfig,
    teacher_dir: str | Path | None,
    trajectories: Sequence[Trajectory],
    out_dir: str | Path,
    fmt: FormatConfig | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
    restart: bool = False,
    tokenizer: str | Path | None = None,
    vocab_size: int = 1024,
) -> DistillSummary:
    """Train a student on teacher trajectories with `config.method`; resumable.

    `teacher_dir` is an HF model folder holding the teacher's tokenizer too (for an endpoint
    teacher, the tokenizer alone: its parameters count as 0). `fmt` renders
    the trajectories: by default the format the teacher records (it was trained with it); a
    different one is an error. The student's model folder records it in turn. The top-k cache
    goes to `cache_dir` (default `out_dir/teacher_cache`); students sharing a trajectory
    set and teacher should share it.

    `out_dir/run.json` records the run (`distill_identity`): resuming a folder that holds
    another run (other method, settings, teacher or data) is refused unless `restart`.

    `teacher_dir=None`: seqkd or seqkd_span from the trajectories alone (`check_teacher_free`
    refuses the others); `fmt` defaults to `react`, and the student's tokenizer is
    `tokenizer` (a folder or tokenizer.json), the student folder's own, or one of
    `vocab_size` trained on the trajectories (`teacher_free_tokenizer`).

    `config.runtime` loads the teacher on the device in its dtype and trains the student
    (see `train_lm`). Launched with several processes, rank 0 alone claims the folder,
    builds the teacher cache and writes the summary; the others wait for it, then read
    the cache and train their share of every step.
    """
    out = Path(out_dir)
    if not trajectories:
        raise ValueError("no teacher trajectories to distil from")
    runtime = config.runtime
    runtime.check_training()
    start_processes(runtime)
    if teacher_dir is None:
        check_teacher_free(config)
        fmt = fmt or FormatConfig()
        tokenizer = teacher_free_tokenizer(config, trajectories, fmt, tokenizer, vocab_size)
        identity = distill_identity(config, None, trajectories, fmt, tokenizer)
    else:
        if tokenizer is not None:
            raise ValueError("with a teacher, the student takes the teacher's tokenizer")
        fmt = resolve_format(teacher_dir, fmt)
        identity = distill_identity(config, teacher_dir, trajectories, fmt)
    on_main(lambda: claim_run_folder(out, identity, DISTILL_OWNED, restart, "distillation run"))
    endpoint = config.teacher_source == "endpoint"
    local_teacher = teacher_dir is not None and not endpoint
    teacher = (
        load_model(teacher_dir, dtype=runtime.torch_dtype, device=runtime.check()).eval()
        if local_teacher
        else None
    )
    if teacher_dir is not None:
        tokenizer = load_tokenizer(teacher_dir)
    student = build_student(config, tokenizer)
    own_tokenizer = config.student in PRESETS or teacher_dir is None
    student_tokenizer = tokenizer if own_tokenizer else load_tokenizer(config.student)
    train_config = config.train
    # None: no teacher, or one behind an endpoint (its size is not known here)
    teacher_parameters = count_parameters(teacher) if teacher is not None else None
    cache: TeacherCache | None = None
    cache_s = 0.0
    order = None
    needs_cache = config.method in KL_METHODS and config.teacher_source in ("cache", "endpoint")
    if config.method in KL_METHODS or config.curriculum:
        check_shared_vocabulary(tokenizer, student_tokenizer, teacher, student)
    segmented = segment_all(trajectories, student_tokenizer, fmt, train_config.max_length)
    if needs_cache or config.curriculum:
        began = time.perf_counter()
        segs = segmented[0]
        cache_path = Path(cache_dir or out / "teacher_cache")
        if endpoint:
            from agentdistill.distillation.endpoint_cache import build_endpoint_cache

            assert config.teacher_endpoint is not None  # the config's validator checked it
            endpoint_config = config.teacher_endpoint
            built = on_main(
                lambda: build_endpoint_cache(
                    endpoint_config,
                    segs,
                    cache_path,
                    student_tokenizer,
                    k=config.top_k,
                    temperature=config.temperature,
                    show_progress=show_progress,
                )
            )
        else:
            built = on_main(
                lambda: build_teacher_cache(
                    teacher,
                    segs,
                    cache_path,
                    k=config.top_k,
                    temperature=config.temperature,
                    pad_id=tokenizer.pad_token_id or 0,
                    show_progress=show_progress,
                    runtime=runtime,
                )
            )
        cache = built if built is not None else TeacherCache.load(cache_path)
        cache_s = time.perf_counter() - began
        if config.curriculum:
            order = curriculum_order(segs, np.asarray(cache.entropy), config)
    online = config.method in KL_METHODS and config.teacher_source == "online"
    loss_fn = loss_fn_for(config, teacher if online else None, cache if needs_cache else None)
    if not online:
        teacher = None  # its targets are in the cache: free its memory (a GPU's) for training
    log.info(
        "distilling %s: student %d parameters, teacher %s",
        config.method,
        count_parameters(student),
        teacher_parameters if teacher_parameters is not None else "none here",
    )
    summary = train_lm(
        student,
        student_tokenizer,
        trajectories,
        train_config,
        out,
        fmt,
        loss_fn=loss_fn,
        show_progress=show_progress,
        order=order,
        segmented=segmented,
        identity=identity,
        runtime=runtime,
    )
    student_parameters = count_parameters(student)
    result = DistillSummary(
        method=config.method,
        seed=config.train.seed,
        student_parameters=student_parameters,
        teacher_parameters=teacher_parameters,
        compression=teacher_parameters / student_parameters if teacher_parameters else None,
        trajectories=len(trajectories),
        cache_s=cache_s,
        train=summary,
        model_dir=summary.model_dir,
    )
    on_main(
        lambda: write_text_atomic(out / "distill_summary.json", result.model_dump_json(indent=2))
    )
    return result
