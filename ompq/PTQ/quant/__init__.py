"""BRECQ quantizers, quantized modules/blocks/model and reconstruction (spec ompq.md §3.4)."""
