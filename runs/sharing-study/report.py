"""Report of the parameter-sharing study: DIR/report.md and PNG figures beside it.

Input: the study directory written by ./run — DIR/runs.json (the plan and the
outcome of every run: system, model, size, seed, status, error text) and the
result files DIR/results/*.h5 (docs/results-format.md), read with the
nqsanalysis library of analysis/. Nothing is written into the result files.

Definitions (also stated in the report):
* a point is one (system, model, size); its runs differ in the seed (model and
  sampler seed both change);
* relative error = |E − E_ref| / |E_ref| of the final evaluation (/result),
  E_ref from /reference; V-score from /result (N·Var/E²);
* mean over the successful seeds of a point, error bar = sample standard
  deviation (ddof = 1) / √n_seeds; none for a single seed;
* wall time per iteration = last /history/wall_time ÷ number of iterations;
* data efficiency uses the running relative error (trailing mean of the history
  energy over WINDOW iterations, analysis/README.md) against the cumulative
  samples /history/samples_total; "samples to δ" is samples_total at the first
  iteration whose running relative error is ≤ δ;
* a difference between two points is "resolved" when it exceeds twice the
  combined error bar √(e₁² + e₂²), otherwise "not resolved".

API: write_report(out_dir, meta, systems, records) -> path of report.md;
collect(out_dir, systems, records) -> {system key: System} with the per-point
statistics; main([DIR]) regenerates the report from DIR/runs.json.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys

if __name__ == "__main__":
    try:
        import h5py  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:  # a python3 on PATH without Debian's modules: use the system one
        if (os.environ.get("NQS_STUDY_REEXEC") is None and os.path.exists("/usr/bin/python3")
                and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")):
            os.environ["NQS_STUDY_REEXEC"] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.realpath(__file__)] + sys.argv[1:])

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "analysis"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import nqsanalysis as na  # noqa: E402

WINDOW = 10                    # iterations of the running energy (data efficiency)
TOLERANCES = (1e-2, 1e-3)      # "samples to reach" thresholds
RESOLVE_SIGMAS = 2.0           # a difference is resolved beyond 2 combined error bars

MODEL_ORDER = ("rbm_symm", "rbm", "cnn", "lcn")
SHARED = {"rbm_symm": True, "cnn": True, "rbm": False, "lcn": False}
TWIN = {"rbm_symm": "rbm", "rbm": "rbm_symm", "cnn": "lcn", "lcn": "cnn"}
PAIRS = (("rbm_symm", "rbm"), ("cnn", "lcn"))   # (shared, unshared)
COLOURS = {"rbm_symm": "tab:blue", "rbm": "tab:red", "cnn": "tab:green", "lcn": "tab:orange"}
CMAPS = {"rbm_symm": "Blues", "rbm": "Reds", "cnn": "Greens", "lcn": "Oranges"}
MARKERS = {"rbm_symm": "o", "rbm": "o", "cnn": "s", "lcn": "s"}

FIGURES = {
    "accuracy": "accuracy_vs_params.png",
    "samples": "relative_error_vs_samples.png",
    "hurts": "sharing_hurts.png",
    "cost": "cost.png",
}
DPI = 110


# ------------------------------------------------------------------ statistics

def mean_err(values):
    """(mean, standard error = stdev(ddof=1)/√n or None for n < 2, n) of the finite values."""
    v = []
    for x in values:
        try:
            x = float(x)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x):
            v.append(x)
    n = len(v)
    if n == 0:
        return None, None, 0
    mean = math.fsum(v) / n
    err = statistics.stdev(v) / math.sqrt(n) if n >= 2 else None
    return mean, err, n


def resolved(a, b):
    """True/False whether |mean_a − mean_b| > 2 √(err_a² + err_b²); None without error bars."""
    (ma, ea, _), (mb, eb, _) = a, b
    if ma is None or mb is None or ea is None or eb is None:
        return None
    return abs(ma - mb) > RESOLVE_SIGMAS * math.hypot(ea, eb)


class Point:
    """One (system, model, size) over its seeds."""

    def __init__(self, system, model, size):
        self.system, self.model, self.size = system, model, size
        self.records = []      # every planned run of the point (runs.json entries)
        self.runs = []         # (record, na.Run, summary row) of the runs that finished
        self.failed = []       # (record, error text)

    @property
    def shared(self):
        for _, run, _ in self.runs:
            if run.shared is not None:
                return run.shared
        return SHARED.get(self.model)

    @property
    def label(self):
        return f"{self.model} {self.size}"

    @property
    def n_planned(self):
        return len(self.records)

    @property
    def n_params(self):
        ps = sorted({run.n_params for _, run, _ in self.runs if run.n_params is not None})
        return ps[0] if ps else None

    def stat(self, column):
        return mean_err(row[column] for _, _, row in self.runs)

    @property
    def rel(self):
        return self.stat("relative_error")

    @property
    def vscore(self):
        return self.stat("v_score")

    @property
    def wall_per_iteration(self):
        vals = []
        for _, run, _ in self.runs:
            n = run.n_iterations
            w = run.history["wall_time"][-1] if n else float("nan")
            vals.append(w / n if n and math.isfinite(w) else None)
        return mean_err(vals)

    @property
    def samples_per_iteration(self):
        v = [row["samples_per_iteration"] for _, _, row in self.runs
             if row["samples_per_iteration"] is not None]
        return int(statistics.median(v)) if v else None

    @property
    def iterations(self):
        return sorted({run.n_iterations for _, run, _ in self.runs})

    @property
    def total_samples(self):
        return mean_err(run.history["samples_total"][-1] if run.n_iterations else None
                        for _, run, _ in self.runs)

    def reach(self, tol):
        """(mean_err of samples to tol over the seeds that got there, k reached, n runs)."""
        vals = [na.samples_to_reach(run, tol, WINDOW) for _, run, _ in self.runs]
        hit = [v for v in vals if v is not None]
        return mean_err(hit), len(hit), len(vals)

    def curve(self):
        """(mean samples_total, mean running relative error, its error) over the seeds,
        entry by entry up to the shortest history; None without data."""
        xs, ys = [], []
        for _, run, _ in self.runs:
            c = na.samples_vs_relative_error(run, WINDOW)
            if c is not None and len(c[0]):
                xs.append(np.asarray(c[0], float))
                ys.append(np.asarray(c[1], float))
        if not xs:
            return None
        n = min(len(x) for x in xs)
        x = np.mean([a[:n] for a in xs], axis=0)
        y = np.array([a[:n] for a in ys])
        mean = np.mean(y, axis=0)
        err = (np.std(y, axis=0, ddof=1) / math.sqrt(len(ys))) if len(ys) > 1 else np.zeros(n)
        return x, mean, err


class System:
    def __init__(self, meta):
        self.key = meta["key"]
        self.title = meta.get("title", self.key)
        self.questions = tuple(meta.get("questions", (1, 2, 3, 4)))
        self.baseline = bool(meta.get("baseline", False))
        self.points = {}       # (model, size) -> Point, in plan order

    def point(self, model, size):
        return self.points.get((model, size))

    def sorted_points(self):
        def key(p):
            return (MODEL_ORDER.index(p.model) if p.model in MODEL_ORDER else 99,
                    p.n_params if p.n_params is not None else 0, p.size)
        return sorted(self.points.values(), key=key)

    def pairs(self):
        """[(shared Point, unshared Point)] with the same size, both present."""
        out = []
        for s_model, u_model in PAIRS:
            for (m, size), p in self.points.items():
                if m == s_model and (u_model, size) in self.points:
                    out.append((p, self.points[(u_model, size)]))
        return out

    def _first_run(self):
        for p in self.points.values():
            for _, run, _ in p.runs:
                return run
        return None

    @property
    def description(self):
        run = self._first_run()
        return run.system if run is not None else None

    @property
    def reference(self):
        """(energy, source) of the first finished run with a reference, or (None, None);
        a third element lists the distinct reference energies if the runs disagree."""
        refs = {}
        for p in self.points.values():
            for _, run, _ in p.runs:
                if run.reference_energy is not None:
                    refs.setdefault(run.reference_energy, run.reference_source)
        if not refs:
            return None, None, []
        e, src = next(iter(refs.items()))
        return e, src, sorted(refs)


def collect(out_dir, systems, records):
    """Load every finished run of `records` (runs.json entries) into Systems/Points."""
    result = {s["key"]: System(s) for s in systems}
    for rec in records:
        sysobj = result.setdefault(rec["system"], System({"key": rec["system"]}))
        key = (rec["model"], rec["size"])
        if key not in sysobj.points:
            sysobj.points[key] = Point(rec["system"], rec["model"], rec["size"])
        p = sysobj.points[key]
        p.records.append(rec)
        if rec.get("status") in ("ok", "skipped"):
            try:
                run = na.load_result(os.path.join(out_dir, rec["file"]))
            except na.ResultFileError as e:
                p.failed.append((rec, f"result file unreadable: {e}"))
                continue
            if not run.finished:
                p.failed.append((rec, f"{rec['file']} has no /result"))
                continue
            p.runs.append((rec, run, na.summary_row(run, window=WINDOW)))
        else:
            p.failed.append((rec, rec.get("error") or "not run"))
    return result


# ------------------------------------------------------------------ formatting

def fmt_pm(stat, spec=".2e", espec=".1e", scale=1.0):
    m, e, _ = stat
    if m is None:
        return "–"
    if e is None:
        return format(m * scale, spec)
    return f"{format(m * scale, spec)} ± {format(e * scale, espec)}"


def fmt_rel(stat):
    return fmt_pm(stat, ".2e", ".1e")


def fmt_ms(stat):
    return fmt_pm(stat, ".3g", ".2g", 1e3)


def fmt_int(x):
    return "–" if x is None else str(x)


def fmt_factor(x):
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.3g}"


def seeds_cell(p):
    n = len(p.runs)
    return str(n) if n == p.n_planned else f"{n}/{p.n_planned}"


def md_escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


COMMON_HEADER = ["model", "shared", "size", "P", "seeds", "rel. error", "V-score", "wall/it (ms)"]


def common_cells(p):
    shared = p.shared
    return [p.model, "–" if shared is None else ("yes" if shared else "no"), p.size,
            fmt_int(p.n_params), seeds_cell(p), fmt_rel(p.rel), fmt_rel(p.vscore),
            fmt_ms(p.wall_per_iteration)]


def ratio(a, b):
    """a / b of two means, None if either is unknown or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def system_heading(s, suffix=""):
    desc = s.description
    e, src, all_refs = s.reference
    text = f"### {s.title}{suffix}"
    if desc:
        text += f" — `{desc}`"
    if e is not None:
        text += f"\n\nE_ref = {e:.10g} ({src})"
        if len(all_refs) > 1:
            text += f"; WARNING: the runs disagree on E_ref: {', '.join(f'{x:.10g}' for x in all_refs)}"
    else:
        text += "\n\nno reference energy in the result files: relative errors unknown"
    return text


