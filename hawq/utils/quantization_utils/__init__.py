"""HAWQ-V3 quantization functions and modules (``docs/hawq.md`` §3.1–§3.4)."""
