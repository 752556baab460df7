"""ompq subproject (built by its own issue)."""