def reach_cell(p, tol):
    stat, k, n = p.reach(tol)
    if n == 0:
        return "–"
    if k == 0:
        return f"not reached (0/{n})"
    return f"{fmt_pm(stat, '.3g', '.2g')} ({k}/{n})"


# ------------------------------------------------------------------ findings

def _compare_sentence(a, b):
    """'a (P=..) X vs b (P=..) Y: a's is f× lower/higher, with ... parameters (resolved?)'
    comparing the relative errors of two points."""
    ra, rb = a.rel, b.rel
    text = (f"{a.label} (P={fmt_int(a.n_params)}) {fmt_rel(ra)} vs "
            f"{b.label} (P={fmt_int(b.n_params)}) {fmt_rel(rb)}")
    if ra[0] is None or rb[0] is None:
        return text + ": no comparison (missing data)"
    if ra[0] == rb[0]:
        verdict = "equal means"
    elif ra[0] < rb[0]:
        verdict = (f"{a.model}'s error is {rb[0] / ra[0]:.3g}× lower" if ra[0] > 0
                   else f"{a.model}'s error is lower")
    else:
        verdict = (f"{a.model}'s error is {ra[0] / rb[0]:.3g}× higher" if rb[0] > 0
                   else f"{a.model}'s error is higher")
    res = resolved(ra, rb)
    if res is None:
        tag = "no error bar (fewer than 2 seeds): not resolved statistically"
    elif res:
        tag = f"resolved: difference > {RESOLVE_SIGMAS:g} combined error bars"
    else:
        tag = f"not resolved: difference ≤ {RESOLVE_SIGMAS:g} combined error bars"
    pa, pb = a.n_params, b.n_params
    prat = f", with {pb / pa:.3g}× fewer parameters" if pa and pb and pb > pa else (
        f", with {pa / pb:.3g}× more parameters" if pa and pb and pa > pb else "")
    return f"{text}: {verdict}{prat} ({tag})"


