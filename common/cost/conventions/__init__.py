"""Built-in cost conventions; importing this package registers them."""

from common.cost.conventions import haq, hawq, hmq, ompq, proqha  # noqa: F401
