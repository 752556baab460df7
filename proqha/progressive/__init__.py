"""The progressive mixed-precision search of ProQHA (specs/proqha.md section 3.3)."""
