"""On-policy structured distillation: the student plays, the teacher grades its turns span by span.

    summary = distill_on_policy(DistillConfig(method="sad"), OnPolicyConfig(), teacher_dir,
                                teacher_trajectories, train_tasks, out_dir)

Offline SAD learns on the teacher's trajectories only, so the student never sees the states
its own mistakes lead to (closed-loop compounding). Here, in the spirit of GKD (Agarwal et
al., 2024) but with SAD's structure and an environment in the loop:

    round 0   offline: `warmup` of the token budget on the teacher's trajectories (a
              student trained from scratch would otherwise play nothing worth grading);
    round r   the round r-1 student plays `tasks` train games (its own thoughts and
              actions, `decoding`); the teacher's top-k distribution is computed on the
              student's own tokens (the usual cache, built on those episodes); training
              continues from the student's weights on a mix of its episodes
              (`student_share`) and teacher trajectories, with the method's per-span
              losses (and `DistillConfig.divergence`: reverse KL is the usual on-policy
              choice) at every REASON and ACT token the student wrote.

The token budget is the offline run's: the steps `train_lm` would take on the teacher's
trajectories under `config.train` (`training.planned_steps`), split between round 0 and the
rounds, so offline and on-policy students compare at equal training tokens. Cross-entropy
methods (seqkd, seqkd_span) are refused: imitating the student's own tokens teaches nothing.

Layout of `out_dir`: `round-<r>/` (each phase's distillation run; rounds >= 1 also hold
`episodes.jsonl` and their `teacher_cache/`), and for the whole run `model/` (the last
round's), `metrics.jsonl` (every phase, steps numbered across phases), `train_summary.json`,
`distill_summary.json` and `on_policy_summary.json`.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from agentdistill.config import Config, FormatConfig, resolve_format
from agentdistill.distillation.losses import KL_METHODS
from agentdistill.distillation.trainer import DistillConfig, DistillSummary, distill
from agentdistill.environments.registry import make_env
from agentdistill.files import write_text_atomic
from agentdistill.policies.base import hash_seed
from agentdistill.policies.hf import DecodingConfig
from agentdistill.records import Step, Task, Trajectory
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.runtime import world_size
from agentdistill.teacher import load_policy
from agentdistill.tokenizer import load_tokenizer
from agentdistill.training import TrainSummary, planned_steps, segment_all

log = logging.getLogger(__name__)

ON_POLICY_METHODS: tuple[str, ...] = KL_METHODS
"""Methods with an on-policy mode: the KL ones (token_kd on-policy is GKD's setting)."""

ON_POLICY_OWNED = (
    "rounds",
    "model",
    "metrics.jsonl",
    "train_summary.json",
    "distill_summary.json",
    "on_policy_summary.json",
)
"""What `distill_on_policy` writes in its folder."""


class OnPolicyConfig(Config):
    """How an on-policy student alternates playing and learning."""

    rounds: int = Field(default=2, ge=1, description="Rounds of play-then-learn after round 0.")
    warmup: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="Share of the token budget trained offline (teacher trajectories) "
        "before the student first plays.",
    )
    student_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of each round's training trajectories that the student played "
        "(the rest: teacher trajectories drawn from the offline data); 1: purely on-policy.",
    )
    tasks: int = Field(default=200, gt=0, description="Train games the student plays a round.")
    max_steps: int = Field(default=30, gt=0, description="Step cap of the student's episodes.")
    batch_size: int = Field(default=64, gt=0, description="Episodes at once.")
    decoding: DecodingConfig = Field(
        default_factory=DecodingConfig,
        description="The student's decoding while playing (greedy, ungrounded by default: "
        "the states it will visit when benchmarked).",
    )
    seed: int = Field(default=0, description="Seed of the game draws and the data mix.")


class OnPolicyRound(Config):
    """What one round did (`on_policy_summary.json`)."""

    round: int
    steps: int
    episodes: int = 0
    student_success: float | None = None
    student_trajectories: int = 0
    teacher_trajectories: int
    rollout_s: float = 0.0
    train_s: float


