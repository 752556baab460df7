"""The portable bit-config file (docs/design.md, contract 2) and converters from/to each original format.

* :mod:`common.bitconfig.file` - the JSON format: :class:`BitConfig`, :class:`LayerBits`, :func:`read_bitconfig`,
  :func:`write_bitconfig`, :func:`validate`, :func:`uniform_bitconfig`.
* :mod:`common.bitconfig.hawq` - HAWQ-V3 (and OMPQ QAT) ``bit_config`` dicts.
* :mod:`common.bitconfig.haq` - HAQ strategy lists (K-means weight bits, linear ``[w, a]`` pairs).
* :mod:`common.bitconfig.ompq` - OMPQ searched bit lists (QAT and PTQ).
* :mod:`common.bitconfig.proqha` - ProQHA quantizer bit lists.
"""

from common.bitconfig.file import (
    FLOAT_BITS,
    FORMAT,
    MAX_BITS,
    MIN_BITS,
    VERSION,
    BitConfig,
    BitConfigError,
    LayerBits,
    arch_layer_names,
    arch_layers,
    read_bitconfig,
    uniform_bitconfig,
    validate,
    write_bitconfig,
)
from common.bitconfig.haq import from_haq, to_haq
from common.bitconfig.hawq import (
    HAWQ_ARCHS,
    canonical_hawq_keys,
    from_hawq,
    hawq_arch_name,
    hawq_layer_keys,
    parse_hawq_key,
    to_hawq,
)
from common.bitconfig.ompq import from_ompq, ompq_entries, to_ompq
from common.bitconfig.proqha import from_proqha, proqha_quant_layers, to_proqha

__all__ = [
    "FLOAT_BITS",
    "FORMAT",
    "HAWQ_ARCHS",
    "MAX_BITS",
    "MIN_BITS",
    "VERSION",
    "BitConfig",
    "BitConfigError",
    "LayerBits",
    "arch_layer_names",
    "arch_layers",
    "canonical_hawq_keys",
    "from_haq",
    "from_hawq",
    "from_ompq",
    "from_proqha",
    "hawq_arch_name",
    "hawq_layer_keys",
    "ompq_entries",
    "parse_hawq_key",
    "proqha_quant_layers",
    "read_bitconfig",
    "to_haq",
    "to_hawq",
    "to_ompq",
    "to_proqha",
    "uniform_bitconfig",
    "validate",
    "write_bitconfig",
]
