"""OMPQ's search (``mixed_bit/`` of the original): features, ORM, importance, allocation, rounding."""