def findings_accuracy(systems):
    out = []
    for s in systems.values():
        if 1 not in s.questions:
            continue
        lines = [_compare_sentence(a, b) for a, b in s.pairs()]
        best = {}
        for p in s.points.values():
            m = p.rel[0]
            if m is not None and p.shared is not None:
                if p.shared not in best or m < best[p.shared].rel[0]:
                    best[p.shared] = p
        if True in best and False in best:
            a, b = best[True], best[False]
            lines.append(f"lowest shared: {a.label} (P={fmt_int(a.n_params)}) {fmt_rel(a.rel)}; "
                         f"lowest unshared: {b.label} (P={fmt_int(b.n_params)}) {fmt_rel(b.rel)}")
        if lines:
            out.append(f"- **{s.title}** (accuracy): " + "; ".join(lines) + ".")
    return out


def _reach_phrase(p, tol):
    stat, k, n = p.reach(tol)
    if n == 0:
        return f"{p.label}: no finished run"
    if k == 0:
        tot = p.total_samples[0]
        within = f" within {tot:.3g} samples" if tot is not None else ""
        return f"{p.label} did not reach it{within} (0/{n} seeds)"
    return f"{p.label} after {fmt_pm(stat, '.3g', '.2g')} samples ({k}/{n} seeds)"


