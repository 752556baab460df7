"""Quantizers (K-means weight sharing, linear), data split and helpers of HAQ."""
