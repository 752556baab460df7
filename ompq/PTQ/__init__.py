"""OMPQ's PTQ: BRECQ block reconstruction with AdaRound and a per-layer weight bit list (docs/ompq.md §2.3, §3.4)."""