def findings_efficiency(systems):
    out = []
    for s in systems.values():
        if 2 not in s.questions:
            continue
        lines = []
        for a, b in s.pairs():
            tol = None
            for t in sorted(TOLERANCES):          # tightest tolerance either model reached
                if a.reach(t)[1] or b.reach(t)[1]:
                    tol = t
                    break
            if tol is None:
                ta, tb = a.total_samples[0], b.total_samples[0]
                most = max((x for x in (ta, tb) if x is not None), default=None)
                lines.append(f"neither {a.label} nor {b.label} reached {max(TOLERANCES):g}"
                             + (f" within {most:.3g} samples" if most is not None else ""))
            else:
                lines.append(f"to {tol:g}: {_reach_phrase(a, tol)}, {_reach_phrase(b, tol)}")
        if lines:
            out.append(f"- **{s.title}** (samples to a running relative error, window {WINDOW}): "
                       + "; ".join(lines) + ".")
    return out


def findings_hurts(systems):
    out = []
    base = next((s for s in systems.values() if s.baseline), None)
    for s in systems.values():
        if 3 not in s.questions or s.baseline:
            continue
        lines = []
        for a, b in s.pairs():
            sent = _compare_sentence(b, a)           # unshared first: "does unsharing win?"
            res = resolved(b.rel, a.rel)
            if b.rel[0] is None or a.rel[0] is None:
                verdict = ""
            elif res and b.rel[0] < a.rel[0]:
                verdict = " — sharing hurt here: the unshared model is more accurate"
            elif res and b.rel[0] > a.rel[0]:
                verdict = " — sharing did not hurt here: the shared model is still more accurate"
            else:
                verdict = " — no resolved difference between shared and unshared here"
            if base is not None:
                bp = base.point(a.model, a.size), base.point(b.model, b.size)
                if bp[0] is not None and bp[1] is not None:
                    r0 = ratio(bp[0].rel[0], bp[1].rel[0])
                    r1 = ratio(a.rel[0], b.rel[0])
                    if r0 is not None and r1 is not None:
                        verdict += (f"; error ratio {a.model}/{b.model} = {r1:.3g} here vs "
                                    f"{r0:.3g} on the baseline ({base.title})")
            lines.append(sent + verdict)
        if lines:
            out.append(f"- **{s.title}** (where sharing may hurt): " + "; ".join(lines) + ".")
    return out


