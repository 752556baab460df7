"""HAWQ-V3's shipped bit configurations (``bit_config.py`` of the original) as data.

``bit_config_dict`` maps ``bit_config_<arch>_<scheme>`` to the original dict of module name ->
bits (``[8, "hook"]`` entries included), read from ``bit_configs.json`` next to this file.
"""

from __future__ import annotations

import json
from pathlib import Path

bit_config_dict: dict[str, dict] = json.loads((Path(__file__).with_name("bit_configs.json")).read_text())
