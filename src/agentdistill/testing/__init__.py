"""Reusable test suites for code built on agentdistill (environments, ...)."""