def findings_cost(systems):
    out = []
    for s in systems.values():
        if 4 not in s.questions:
            continue
        lines = []
        for a, b in s.pairs():
            ta, tb = a.wall_per_iteration[0], b.wall_per_iteration[0]
            if ta is None or tb is None:
                continue
            r = ratio(tb, ta)
            pr = ratio(b.n_params, a.n_params)
            lines.append(f"{b.label} {tb * 1e3:.3g} ms/iteration vs {a.label} {ta * 1e3:.3g} ms "
                         f"({r:.3g}×), P = {fmt_int(b.n_params)} vs {fmt_int(a.n_params)}"
                         + (f" ({pr:.3g}×)" if pr is not None else ""))
        if lines:
            out.append(f"- **{s.title}** (cost, unshared vs shared): " + "; ".join(lines) + ".")
    return out


# ------------------------------------------------------------------ figures

def _shade(model, i, n):
    cmap = plt.get_cmap(CMAPS.get(model, "Greys"))
    return cmap(0.55 + 0.4 * (i / max(1, n - 1)) if n > 1 else 0.8)


def _errbar_series(ax, pts, stat_of, scale=1.0):
    """Plot one line per model through its sizes (x = P); returns whether anything was drawn."""
    drawn = False
    for model in MODEL_ORDER:
        xs, ys, es = [], [], []
        for p in pts:
            if p.model != model:
                continue
            m, e, _ = stat_of(p)
            if p.n_params is None or m is None or not m > 0:
                continue
            xs.append(p.n_params)
            ys.append(m * scale)
            es.append((e or 0.0) * scale)
        if not xs:
            continue
        order = np.argsort(xs)
        xs, ys, es = (np.asarray(v, float)[order] for v in (xs, ys, es))
        lower = np.minimum(es, ys * 0.999)         # keep log-axis bars positive
        shared = SHARED.get(model, True)
        ax.errorbar(xs, ys, yerr=[lower, es], color=COLOURS.get(model), marker=MARKERS.get(model, "o"),
                    markerfacecolor=COLOURS.get(model) if shared else "white",
                    linestyle="-" if shared else "--", capsize=3,
                    label=f"{model} ({'shared' if shared else 'unshared'})")
        drawn = True
    return drawn


def _grid(n, width=4.6, height=3.6, rows=1):
    cols = max(1, n)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), dpi=DPI, squeeze=False)
    return fig, axes


def figure_accuracy(systems, path):
    sel = [s for s in systems.values() if 1 in s.questions]
    if not sel:
        return False
    fig, axes = _grid(len(sel), rows=2)
    drawn = False
    for j, s in enumerate(sel):
        pts = s.sorted_points()
        for i, (stat, ylabel) in enumerate(((lambda p: p.rel, "relative error"),
                                             (lambda p: p.vscore, "V-score"))):
            ax = axes[i][j]
            if _errbar_series(ax, pts, stat):
                ax.set_xscale("log")
                ax.set_yscale("log")
                drawn = True
            ax.set_xlabel("parameters P")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            if i == 0:
                ax.set_title(s.title, fontsize="medium")
                ax.legend(fontsize="x-small")
    return _finish(fig, path, drawn)


