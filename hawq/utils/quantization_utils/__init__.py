"""HAWQ-V3 quantization functions and modules (spec ``hawq.md`` §3.1–§3.4)."""
