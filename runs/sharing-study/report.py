#!/usr/bin/env python3
"""Report of the parameter-sharing study: DIR/report.md and its figures, from the result
files of DIR/results/ (read with analysis/nqsanalysis, as `nqs-analyze summary` does), the
cost records DIR/results/NAME.cost.json and the plan DIR/runs.json written by ./run.

    /usr/bin/python3 runs/sharing-study/report.py DIR

Nothing is run: the report regenerates from the files. Statistics: every point (system,
variant) is run once per seed; tables and figures give the mean over the finished seeds
and the error bar sem = sample standard deviation (ddof = 1) / sqrt(n_seeds). A ratio
a/b of two such means carries the error bar |a/b| sqrt((sa/a)^2 + (sb/b)^2). A difference
is *resolved* when it exceeds 2 combined error bars. See README.md beside this file.
"""
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "analysis"))

import nqsanalysis as na  # noqa: E402

LEVELS = ("none", "translations", "space_group", "projection")
LEVEL_TEXT = {"none": "none", "translations": "translations", "space_group": "space group",
              "projection": "projection"}
FIGURES = ("ladder.png", "cost.png", "convergence.png", "disorder.png", "downsides.png")
FONT = 12  # points; every figure text is at least 11 pt


# ------------------------------------------------------------------ statistics
def mean_sem(values):
    """(mean, sem) of the finite values; sem None for fewer than 2; (None, None) if none."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return None, None
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None)


def ratio(a, b):
    """(a/b, error) of two (mean, sem) pairs, errors propagated in quadrature."""
    (ma, sa), (mb, sb) = a, b
    if ma is None or mb is None or mb == 0:
        return None, None
    r = ma / mb
    if sa is None or sb is None or ma == 0:
        return r, None
    return r, abs(r) * math.sqrt((sa / ma) ** 2 + (sb / mb) ** 2)


def resolved(a, b):
    """True / False when two (mean, sem) differ by more / not more than 2 combined sems."""
    (ma, sa), (mb, sb) = a, b
    if None in (ma, mb, sa, sb):
        return None
    return abs(ma - mb) > 2.0 * math.sqrt(sa * sa + sb * sb)


def fmt(m, s=None, spec=".2e"):
    if m is None:
        return "–"
    text = format(m, spec)
    return text if s is None else f"{text} ± {format(s, '.1e' if 'e' in spec else spec)}"


# ------------------------------------------------------------------ loading
def load(out_dir):
    """(meta, systems {key: meta}, points {(system, variant): point}, failed runs)."""
    with open(os.path.join(out_dir, "runs.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    systems = {s["key"]: s for s in data["systems"]}
    points, failed, commits = {}, [], set()
    for r in data["runs"]:
        path = os.path.join(out_dir, r["file"])
        cost = None
        try:
            with open(path[:-3] + ".cost.json", encoding="utf-8") as fh:
                cost = json.load(fh)
        except (OSError, ValueError):
            pass
        rec = None
        if cost and cost.get("done") and os.path.exists(path):
            try:
                run = na.load_result(path)
                row = na.summary_row(run)
                if run.finished and row["relative_error"] is not None:
                    h = run.history
                    commits.add(str(run.attrs.get("git_commit", "?")))
                    rec = {"seed": r["seed"], "rel": row["relative_error"], "v": row["v_score"],
                           "P": run.n_params, "iterations": row["iterations"],
                           "samples": float(h["samples_total"][-1]) + float(run.result["n_samples"]),
                           "cpu": cost["cpu_seconds"], "stop": cost.get("stop"),
                           "curve": (np.asarray(h["samples_total"], float),
                                     np.asarray(h["energy"], float), run.reference_energy)}
            except na.ResultFileError as e:
                failed.append((r["name"], str(e)))
                continue
        key = (r["system"], r["variant"])
        p = points.setdefault(key, {"system": r["system"], "variant": r["variant"],
                                    "family": r["family"], "level": r["level"],
                                    "label": r["label"], "runs": [], "planned": 0})
        p["planned"] += 1
        if rec is not None:
            p["runs"].append(rec)
        elif r.get("status") == "failed":
            failed.append((r["name"], r.get("error") or "failed"))
        else:
            failed.append((r["name"], f"not finished ({r.get('status', 'planned')})"))
    for p in points.values():
        rs = p["runs"]
        for k in ("rel", "v", "iterations", "samples", "cpu"):
            p[k] = mean_sem([x[k] for x in rs])
        p["P"] = rs[0]["P"] if rs else None
        p["n"] = len(rs)
        p["stops"] = {s: sum(x["stop"] == s for x in rs) for s in ("converged", "cap")}
    data["meta"]["binary_commits"] = sorted(commits)
    try:  # exact energies of the driver, e.g. "ring10:k0", the k = 0 sector of a ring
        with open(os.path.join(out_dir, "references.json"), encoding="utf-8") as fh:
            refs = json.load(fh)
    except (OSError, ValueError):
        refs = {}
    for sk, s in systems.items():
        s["refs"] = {k.partition(":")[2]: v for k, v in refs.items() if k.partition(":")[0] == sk}
    return data["meta"], systems, points, failed


# ------------------------------------------------------------------ figures
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": FONT, "axes.titlesize": FONT, "axes.labelsize": FONT,
                         "legend.fontsize": 11, "xtick.labelsize": 11, "ytick.labelsize": 11})
    return plt


def _eb(ax, x, pt, key="rel", **kw):
    m, s = pt[key]
    if m is None:
        return
    ax.errorbar([x], [m], yerr=None if s is None else [[min(s, 0.999 * m)], [s]], capsize=3, **kw)


def _ladder_systems(systems):
    return [k for k, s in systems.items() if s["part"] == "ladder"]


def fig_ladder(plt, systems, points, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, fam in zip(axes, ("rbm", "cnn")):
        for i, sk in enumerate(_ladder_systems(systems)):
            xs, ms, ss = [], [], []
            for j, lev in enumerate(LEVELS):
                pt = next((p for p in points.values() if p["system"] == sk and p["family"] == fam
                           and p["level"] == lev and p["n"]), None)
                if pt is not None:
                    xs.append(j + 0.06 * (i - 1.5))
                    ms.append(pt["rel"][0])
                    ss.append(pt["rel"][1] or 0.0)
            if xs:
                lo = [min(s, 0.999 * m) for m, s in zip(ms, ss)]
                ax.errorbar(xs, ms, yerr=[lo, ss], marker="os^Dvp<>"[i % 8], capsize=3,
                            label=systems[sk]["title"])
        ax.set_yscale("log")
        ax.set_xticks(range(len(LEVELS)))
        ax.set_xticklabels([LEVEL_TEXT[x] for x in LEVELS])
        ax.set_xlabel("sharing level")
        ax.set_title("RBM family (rbm, rbm_symm)" if fam == "rbm" else
                     "convolutional family (lcn, cnn, gcnn)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("relative energy error")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def fig_cost(plt, systems, points, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    markers = dict(zip(LEVELS, "osD^"))
    sks = _ladder_systems(systems)
    colors = {sk: f"C{i}" for i, sk in enumerate(sks)}
    for ax, key, xlabel in zip(axes, ("cpu", "P"), ("CPU seconds to the stop", "parameters P")):
        for p in points.values():
            if p["system"] not in colors or not p["n"]:
                continue
            m, s = p["rel"]
            x, xs = (p["cpu"] if key == "cpu" else (p["P"], None))
            ax.errorbar([x], [m], xerr=None if xs is None else [[min(xs, 0.999 * x)], [xs]],
                        yerr=None if s is None else [[min(s, 0.999 * m)], [s]], capsize=2,
                        marker=markers[p["level"]], color=colors[p["system"]],
                        mfc=colors[p["system"]] if p["family"] == "rbm" else "none", ms=8, ls="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("relative energy error")
    hs = [axes[1].plot([], [], marker=markers[l], ls="none", color="k", label=LEVEL_TEXT[l])[0]
          for l in LEVELS]
    hs += [axes[1].plot([], [], marker="s", ls="none", color=colors[sk], label=systems[sk]["title"])[0]
           for sk in sks]
    hs += [axes[1].plot([], [], marker="o", ls="none", color="gray", label="RBM family")[0],
           axes[1].plot([], [], marker="o", ls="none", mfc="none", color="gray", label="conv. family")[0]]
    axes[1].legend(handles=hs, fontsize=11, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _mean_curve(runs, window=10):
    """Running relative error (trailing mean over window) vs samples, averaged over seeds
    up to the shortest history."""
    n = min(len(r["curve"][0]) for r in runs)
    if n < window:
        return None, None
    rels = []
    for r in runs:
        s, e, eref = r["curve"]
        run_e = np.convolve(e[:n], np.ones(window) / window, mode="valid")
        rels.append(np.abs(run_e - eref) / abs(eref))
    return runs[0]["curve"][0][window - 1:n], np.mean(rels, axis=0)


def fig_convergence(plt, systems, points, path):
    sks = [k for k in ("chain20", "square4", "chain8") if k in systems][:2] or _ladder_systems(systems)[:2]
    fig, axes = plt.subplots(1, max(1, len(sks)), figsize=(12, 5), squeeze=False)
    for ax, sk in zip(axes[0], sks):
        for i, p in enumerate(sorted((p for p in points.values() if p["system"] == sk and p["n"]),
                                     key=lambda p: (p["family"], LEVELS.index(p["level"])))):
            x, y = _mean_curve(p["runs"])
            if x is None:
                continue
            ls = "-" if p["level"] != "none" else "--"
            ax.plot(x, y, ls=ls, color=f"C{i}", label=p["label"])
            for r in p["runs"]:
                ax.plot([r["curve"][0][-1]], [r["rel"]], marker="o", color=f"C{i}", ms=5)
        ax.set_yscale("log")
        ax.set_xlabel("cumulative samples")
        ax.set_title(systems[sk]["title"])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=11, loc="upper right")
    axes[0][0].set_ylabel("running relative error")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def disorder_rows(systems, points):
    """[(N, W, unshared point, shared point, ratio)] of the disorder part."""
    rows = []
    for sk, s in systems.items():
        if s["part"] != "disorder":
            continue
        u, sh = points.get((sk, "rbm")), points.get((sk, "rbm_symm"))
        if u and sh and u["n"] and sh["n"]:
            rows.append((s["n_sites"], s["W"], u, sh, ratio(sh["rel"], u["rel"])))
    return sorted(rows, key=lambda r: (r[0], r[1]))


def crossover(rows):
    """W where the ratio shared/unshared first crosses 1, interpolating log(ratio) linearly
    in W between the two disorder strengths around the crossing; None without a crossing."""
    pts = [(r[1], r[4][0]) for r in rows if r[4][0] is not None and r[4][0] > 0]
    for (w1, r1), (w2, r2) in zip(pts, pts[1:]):
        if r1 < 1.0 <= r2:
            return w1 + (w2 - w1) * (-math.log(r1)) / (math.log(r2) - math.log(r1))
    return None


def fig_disorder(plt, systems, points, path):
    rows = disorder_rows(systems, points)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for i, n in enumerate(sorted({r[0] for r in rows})):
        sub = [r for r in rows if r[0] == n]
        w = [r[1] for r in sub]
        for pt, ls, name in ((3, "-", "rbm_symm (shared)"), (2, "--", "rbm (unshared)")):
            m = [r[pt]["rel"][0] for r in sub]
            s = [r[pt]["rel"][1] or 0 for r in sub]
            axes[0].errorbar(w, m, yerr=[[min(a, 0.999 * b) for a, b in zip(s, m)], s], ls=ls,
                             marker="o" if pt == 3 else "s", color=f"C{i}", capsize=3,
                             label=f"N = {n}, {name}")
        rm = [r[4][0] for r in sub]
        rs = [r[4][1] or 0 for r in sub]
        axes[1].errorbar(w, rm, yerr=[[min(a, 0.999 * b) for a, b in zip(rs, rm)], rs], marker="o",
                         color=f"C{i}", capsize=3, label=f"N = {n}")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("relative energy error")
    axes[0].legend(fontsize=11)
    axes[1].axhline(1.0, color="k", lw=1)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("error ratio rbm_symm / rbm")
    axes[1].legend(fontsize=11)
    for ax in axes:
        ax.set_xlabel("disorder W (J_ij uniform in [1 - W, 1 + W])")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def fig_downsides(plt, systems, points, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = axes[0]
    opens = [k for k, s in systems.items() if s["part"] == "open"]
    for i, ok in enumerate(opens):
        n = systems[ok]["n_sites"]
        pk = next((k for k, s in systems.items() if s["part"] == "ladder" and s["n_sites"] == n
                   and s["title"].startswith("chain")), None)
        vs = [v for v in ("rbm", "lcn", "cnn", "gcnn") if (ok, v) in points]
        for j, v in enumerate(vs):
            for dx, sk, col, name in ((-0.2, pk, "C0", "periodic"), (0.2, ok, "C3", "open")):
                p = points.get((sk, v))
                if p and p["n"]:
                    m, s = p["rel"]
                    ax.bar(j + dx, m, width=0.38, color=col, label=name if j == 0 else None)
                    if s:
                        ax.errorbar([j + dx], [m], yerr=[[min(s, 0.999 * m)], [s]], color="k", capsize=3)
        ax.set_xticks(range(len(vs)))
        ax.set_xticklabels(vs)
        ax.set_title(f"chain N = {n}: periodic vs open")
    ax.set_yscale("log")
    ax.set_ylabel("relative energy error")
    ax.legend(fontsize=11)
    ax = axes[1]
    rings = [k for k, s in systems.items() if s["part"] == "momentum"]
    vs = ("rbm", "rbm_symm", "rbm_proj_k0", "rbm_proj_kpi")
    names = ("rbm", "rbm_symm\n(k = 0)", "rbm proj.\nk = 0", "rbm proj.\nk = pi")
    for i, rk in enumerate(rings):
        for j, v in enumerate(vs):
            p = points.get((rk, v))
            if p and p["n"]:
                m, s = p["rel"]
                x = j + (i - (len(rings) - 1) / 2) * 0.38
                ax.bar(x, m, width=0.36, color=f"C{i}", label=systems[rk]["title"] if j == 0 else None)
                if s:
                    ax.errorbar([x], [m], yerr=[[min(s, 0.999 * m)], [s]], color="k", capsize=3)
    for i, rk in enumerate(rings):
        bound = k0_bound(systems[rk])
        if bound is not None:
            ax.axhline(bound, color=f"C{i}", ls="--", lw=1.5,
                       label=f"N = {systems[rk]['n_sites']}: exact k = 0 sector")
    ax.set_xticks(range(len(vs)))
    ax.set_xticklabels(names)
    ax.set_yscale("log")
    ax.set_title("4k+2 ring without the Marshall sign (k = pi)")
    ax.set_ylabel("relative energy error")
    ax.legend(fontsize=11)
    for ax in axes:
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


# ------------------------------------------------------------------ text
def k0_bound(system):
    """Relative error of the exact lowest energy of the k = 0 sector (a bound for every
    k = 0 model) against the ground state, or None; from DIR/references.json."""
    r = system.get("refs", {})
    if "k0" not in r or "" not in r:
        return None
    return abs(r["k0"]["energy"] - r[""]["energy"]) / abs(r[""]["energy"])


def _pt(points, sk, v):
    p = points.get((sk, v))
    return p if p and p["n"] else None


def _cmp(a, b):
    """'a/b = r ± e (resolved|not resolved)' for two points' relative errors."""
    r, e = ratio(a["rel"], b["rel"])
    res = resolved(a["rel"], b["rel"])
    tag = "" if res is None else (", resolved" if res else ", not resolved")
    return f"{fmt(r, e, '.3g')}{tag}"


