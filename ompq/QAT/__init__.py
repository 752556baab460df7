"""OMPQ's QAT: HAWQ-V3 quantization-aware training with OMPQ's changes (docs/ompq.md §2.2, §3.3)."""
