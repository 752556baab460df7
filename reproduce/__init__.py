"""Regenerates the published tables: ``python -m reproduce``."""
