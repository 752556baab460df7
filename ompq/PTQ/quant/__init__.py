"""BRECQ quantizers, quantized modules/blocks/model and reconstruction (docs/ompq.md §3.4)."""
