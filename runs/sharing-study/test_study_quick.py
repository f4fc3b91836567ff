#!/usr/bin/env python3
"""The quick sharing study with the REAL nqs binary (ctest test_sharing_study_quick).

    test_study_quick.py NQS_BINARY

Runs `runs/sharing-study/run --quick --jobs 2` into a temporary directory and
checks: every planned run finished (a result file with /result) by its stopping
rule, every final relative error is finite (and below 1 outside the momentum part,
where a k = 0 model cannot reach the k = pi ground state), every n_params positive,
report.md lists no failed run, the figures are valid, non-blank PNGs, and the
report regenerates: report.py on the same directory writes the same report.md, and
every "rel. error" cell of its tables is the mean ± sem over seeds of the relative
errors that `nqs-analyze summary --csv` prints for the result files. Exit status 0
on success, 1 on a failed check, and 77 (ctest SKIP_RETURN_CODE) only when no run
succeeded and every run failed because the binary says `run` is "not available in
this build".
"""

import csv
import importlib.machinery
import importlib.util
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.realpath(__file__))
RUN = os.path.join(HERE, "run")
UNAVAILABLE = "not available in this build"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_run_module():
    loader = importlib.machinery.SourceFileLoader("sharing_study_run", RUN)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def check(out, rc, stderr, problems):
    study = load_run_module()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image
    sys.path.insert(0, os.path.join(study.ROOT, "analysis"))
    import nqsanalysis as na

    if rc != 0:
        last = (stderr or "").strip().splitlines()
        problems.append(f"run exited with status {rc}" + (f": {last[-1]}" if last else ""))
    with open(os.path.join(out, "runs.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    sys.path.insert(0, HERE)
    import report
    planned = [r["name"] for r in study.plan("quick")[1]]
    recorded = {r["name"]: r for r in data["runs"]}
    for name in planned:
        r = recorded.get(name)
        if r is None:
            problems.append(f"{name}: planned but not in runs.json")
            continue
        if r["status"] not in ("ok", "skipped"):
            problems.append(f"{name}: {r['status']}: {r.get('error')}")
            continue
        try:
            run = na.load_result(os.path.join(out, r["file"]))
        except na.ResultFileError as e:
            problems.append(str(e))
            continue
        row = na.summary_row(run)
        rel = row["relative_error"]
        if run.result is None:
            problems.append(f"{name}: no /result")
        if rel is None or not math.isfinite(rel) or not (rel < 1.0 or r["part"] == "momentum"):
            problems.append(f"{name}: relative error {rel} (want finite and < 1; "
                            f"E = {row['energy']}, E_ref = {row['reference_energy']})")
        if not (run.n_params or 0) > 0:
            problems.append(f"{name}: n_params = {run.n_params}")
        if f"model.type={run.model}" not in r["sets"]:
            problems.append(f"{name}: file says model {run.model!r}, planned {r['sets']}")
        try:
            with open(os.path.join(out, r["file"][:-3] + ".cost.json"), encoding="utf-8") as fh:
                cost = json.load(fh)
            if cost.get("stop") not in ("converged", "cap") or cost.get("iterations") != run.n_iterations:
                problems.append(f"{name}: cost record {cost}, {run.n_iterations} iterations in the file")
        except (OSError, ValueError) as e:
            problems.append(f"{name}: no cost record ({e})")
    report_path = os.path.join(out, "report.md")
    if not os.path.exists(report_path):
        problems.append("report.md missing")
    else:
        with open(report_path, encoding="utf-8") as fh:
            md = fh.read()
        if "## Failed or unfinished runs\n\nNone." not in md:
            problems.append("report.md lists failed runs")
        check_regeneration(out, md, data, study, report, problems)
    for name in report.FIGURES:
        path = os.path.join(out, name)
        try:
            with open(path, "rb") as fh:
                if fh.read(8) != PNG_SIGNATURE:
                    problems.append(f"{name} is not a PNG")
                    continue
            img = matplotlib.image.imread(path)
            if img.shape[0] < 200 or img.shape[1] < 200 or float(img[..., :3].std()) < 0.01:
                problems.append(f"{name}: {img.shape} pixels, looks blank")
        except OSError as e:
            problems.append(f"{name}: {e.strerror or e}")


def check_regeneration(out, md, data, study, report, problems):
    """report.py gives the same report.md again, and its relative errors are those of
    nqs-analyze summary --csv (mean +- sem over seeds, computed here)."""
    again = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), out],
                           capture_output=True, text=True)
    with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
        if again.returncode != 0 or fh.read() != md:
            problems.append(f"report.py {out} did not regenerate the same report.md: {again.stderr}")
    files = [os.path.join(out, r["file"]) for r in data["runs"]]
    p = subprocess.run([sys.executable, os.path.join(study.ROOT, "analysis", "nqs-analyze"),
                        "summary", "--csv"] + files, capture_output=True, text=True)
    if p.returncode != 0:
        problems.append(f"nqs-analyze summary failed: {p.stderr.strip()}")
        return
    rel = {os.path.abspath(row["file"]): float(row["relative_error"])
           for row in csv.DictReader(io.StringIO(p.stdout))}
    titles = {s["key"]: s["title"] for s in data["systems"]}
    groups = {}
    for r in data["runs"]:
        groups.setdefault((r["system"], r["label"]), []).append(rel[os.path.abspath(os.path.join(out, r["file"]))])
    lines = md.splitlines()
    n_checked = 0
    for (system, label), values in groups.items():
        head = f"### {titles[system]} (`{system}`"
        if not any(ln.startswith(head) for ln in lines):
            continue  # the disorder part has its own table
        i = next(k for k, ln in enumerate(lines) if ln.startswith(head))
        header = [c.strip() for c in lines[i + 2].strip().strip("|").split(" | ")]
        row = next((ln for ln in lines[i + 4:] if ln.startswith(f"| {label} |")), None)
        if row is None:
            problems.append(f"{system}: no table row for {label}")
            continue
        got = [c.strip() for c in row.strip().strip("|").split(" | ")][header.index("rel. error")]
        m, s = statistics.mean(values), statistics.stdev(values) / math.sqrt(len(values))
        want = f"{m:.2e} ± {s:.1e}"
        if got != want:
            problems.append(f"{system} {label}: report {got!r}, nqs-analyze {want!r}")
        n_checked += 1
    if n_checked < 10:
        problems.append(f"only {n_checked} table rows compared with nqs-analyze")


