"""Convergence statistics of one run: running energy, relative error, first
iteration within a tolerance, samples needed, and the estimate of a run that
has not finished.

Definitions (also in analysis/README.md and `nqs-analyze summary --help`):

* running energy with window W (iterations) at history entry t:
      Ē_t = (E_{t−W+1} + … + E_t) / W,   defined for t ≥ W − 1 (NaN before),
  the trailing moving average of /history/energy. W = 1 is the history energy itself.
* relative error of an energy E against the reference E_ref: |E − E_ref| / |E_ref|.
* first iteration within a tolerance δ: the /history/iteration value of the first
  entry t whose running energy has relative error ≤ δ (None if there is none or
  no reference energy). The samples needed to get there are /history/samples_total
  at that entry.
* estimate of a running run (no /result): over the last k = ceil(n/10) history
  entries (tail fraction 0.1), the mean energy and its standard error
  s/√k (s the sample standard deviation, ddof = 1), which ignores correlations
  between iterations; with k = 1 it is that entry's energy_error. The variance is
  the mean of energy_variance over the same entries and V = N·Var/Ē².
"""

from __future__ import annotations

import math

import numpy as np

from .resultfile import Run


def running_energy(energy, window: int = 1) -> np.ndarray:
    """Trailing moving average over `window` entries; NaN for the first window−1 entries."""
    window = int(window)
    if window < 1:
        raise ValueError(f"window must be a positive number of iterations, got {window}")
    e = np.asarray(energy, dtype=np.float64)
    out = np.full(e.shape, np.nan)
    if len(e) >= window:
        # Exact sum per window (no cumulative-sum cancellation; a NaN spoils only
        # the windows that contain it).
        out[window - 1:] = np.lib.stride_tricks.sliding_window_view(e, window).mean(axis=1)
    return out


def relative_error(energy, reference: float):
    """|E − E_ref| / |E_ref| (element-wise for arrays)."""
    return np.abs(np.asarray(energy, dtype=np.float64) - reference) / abs(reference)


def relative_error_curve(run: Run, window: int = 1):
    """(iteration, relative error of the running energy) arrays, or None without a reference."""
    if run.reference_energy is None:
        return None
    h = run.history
    return h["iteration"], relative_error(running_energy(h["energy"], window), run.reference_energy)


def samples_vs_relative_error(run: Run, window: int = 1):
    """(cumulative samples, relative error of the running energy), or None without a reference."""
    curve = relative_error_curve(run, window)
    if curve is None:
        return None
    return run.history["samples_total"], curve[1]


def first_index_within(rel, tolerance: float):
    """Index of the first entry with rel ≤ tolerance (NaN never is), or None."""
    hits = np.flatnonzero(np.asarray(rel) <= tolerance)
    return int(hits[0]) if hits.size else None


def first_iteration_within(run: Run, tolerance: float, window: int = 1):
    """Iteration number at which the running energy first came within `tolerance`
    relative error of the reference; None if never or without a reference."""
    curve = relative_error_curve(run, window)
    if curve is None:
        return None
    i = first_index_within(curve[1], tolerance)
    return None if i is None else int(curve[0][i])


def samples_to_reach(run: Run, tolerance: float, window: int = 1):
    """/history/samples_total at the first iteration within `tolerance`, or None."""
    curve = relative_error_curve(run, window)
    if curve is None:
        return None
    i = first_index_within(curve[1], tolerance)
    if i is None:
        return None
    s = float(run.history["samples_total"][i])
    if not math.isfinite(s):
        return None
    return int(s) if s.is_integer() else s


def tail_estimate(run: Run, fraction: float = 0.1):
    """Estimate from the last ceil(fraction·n) history entries (see the module doc).

    Returns a dict with energy, energy_error, energy_variance, v_score and
    n_entries, or None when the history is empty."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"tail fraction must be in (0, 1], got {fraction}")
    h = run.history
    n = len(h["energy"])
    if n == 0:
        return None
    k = max(1, math.ceil(fraction * n - 1e-9))
    e = h["energy"][n - k:]
    mean = float(np.mean(e))
    if k == 1:
        err = float(h["energy_error"][n - 1])
    else:
        err = float(np.std(e, ddof=1) / math.sqrt(k))
    var = float(np.mean(h["energy_variance"][n - k:]))
    n_sites = run.n_sites
    v = (n_sites * var / mean**2) if (n_sites is not None and mean != 0.0) else float("nan")
    return {"energy": mean, "energy_error": err, "energy_variance": var,
            "v_score": v, "n_entries": k}