def _panels(n, max_cols=3, width=4.8, height=3.8):
    """A grid of n panels, at most max_cols per row; returns (fig, list of n axes)."""
    cols = min(max_cols, max(1, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), dpi=DPI, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def figure_samples(systems, path):
    sel = [s for s in systems.values() if 2 in s.questions]
    if not sel:
        return False
    fig, axes = _panels(len(sel))
    drawn = False
    for k, s in enumerate(sel):
        ax = axes[k]
        pts = s.sorted_points()
        any_here = False
        for model in MODEL_ORDER:
            mp = [p for p in pts if p.model == model]
            for i, p in enumerate(mp):
                c = p.curve()
                if c is None:
                    continue
                x, y, e = c
                ok = np.isfinite(y) & (y > 0) & (x > 0)
                if not ok.any():
                    continue
                col = _shade(model, i, len(mp))
                ls = "-" if SHARED.get(model, True) else "--"
                ax.plot(x[ok], y[ok], ls, color=col, lw=1.4,
                        label=f"{p.label} (P={fmt_int(p.n_params)})")
                lo = np.clip(y - e, y * 1e-3, None)
                ax.fill_between(x[ok], lo[ok], (y + e)[ok], color=col, alpha=0.15, lw=0)
                any_here = True
        if any_here:
            ax.set_xscale("log")
            ax.set_yscale("log")
            for t in TOLERANCES:
                ax.axhline(t, color="grey", ls=":", lw=0.8)
            ax.legend(fontsize="xx-small")
            drawn = True
        ax.set_title(s.title, fontsize="medium")
        ax.set_xlabel("cumulative Monte Carlo samples")
        ax.set_ylabel(f"running relative error (W={WINDOW})")
        ax.grid(True, which="major", alpha=0.3)
    return _finish(fig, path, drawn)


def figure_hurts(systems, path):
    sel = [s for s in systems.values() if 3 in s.questions]
    sel.sort(key=lambda s: not s.baseline)
    if not sel:
        return False
    # One log axis shared by every panel, bars rising from below the smallest value,
    # so that the same model can be compared across the systems.
    vals = [(p.rel[0], p.rel[1] or 0.0) for s in sel for p in s.points.values()
            if p.rel[0] is not None and p.rel[0] > 0]
    if not vals:
        return _finish(plt.figure(), path, False)
    lo = min(m - min(e, 0.5 * m) for m, e in vals) / 2.0
    hi = max(m + e for m, e in vals) * 2.0
    fig, axes = _grid(len(sel), width=max(3.6, 0.6 + 0.7 * max(len(s.points) for s in sel)))
    for j, s in enumerate(sel):
        ax = axes[0][j]
        pts = s.sorted_points()
        labels = []
        for i, p in enumerate(pts):
            m, e, _ = p.rel
            labels.append(f"{p.model}\n{p.size.replace('alpha=', 'α=').replace('channels=', 'c=')}")
            if m is None or not m > 0:
                ax.text(i, lo * 1.5, "no data", ha="center", fontsize="x-small", rotation=90)
                continue
            shared = SHARED.get(p.model, True)
            ax.bar(i, m - lo, bottom=lo, color=COLOURS.get(p.model), alpha=0.9 if shared else 0.55,
                   hatch=None if shared else "//", edgecolor="black", lw=0.6)
            if e:
                ax.errorbar(i, m, yerr=[[min(e, m - lo * 1.01)], [e]], color="black", capsize=3)
        ax.set_yscale("log")
        ax.set_ylim(lo, hi)
        ax.set_xticks(range(len(pts)))
        ax.set_xticklabels(labels, fontsize="x-small")
        ax.set_ylabel("relative error (mean ± error over seeds)")
        ax.set_title(s.title + (" (baseline)" if s.baseline else ""), fontsize="small")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    return _finish(fig, path, True)


def figure_cost(systems, path):
    sel = [s for s in systems.values() if 4 in s.questions]
    if not sel:
        return False
    fig, axes = _panels(len(sel), width=4.6, height=3.6)
    drawn = False
    for j, s in enumerate(sel):
        ax = axes[j]
        if _errbar_series(ax, s.sorted_points(), lambda p: p.wall_per_iteration, scale=1e3):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize="x-small")
            drawn = True
        ax.set_title(s.title, fontsize="small")
        ax.set_xlabel("parameters P")
        ax.set_ylabel("wall time per iteration (ms)")
        ax.grid(True, which="both", alpha=0.3)
    return _finish(fig, path, drawn)


def _finish(fig, path, drawn):
    if drawn:
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    plt.close(fig)
    if not drawn and os.path.exists(path):
        os.remove(path)        # no stale figure from an earlier report
    return drawn


# ------------------------------------------------------------------ the report

def _figure_line(ok, name):
    return f"![{name}]({name})" if ok else f"(figure {name} not drawn: no finished run with data)"


def _settings_line(systems):
    parts = []
    for s in systems.values():
        its = sorted({i for p in s.points.values() for i in p.iterations})
        spi = sorted({p.samples_per_iteration for p in s.points.values()
                      if p.samples_per_iteration is not None})
        if its or spi:
            parts.append(f"{s.key}: {'/'.join(map(str, its)) or '?'} iterations × "
                         f"{'/'.join(map(str, spi)) or '?'} samples")
    return "; ".join(parts)


