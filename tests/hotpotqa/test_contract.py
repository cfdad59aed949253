"""HotPotQA passes the environment contract, with the expert as the solver."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdistill.environments.hotpotqa.env import HotpotQAEnv, HotpotQASuite
from agentdistill.environments.hotpotqa.expert import expert_actions
from agentdistill.records import Task
from agentdistill.testing.env_contract import ContractSubject, EnvironmentContract

from .conftest import SMALL


def _solve(task: Task) -> list[str]:
    return expert_actions(HotpotQAEnv(), task)


class TestGeneratedHotpotQA(EnvironmentContract):
    @pytest.fixture(params=["train", "dev", "test"])
    def subject(self, request: pytest.FixtureRequest) -> ContractSubject:
        return ContractSubject(
            make_env=HotpotQAEnv,
            suite=HotpotQASuite(SMALL),
            split=request.param,
            n_tasks=8,
            solve=_solve,
        )


class TestRealFileHotpotQA(EnvironmentContract):
    """A real-format file: every check but winning (the expert reads generated questions)."""

    @pytest.fixture
    def subject(self, real_file: Path) -> ContractSubject:
        return ContractSubject(
            make_env=HotpotQAEnv, suite=HotpotQASuite.from_environment(), split="test"
        )