def main(argv):
    if len(argv) != 1:
        print("usage: test_study_quick.py NQS_BINARY", file=sys.stderr)
        return 2
    nqs = os.path.abspath(argv[0])
    with tempfile.TemporaryDirectory(prefix="nqs_study_quick_") as tmp:
        out = os.path.join(tmp, "study")
        env = dict(os.environ, MPLBACKEND="Agg")
        p = subprocess.run([sys.executable, RUN, "--quick", "-o", out, "--jobs", "2", "--nqs", nqs],
                           capture_output=True, text=True, env=env, timeout=1800)
        sys.stderr.write(p.stderr)
        try:
            with open(os.path.join(out, "runs.json"), encoding="utf-8") as fh:
                runs = json.load(fh)["runs"]
        except (OSError, ValueError, KeyError) as e:
            print(f"FAIL: no runs.json from the study ({e}); exit status {p.returncode}")
            return 1
        if runs and all(r["status"] == "failed" and UNAVAILABLE in (r.get("error") or "") for r in runs):
            print(f"SKIP: {nqs} says `run` is {UNAVAILABLE}: {runs[0]['error']}")
            return 77
        problems = []
        check(out, p.returncode, p.stderr, problems)
        if problems:
            print(f"FAIL: {len(problems)} problem(s) in the quick study:")
            for x in problems:
                print("  " + x)
            return 1
        print(f"OK: {len(runs)} runs, report and figures checked")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
