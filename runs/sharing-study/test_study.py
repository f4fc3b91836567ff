#!/usr/bin/env python3
"""Tests of the sharing study (./run and report.py) with a FAKE nqs.

tests/fake_nqs accepts the command line of `nqs run`, applies the --set
overrides to the input file and writes a synthetic result file
(docs/results-format.md) whose numbers are closed forms of the model, its
parameter count P and the model seed (its FORMULAS block). The expected table
entries below are worked out by hand from those formulas, not taken from the
report code. Run directly or via ctest (test_sharing_study).
"""

import decimal
import importlib.machinery
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
RUN = os.path.join(HERE, "run")
FAKE = os.path.join(HERE, "tests", "fake_nqs")
QUICK_TEST = os.path.join(HERE, "test_study_quick.py")
sys.path.insert(0, HERE)

import h5py  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402

import report  # noqa: E402


def load_run_module():
    loader = importlib.machinery.SourceFileLoader("sharing_study_run", RUN)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


study = load_run_module()
import test_study_quick as quick_check  # noqa: E402

MODELS = ("rbm_symm", "rbm", "cnn", "lcn")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("accuracy_vs_params.png", "relative_error_vs_samples.png", "sharing_hurts.png", "cost.png")

# The fake's formulas (tests/fake_nqs, FORMULAS), for the quick matrix:
# chains N = 8 (1-D, kernel 3: K = 3), square 4x4 (N = 16, 2-D: K = 9); alpha = 1, channels = 2.
#   rbm_symm P = αN + α + 1: 10 (N=8), 18 (N=16);  rbm P = N + αN + αN²: 80, 288
#   cnn P = K·1·2 + 2: 8 (1-D), 20 (2-D);          lcn P = N·P(cnn): 64, 320
P_QUICK = {("chain", "rbm_symm"): 10, ("chain", "rbm"): 80, ("chain", "cnn"): 8, ("chain", "lcn"): 64,
           ("square", "rbm_symm"): 18, ("square", "rbm"): 288, ("square", "cnn"): 20,
           ("square", "lcn"): 320}
C = {"rbm_symm": 0.05, "rbm": 20.0, "cnn": 0.5, "lcn": 30.0}
SIZE = {"rbm_symm": "alpha=1", "rbm": "alpha=1", "cnn": "channels=2", "lcn": "channels=2"}


def expected_point(system, model):
    """Hand-derived expectations of one quick point (seeds s = 1, 2).

    k = C/P (×10 for a shared model on the open or disordered chain). r_s = k (0.8 + 0.1 s)
    = 0.9k, 1.0k: mean 0.95k, stdev |0.1k|/√2, error stdev/√2 = 0.05k.
    v_s = 3 r_s (0.6 + 0.2 s) = 2.16k, 3.0k: mean 2.58k, error 0.42k.
    wall per iteration 1e-3 (1 + P/100) s = 1 + P/100 ms, the same for both seeds (error 0)."""
    lat = "square" if system == "heis_square" else "chain"
    P = P_QUICK[(lat, model)]
    hurt = system in ("heis_chain_open", "heis_chain_disorder") and model in ("rbm_symm", "cnn")
    k = C[model] / P * (10.0 if hurt else 1.0)
    return {"P": P, "rel": (0.95 * k, 0.05 * k), "v": (2.58 * k, 0.42 * k),
            "ms": (1.0 + P / 100.0, 0.0)}


def half_ulp(text):
    """Half a unit in the last printed digit of a number as printed ("1.90e-02" -> 5e-5)."""
    return 0.5 * 10.0 ** decimal.Decimal(text).as_tuple().exponent


def parse_pm(cell):
    """'1.90e-02 ± 1.0e-03' -> ((1.9e-2, half ulp), (1e-3, half ulp)); '–' -> None."""
    if cell.strip() == "–":
        return None
    parts = [p.strip() for p in cell.split("±")]
    vals = [(float(p), half_ulp(p)) for p in parts]
    return vals if len(vals) == 2 else vals + [None]


