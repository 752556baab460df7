"""proqha subproject (built by its own issue)."""