def check_on_policy(config: DistillConfig) -> None:
    if config.method not in ON_POLICY_METHODS:
        raise ValueError(
            f"method {config.method!r} has no on-policy mode: it imitates the trajectories' "
            f"tokens, and the student's own tokens teach it nothing. On-policy methods: "
            f"{', '.join(ON_POLICY_METHODS)}."
        )
    if config.teacher_source == "endpoint":
        raise ValueError("on-policy distillation grades the student with a local teacher")


def student_trajectories(episodes: Sequence[Trajectory]) -> list[Trajectory]:
    """The student's episodes as training data: every turn it wrote gets the loss (the
    teacher grades them all); nothing else recorded about the play is kept."""
    out = []
    for episode in episodes:
        steps = [
            Step(
                reasoning=s.reasoning,
                action=s.action,
                observation=s.observation,
                action_valid=s.action_valid,
            )
            for s in episode.steps
        ]
        out.append(episode.model_copy(update={"steps": steps, "timings": None}))
    return out


def round_mix(
    played: Sequence[Trajectory],
    teacher: Sequence[Trajectory],
    share: float,
    seed: int,
) -> list[Trajectory]:
    """The student's episodes plus teacher trajectories so that the student's make up
    `share` of the mix (seeded draw of the teacher's)."""
    wanted = round(len(played) * (1.0 - share) / share)
    rng = random.Random(seed)
    drawn = rng.sample(list(teacher), min(wanted, len(teacher)))
    return [*played, *drawn]


def _epochs_for(steps: int, trajectories: Sequence[Trajectory], tokenizer: Any,
                fmt: FormatConfig, config: DistillConfig) -> float:  # fmt: skip
    """Epochs over `trajectories` that make `steps` optimiser steps."""
    segs, _ = segment_all(trajectories, tokenizer, fmt, config.train.max_length)
    per_epoch = planned_steps([len(s) for s in segs], config.train.model_copy(
        update={"epochs": 1.0, "max_steps": None}))  # fmt: skip
    return (steps + 0.5) / per_epoch


