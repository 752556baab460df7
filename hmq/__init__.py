"""hmq subproject (built by its own issue)."""
