"""One summary row per result file, as an aligned text table or CSV.

Final energy: /result (autocorrelation-aware error) for a finished run, else the
tail estimate of stats.tail_estimate (status "running"). Relative error is
|E − E_ref| / |E_ref| with E_ref from /reference. "First iteration within δ"
uses the running energy (trailing moving average over `window` iterations) of
stats.py.
"""

from __future__ import annotations

import csv
import math

import numpy as np

from . import stats
from .resultfile import Run

TOLERANCES = (1e-2, 1e-3)

# CSV columns, in order. Text-table columns are a subset (TEXT_COLUMNS).
COLUMNS = (
    "file", "status", "system", "lattice", "hamiltonian", "model", "shared",
    "n_sites", "n_params", "samples_per_iteration", "iterations",
    "energy", "energy_error", "energy_variance", "v_score",
    "reference_energy", "reference_source", "relative_error", "relative_error_error",
    "wall_time", "window",
    "first_iteration_1e-2", "first_iteration_1e-3", "samples_to_1e-2", "samples_to_1e-3",
    "convention",
)


def _finite_or_none(x):
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def summary_row(run: Run, window: int = 10, tail_fraction: float = 0.1) -> dict:
    """The summary of one run as {column: value}; None marks an unknown value."""
    h = run.history
    n = run.n_iterations
    if run.finished:
        r = run.result
        est = {k: _finite_or_none(r.get(k))
               for k in ("energy", "energy_error", "energy_variance", "v_score")}
    else:
        est = stats.tail_estimate(run, tail_fraction) or {}
    energy = _finite_or_none(est.get("energy"))
    error = _finite_or_none(est.get("energy_error"))
    e_ref = run.reference_energy
    rel = rel_err = None
    if e_ref is not None and energy is not None:
        rel = abs(energy - e_ref) / abs(e_ref)
        rel_err = None if error is None else error / abs(e_ref)

    spi = None
    ns = h["n_samples"][np.isfinite(h["n_samples"])]
    if ns.size:
        spi = float(np.median(ns))
        spi = int(spi) if spi.is_integer() else spi
    wall = _finite_or_none(h["wall_time"][-1]) if n else None

    row = {
        "file": run.path,
        "status": run.status,
        "system": run.system,
        "lattice": run.lattice,
        "hamiltonian": run.hamiltonian,
        "model": run.model,
        "shared": None if run.shared is None else int(run.shared),
        "n_sites": run.n_sites,
        "n_params": run.n_params,
        "samples_per_iteration": spi,
        "iterations": n,
        "energy": energy,
        "energy_error": error,
        "energy_variance": _finite_or_none(est.get("energy_variance")),
        "v_score": _finite_or_none(est.get("v_score")),
        "reference_energy": e_ref,
        "reference_source": run.reference_source,
        "relative_error": rel,
        "relative_error_error": rel_err,
        "wall_time": wall,
        "window": int(window),
        "convention": run.convention,
    }
    for tol, tag in zip(TOLERANCES, ("1e-2", "1e-3")):
        row[f"first_iteration_{tag}"] = stats.first_iteration_within(run, tol, window)
        row[f"samples_to_{tag}"] = stats.samples_to_reach(run, tol, window)
    return row


# ------------------------------------------------------------------ text table

def _fmt_pm(e, err):
    if e is None:
        return "-"
    if err is None or err <= 0:
        return f"{e:.6f}"
    d = min(12, max(0, 1 - math.floor(math.log10(err))))  # two significant digits of err
    return f"{e:.{d}f} +/- {err:.{d}f}"


def _fmt_g(x, spec=".4g"):
    return "-" if x is None else format(x, spec)


def _fmt_int(x):
    return "-" if x is None else str(x)


# (header, formatter, right-aligned)
TEXT_COLUMNS = (
    ("file", lambda r: r["file"], False),
    ("system", lambda r: r["system"], False),
    ("model", lambda r: r["model"] or "-", False),
    ("shared", lambda r: "-" if r["shared"] is None else ("yes" if r["shared"] else "no"), False),
    ("P", lambda r: _fmt_int(r["n_params"]), True),
    ("samples/it", lambda r: _fmt_int(r["samples_per_iteration"]), True),
    ("iters", lambda r: _fmt_int(r["iterations"]), True),
    ("status", lambda r: r["status"], False),
    ("E +/- err", lambda r: _fmt_pm(r["energy"], r["energy_error"]), True),
    ("variance", lambda r: _fmt_g(r["energy_variance"]), True),
    ("V-score", lambda r: _fmt_g(r["v_score"]), True),
    ("E_ref", lambda r: _fmt_g(r["reference_energy"], ".10g"), True),
    ("rel.err", lambda r: _fmt_g(r["relative_error"], ".3e"), True),
    ("wall(s)", lambda r: _fmt_g(r["wall_time"], ".1f"), True),
    ("it@1e-2", lambda r: _fmt_int(r["first_iteration_1e-2"]), True),
    ("it@1e-3", lambda r: _fmt_int(r["first_iteration_1e-3"]), True),
)


def format_table(rows) -> str:
    """Aligned text table of summary rows ("-" for unknown values)."""
    cells = [[h for h, _, _ in TEXT_COLUMNS]]
    cells += [[fmt(r) for _, fmt, _ in TEXT_COLUMNS] for r in rows]
    widths = [max(len(c[j]) for c in cells) for j in range(len(TEXT_COLUMNS))]
    lines = []
    for i, c in enumerate(cells):
        parts = [(c[j].rjust(w) if right else c[j].ljust(w))
                 for j, ((_, _, right), w) in enumerate(zip(TEXT_COLUMNS, widths))]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ CSV

def _csv_value(x):
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)


def write_csv(rows, fh) -> None:
    """CSV with a header row of COLUMNS; unknown values are empty fields."""
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_csv_value(r.get(c)) for c in COLUMNS])
