"""agentdistill's Dagster code location: the distillation chain as software-defined assets."""
