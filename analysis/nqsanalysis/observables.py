"""Vector observables of nqsvmc result files (docs/results-format.md): C(r) and S(q).

read_vector(f, group, name)   value, error and coordinate arrays of the group
                              <group>/observables/<name> (group "/result" or "/measure/<k>")
plot_observables(paths, outdir, group)
                              correlation.png: C(r) of every correlation dataset against the
                              distance |r| (shortest periodic image), with error bars;
                              structure_factor.png: S(q) against the momentum index, with
                              error bars and the q vectors (units of pi) as tick labels.
"""

from __future__ import annotations

import os

import numpy as np

from .resultfile import ResultFileError, open_result_file

CORRELATIONS = ("correlation_zz", "correlation_full")
STRUCTURE_FACTOR = "structure_factor_zz"


def read_vector(f, group: str, name: str):
    """dict of numpy arrays (value, error and every coordinate dataset) of
    <group>/observables/<name>, or None when the file does not hold it."""
    g = f.get(f"{group.rstrip('/')}/observables/{name}")
    if g is None or "value" not in g:
        return None
    return {k: np.asarray(g[k][()]) for k in g.keys()}


def _group_of(f, group: str | None) -> str:
    """The group to read: the one asked for, else /result, else the last /measure/<k>."""
    if group:
        return group
    if "result" in f:
        return "/result"
    if "measure" in f and len(f["measure"]):
        return "/measure/" + str(max(int(k) for k in f["measure"].keys()))
    return "/result"


def load_vectors(path: str, group: str | None = None):
    """(group read, {name: vector}) for the correlation and structure-factor datasets."""
    f = open_result_file(path)
    try:
        if f.attrs.get("program") not in ("nqsvmc", b"nqsvmc"):
            raise ResultFileError(path, "not an nqsvmc result file")
        grp = _group_of(f, group)
        out = {}
        for name in CORRELATIONS + (STRUCTURE_FACTOR,):
            v = read_vector(f, grp, name)
            if v is not None:
                out[name] = v
        return grp, out
    finally:
        f.close()


def plot_observables(paths, outdir: str, group: str | None = None, labels=None) -> list:
    """Write correlation.png and structure_factor.png for the files that hold the
    datasets; return the paths written (empty if no file holds any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = []
    for i, p in enumerate(paths):
        grp, vec = load_vectors(p, group)
        label = labels[i] if labels else os.path.basename(p)
        data.append((label, grp, vec))
    os.makedirs(outdir, exist_ok=True)
    written = []

    def finish(fig, ax, xlabel, ylabel, name):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = os.path.join(outdir, name)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)

    if any(any(n in vec for n in CORRELATIONS) for _, _, vec in data):
        fig, ax = plt.subplots(figsize=(8.0, 5.0), dpi=120)
        for label, grp, vec in data:
            for name in CORRELATIONS:
                if name not in vec:
                    continue
                v = vec[name]
                x = v["distance"] if "distance" in v else np.arange(len(v["value"]))
                order = np.argsort(x, kind="stable")
                ax.errorbar(x[order], v["value"][order], yerr=v["error"][order], fmt="o",
                            ms=3, capsize=2, label=f"{label} {name} ({grp})")
        ax.axhline(0.0, color="grey", lw=0.5)
        finish(fig, ax, "|r| (lattice spacing; shortest periodic image)", "C(r)", "correlation.png")
    if any(STRUCTURE_FACTOR in vec for _, _, vec in data):
        fig, ax = plt.subplots(figsize=(8.0, 5.0), dpi=120)
        ticks = None
        for label, grp, vec in data:
            if STRUCTURE_FACTOR not in vec:
                continue
            v = vec[STRUCTURE_FACTOR]
            k = np.arange(len(v["value"]))
            ax.errorbar(k, v["value"], yerr=v["error"], fmt="o-", ms=3, capsize=2,
                        label=f"{label} ({grp})")
            if ticks is None and "q" in v:
                ticks = [f"({q[0]:.2g},{q[1]:.2g})" for q in np.asarray(v["q"]).reshape(-1, 2)]
        if ticks is not None and len(ticks) <= 36:
            ax.set_xticks(np.arange(len(ticks)))
            ax.set_xticklabels(ticks, rotation=90, fontsize="x-small")
        finish(fig, ax, "q (units of pi)", "S(q)", "structure_factor.png")
    return written
