"""OMPQ's search (``mixed_bit/`` of the original): features, ORM, importance, allocation, rounding.

:func:`search` runs the whole search on a float model and one batch and returns a ``common.bitconfig.BitConfig``.
"""

from ompq.mixed_bit.search import search

__all__ = ["search"]