def build_markdown(meta, systems, records, figs):
    n = len(records)
    n_ok = sum(r.get("status") == "ok" for r in records)
    n_skip = sum(r.get("status") == "skipped" for r in records)
    n_fail = n - n_ok - n_skip
    version = None
    for s in systems.values():
        r = s._first_run()
        if r is not None:
            version = f"{r.attrs.get('version', '?')} (commit {r.attrs.get('git_commit', '?')})"
            break
    L = ["# Parameter-sharing study", ""]
    L.append(f"Generated {meta.get('date', '?')} by `{meta.get('command', 'runs/sharing-study/run')}` "
             f"({meta.get('matrix', '?')} matrix). nqs: `{meta.get('nqs', '?')}`"
             + (f", version {version}" if version else "") + ".")
    L.append(f"{meta.get('jobs', '?')} run(s) at a time, OMP_NUM_THREADS={meta.get('threads_per_run', '?')} "
             f"per run on {meta.get('cores', '?')} cores; this invocation took "
             f"{meta.get('elapsed_seconds', '?')} s.")
    L.append(f"Runs: {n} planned, {n_ok + n_skip} finished ({n_skip} of them reused from an earlier "
             f"invocation), {n_fail} failed" + (" — see [Failed runs](#failed-runs)." if n_fail else "."))
    if meta.get("user_sets"):
        L.append("Extra overrides for every run: " + ", ".join(f"`{x}`" for x in meta["user_sets"]) + ".")
    settings = _settings_line(systems)
    if settings:
        L.append(f"Settings found in the result files: {settings}.")
    L += ["", "**Definitions.** A point is one (system, model, size), run once per seed; seed s uses "
          f"[model] seed = s and [sampler] seed = {meta.get('sampler_seed_offset', 100)} + s. "
          "Tables give the mean over the finished seeds of a point (column *seeds*; `k/n` when "
          "some failed); **error bars are the sample standard deviation across seeds (ddof = 1) "
          "divided by √n_seeds** (none with a single seed). Relative error = |E − E_ref| / |E_ref| "
          "of the final evaluation (`/result`), E_ref from `/reference` (named under each system); "
          "V-score = N·Var(E_loc)/E² of the final evaluation; P = number of complex parameters; "
          "wall/it = last `/history/wall_time` ÷ iterations, measured while the other jobs of the "
          "study shared the machine. Energies in Pauli units. A difference is called *resolved* "
          f"when it exceeds {RESOLVE_SIGMAS:g} combined error bars √(e₁² + e₂²). "
          "Per-run numbers: `analysis/nqs-analyze summary results/*.h5`.", ""]

    L += ["## Findings", ""]
    fl = (findings_accuracy(systems) + findings_efficiency(systems) + findings_hurts(systems)
          + findings_cost(systems))
    L += fl if fl else ["No finished runs: nothing to compare."]
    if n_fail:
        L.append(f"- {n_fail} run(s) failed; their points have fewer seeds (see the tables and "
                 "[Failed runs](#failed-runs)).")
    L.append("")

    L += ["## 1. Accuracy per parameter", "",
          "Final relative error and V-score against the parameter count, shared (filled markers, "
          "solid lines) vs unshared (open markers, dashed lines).", "",
          _figure_line(figs.get("accuracy"), FIGURES["accuracy"]), ""]
    for s in systems.values():
        if 1 in s.questions:
            L += [system_heading(s), "", md_table(COMMON_HEADER + ["rel. error ÷ twin"],
                  [common_cells(p) + [fmt_factor(_twin_ratio(s, p))] for p in s.sorted_points()]), ""]

    L += ["## 2. Data efficiency", "",
          f"Running relative error (trailing mean of the history energy over {WINDOW} iterations) "
          "against the cumulative number of Monte Carlo samples, mean over seeds (band: ± error), "
          "shared solid, unshared dashed. *samples to δ*: cumulative samples at the first "
          "iteration within δ, mean over the seeds that got there (k/n of them).", "",
          _figure_line(figs.get("samples"), FIGURES["samples"]), ""]
    for s in systems.values():
        if 2 in s.questions:
            rows = []
            for p in s.sorted_points():
                rows.append(common_cells(p) + [
                    fmt_int(p.samples_per_iteration), "/".join(map(str, p.iterations)) or "–",
                    fmt_pm(p.total_samples, ".3g", ".2g")] + [reach_cell(p, t) for t in TOLERANCES])
            L += [system_heading(s), "", md_table(
                COMMON_HEADER + ["samples/it", "iterations", "total samples"]
                + [f"samples to {t:g}" for t in TOLERANCES], rows), ""]

    L += ["## 3. Where sharing hurts", "",
          "Systems without translation symmetry (open chain: edges; disordered chain: couplings), "
          "next to the clean periodic chain as baseline. *rel. error ÷ twin* < 1: this model is "
          "more accurate than its twin of the same size.", "",
          _figure_line(figs.get("hurts"), FIGURES["hurts"]), ""]
    for s in sorted((s for s in systems.values() if 3 in s.questions), key=lambda s: not s.baseline):
        L += [system_heading(s, " (baseline)" if s.baseline else ""), "",
              md_table(COMMON_HEADER + ["rel. error ÷ twin"],
                       [common_cells(p) + [fmt_factor(_twin_ratio(s, p))] for p in s.sorted_points()]),
              ""]

    L += ["## 4. Cost", "",
          "Wall time per iteration and parameter count of each twin pair (*÷ twin*: this model's "
          "value divided by its twin's of the same size).", "",
          _figure_line(figs.get("cost"), FIGURES["cost"]), ""]
    for s in systems.values():
        if 4 in s.questions:
            rows = []
            for p in s.sorted_points():
                t = s.point(TWIN.get(p.model), p.size)
                rows.append(common_cells(p) + [
                    fmt_factor(ratio(p.n_params, t.n_params) if t else None),
                    fmt_factor(ratio(p.wall_per_iteration[0], t.wall_per_iteration[0]) if t else None)])
            L += [system_heading(s), "",
                  md_table(COMMON_HEADER + ["P ÷ twin", "wall/it ÷ twin"], rows), ""]

    L += ["## Failed runs", ""]
    failed = [(p, rec, err) for s in systems.values() for p in s.points.values() for rec, err in p.failed]
    if failed:
        L.append(md_table(["run", "system", "model", "size", "seed", "error"],
                          [[rec["name"], rec["system"], rec["model"], rec["size"], str(rec["seed"]),
                            err] for p, rec, err in failed]))
        L += ["", "Full output of each run: `logs/<run>.err` and `logs/<run>.out`; the command "
              "line is in `runs.json`. Re-running the study retries exactly these runs."]
    else:
        L.append("None.")
    L.append("")
    return "\n".join(L)


