"""On-policy structured distillation: the student plays, the teacher grades its own tokens."""

from __future__ import annotations

import json

import pytest
import torch

from agentdistill.config import FormatConfig
from agentdistill.distillation.losses import TeacherTargets
from agentdistill.distillation.on_policy import (
    OnPolicyConfig,
    check_on_policy,
    distill_on_policy,
    round_mix,
)
from agentdistill.distillation.teacher_cache import TeacherCache
from agentdistill.distillation.trainer import DistillConfig
from agentdistill.environments.alfworld.env import AlfworldSuite
from agentdistill.environments.alfworld.generator import GeneratorConfig
from agentdistill.models import load_model
from agentdistill.policies.hf import DecodingConfig
from agentdistill.profile import load_profile
from agentdistill.records import Trajectory, read_jsonl
from agentdistill.segmentation import collate
from agentdistill.teacher import bootstrap_teacher
from agentdistill.tokenizer import load_tokenizer
from agentdistill.training import logits_at, planned_steps, segment_all
from tests.test_dagger import CONFIGS


@pytest.fixture(scope="module")
def smoke_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    smoke = load_profile(CONFIGS / "smoke.yaml").config("alfworld")
    tasks = AlfworldSuite(GeneratorConfig(train=24, valid_seen=0, valid_unseen=0)).tasks("train")
    config = smoke.teacher_config().model_copy(update={"train_tasks": 24})
    summary = bootstrap_teacher(config, root, FormatConfig(name="alfworld"), tasks=tasks)
    expert = read_jsonl(root / "expert_train.jsonl", Trajectory)
    return summary.model_dir, expert, tasks


def test_on_policy_student_trains_on_its_own_episodes_graded_by_the_teacher(
    smoke_teacher, tmp_path
) -> None:
    teacher_dir, trajectories, tasks = smoke_teacher
    smoke = load_profile(CONFIGS / "smoke.yaml").config("alfworld")
    config = smoke.student_config("sad", 0)
    on_policy = OnPolicyConfig(
        rounds=1, tasks=4, max_steps=4, batch_size=4, warmup=0.5,
        decoding=DecodingConfig(max_turn_tokens=24),
    )  # fmt: skip
    out = tmp_path / "sad-onpolicy"
    summary = distill_on_policy(config, on_policy, teacher_dir, trajectories, tasks, out)

    tokenizer = load_tokenizer(teacher_dir)
    fmt = FormatConfig(name="alfworld")
    segs, _ = segment_all(trajectories, tokenizer, fmt, config.train.max_length)
    budget = planned_steps([len(s) for s in segs], config.train)
    rounds = json.loads((out / "on_policy_summary.json").read_text())
    # equal training tokens: the offline run's steps, split between round 0 and the round
    assert abs(summary.train.steps - budget) <= on_policy.rounds
    assert [r["round"] for r in rounds] == [0, 1] and rounds[1]["episodes"] == 4
    assert rounds[1]["student_trajectories"] == 4 and rounds[1]["teacher_trajectories"] == 4
    assert (out / "model" / "config.json").exists()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").open()]
    assert steps == sorted(steps) and steps[-1] <= summary.train.steps

    # the round's teacher cache holds the teacher's distribution on the student's own tokens
    played = read_jsonl(out / "rounds" / "round-1" / "episodes.jsonl", Trajectory)
    assert all(e.policy.name == "sad-round-0" for e in played)
    cache = TeacherCache.load(out / "rounds" / "round-1" / "teacher_cache")
    student_segs, _ = segment_all(played, tokenizer, fmt, config.train.max_length)
    teacher = load_model(teacher_dir).eval()
    batch = collate(student_segs, pad_id=tokenizer.pad_token_id or 0)
    positions = batch.target_mask
    cached = cache.targets(batch, positions)
    with torch.no_grad():
        online = TeacherTargets.topk(logits_at(teacher, batch, positions), cache.k)
    assert positions.sum() > 20
    assert torch.equal(cached.indices, online.indices)
    assert torch.allclose(cached.logprobs, online.logprobs, atol=1e-5)
    assert torch.allclose(cached.rest_logprob, online.rest_logprob, atol=1e-4)


def test_mix_and_refusals() -> None:
    with pytest.raises(ValueError, match="no on-policy mode"):
        check_on_policy(DistillConfig(method="seqkd"))
    check_on_policy(DistillConfig(method="token_kd"))
    played = [f"s{i}" for i in range(4)]
    teacher = [f"t{i}" for i in range(20)]
    mix = round_mix(played, teacher, 0.25, seed=0)  # type: ignore[arg-type]
    assert mix[:4] == played and len(mix) == 16 and set(mix[4:]) <= set(teacher)
    assert round_mix(played, teacher, 1.0, seed=0) == played  # type: ignore[arg-type]
