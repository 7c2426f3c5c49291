"""Metrics of a world model on data: surprise, probes, rollout error, anomaly scores,
closed-loop planning success, latent visibility."""
