"""agentdistill."""
