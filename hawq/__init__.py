"""hawq subproject (built by its own issue)."""
