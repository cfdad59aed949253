"""Shared fixtures: small real ALFWorld expert data and a tokenizer trained on it."""

from __future__ import annotations

import pytest

from agentdistill.environments.alfworld.env import AlfworldSuite
from agentdistill.environments.alfworld.generator import GeneratorConfig
from agentdistill.environments.registry import make_env
from agentdistill.formats import get_format
from agentdistill.policies.expert import ExpertPolicy
from agentdistill.records import Trajectory
from agentdistill.rollout import RolloutConfig, run_rollouts
from agentdistill.tokenizer import train_byte_level_bpe

SMALL = GeneratorConfig(train=64, valid_seen=4, valid_unseen=8)


@pytest.fixture(scope="session")
def small_suite() -> AlfworldSuite:
    return AlfworldSuite(SMALL)


@pytest.fixture(scope="session")
def expert_train(small_suite: AlfworldSuite) -> list[Trajectory]:
    return run_rollouts(
        ExpertPolicy("alfworld"),
        lambda: make_env("alfworld"),
        small_suite.tasks("train"),
        RolloutConfig(show_progress=False),
    )


@pytest.fixture(scope="session")
def alfworld_tokenizer(expert_train: list[Trajectory]):
    fmt = get_format("alfworld")
    return train_byte_level_bpe(
        [fmt.render_trajectory(t).text for t in expert_train], vocab_size=512
    )
