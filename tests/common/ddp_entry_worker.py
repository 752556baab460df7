"""Worker for the DDP-equals-one-process tests, launched by ``torchrun --nproc_per_node=2``.

``argv[1]`` is a JSON file holding a list of jobs ``{"module": "hawq.quant_train", "argv": [...]}``. The
worker joins the process group once and runs every job's ``main(argv)`` in turn in this process (one
torchrun start-up for all of them); the entrypoints' own ``cleanup_distributed`` is turned into a no-op so
the group survives from one job to the next.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from common.runtime import barrier, cleanup_distributed, init_distributed  # noqa: E402


def _keep_group() -> None:
    """Stands in for the entrypoints' ``cleanup_distributed``."""


def main() -> None:
    jobs = json.loads(Path(sys.argv[1]).read_text())
    info = init_distributed(backend="gloo", timeout=120)
    assert info.world_size == 2, info
    original = cleanup_distributed
    for job in jobs:
        module = importlib.import_module(job["module"])
        for loaded in list(sys.modules.values()):
            if (
                loaded is not sys.modules[__name__]
                and getattr(loaded, "cleanup_distributed", None) is original
            ):
                loaded.cleanup_distributed = _keep_group
        module.main(job["argv"])
        barrier()
    original()


if __name__ == "__main__":
    main()