def split_sections(md):
    """{'## heading': text} for the second-level sections of the report."""
    out, cur = {}, None
    for line in md.splitlines():
        if line.startswith("## "):
            cur = line[3:].strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def tables(section):
    """{system title: {(model, size): {column: cell}}} of the tables in one section."""
    out, title, header = {}, None, None
    for line in section.splitlines():
        if line.startswith("### "):
            title = line[4:].split(" — ")[0].replace(" (baseline)", "").strip()
            out[title] = {}
            header = None
        elif line.startswith("| ") and title is not None:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if header is None:
                header = cells
            elif not set(cells[0]) <= {"-"}:
                row = dict(zip(header, cells))
                out[title][(row["model"], row["size"])] = row
    return out


TITLES = {s["key"]: s["title"] for s in study.SYSTEMS}


class StudyCase(unittest.TestCase):
    """Helpers: a temporary directory with a fast wrapper around the fake nqs."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="nqs_study_")
        self.tmp = self._tmp.name
        self.nqs = self.make_nqs(self.tmp)

    def tearDown(self):
        self._tmp.cleanup()

    @staticmethod
    def make_nqs(where):
        # The interpreter running the tests has h5py: call the fake with it directly.
        path = os.path.join(where, "nqs")
        with open(path, "w") as fh:
            fh.write(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        os.chmod(path, 0o755)
        return path

    @staticmethod
    def study(out, nqs, *extra, env=None):
        e = dict(os.environ, MPLBACKEND="Agg")
        e.update(env or {})
        p = subprocess.run([sys.executable, RUN, "--quick", "-o", out, "--jobs", "2", "--nqs", nqs,
                            *extra], capture_output=True, text=True, env=e, timeout=600)
        return p.returncode, p.stdout, p.stderr

    @staticmethod
    def runs_json(out):
        with open(os.path.join(out, "runs.json")) as fh:
            return json.load(fh)


# ------------------------------------------------------------------ the plan

class TestPlan(unittest.TestCase):
    def test_tfim_closed_form_matches_physics_md(self):
        # docs/physics.md "Exact references": N = 8, h = 0.5 -> -8.509082235140; h = 1 -> -10.251661790966.
        self.assertAlmostEqual(study.tfim_chain_energy(8, 1.0, 0.5), -8.509082235140, delta=1e-11)
        self.assertAlmostEqual(study.tfim_chain_energy(8, 1.0, 1.0), -10.251661790966, delta=1e-11)

    def test_full_matrix(self):
        systems, runs = study.plan(quick=False)
        self.assertEqual(len({r["name"] for r in runs}), len(runs))
        self.assertEqual(len({r["file"] for r in runs}), len(runs))
        points = {}
        for r in runs:
            points.setdefault((r["system"], r["model"], r["size"]), []).append(r)
        for key, rs in points.items():
            self.assertGreaterEqual(len(rs), 3, key)                         # >= 3 seeds
            self.assertEqual(len({r["model_seed"] for r in rs}), len(rs), key)
            self.assertEqual(len({r["sampler_seed"] for r in rs}), len(rs), key)
            for r in rs:
                self.assertIn(f"model.seed={r['model_seed']}", r["sets"])
                self.assertIn(f"sampler.seed={r['sampler_seed']}", r["sets"])
        both = {("rbm_symm", f"alpha={a}") for a in (1, 2, 4)} | {("rbm", f"alpha={a}") for a in (1, 2, 4)}
        conv = {(m, f"channels={c}") for m in ("cnn", "lcn") for c in ("2", "4,4")}
        for s in ("tfim_chain", "heis_chain", "heis_square"):
            have = {(m, size) for (sy, m, size) in points if sy == s}
            self.assertEqual(have, both | conv, s)
        self.assertEqual({(m, size) for (sy, m, size) in points if sy == "heis_chain_open"}, conv)
        dis = {(m, size) for (sy, m, size) in points if sy == "heis_chain_disorder"}
        self.assertTrue({"rbm_symm", "rbm", "cnn", "lcn"} <= {m for m, _ in dis})

        def cfg(system):
            r = next(r for r in runs if r["system"] == system)
            return study.effective_config(r["ini"], r["sets"])

        c = cfg("tfim_chain")
        self.assertEqual((c["lattice"]["type"], c["lattice"]["extent"], c["lattice"]["boundary"]),
                         ("chain", "20", "periodic"))
        self.assertEqual((c["hamiltonian"]["type"], float(c["hamiltonian"]["h"])), ("ising", 1.0))
        # The closed form of the N = 20 chain at h = J = 1 is passed as the reference.
        self.assertAlmostEqual(float(c["hamiltonian"]["reference_energy"]),
                               study.tfim_chain_energy(20, 1.0, 1.0), delta=1e-12)
        c = cfg("heis_chain")
        self.assertEqual((c["lattice"]["extent"], c["lattice"]["boundary"], c["hamiltonian"]["type"]),
                         ("20", "periodic", "heisenberg"))
        self.assertNotIn("reference_energy", c["hamiltonian"])
        c = cfg("heis_square")
        self.assertEqual((c["lattice"]["type"], c["lattice"]["extent"].replace(" ", "")), ("square", "4,4"))
        c = cfg("heis_chain_open")
        self.assertEqual((c["lattice"]["extent"], c["lattice"]["boundary"]), ("20", "open"))
        c = cfg("heis_chain_disorder")
        h = c["hamiltonian"]
        self.assertEqual((c["lattice"]["extent"], c["lattice"]["boundary"]), ("20", "periodic"))
        self.assertEqual((h["disorder"], float(h["disorder_min"]), float(h["disorder_max"])),
                         ("uniform", 0.5, 1.5))
        self.assertIn("disorder_seed", h)

    def test_model_keys_match_the_model(self):
        # nqs rejects keys the model does not read: alpha only for RBMs, channels/kernel for conv.
        for quick in (False, True):
            for r in study.plan(quick=quick)[1]:
                keys = {s.split("=")[0] for s in r["sets"] if s.startswith("model.")}
                if r["model"] in ("rbm_symm", "rbm"):
                    self.assertIn("model.alpha", keys)
                    self.assertFalse(keys & {"model.channels", "model.kernel"})
                else:
                    self.assertTrue({"model.channels", "model.kernel"} <= keys)
                    self.assertNotIn("model.alpha", keys)
                self.assertIn(f"model.type={r['model']}", r["sets"])

    def test_quick_matrix_is_small(self):
        _, runs = study.plan(quick=True)
        seeds = {}
        for r in runs:
            seeds.setdefault((r["system"], r["model"], r["size"]), set()).add(r["seed"])
            c = study.effective_config(r["ini"], r["sets"])
            if c["lattice"]["type"] == "chain":
                self.assertEqual(c["lattice"]["extent"], "8")
        self.assertTrue(all(len(v) >= 2 for v in seeds.values()))
        self.assertEqual(len(runs), 36)

    def test_user_set_comes_last(self):
        _, runs = study.plan(quick=True, user_sets=["optimizer.iterations=7"])
        for r in runs:
            self.assertEqual(study.effective_config(r["ini"], r["sets"])["optimizer"]["iterations"], "7")

    def test_usage_errors(self):
        for args in (["--quick"], ["-o", "x", "--jobs", "0"], ["-o", "x", "--set", "iterations=3"]):
            p = subprocess.run([sys.executable, RUN, *args], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 2, args)
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([sys.executable, RUN, "-o", d, "--nqs", os.path.join(d, "missing")],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 2)
            self.assertIn("not found", p.stderr)


class TestStatistics(unittest.TestCase):
    def test_mean_err(self):
        # 1, 2, 3: mean 2, stdev 1, error 1/√3; NaN and None are left out.
        m, e, n = report.mean_err([1.0, None, 2.0, float("nan"), 3.0])
        self.assertEqual((m, n), (2.0, 3))
        self.assertAlmostEqual(e, 1 / math.sqrt(3), delta=1e-15)
        self.assertEqual(report.mean_err([5.0]), (5.0, None, 1))
        self.assertEqual(report.mean_err([]), (None, None, 0))

    def test_resolved(self):
        # |1.0 - 1.5| = 0.5 vs 2·√(0.1² + 0.2²) = 0.447: resolved; with 0.3: 0.721, not resolved.
        self.assertTrue(report.resolved((1.0, 0.1, 3), (1.5, 0.2, 3)))
        self.assertFalse(report.resolved((1.0, 0.3, 3), (1.5, 0.2, 3)))
        self.assertIsNone(report.resolved((1.0, None, 1), (1.5, 0.2, 3)))


# ------------------------------------------------------------------ a whole study

class TestQuickStudyWithFake(StudyCase):
    def test_study_report_and_resume(self):
        out = os.path.join(self.tmp, "study")
        rc, _, err = self.study(out, self.nqs)
        self.assertEqual(rc, 0, err)
        data = self.runs_json(out)
        self.assertEqual(len(data["runs"]), 36)
        self.assertTrue(all(r["status"] == "ok" for r in data["runs"]), err)
        # Each child saw OMP_NUM_THREADS = cores / jobs (recorded in runs.json).
        self.assertEqual(data["meta"]["threads_per_run"], max(1, data["meta"]["cores"] // 2))
        with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
            md = fh.read()
        self.check_report(md)
        self.check_figures(out)
        problems = []
        quick_check.check(out, 0, "", problems)     # the real-binary test's checks pass too
        self.assertEqual(problems, [])
        self.check_reference_reuse(data["runs"])

        # The same DIR refuses a different matrix (its files would be taken for that one).
        p = subprocess.run([sys.executable, RUN, "-o", out, "--nqs", self.nqs], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 2)
        self.assertIn("holds a quick study", p.stderr)

        # Resume: nothing runs again, the result files are untouched.
        log = os.path.join(self.tmp, "invocations.log")
        stamps = {f: os.stat(os.path.join(out, "results", f)).st_mtime_ns
                  for f in os.listdir(os.path.join(out, "results"))}
        rc, _, err = self.study(out, self.nqs, env={"FAKE_NQS_LOG": log})
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(log), "a finished run was run again")
        self.assertTrue(all(r["status"] == "skipped" for r in self.runs_json(out)["runs"]))
        self.assertEqual(stamps, {f: os.stat(os.path.join(out, "results", f)).st_mtime_ns
                                  for f in os.listdir(os.path.join(out, "results"))})
        with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
            md2 = fh.read()
        self.assertIn("36 finished (36 of them reused", md2)
        self.check_report(md2)

        # A result file without /result (a run killed before the end) is run again, alone.
        victim = os.path.join(out, "results", "heis_chain__rbm-a1__s2.h5")
        with h5py.File(victim, "a") as f:
            del f["result"]
        problems = []
        quick_check.check(out, 0, "", problems)     # ... and fail on this file
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("heis_chain__rbm-a1__s2: no /result", problems[0])
        rc, _, err = self.study(out, self.nqs, env={"FAKE_NQS_LOG": log})
        self.assertEqual(rc, 0, err)
        with open(log) as fh:
            self.assertEqual([os.path.realpath(x) for x in fh.read().split()], [os.path.realpath(victim)])
        st = {r["name"]: r["status"] for r in self.runs_json(out)["runs"]}
        self.assertEqual(st.pop("heis_chain__rbm-a1__s2"), "ok")
        self.assertTrue(all(v == "skipped" for v in st.values()))

        # The report can be regenerated from runs.json alone.
        os.remove(os.path.join(out, "report.md"))
        p = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), out],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "report.md")))

    def check_reference_reuse(self, runs):
        """With 2 jobs, every run of a system from its third on starts after one of the same
        system finished, and gets that run's E_ref; TFIM runs carry the closed form instead."""
        by_system = {}
        for r in runs:
            by_system.setdefault(r["system"], []).append(r)
        for system, rs in by_system.items():
            for i, r in enumerate(rs):
                ref = [s for s in r["sets"] if s.startswith("hamiltonian.reference_source=")]
                if system == "tfim_chain":
                    self.assertEqual(len(ref), 1)
                    self.assertIn("closed form", ref[0])
                elif i >= 2:
                    self.assertEqual(len(ref), 1, r["name"])
                    self.assertRegex(ref[0], r"=fake exact diagonalisation \[E_ref of "
                                             + system + r"__[^\]]*\]$")
            energies = set()
            for r in rs:
                with h5py.File(os.path.join(self.tmp, "study", r["file"]), "r") as f:
                    energies.add(float(f["reference"].attrs["energy"]))
            self.assertEqual(len(energies), 1, system)

    def check_figures(self, out):
        for name in FIGURES:
            path = os.path.join(out, name)
            self.assertTrue(os.path.exists(path), name)
            with open(path, "rb") as fh:
                self.assertEqual(fh.read(8), PNG_SIGNATURE, name)
            img = matplotlib.image.imread(path)
            self.assertGreater(img.shape[0], 200, name)
            self.assertGreater(img.shape[1], 200, name)
            self.assertGreater(float(img[..., :3].std()), 0.01, f"{name} is blank")

    def check_cell(self, got, want, what):
        """got: parse_pm(cell); want: (mean, err) exact; both within half a printed digit."""
        self.assertIsNotNone(got, what)
        (m, hm), e = got[0], got[1]
        self.assertLessEqual(abs(m - want[0]), hm * 1.0001, f"{what}: mean {m} vs {want[0]}")
        self.assertIsNotNone(e, what)
        self.assertLessEqual(abs(e[0] - want[1]), e[1] * 1.0001, f"{what}: error {e[0]} vs {want[1]}")

    def check_report(self, md):
        for m in MODELS:
            self.assertIn(m, md)
        for t in TITLES.values():
            self.assertIn(t, md)
        self.assertIn("standard deviation across seeds (ddof = 1) divided by √n_seeds", md)
        secs = split_sections(md)
        for h in ("Findings", "1. Accuracy per parameter", "2. Data efficiency", "3. Where sharing hurts",
                  "4. Cost", "Failed runs"):
            self.assertIn(h, secs)
        for name in FIGURES:
            self.assertIn(f"]({name})", md)
        self.assertEqual(secs["Failed runs"].strip(), "None.")

        questions = {s["key"]: s["questions"] for s in study.SYSTEMS}
        for sec, q in (("1. Accuracy per parameter", 1), ("2. Data efficiency", 2),
                       ("3. Where sharing hurts", 3), ("4. Cost", 4)):
            tabs = tables(secs[sec])
            want_systems = {TITLES[k] for k, qs in questions.items() if q in qs or
                            (q == 3 and k == "heis_chain")}
            self.assertEqual(set(tabs), want_systems, sec)
            for key, title in TITLES.items():
                if title not in tabs:
                    continue
                models = ("cnn", "lcn") if key == "heis_chain_open" else MODELS
                self.assertEqual(set(tabs[title]), {(m, SIZE[m]) for m in models}, (sec, title))
                for m in models:
                    row = tabs[title][(m, SIZE[m])]
                    exp = expected_point(key, m)
                    what = f"{sec} / {title} / {m}"
                    self.assertEqual(row["P"], str(exp["P"]), what)
                    self.assertEqual(row["seeds"], "2", what)
                    self.assertEqual(row["shared"], "yes" if m in ("rbm_symm", "cnn") else "no")
                    self.check_cell(parse_pm(row["rel. error"]), exp["rel"], what + " rel")
                    self.check_cell(parse_pm(row["V-score"]), exp["v"], what + " V")
                    self.check_cell(parse_pm(row["wall/it (ms)"]), exp["ms"], what + " ms")
                    if sec == "4. Cost":
                        twin = report.TWIN[m]
                        pt = expected_point(key, twin)["P"]
                        self.assertAlmostEqual(float(row["P ÷ twin"]), exp["P"] / pt,
                                               delta=half_ulp(row["P ÷ twin"]) * 1.0001)
                        t_ratio = exp["ms"][0] / expected_point(key, twin)["ms"][0]
                        self.assertAlmostEqual(float(row["wall/it ÷ twin"]), t_ratio,
                                               delta=half_ulp(row["wall/it ÷ twin"]) * 1.0001)
                    if sec == "2. Data efficiency":
                        self.assertEqual(row["samples/it"], "128")
                        self.assertEqual(row["iterations"], "30")

        # Samples to 1e-2 for rbm_symm on the clean periodic chain. Running relative error
        # (window 10) of E_t = E_ref (1 − r − 0.5 e^{−t/5}) is r + 0.5 c e^{−t/5}, with
        # c = (e² − 1)/(10 (e^{0.2} − 1)) = 2.8858. ≤ 1e-2 first at t = ⌈5 ln(0.5c/(0.01 − r))⌉:
        # r = 0.0045 -> 27.85 -> 28; r = 0.005 -> 28.32 -> 29; samples 128 (t + 1) = 3712, 3840:
        # mean 3776, error 64.
        c = (math.exp(2.0) - 1) / (10 * (math.exp(0.2) - 1))
        ts = [math.ceil(5 * math.log(0.5 * c / (0.01 - r))) for r in (0.0045, 0.005)]
        self.assertEqual(ts, [28, 29])
        for key in ("heis_chain", "tfim_chain"):
            row = tables(secs["2. Data efficiency"])[TITLES[key]][("rbm_symm", "alpha=1")]
            stat, count = row["samples to 0.01"].rsplit(" (", 1)
            self.assertEqual(count, "2/2)")
            self.check_cell(parse_pm(stat), (3776.0, 64.0), key + " samples to 1e-2")
            self.assertEqual(row["samples to 0.001"], "not reached (0/2)")
            row = tables(secs["2. Data efficiency"])[TITLES[key]][("rbm", "alpha=1")]
            self.assertEqual(row["samples to 0.01"], "not reached (0/2)")

        # Findings: shared vs unshared stated with numbers, and the verdicts of part 3.
        f = secs["Findings"]
        self.assertRegex(f, r"rbm_symm alpha=1 \(P=10\) 4\.75e-03 ± 2\.5e-04 vs rbm alpha=1 \(P=80\) "
                            r"2\.3[78]e-01 ± 1\.2e-02: rbm_symm's error is 50× lower, with 8× fewer "
                            r"parameters \(resolved")
        hurt = [ln for ln in f.splitlines() if "(where sharing may hurt)" in ln]
        self.assertEqual(len(hurt), 2)
        open_line = next(ln for ln in hurt if TITLES["heis_chain_open"] in ln)
        # lcn 0.95·30/64 = 0.4453 vs cnn 0.95·10·0.5/8 = 0.5938: lcn 1.333× lower; errors 0.0234
        # and 0.0313, 2·√(sum of squares) = 0.078 < 0.148: resolved.
        self.assertIn("lcn's error is 1.33× lower", open_line)
        self.assertIn("sharing hurt here: the unshared model is more accurate", open_line)
        dis_line = next(ln for ln in hurt if TITLES["heis_chain_disorder"] in ln)
        # rbm 0.95·20/80 = 0.2375 vs rbm_symm 0.95·10·0.05/10 = 0.0475: shared still better.
        self.assertIn("rbm's error is 5× higher", dis_line)
        self.assertIn("sharing did not hurt here: the shared model is still more accurate", dis_line)
        self.assertIn("sharing hurt here", dis_line.split("; lcn")[1])
        self.assertIn("(cost, unshared vs shared)", f)


