"""The teacher: bootstrapped offline from expert trajectories, or a pretrained HF model.

Offline default (`bootstrap_teacher`): play the expert on the train split, train a byte-level
BPE tokenizer on the rendered expert text, build the `teacher` preset from scratch and train
it on the expert trajectories with loss on REASON and ACT tokens only.

A user with a real model instead loads it with `load_policy` (any local HF causal LM) and
gives it a few-shot ReAct prompt built from expert trajectories (`few_shot_preamble`), so the
rest of the pipeline runs unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from agentdistill.config import Config, FormatConfig
from agentdistill.copy_drill import CopyDrillConfig, drill_trajectories
from agentdistill.dagger import DaggerConfig, label_summary, round_tasks, training_trajectories
from agentdistill.environments.registry import episode_cap, make_env
from agentdistill.files import write_text_atomic
from agentdistill.fingerprints import file_sha256
from agentdistill.formats import FewShotStyle, ReactFormat, join_few_shot
from agentdistill.models import build_model_for_tokenizer, count_parameters, load_model
from agentdistill.policies.base import hash_seed
from agentdistill.policies.expert import ExpertPolicy
from agentdistill.policies.hf import DecodingConfig, HFPolicy
from agentdistill.policies.oracle import OracleLabelledPolicy
from agentdistill.records import Task, Trajectory, read_jsonl, write_jsonl
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.run_folder import claim_run_folder, records_sha256
from agentdistill.runtime import RuntimeConfig, on_main, start_processes, world_size
from agentdistill.tokenizer import (
    check_isolated_chars,
    load_tokenizer,
    save_tokenizer,
    train_byte_level_bpe,
)
from agentdistill.training import FREE_ON_RESUME, TrainConfig, TrainSummary, train_lm

log = logging.getLogger(__name__)


class TeacherConfig(Config):
    """How the offline teacher is bootstrapped."""

    train_tasks: int | None = Field(
        default=None, gt=0, description="Use the first N train tasks (None: all)."
    )
    expert_seed: int = Field(default=0, description="Seed of the expert's wording.")
    expert_noise: float = Field(
        default=0.2,
        ge=0.0,
        lt=1.0,
        description="Share of the expert's silent steps replaced by exploration actions "
        "(kept in the context, not imitated) so the teacher learns to recover (DART).",
    )
    vocab_size: int = Field(default=1024, ge=300, description="Tokenizer vocabulary.")
    isolate_chars: str | None = Field(
        default=None,
        description="A regex of characters the tokenizer keeps as single tokens (never merged "
        "by BPE), e.g. '[A-Z0-9]' so that WebShop's ASINs encode alike on every page and in "
        "every thought (alone it did not teach the 5M teacher to copy them: README, WebShop). "
        "None: plain byte-level BPE.",
    )
    copy_drill: CopyDrillConfig = Field(
        default_factory=CopyDrillConfig,
        description="A drill in copying ids (expert openings with fresh random ids) before "
        "the first training; off by default, for environments whose agent copies ids "
        "(WebShop's ASINs).",
    )
    preset: str = Field(default="teacher", description="Model preset (see models.PRESETS).")
    model_seed: int = Field(default=0, description="Seed of the model's initialisation.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Optimisation.")
    dagger: DaggerConfig = Field(
        default_factory=DaggerConfig,
        description="DAgger rounds after the expert data: the teacher plays, the expert "
        "labels every state it visited, the teacher retrains on everything so far.",
    )
    runtime: RuntimeConfig = Field(
        default_factory=RuntimeConfig,
        description="Device, precision and gradient accumulation of the teacher's training.",
    )

    @field_validator("isolate_chars")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        return check_isolated_chars(value)


class DaggerRoundSummary(BaseModel):
    """One DAgger round (`teacher/dagger/round-<r>/summary.json`)."""

    round: int
    expert_share: float
    labels: dict[str, Any]
    training_trajectories: int
    imitated_steps: int
    aggregate_trajectories: int
    rollout_s: float
    train: TrainSummary | None = None


class TeacherSummary(BaseModel):
    expert_trajectories: int
    expert_success_rate: float
    parameters: int
    train: TrainSummary
    model_dir: str
    tokenizer_dir: str
    rounds: list[DaggerRoundSummary] = Field(default_factory=list)


def expert_trajectories(
    tasks: Sequence[Task],
    seed: int,
    out: Path | None = None,
    noise: float = 0.0,
) -> list[Trajectory]:
    """Play the expert on `tasks` (one environment); optionally write them as JSONL."""
    if not tasks:
        raise ValueError("no tasks for the expert to play")
    env = tasks[0].env
    trajectories = run_rollouts(
        ExpertPolicy(env, seed, noise),
        lambda: make_env(env),
        tasks,
        RolloutConfig(batch_size=32),
        seed=seed,
    )
    if out is not None:
        write_jsonl(out, trajectories)
    return trajectories


def build_tokenizer(
    trajectories: Sequence[Trajectory],
    fmt: ReactFormat,
    vocab_size: int,
    out: Path,
    preamble: str = "",
    isolate_chars: str | None = None,
) -> Path:
    """Train the offline tokenizer on rendered trajectories and save it."""
    texts = [fmt.render_trajectory(t, preamble).text for t in trajectories]
    tokenizer = train_byte_level_bpe(texts, vocab_size=vocab_size, isolate_chars=isolate_chars)
    return save_tokenizer(tokenizer, out)


TEACHER_OWNED = (
    "expert_train.jsonl",
    "tokenizer",
    "copy_drill",
    "train",
    "dagger",
    "teacher_summary.json",
)
"""What `bootstrap_teacher` writes in its folder (deleted by a restart)."""


def teacher_identity(
    config: TeacherConfig,
    fmt: FormatConfig,
    tasks: Sequence[Task] | None = None,
    expert_file: str | Path | None = None,
) -> dict[str, Any]:
    """What defines a teacher bootstrap: its settings, format and the tasks (or the expert
    file) it learns from."""
    if expert_file is not None:
        source = {"expert_file_sha256": file_sha256(expert_file)}
    elif tasks is not None:
        source = {"tasks_sha256": records_sha256(list(tasks)[: config.train_tasks])}
    else:
        raise ValueError("give the tasks for the expert to play (or an expert file)")
    settings = config.model_dump(mode="json", exclude={"runtime"})
    # teachers trained before these options keep their identity while the options are off
    if settings["isolate_chars"] is None:
        del settings["isolate_chars"]
    if config.copy_drill.copies == 0:
        del settings["copy_drill"]
    for name in FREE_ON_RESUME:
        settings["train"].pop(name, None)
    return {
        "teacher": settings,
        "format": fmt.model_dump(mode="json"),
        **source,
        # precision and micro-batches per step, not the device (see RuntimeConfig.identity)
        **config.runtime.identity(world_size()),
    }


def bootstrap_teacher(
    config: TeacherConfig,
    out_dir: str | Path,
    fmt: FormatConfig,
    tasks: Sequence[Task] | None = None,
    expert_file: str | Path | None = None,
    restart: bool = False,
) -> TeacherSummary:
    """Expert data -> tokenizer -> teacher preset trained on it. Resumes an interrupted run.

    The expert plays `tasks` (the first `train_tasks` of them) unless `expert_file` (default
    `out_dir/expert_train.jsonl`) exists. `fmt` (with its preamble) renders the training text
    and is recorded in the model folder, so every later use prompts the teacher the same way.
    `out_dir/run.json` records the run (config, format, tasks): a folder holding another one
    is refused (`RunMismatchError`) unless `restart`, which deletes its files and starts over.

    `config.runtime` says where and in what precision the teacher trains. Launched with
    several processes (accelerate, torchrun), rank 0 alone plays the expert and writes the
    expert file, tokenizer and summary; the others wait for them, then every process trains
    its share of each step (see `train_lm`).
    """
    out = Path(out_dir)
    expert_path = Path(expert_file) if expert_file else out / "expert_train.jsonl"
    config.runtime.check_training()
    start_processes(config.runtime)
    identity = teacher_identity(config, fmt, tasks, expert_file)
    on_main(lambda: claim_run_folder(out, identity, TEACHER_OWNED, restart, "teacher run"))

    def play() -> list[Trajectory] | None:
        if expert_path.exists():
            return None
        if tasks is None:
            raise ValueError(f"{expert_path}: no expert data, and no tasks to play")
        chosen = list(tasks)[: config.train_tasks]
        log.info("playing the expert on %d %s train tasks", len(chosen), chosen[0].env)
        return expert_trajectories(chosen, config.expert_seed, expert_path, config.expert_noise)

    played = on_main(play)  # every process reads the file rank 0 wrote, unless it played
    if played is not None:
        trajectories = played
    else:
        trajectories = read_jsonl(expert_path, Trajectory)[: config.train_tasks]
    tokenizer_dir = out / "tokenizer"

    def tokenizer_files() -> None:
        if not (tokenizer_dir / "tokenizer.json").exists():
            build_tokenizer(
                trajectories,
                fmt.build(),
                config.vocab_size,
                tokenizer_dir,
                fmt.preamble,
                config.isolate_chars,
            )

    on_main(tokenizer_files)
    tokenizer = load_tokenizer(tokenizer_dir)
    model = build_model_for_tokenizer(config.preset, tokenizer, config.model_seed)
    if config.copy_drill.copies:
        drill = drill_trajectories(trajectories, config.copy_drill)
        log.info("copy drill: %d openings with fresh ids", len(drill))
        drilled = train_lm(
            model,
            tokenizer,
            drill,
            config.copy_drill.train,
            out / "copy_drill",
            fmt=fmt,
            restart=restart,
            runtime=config.runtime,
        )
        model = load_model(drilled.model_dir)
    # the teacher folder's run.json vouches for the whole run: its training folders follow
    summary = train_lm(
        model,
        tokenizer,
        trajectories,
        config.train,
        _round_train_dir(out, 0, config.dagger.rounds),
        fmt=fmt,
        restart=restart,
        runtime=config.runtime,
    )
    rounds: list[DaggerRoundSummary] = []
    data = list(trajectories)
    for index in range(1, config.dagger.rounds + 1):
        if tasks is None:
            raise ValueError("DAgger rounds need the train tasks for the teacher to play")
        round_summary, labelled = _dagger_round(config, out, fmt, tasks, index, summary)
        data += labelled
        log.info(
            "DAgger round %d: retraining on %d trajectories (%d from the rounds)",
            index, len(data), len(data) - len(trajectories),
        )  # fmt: skip
        summary = train_lm(
            load_model(summary.model_dir),
            tokenizer,
            data,
            config.train.model_copy(update={"epochs": config.dagger.epochs}),
            _round_train_dir(out, index, config.dagger.rounds),
            fmt=fmt,
            restart=restart,
            runtime=config.runtime,
        )
        round_summary = round_summary.model_copy(
            update={"aggregate_trajectories": len(data), "train": summary}
        )
        on_main(
            lambda r=round_summary: write_text_atomic(
                out / "dagger" / f"round-{r.round}" / "summary.json",
                r.model_dump_json(indent=2),
            )
        )
        rounds.append(round_summary)
    result = TeacherSummary(
        expert_trajectories=len(trajectories),
        expert_success_rate=sum(t.success for t in trajectories) / max(len(trajectories), 1),
        parameters=count_parameters(model),
        train=summary,
        model_dir=summary.model_dir,
        tokenizer_dir=str(tokenizer_dir),
        rounds=rounds,
    )
    on_main(
        lambda: write_text_atomic(out / "teacher_summary.json", result.model_dump_json(indent=2))
    )
    return result


def _round_train_dir(out: Path, index: int, rounds: int) -> Path:
    """Training folder of round `index`; the last round's is the teacher (`out/train`)."""
    return out / "train" if index == rounds else out / "dagger" / f"round-{index}" / "train"


