"""The two search environments of HAQ (docs/haq.md section 3): K-means/model size and linear/latency."""
