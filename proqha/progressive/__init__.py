"""The progressive mixed-precision search of ProQHA (docs/proqha.md section 3.3)."""