def narrative(systems, points):
    out = ["## Findings", ""]
    buys = []
    for sk, s in systems.items():
        if s["part"] != "ladder":
            continue
        parts = []
        for fam, base in (("rbm", "rbm"), ("cnn", "lcn")):
            b = _pt(points, sk, base)
            others = [p for p in points.values() if p["system"] == sk and p["family"] == fam
                      and p["level"] != "none" and p["n"]]
            if not others:
                continue
            if b is None:  # no unshared run here: the shared levels alone
                parts.append("; ".join(f"{p['label']} ({LEVEL_TEXT[p['level']]}, P = {p['P']}) "
                                       f"{fmt(*p['rel'])}, {fmt(p['cpu'][0], None, '.3g')} CPU s"
                                       for p in sorted(others, key=lambda p: LEVELS.index(p["level"])))
                             + f" (no {base} run)")
                continue
            bits = [f"{p['label']} ({LEVEL_TEXT[p['level']]}, P = {p['P']}) {fmt(*p['rel'])}, "
                    f"ratio {_cmp(p, b)}, {fmt(p['cpu'][0], None, '.3g')} CPU s"
                    for p in sorted(others, key=lambda p: LEVELS.index(p["level"]))]
            parts.append(f"{base} (P = {b['P']}) {fmt(*b['rel'])} in {fmt(b['cpu'][0], None, '.3g')} "
                         f"CPU s vs " + "; ".join(bits))
        if parts:
            buys.append(f"- **{s['title']}**: " + " — ".join(parts) + ".")
    if buys:
        out += ["**What sharing buys** (relative error, mean ± sem over seeds; ratio = model ÷ "
                "its unshared twin, < 1 is better than the twin; CPU s per run to the stop):", ""]
        out += buys + [""]
    rows = disorder_rows(systems, points)
    if rows:
        lines = []
        for n in sorted({r[0] for r in rows}):
            sub = [r for r in rows if r[0] == n]
            worse = [r for r in sub if r[4][0] is not None and r[4][0] > 1 and resolved(r[3]["rel"], r[2]["rel"])]
            better = [r for r in sub if r[4][0] is not None and r[4][0] < 1 and resolved(r[3]["rel"], r[2]["rel"])]
            cross = (f"the shared model is resolved-better up to W = {max(r[1] for r in better):g}"
                     if better else "the shared model is never resolved-better")
            cross += (f" and resolved-worse from W = {min(r[1] for r in worse):g}" if worse
                      else "; it is never resolved-worse")
            ratios = ", ".join(f"W = {r[1]:g}: {fmt(*r[4], spec='.3g')}" for r in sub)
            wc = crossover(sub)
            if wc is not None:
                cross += f"; the ratio crosses 1 at W ≈ {wc:.2f} (log-linear interpolation)"
            lines.append(f"- N = {n}: {cross} (ratio rbm_symm/rbm: {ratios}).")
        out += ["**Where it hurts: disorder** (one coupling realisation per W, `disorder_seed = "
                "20240501`):", ""] + lines + [""]
    extra = []
    for sk, s in systems.items():
        if s["part"] == "open":
            pk = next((k for k, t in systems.items() if t["part"] == "ladder"
                       and t["n_sites"] == s["n_sites"] and t["title"].startswith("chain")), None)
            for sh, un in (("cnn", "lcn"), ("gcnn", "lcn")):
                a, b = _pt(points, sk, sh), _pt(points, sk, un)
                if a and b:
                    per = ""
                    if pk and _pt(points, pk, sh) and _pt(points, pk, un):
                        per = f" (periodic: {_cmp(_pt(points, pk, sh), _pt(points, pk, un))})"
                    extra.append(f"- {s['title']}: {sh}/{un} error ratio {_cmp(a, b)}{per}.")
        if s["part"] == "momentum":
            a, b, c = _pt(points, sk, "rbm_symm"), _pt(points, sk, "rbm_proj_kpi"), _pt(points, sk, "rbm")
            d = _pt(points, sk, "rbm_proj_k0")
            bound = k0_bound(s)
            if bound is not None:
                extra.append(f"- {s['title']}: the exact lowest energy of the k = 0 sector has relative "
                             f"error {bound:.3e} (`nqs exact`, `[symmetry] momentum = 0`): no k = 0 "
                             "state, shared or projected, can do better.")
            if a and b:
                extra.append(f"- {s['title']}: rbm_symm (k = 0 by construction) {fmt(*a['rel'])}, "
                             + (f"rbm projected onto k = 0 {fmt(*d['rel'])}, " if d else "")
                             + f"rbm projected onto k = pi {fmt(*b['rel'])}"
                             + (f", dense rbm {fmt(*c['rel'])}" if c else "") + ".")
    if extra:
        out += ["**Where it hurts: boundaries and momentum**:", ""] + extra + [""]
    return out