def _twin_ratio(s, p):
    t = s.point(TWIN.get(p.model), p.size)
    return ratio(p.rel[0], t.rel[0]) if t is not None else None


def write_report(out_dir, meta, systems_meta, records):
    """Write out_dir/report.md and the figures; returns the path of report.md."""
    systems = collect(out_dir, systems_meta, records)
    figs = {
        "accuracy": figure_accuracy(systems, os.path.join(out_dir, FIGURES["accuracy"])),
        "samples": figure_samples(systems, os.path.join(out_dir, FIGURES["samples"])),
        "hurts": figure_hurts(systems, os.path.join(out_dir, FIGURES["hurts"])),
        "cost": figure_cost(systems, os.path.join(out_dir, FIGURES["cost"])),
    }
    text = build_markdown(meta, systems, records, figs)
    path = os.path.join(out_dir, "report.md")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def main(argv=None):
    """python3 runs/sharing-study/report.py DIR: rewrite DIR/report.md from DIR/runs.json."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: report.py DIR   (rewrites DIR/report.md from DIR/runs.json)", file=sys.stderr)
        return 2
    out_dir = argv[0]
    try:
        with open(os.path.join(out_dir, "runs.json"), encoding="utf-8") as fh:
            data = json.load(fh)
        print(write_report(out_dir, data["meta"], data["systems"], data["runs"]))
    except (OSError, ValueError, KeyError) as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
