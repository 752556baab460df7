"""Utilities of the HAWQ-V3 subproject, at the original repository's relative paths."""