class TestFailures(StudyCase):
    def test_failed_runs_are_reported_and_retried(self):
        out = os.path.join(self.tmp, "study")
        only = ("--only", "heis_chain,heis_chain_open")       # 12 runs, 4 of them lcn
        rc, _, err = self.study(out, self.nqs, *only, env={"FAKE_NQS_FAIL_MODEL": "lcn",
                                                           "FAKE_NQS_NO_RESULT_MODEL": "cnn"})
        self.assertEqual(rc, 0, err)   # other runs succeeded
        runs = self.runs_json(out)["runs"]
        lcn = [r for r in runs if r["model"] == "lcn"]
        cnn = [r for r in runs if r["model"] == "cnn"]
        self.assertEqual((len(runs), len(lcn), len(cnn)), (12, 4, 4))
        self.assertTrue(all(r["status"] == "failed" for r in lcn))
        self.assertTrue(all("simulated failure of lcn" in r["error"] for r in lcn))
        self.assertTrue(all("exit status 1" in r["error"] for r in lcn))
        self.assertTrue(all(r["status"] == "failed" and "has no /result" in r["error"] for r in cnn))
        self.assertTrue(all(r["status"] == "ok" for r in runs if r["model"] in ("rbm", "rbm_symm")))
        with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
            md = fh.read()
        secs = split_sections(md)
        failed = secs["Failed runs"]
        for r in lcn + cnn:
            self.assertIn(r["name"], failed)
        self.assertIn("simulated failure of lcn", failed)
        self.assertIn("logs/<run>.err", failed)
        with open(os.path.join(out, "logs", lcn[0]["name"] + ".err")) as fh:
            self.assertIn("simulated failure of lcn", fh.read())
        row = tables(secs["1. Accuracy per parameter"])[TITLES["heis_chain"]][("lcn", "channels=2")]
        self.assertEqual((row["seeds"], row["rel. error"]), ("0/2", "–"))
        self.assertIn(f"{len(lcn) + len(cnn)} failed", md)

        # Rerun without the failure: exactly the failed runs run again.
        log = os.path.join(self.tmp, "invocations.log")
        rc, _, err = self.study(out, self.nqs, *only, env={"FAKE_NQS_LOG": log})
        self.assertEqual(rc, 0, err)
        with open(log) as fh:
            rerun = sorted(os.path.basename(x) for x in fh.read().split())
        self.assertEqual(rerun, sorted(r["name"] + ".h5" for r in lcn + cnn))
        with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
            self.assertEqual(split_sections(fh.read())["Failed runs"].strip(), "None.")

    def test_nothing_succeeds(self):
        out = os.path.join(self.tmp, "study")
        rc, _, err = self.study(out, self.nqs, "--only", "heis_chain_open",
                                env={"FAKE_NQS_UNAVAILABLE": "1"})
        self.assertEqual(rc, 1)
        self.assertIn("no run succeeded", err)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as fh:
            md = fh.read()
        self.assertIn("not available in this build", split_sections(md)["Failed runs"])
        self.assertIn("4 planned, 0 finished", md)
        self.assertIn("4 failed", md)
        for name in FIGURES:
            self.assertFalse(os.path.exists(os.path.join(out, name)), name)

    def test_quick_check_skips_only_when_run_is_unavailable(self):
        # test_study_quick.py exits 77 (ctest SKIP_RETURN_CODE) for a binary without `run`
        # (its checks on a real study: TestQuickStudyWithFake).
        env = dict(os.environ, FAKE_NQS_UNAVAILABLE="1", MPLBACKEND="Agg")
        p = subprocess.run([sys.executable, QUICK_TEST, self.nqs], capture_output=True, text=True,
                           env=env, timeout=600)
        self.assertEqual(p.returncode, 77, p.stdout + p.stderr)
        self.assertIn("SKIP", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
