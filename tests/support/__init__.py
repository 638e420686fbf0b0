"""Helpers shared by the tests (issue 31 wants them here rather than in tests/*_helpers.py)."""
