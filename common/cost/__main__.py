from common.cost.cli import main
from common.runtime import run_main

run_main(main)
