"""Wangge spatial domain: models, spatial queries and commands. Never imports FastAPI."""
