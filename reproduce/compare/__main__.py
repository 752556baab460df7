"""``python -m reproduce.compare``: see :mod:`reproduce.compare.run`."""

from common.runtime import run_main
from reproduce.compare.run import main

run_main(main)
