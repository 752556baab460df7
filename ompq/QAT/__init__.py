"""OMPQ's QAT: HAWQ-V3 quantization-aware training with OMPQ's changes (spec ompq.md §2.2, §3.3)."""
