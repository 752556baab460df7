"""Latency tables: the shipped qmobilenetv2 table and a builder for any registered model."""
