"""HAQ's clip-value search for linear quantization (docs/haq.md section 3.5, "KL clip search").

Given data ``x`` and a bit-width ``b``, with ``v = |x|`` and ``m = max v``:

1. histogram ``v`` on ``[0, m]`` with numpy's ``'sqrt'`` bin rule, normalise to probabilities and take the
   cumulative sum ``P`` (a CDF over ``B`` bins of width ``w``);
2. with ``n = 2^(b-1)`` levels, for every candidate cut ``i = n+1 … B``: saturate the CDF from bin ``i-1`` on,
   resample its first ``i`` entries onto ``n`` points and back onto ``i`` points (linear interpolation on
   equally spaced grids of [0, 1]) to get ``Q``, and score ``d_i = Σ_j (P_j - Q_j)·log2(P_j/Q_j)``;
3. return ``(i + 0.5)·w`` for the first ``i`` with the smallest ``d_i`` (a NaN score wins, as in numpy's argmin).

If ``n + 1 > B`` the maximum ``m`` is returned; all-zero data gives 0. The arithmetic keeps the input's dtype
(float32 tensors give float32 bin edges), exactly as the original's numpy calls do.
"""

from __future__ import annotations

import numpy as np


def kl_clip_threshold(data: np.ndarray, bitwidth: int) -> float:
    """Clip value minimising the symmetric CDF divergence described in the module docstring."""
    v = np.abs(data)
    top = v.max()
    if np.isclose(top, 0.0):
        return 0.0
    hist, edges = np.histogram(v, bins="sqrt", range=(0, top), density=True)
    hist = hist / np.sum(hist)
    cdf = np.cumsum(hist)
    levels = pow(2, int(bitwidth) - 1)
    n_bins = len(edges) - 1
    if levels + 1 > n_bins:
        return float(edges[-1])
    width = edges[1] - edges[0]
    coarse = np.linspace(0.0, 1.0, levels)
    cuts = range(levels + 1, n_bins + 1)
    candidates = np.array([(i + 0.5) * width for i in cuts])
    scores = np.empty(len(candidates))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, i in enumerate(cuts):
            saturated = np.copy(cdf)
            saturated[i - 1 :] = 1
            fine = np.linspace(0.0, 1.0, i)
            squeezed = np.interp(coarse, fine, saturated[:i])
            restored = np.copy(saturated)
            restored[:i] = np.interp(fine, coarse, squeezed)
            scores[k] = np.sum((cdf - restored) * np.log2(cdf / restored))
    return float(candidates[np.argmin(scores)])
