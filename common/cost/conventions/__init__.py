"""Built-in cost conventions; importing this package registers them."""

from common.cost.conventions import hawq  # noqa: F401
from common.cost.conventions import haq, hmq, proqha  # noqa: F401, E402
from common.cost.conventions import ompq  # noqa: F401
