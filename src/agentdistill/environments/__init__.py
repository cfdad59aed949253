"""Environments: the common protocol (`base`) and the benchmarks built on it."""

from agentdistill.environments.base import (
    Environment,
    EnvironmentStateError,
    StepInfo,
    StepResult,
    TaskSuite,
)

__all__ = ["Environment", "EnvironmentStateError", "StepInfo", "StepResult", "TaskSuite"]
