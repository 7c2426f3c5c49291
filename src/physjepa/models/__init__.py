"""Encoders, the action-conditioned predictor, the world model and its losses."""
