import random

import pytest

from agentdistill.environments.base import EnvironmentStateError, StepResult
from agentdistill.testing.env_contract import (
    ContractSubject,
    ContractViolation,
    EnvironmentContract,
    check_admissible_commands,
    check_determinism,
    check_invalid_actions,
    check_reset,
    check_solution_wins,
    check_step_before_reset,
    check_step_cap_and_done,
    check_task_suite,
)

from .reference_env import KeyChestEnv, KeyChestSuite, solve


class TestKeyChestContract(EnvironmentContract):
    """The reference environment passes every check of the contract."""

    @pytest.fixture(params=["train", "test"])
    def subject(self, request: pytest.FixtureRequest) -> ContractSubject:
        return ContractSubject(
            make_env=KeyChestEnv, suite=KeyChestSuite(), split=request.param, solve=solve
        )


# Broken environments: each breaks one rule, and the matching check must catch it.
class RandomStart(KeyChestEnv):
    def reset(self, task):
        return super().reset(task) + f" ({random.random()})"


class CrashesOnGarbage(KeyChestEnv):
    def step(self, action):
        if not action.strip():
            raise ValueError("empty action")
        return super().step(action)


class GarbageIsValid(KeyChestEnv):
    def step(self, action):
        result = super().step(action)
        return result.model_copy(
            update={"info": result.info.model_copy(update={"action_valid": True})}
        )


class NoCap(KeyChestEnv):
    max_steps = 5

    def step(self, action):
        result = super().step(action)
        self._done = False
        info = result.info.model_copy(update={"truncated": False})
        return result.model_copy(update={"done": False, "info": info})


class StepsBeforeReset(KeyChestEnv):
    def step(self, action):
        if self._task is None:
            return StepResult.model_validate(
                {"observation": "?", "done": False, "reward": 0.0, "info": {"action_valid": False}}
            )
        return super().step(action)


class NeverTruncated(KeyChestEnv):
    """Ends at the cap like it should but does not say the cap ended it."""

    def step(self, action):
        result = super().step(action)
        info = result.info.model_copy(update={"truncated": False})
        return result.model_copy(update={"info": info})


class EndsEarly(KeyChestEnv):
    def step(self, action):
        result = super().step(action)
        if self._steps >= 3:
            self._done = True
            return result.model_copy(update={"done": True})
        return result


class AdmitsTooMuch(KeyChestEnv):
    @property
    def admissible_commands(self):
        commands = super().admissible_commands
        return None if commands is None else [*commands, "dance"]


class DriftingRewards(KeyChestEnv):
    calls = 0

    def step(self, action):
        DriftingRewards.calls += 1
        result = super().step(action)
        return result.model_copy(update={"reward": DriftingRewards.calls * 1e-9})


class AcceptsForeignTasks(KeyChestEnv):
    def reset(self, task):
        return super().reset(task.model_copy(update={"env": self.name}))


class NeverWins(KeyChestEnv):
    def step(self, action):
        result = super().step(action)
        return result.model_copy(update={"info": result.info.model_copy(update={"won": False})})


class ScoresMissing(KeyChestEnv):
    score_keys = ("progress",)  # declared, never given


class DuplicateIds(KeyChestSuite):
    def tasks(self, split):
        tasks = super().tasks(split)
        return [*tasks, tasks[0]]


@pytest.mark.parametrize(
    ("env", "suite", "check", "message"),
    [
        (RandomStart, KeyChestSuite, check_reset, "reset twice differs"),
        (AcceptsForeignTasks, KeyChestSuite, check_reset, "accepted a task of another"),
        (CrashesOnGarbage, KeyChestSuite, check_invalid_actions, "raised ValueError"),
        (GarbageIsValid, KeyChestSuite, check_invalid_actions, "marked valid"),
        (NoCap, KeyChestSuite, check_step_cap_and_done, "not done after max_steps=5"),
        (EndsEarly, KeyChestSuite, check_step_cap_and_done, "before the cap"),
        (NeverTruncated, KeyChestSuite, check_step_cap_and_done, "truncated is not set"),
        (StepsBeforeReset, KeyChestSuite, check_step_before_reset, "did not raise"),
        (AdmitsTooMuch, KeyChestSuite, check_admissible_commands, "'dance' was marked invalid"),
        (DriftingRewards, KeyChestSuite, check_determinism, "same actions, different results"),
        (NeverWins, KeyChestSuite, check_solution_wins, "did not win"),
        (ScoresMissing, KeyChestSuite, check_step_cap_and_done, "score 'progress'"),
        (ScoresMissing, KeyChestSuite, check_solution_wins, "score 'progress'"),
        (KeyChestEnv, DuplicateIds, check_task_suite, "not unique"),
    ],
)
def test_contract_catches_broken_environments(env, suite, check, message) -> None:
    subject = ContractSubject(make_env=env, suite=suite(), split="train", solve=solve)
    with pytest.raises(ContractViolation, match=message):
        check(subject)


def test_step_after_done_raises() -> None:
    env = KeyChestEnv()
    task = KeyChestSuite().tasks("train")[0]
    env.reset(task)
    for action in solve(task):
        result = env.step(action)
    assert result.done and result.info.won and result.reward == 1.0
    with pytest.raises(EnvironmentStateError, match="episode is over"):
        env.step("look")
