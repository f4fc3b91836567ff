"""PNG figures of one or several runs (matplotlib, Agg backend).

energy.png                    energy vs iteration, ±energy_error band, reference line(s)
relative_error.png            |E − E_ref|/|E_ref| vs iteration, log scale (runs with a reference)
relative_error_vs_samples.png the running relative error vs cumulative samples, log-log
variance.png                  Var(E_loc) vs iteration, log scale
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
import numpy as np  # noqa: E402

from . import stats  # noqa: E402
from .summary import TOLERANCES  # noqa: E402

FIGSIZE = (8.0, 5.0)  # inches
DPI = 120             # -> 960 x 600 pixels


def default_labels(runs) -> list:
    """'model (P=n_params)' per run; duplicates get the file name appended."""
    base = [f"{r.model or '?'} (P={r.n_params if r.n_params is not None else '?'})" for r in runs]
    return [f"{lab} [{os.path.basename(r.path)}]" if base.count(lab) > 1 else lab
            for lab, r in zip(base, runs)]


def _units(runs) -> str:
    conv = {r.convention for r in runs if r.convention}
    if conv == {"pauli"} or not conv:
        return "Pauli units"
    return " / ".join(sorted(conv)) + " convention"


def _title(runs) -> str | None:
    systems = {r.system for r in runs}
    return systems.pop() if len(systems) == 1 else None


def _new(runs, ylabel, xlabel="iteration"):
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    title = _title(runs)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _save(fig, ax, path) -> str:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _log_if_positive(ax, which, arrays):
    """Log scale on `which` ("x"/"y") if some plotted value is positive; matplotlib
    refuses a log axis without positive data (e.g. a variance that is all NaN)."""
    if any(np.any(np.asarray(a, dtype=np.float64) > 0) for a in arrays):
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")


def _positive(y):
    """Log axes: zero or negative values are not drawn."""
    y = np.array(y, dtype=np.float64)
    y[~(y > 0)] = np.nan
    return y


def plot_runs(runs, outdir: str, labels=None, window: int = 10) -> list:
    """Write the figures for `runs` into `outdir` (created if needed); return the paths.

    The relative-error figures are written only when at least one run has a
    reference energy. `window` is the moving-average window of the running energy."""
    if labels is None:
        labels = default_labels(runs)
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels given for {len(runs)} files")
    os.makedirs(outdir, exist_ok=True)
    units = _units(runs)
    colors = [f"C{i % 10}" for i in range(len(runs))]
    written = []

    # Energy with the error band and the reference energies.
    fig, ax = _new(runs, f"energy ({units})")
    for run, lab, c in zip(runs, labels, colors):
        h = run.history
        it, e, err = h["iteration"], h["energy"], h["energy_error"]
        ax.plot(it, e, color=c, lw=1.0, label=lab)
        ok = np.isfinite(err)
        if ok.any():
            ax.fill_between(it, e - np.where(ok, err, 0), e + np.where(ok, err, 0),
                            color=c, alpha=0.25, lw=0)
    refs = {}
    for run, c in zip(runs, colors):
        if run.reference_energy is not None:
            refs.setdefault(round(run.reference_energy, 9), (run, c))
    for e_ref, (run, c) in refs.items():
        src = f" ({run.reference_source})" if run.reference_source else ""
        ax.axhline(e_ref, color="k" if len(refs) == 1 else c, ls="--", lw=1.0,
                   label=f"reference {e_ref:.10g}{src}")
    written.append(_save(fig, ax, os.path.join(outdir, "energy.png")))

    with_ref = [(r, lab, c) for r, lab, c in zip(runs, labels, colors)
                if r.reference_energy is not None]
    if with_ref:
        fig, ax = _new(runs, "relative error |E − E_ref| / |E_ref|")
        ys = []
        for run, lab, c in with_ref:
            it, raw = stats.relative_error_curve(run, 1)
            _, smooth = stats.relative_error_curve(run, window)
            ys.append(raw)
            ax.plot(it, _positive(raw), color=c, lw=0.6, alpha=0.35)
            ax.plot(it, _positive(smooth), color=c, lw=1.5,
                    label=f"{lab}, moving average over {window} it.")
        ax.plot([], [], color="0.5", lw=0.6, alpha=0.6, label="thin: each iteration")
        for tol in TOLERANCES:
            ax.axhline(tol, color="0.4", ls=":", lw=1.0)
        _log_if_positive(ax, "y", ys)
        written.append(_save(fig, ax, os.path.join(outdir, "relative_error.png")))

        fig, ax = _new(runs, "relative error |E − E_ref| / |E_ref|",
                       xlabel="cumulative Monte Carlo samples")
        xs, ys = [], []
        for run, lab, c in with_ref:
            s, rel = stats.samples_vs_relative_error(run, window)
            xs.append(s)
            ys.append(rel)
            ax.plot(_positive(s), _positive(rel), color=c, lw=1.5,
                    label=f"{lab}, moving average over {window} it.")
        for tol in TOLERANCES:
            ax.axhline(tol, color="0.4", ls=":", lw=1.0)
        _log_if_positive(ax, "x", xs)
        _log_if_positive(ax, "y", ys)
        written.append(_save(fig, ax, os.path.join(outdir, "relative_error_vs_samples.png")))

    fig, ax = _new(runs, f"variance of E_loc (energy² in {units})")
    for run, lab, c in zip(runs, labels, colors):
        h = run.history
        ax.plot(h["iteration"], _positive(h["energy_variance"]), color=c, lw=1.0, label=lab)
    _log_if_positive(ax, "y", [r.history["energy_variance"] for r in runs])
    written.append(_save(fig, ax, os.path.join(outdir, "variance.png")))
    return written
