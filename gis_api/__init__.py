"""Wangge HTTP service (FastAPI)."""