def _dagger_round(
    config: TeacherConfig,
    out: Path,
    fmt: FormatConfig,
    tasks: Sequence[Task],
    index: int,
    learner: TrainSummary,
) -> tuple[DaggerRoundSummary, list[Trajectory]]:
    """Round `index`'s labelled episodes (played by the previous round's teacher, streamed
    and resumable) and the training trajectories made of them (kept in its folder)."""
    settings = config.dagger
    folder = out / "dagger" / f"round-{index}"
    train_file = folder / "train.jsonl"
    partial = folder / "labels.json"
    env = tasks[0].env

    def play() -> None:
        if train_file.exists() and partial.exists():
            return
        began = time.perf_counter()
        model = load_policy(
            learner.model_dir,
            fmt.build(),
            settings.decoding,
            preamble=fmt.preamble,
            name=f"teacher-round-{index - 1}",
            runtime=config.runtime,
        )
        policy = OracleLabelledPolicy(
            model,
            env,
            expert_share=settings.share(index),
            seed=hash_seed(settings.seed, f"mix-{index}"),
            expert_seed=config.expert_seed,
            expert_noise=config.expert_noise,
            max_steps=episode_cap(env, settings.max_steps),  # the cap the expert plans for
        )
        chosen = round_tasks(settings, tasks, index)
        log.info(
            "DAgger round %d: the teacher plays %d games (expert share %.2f)",
            index, len(chosen), settings.share(index),
        )  # fmt: skip
        episodes = run_rollouts(
            policy,
            lambda: make_env(env),
            chosen,
            RolloutConfig(batch_size=settings.batch_size, max_steps=settings.max_steps),
            seed=settings.decoding.seed,
            out=folder / "episodes.jsonl",
        )
        labelled = training_trajectories(episodes, settings.max_corrections)
        write_jsonl(train_file, labelled)
        labels = label_summary(episodes, policy.expert_plays)
        labels["rollout_s"] = time.perf_counter() - began
        write_text_atomic(partial, json.dumps(labels, indent=2))

    on_main(play)
    labelled = read_jsonl(train_file, Trajectory)
    labels = json.loads(partial.read_text())
    rollout_s = float(labels.pop("rollout_s", 0.0))
    summary = DaggerRoundSummary(
        round=index,
        expert_share=settings.share(index),
        labels=labels,
        training_trajectories=len(labelled),
        imitated_steps=sum(s.imitate for t in labelled for s in t.steps),
        aggregate_trajectories=0,
        rollout_s=rollout_s,
    )
    return summary, labelled


