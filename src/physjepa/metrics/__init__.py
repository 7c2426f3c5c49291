"""Measurements of a trained world model (surprise, probes, rollouts, visibility)."""