def distill_on_policy(
    config: DistillConfig,
    on_policy: OnPolicyConfig,
    teacher_dir: str | Path,
    trajectories: Sequence[Trajectory],
    tasks: Sequence[Task],
    out_dir: str | Path,
    fmt: FormatConfig | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> DistillSummary:
    """Distil `config.method` on-policy (see the module docstring); resumable round by round.

    `trajectories`: the teacher's (round 0 and the mix); `tasks`: the train games the
    student plays; `cache_dir`: the teacher cache of `trajectories` (round 0 reuses it).
    """
    check_on_policy(config)
    if world_size() > 1:
        raise RuntimeError(
            "on-policy distillation runs in one process: its rounds alternate playing and "
            "training, and the playing is not sharded across processes. Launch it without "
            "accelerate/torchrun (a GPU still applies: runtime.device)."
        )
    out = Path(out_dir)
    fmt = resolve_format(teacher_dir, fmt)
    tokenizer = load_tokenizer(teacher_dir)
    segs, _ = segment_all(trajectories, tokenizer, fmt, config.train.max_length)
    budget = planned_steps([len(s) for s in segs], config.train)
    warm = max(1, round(budget * on_policy.warmup))
    per_round = max(1, (budget - warm) // on_policy.rounds)
    log.info(
        "on-policy %s: %d steps (the offline budget): %d offline, then %d rounds of %d",
        config.method, budget, warm, on_policy.rounds, per_round,
    )  # fmt: skip
    began = time.perf_counter()
    first = distill(
        config.model_copy(update={"train": config.train.model_copy(update={"max_steps": warm})}),
        teacher_dir,
        trajectories,
        out / "rounds" / "round-0",
        fmt=fmt,
        cache_dir=cache_dir,
        show_progress=show_progress,
    )
    phases: list[DistillSummary] = [first]
    rounds = [
        OnPolicyRound(
            round=0,
            steps=first.train.steps,
            teacher_trajectories=len(trajectories),
            train_s=time.perf_counter() - began,
        )
    ]
    for index in range(1, on_policy.rounds + 1):
        folder = out / "rounds" / f"round-{index}"
        student_dir = phases[-1].model_dir
        began = time.perf_counter()
        policy = load_policy(
            student_dir,
            fmt.build(),
            on_policy.decoding,
            preamble=fmt.preamble,
            name=f"{config.method}-round-{index - 1}",
            runtime=config.runtime,
        )
        chosen = list(tasks)
        random.Random(hash_seed(on_policy.seed, f"round-{index}")).shuffle(chosen)
        episodes = run_rollouts(
            policy,
            lambda env=chosen[0].env: make_env(env),
            chosen[: on_policy.tasks],
            RolloutConfig(
                batch_size=on_policy.batch_size,
                max_steps=on_policy.max_steps,
                show_progress=show_progress,
            ),
            seed=on_policy.decoding.seed,
            out=folder / "episodes.jsonl",
        )
        rollout_s = time.perf_counter() - began
        played = student_trajectories(episodes)
        mix = round_mix(
            played, trajectories, on_policy.student_share, hash_seed(on_policy.seed, f"mix-{index}")
        )
        train = config.train.model_copy(
            update={
                "max_steps": per_round,
                "epochs": _epochs_for(per_round, mix, tokenizer, fmt, config),
            }
        )
        began = time.perf_counter()
        phase = distill(
            config.model_copy(update={"student": student_dir, "train": train}),
            teacher_dir,
            mix,
            folder,
            fmt=fmt,
            cache_dir=folder / "teacher_cache",
            show_progress=show_progress,
        )
        phases.append(phase)
        rounds.append(
            OnPolicyRound(
                round=index,
                steps=phase.train.steps,
                episodes=len(episodes),
                student_success=sum(e.success for e in episodes) / max(len(episodes), 1),
                student_trajectories=len(played),
                teacher_trajectories=len(mix) - len(played),
                rollout_s=rollout_s,
                train_s=time.perf_counter() - began,
            )
        )
    return _finish(out, config, phases, rounds)


def _finish(
    out: Path, config: DistillConfig, phases: Sequence[DistillSummary], rounds: list[OnPolicyRound]
) -> DistillSummary:
    """The whole run's model, metrics and summaries in `out` (from its phases)."""
    last = phases[-1]
    model_dir = out / "model"
    staging = out / "model.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(last.model_dir, staging)
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    lines, offset = [], 0
    for phase in phases:
        metrics = Path(phase.train.model_dir).parent / "metrics.jsonl"
        if metrics.exists():
            for line in metrics.read_text().splitlines():
                row = json.loads(line)
                row["step"] = row.get("step", 0) + offset
                lines.append(json.dumps(row))
        offset += phase.train.steps
    write_text_atomic(out / "metrics.jsonl", "".join(f"{line}\n" for line in lines))
    trained = [p.train for p in phases]
    wall = sum(t.wall_s for t in trained) + sum(r.rollout_s for r in rounds)
    train = TrainSummary(
        steps=sum(t.steps for t in trained),
        epochs=sum(t.epochs for t in trained),
        tokens_seen=sum(t.tokens_seen for t in trained),
        loss_tokens=sum(t.loss_tokens for t in trained),
        final_loss=last.train.final_loss,
        final_reason_loss=last.train.final_reason_loss,
        final_act_loss=last.train.final_act_loss,
        final_other_loss=last.train.final_other_loss,
        tokens_per_s=sum(t.tokens_seen for t in trained) / max(wall, 1e-9),
        wall_s=wall,
        truncated_sequences=sum(t.truncated_sequences for t in trained),
        model_dir=str(model_dir),
    )
    write_text_atomic(out / "train_summary.json", train.model_dump_json(indent=2))
    summary = last.model_copy(
        update={
            "method": config.method,
            "trajectories": sum(p.trajectories for p in phases),
            "cache_s": sum(p.cache_s for p in phases),
            "train": train,
            "model_dir": str(model_dir),
        }
    )
    write_text_atomic(
        out / "on_policy_summary.json",
        json.dumps([r.model_dump(mode="json") for r in rounds], indent=2),
    )
    write_text_atomic(out / "distill_summary.json", summary.model_dump_json(indent=2))
    return summary