def table_ladder(systems, points):
    out = []
    for sk, s in systems.items():
        if s["part"] not in ("ladder", "open", "momentum"):
            continue
        pts = sorted((p for p in points.values() if p["system"] == sk),
                     key=lambda p: (p["family"], LEVELS.index(p["level"]), p["variant"]))
        if not pts:
            continue
        out += [f"### {s['title']} (`{sk}`, cap {s['max_iterations']} iterations)", "",
                "| variant | family | sharing | P | seeds | rel. error | ÷ unshared | V-score | "
                "iterations | stop (conv./cap) | samples | CPU s |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p in pts:
            base = _pt(points, sk, "rbm" if p["family"] == "rbm" else "lcn")
            rr = fmt(*ratio(p["rel"], base["rel"]), spec=".3g") if base and p["n"] else "–"
            out.append(f"| {p['label']} | {p['family']} | {LEVEL_TEXT[p['level']]} | {p['P'] or '–'} | "
                       f"{p['n']}/{p['planned']} | {fmt(*p['rel'])} | {rr} | {fmt(*p['v'])} | "
                       f"{fmt(*p['iterations'], spec='.0f')} | {p['stops']['converged']}/{p['stops']['cap']} | "
                       f"{fmt(*p['samples'], spec='.3g')} | {fmt(*p['cpu'], spec='.3g')} |")
        bound = k0_bound(s)
        if bound is not None:
            out.append(f"k = 0 sector bound: relative error {bound:.4e} of the exact lowest energy "
                       f"at k = 0, {s['refs']['k0']['energy']:.10g} against {s['refs']['']['energy']:.10g}.")
        out.append("")
    return out


def table_disorder(systems, points):
    rows = disorder_rows(systems, points)
    if not rows:
        return []
    out = ["| N | W | rbm rel. error | rbm_symm rel. error | ratio rbm_symm/rbm | resolved | "
           "iterations rbm / rbm_symm | CPU s rbm / rbm_symm |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, w, u, sh, r in rows:
        res = resolved(sh["rel"], u["rel"])
        out.append(f"| {n} | {w:g} | {fmt(*u['rel'])} | {fmt(*sh['rel'])} | {fmt(*r, spec='.3g')} | "
                   f"{'–' if res is None else ('yes' if res else 'no')} | "
                   f"{fmt(u['iterations'][0], None, '.0f')} / {fmt(sh['iterations'][0], None, '.0f')} | "
                   f"{fmt(u['cpu'][0], None, '.3g')} / {fmt(sh['cpu'][0], None, '.3g')} |")
    return out + [""]


def write_report(out_dir):
    meta, systems, points, failed = load(out_dir)
    plt = _plt()
    for name, fn in zip(FIGURES, (fig_ladder, fig_cost, fig_convergence, fig_disorder, fig_downsides)):
        fn(plt, systems, points, os.path.join(out_dir, name))
    rule = meta.get("rule", {})
    n_runs = sum(p["planned"] for p in points.values())
    n_ok = sum(p["n"] for p in points.values())
    cpu = sum(r["cpu"] for p in points.values() for r in p["runs"])
    md = ["# Parameter-sharing study", "",
          f"Matrix **{meta['matrix']}**, written by `{meta.get('command', '?')}` "
          f"(started {meta.get('date', '?')}); nqs binary commit(s) "
          f"{', '.join(meta.get('binary_commits', [])) or '?'} (the `git_commit` of the result files), "
          f"study driver and report at commit {meta.get('study_commit') or '?'}. "
          f"{n_ok} of {n_runs} planned runs finished; {cpu:.0f} CPU seconds in nqs in all "
          f"({meta.get('jobs', '?')} run(s) at a time, OMP_NUM_THREADS={meta.get('threads_per_run', '?')}). "
          "Regenerate with `/usr/bin/python3 runs/sharing-study/report.py DIR`; per-run numbers "
          "with `analysis/nqs-analyze summary DIR/results/*.h5`.", ""]
    if meta.get("not_run"):
        md += ["**Not run in this matrix** (in the full one, `runs/sharing-study/run -o DIR`): "
               + "; ".join(f"{t}: {', '.join(v)}" for t, v in meta["not_run"].items()) + ".", ""]
    md += [
          "**Definitions.** Heisenberg model H = J Σ σ_i·σ_j (Pauli units), every run: SR, "
          "512 samples per iteration (16 chains) unless the matrix says otherwise, learning rate "
          "0.02, shift 0.1 decaying to 0.001 (`runs/sharing-study/heisenberg.ini`). "
          f"**Stopping rule**: chunks of W = {rule.get('window')} iterations; from "
          f"{rule.get('min_iterations')} iterations on, stop when the mean /history energy of the "
          "last W iterations is lower than that of the W before by no more than their combined "
          "error bar (each: standard deviation / √W) and not higher by more than 3 of them (a rise "
          "that large is an instability and the run goes on), else continue up to the system's "
          "cap; then a "
          f"final evaluation with {rule.get('final_samples')} samples. Relative error "
          "|E − E_ref|/|E_ref| of that evaluation; E_ref: exact diagonalisation (`nqs exact`) up to "
          "24 sites, else the literature table of nqs. Every point is run with seeds s = "
          f"{', '.join(map(str, meta.get('seeds', [])))} ([model] seed = s, [sampler] seed = 100 + s); "
          "values are means over seeds ± sem (standard deviation, ddof = 1, / √n); a ratio carries the "
          "propagated error; *resolved* = difference > 2 combined error bars. CPU s = user + system "
          "time of the nqs processes of a run (all chunks and the final evaluation), from "
          "`results/NAME.cost.json`; samples = optimisation samples + final evaluation. "
          "Sharing levels: **none** (rbm, lcn: own weights everywhere), **translations** "
          "(rbm_symm, cnn), **space group** (rbm_symm `group = space_group`, cnn `group = "
          "space_group` = gcnn), **projection** (the unshared model projected onto the k = 0, A1 "
          "sector, `projection = sector`). rbm family: α = 1; convolutional family: one layer, 4 "
          "channels, kernel 3.", ""]
    md += narrative(systems, points)
    md += ["## Figures", "",
           "![relative error vs sharing level](ladder.png)", "",
           "*Figure 1.* Relative error against the sharing level, per lattice and family.", "",
           "![error vs cost](cost.png)", "",
           "*Figure 2.* Relative error against CPU seconds to the stop (left) and parameters (right); "
           "marker = sharing level, colour = lattice, filled = RBM family.", "",
           "![convergence](convergence.png)", "",
           "*Figure 3.* Running relative error (trailing mean over 10 iterations) against samples, "
           "mean over seeds up to the shortest run (dashed: unshared); dots: final evaluation of "
           "each seed at its stop.", "",
           "![disorder](disorder.png)", "",
           "*Figure 4.* Disordered chain: relative errors (left) and their ratio shared/unshared "
           "(right; > 1: sharing hurts).", "",
           "![open boundaries and momentum](downsides.png)", "",
           "*Figure 5.* Left: open vs periodic chain. Right: the 4k+2 ring without the Marshall "
           "rotation, whose ground state has momentum pi.", "",
           "## Tables", ""]
    md += table_ladder(systems, points)
    if disorder_rows(systems, points):
        md += ["### Disorder", ""] + table_disorder(systems, points)
    md += ["## Failed or unfinished runs", ""]
    md += [f"- `{n}`: {e}" for n, e in failed] if failed else ["None."]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(md) + "\n")
    return path


def main(argv):
    if len(argv) != 1:
        print("usage: report.py DIR (a sharing-study directory with runs.json)", file=sys.stderr)
        return 2
    try:
        print(write_report(argv[0]))
    except (OSError, ValueError, KeyError) as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
