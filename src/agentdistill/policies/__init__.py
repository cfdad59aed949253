"""Policies: who chooses the actions (a scripted expert, a local HF model, a remote teacher)."""
