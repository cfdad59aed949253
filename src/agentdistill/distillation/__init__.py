"""Structured Agent Distillation and its baselines: losses, the teacher cache, the trainer."""

from agentdistill.distillation.losses import METHODS, TeacherTargets, forward_kl
from agentdistill.distillation.trainer import DistillConfig, DistillSummary, distill

__all__ = ["METHODS", "DistillConfig", "DistillSummary", "TeacherTargets", "distill", "forward_kl"]