def few_shot_preamble(
    examples: Sequence[Trajectory],
    fmt: ReactFormat,
    instruction: str = "Interact with a household to solve a task. Here are examples.",
    style: FewShotStyle | None = None,
) -> str:
    """A ReAct few-shot prompt: an instruction and rendered example episodes, joined as
    ReAct's code joins them for the format (`fmt.few_shot_style` unless `style` is given;
    see `formats.join_few_shot`). The task's first observation follows it."""
    shots = [fmt.render_trajectory(t).text for t in examples]
    return join_few_shot(instruction, shots, style or fmt.few_shot_style)


def load_policy(
    model_path: str | Path,
    fmt: ReactFormat,
    decoding: DecodingConfig | None = None,
    preamble: str = "",
    name: str | None = None,
    cached: bool = True,
    tokenizer_path: str | Path | None = None,
    runtime: RuntimeConfig | None = None,
) -> HFPolicy:
    """Any local HF causal LM (ours or a user's) as a ReAct policy: on `runtime`'s device
    with weights in its dtype (None: on the CPU, in the checkpoint's precision)."""
    if runtime is None:
        model = load_model(model_path)
    else:
        model = load_model(model_path, dtype=runtime.torch_dtype, device=runtime.check())
    tokenizer = load_tokenizer(tokenizer_path or model_path)
    return HFPolicy(
        model,
        tokenizer,
        fmt,
        decoding,
        preamble=preamble,
        name=name or Path(model_path).name,
        model_id=str(model_path),
        cached=cached,
    )
