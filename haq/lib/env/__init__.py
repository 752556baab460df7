"""The two search environments of HAQ (spec haq.md section 3): K-means/model size and linear/latency."""
