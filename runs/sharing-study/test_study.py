#!/usr/bin/env python3
"""Tests of the sharing study (./run and report.py) with a FAKE nqs (ctest test_sharing_study).

tests/fake_nqs accepts the command lines of `nqs run`, `nqs run --restart` and `nqs exact`
and writes synthetic result files whose history and final numbers are closed forms of the
variant and the seed (its FORMULAS block). The expected stopping points and table entries
below are worked out by hand from those formulas, not taken from the study's code.
"""

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
RUN = os.path.join(HERE, "run")
FAKE = os.path.join(HERE, "tests", "fake_nqs")
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import report  # noqa: E402


def load_run_module():
    loader = importlib.machinery.SourceFileLoader("sharing_study_run", RUN)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


study = load_run_module()


class StopRule(unittest.TestCase):
    """stop_decision on hand-made energy series (window 10, minimum 20, cap 100)."""

    def decide(self, e):
        return study.stop_decision(e, 10, 20, 100)

    def test_flat_noisy_series_converges_at_the_minimum(self):
        # +-1 zig-zag around -10: both windows have mean -10, gain 0 <= error
        e = -10.0 + (-1.0) ** np.arange(20)
        self.assertEqual(self.decide(e)[:2], (True, "converged"))

    def test_too_short_continues(self):
        self.assertEqual(self.decide(np.full(19, -10.0))[:2], (False, ""))

    def test_steady_descent_continues(self):
        # E_t = -t: window means -4.5 and -14.5, gain 10; each window's sd = 3.03,
        # error sqrt(2 * 3.03^2 / 10) = 1.35 < 10
        self.assertEqual(self.decide(-np.arange(30, dtype=float))[:2], (False, ""))

    def test_descent_within_the_error_bar_converges(self):
        # zig-zag of amplitude 1 plus a drop of 0.5 between the windows: error
        # sqrt(2 * (10/9) / 10) = 0.471 (sd of ten +-1 values is sqrt(10/9)) < 0.5 would
        # continue; a drop of 0.4 converges
        z = (-1.0) ** np.arange(20)
        self.assertEqual(self.decide(z - np.r_[np.zeros(10), np.full(10, 0.5)])[:2], (False, ""))
        self.assertEqual(self.decide(z - np.r_[np.zeros(10), np.full(10, 0.4)])[:2], (True, "converged"))

    def test_cap(self):
        self.assertEqual(self.decide(-np.arange(100, dtype=float))[:2], (True, "cap"))

    def test_rising_energy(self):
        # E_t = t: gain -10, error 1.35: a rise of 7.4 error bars (> 3) continues ...
        self.assertEqual(self.decide(np.arange(30, dtype=float))[:2], (False, ""))
        # ... a rise of 0.4 in a +-1 zig-zag (0.85 error bars) converges
        z = (-1.0) ** np.arange(20)
        self.assertEqual(self.decide(z + np.r_[np.zeros(10), np.full(10, 0.4)])[:2], (True, "converged"))
        # a rise of 1.5 (3.2 error bars of 0.471) continues, 1.4 (2.97) converges
        self.assertEqual(self.decide(z + np.r_[np.zeros(10), np.full(10, 1.5)])[:2], (False, ""))
        self.assertEqual(self.decide(z + np.r_[np.zeros(10), np.full(10, 1.4)])[:2], (True, "converged"))


class Crossover(unittest.TestCase):
    def test_log_linear_interpolation(self):
        # ratios 0.5 at W = 0.1 and 2 at W = 0.2: log 0.5 = -log 2, so the crossing is midway
        rows = [(12, 0.0, None, None, (0.1, None)), (12, 0.1, None, None, (0.5, None)),
                (12, 0.2, None, None, (2.0, None)), (12, 0.4, None, None, (8.0, None))]
        self.assertAlmostEqual(report.crossover(rows), 0.15, places=12)
        self.assertIsNone(report.crossover(rows[:2]))


class Matrix(unittest.TestCase):
    def names(self, m):
        return {r["name"] for r in study.plan(m)[1]}

    def test_medium_is_part_of_full(self):
        # a full study in the DIR of the medium one reuses every medium file
        self.assertLess(self.names("medium"), self.names("full"))

    def test_every_part_in_every_matrix(self):
        for m in ("quick", "medium", "full"):
            parts = {r["part"] for r in study.plan(m)[1]}
            self.assertEqual(parts, set(study.PARTS), m)

    def test_sizes_and_levels(self):
        full = study.plan("full")[0]
        ladder = {s["key"] for s in full if s["part"] == "ladder"}
        self.assertEqual(ladder, {"chain20", "chain40", "chain80", "square4", "square6",
                                  "square8", "square10"})
        runs = study.plan("medium")[1]
        for fam in ("rbm", "cnn"):
            levels = {r["level"] for r in runs if r["system"] == "chain20" and r["family"] == fam}
            self.assertEqual(levels, set(report.LEVELS) if fam == "rbm" else
                             {"none", "translations", "space_group"})
        w = sorted({s["W"] for s in study.plan("medium")[0] if s["part"] == "disorder"})
        self.assertEqual((w[0], w[-1]), (0.0, 1.0))
        self.assertEqual({s["n_sites"] for s in study.plan("medium")[0] if s["part"] == "disorder"},
                         set(study.DISORDER_N))

    def test_rings_are_4k_plus_2_without_marshall(self):
        for m in ("quick", "medium"):
            for s in study.plan(m)[0]:
                if s["part"] == "momentum":
                    self.assertEqual(s["n_sites"] % 4, 2)
                    self.assertIn("hamiltonian.marshall_sign=false", s["sets"])

    def test_seeds(self):
        runs = study.plan("medium")[1]
        self.assertEqual({r["seed"] for r in runs}, {1, 2, 3})
        for r in runs:
            self.assertIn(f"sampler.seed={100 + r['seed']}", r["sets"])

    def test_quick_is_small(self):
        self.assertLessEqual(len(study.plan("quick")[1]), 50)


def fake_wrapper(where):
    path = os.path.join(where, "nqs")
    with open(path, "w") as fh:
        fh.write(f"#!/bin/sh\nexec {sys.executable} {FAKE} \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def cell(md, title, label, column):
    """The table cell of row `label`, column `column`, in the table under '### title'."""
    lines = md.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(f"### {title}"))
    header = [c.strip() for c in lines[i + 2].strip().strip("|").split(" | ")]
    for ln in lines[i + 4:]:
        if not ln.startswith("| "):
            break
        cells = [c.strip() for c in ln.strip().strip("|").split(" | ")]
        if cells[0] == label:
            return cells[header.index(column)]
    raise KeyError(label)


class Pipeline(unittest.TestCase):
    """The quick momentum part (ring N = 6, 4 variants x seeds 1, 2) with the fake."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nqs_study_")
        cls.nqs = fake_wrapper(cls.tmp)
        cls.out = os.path.join(cls.tmp, "study")
        cls.log = os.path.join(cls.tmp, "calls")
        env = dict(os.environ, FAKE_NQS_LOG=cls.log, MPLBACKEND="Agg")
        cls.p = subprocess.run([sys.executable, RUN, "--quick", "--only", "momentum", "-o", cls.out,
                                "--jobs", "2", "--nqs", cls.nqs], capture_output=True, text=True,
                               env=env, timeout=600)
        with open(os.path.join(cls.out, "report.md"), encoding="utf-8") as fh:
            cls.md = fh.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def calls(self):
        with open(self.log) as fh:
            return [ln.split() for ln in fh]

    def cost(self, name):
        with open(os.path.join(self.out, "results", name + ".cost.json")) as fh:
            return json.load(fh)

    def test_exit_and_one_exact_per_system(self):
        self.assertEqual(self.p.returncode, 0, self.p.stderr)
        # one system, ring6: its ground state and its k = 0 sector
        self.assertEqual(sum(c[0] == "exact" for c in self.calls()), 2)

    def test_stopping_points(self):
        # fake: E_t/E_ref = 1 - r - 0.5 exp(-t/tau) + 0.01 (-1)^t; quick rule window 10,
        # minimum 20, cap 40. Error bar of two windows of the +-0.01 zig-zag:
        # sqrt(2 * 0.01^2 (10/9) / 10) = 0.0047 (units of |E_ref|).
        # tau = 2: gain at 20 = 0.5 (mean e^{-t/2}, t < 10 minus t = 10..19) = 0.126: go on;
        #          at 30: 0.5 e^{-5} (1 - e^{-5}) / (1 - e^{-1/2}) / 10 = 8.5e-4 <= 0.0047: stop.
        # tau = 40 (rbm): gain at 20 = 0.5 (0.894 - 0.696) = 0.099, at 30 0.077: the cap, 40.
        for v, it, stop, procs in (("rbm", 40, "cap", 4), ("rbm_symm", 30, "converged", 3),
                                   ("rbm_proj_kpi", 30, "converged", 3)):
            for s in (1, 2):
                c = self.cost(f"ring6__{v}__s{s}")
                self.assertEqual((c["iterations"], c["stop"], c["processes"], c["done"]),
                                 (it, stop, procs, True), v)
        restarts = [c for c in self.calls() if c[0] == "restart"]
        self.assertEqual(len(restarts), 2 * (3 + 2 + 2 + 2))

    def test_table_by_hand(self):
        # r = C (1 + 0.1 s): seeds 1, 2 -> mean 1.15 C, sem 0.05 C; C(rbm_symm) = 1e-4,
        # C(rbm) = 1e-3; ratio 0.1 with error 0.1 sqrt(2) (0.05/1.15) = 6.1e-3.
        # samples: 128 per iteration + 512 final: 30 it -> 4352, 40 it -> 5632.
        t = "ring N = 6"
        self.assertEqual(cell(self.md, t, "rbm_symm", "rel. error"), "1.15e-04 ± 5.0e-06")
        self.assertEqual(cell(self.md, t, "rbm", "rel. error"), "1.15e-03 ± 5.0e-05")
        self.assertEqual(cell(self.md, t, "rbm_symm", "÷ unshared"), "0.1 ± 0.00615")
        self.assertEqual(cell(self.md, t, "rbm_symm", "samples"), "4.35e+03 ± 0")
        self.assertEqual(cell(self.md, t, "rbm", "samples"), "5.63e+03 ± 0")
        self.assertEqual(cell(self.md, t, "rbm", "stop (conv./cap)"), "0/2")
        self.assertEqual(cell(self.md, t, "rbm_symm", "P"), "6")
        self.assertIn("None.", self.md.split("## Failed or unfinished runs")[1])
        # fake exact: -1.75 N, at k = 0 -1.5 N: bound 0.25/1.75 = 0.142857
        self.assertIn("k = 0 sector bound: relative error 1.4286e-01 of the exact lowest energy at "
                      "k = 0, -9 against -10.5.", self.md)

    def test_report_regenerates_and_figures(self):
        again = os.path.join(self.tmp, "again")
        shutil.copytree(self.out, again)
        os.remove(os.path.join(again, "report.md"))
        p = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), again],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(again, "report.md"), encoding="utf-8") as fh:
            self.assertEqual(fh.read(), self.md)
        for name in report.FIGURES:
            with open(os.path.join(self.out, name), "rb") as fh:
                self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n", name)

    def test_zz_resume_runs_nothing_and_failures_are_reported(self):  # last: it alters a run
        n = len(self.calls())
        env = dict(os.environ, FAKE_NQS_LOG=self.log, MPLBACKEND="Agg")
        cmd = [sys.executable, RUN, "--quick", "--only", "momentum", "-o", self.out, "--nqs", self.nqs]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.calls()), n)  # every run skipped
        # an unfinished run (cost record not done) is continued, not restarted from scratch
        name = "ring6__rbm__s1"
        cpath = os.path.join(self.out, "results", name + ".cost.json")
        with open(cpath) as fh:
            c = json.load(fh)
        c.update(done=False, stop=None)
        with open(cpath, "w") as fh:
            json.dump(c, fh)
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        new = self.calls()[n:]
        self.assertEqual(new, [["restart", name + ".h5"]], p.stderr)
        # a finished run the rule does not accept (rbm stopped at 30: its gain there, 0.077,
        # exceeds the error bar 0.0047) is reopened and continued to the cap
        name = "ring6__rbm__s2"
        path = os.path.join(self.out, "results", name + ".h5")
        subprocess.run([self.nqs, "run", "--restart", path, "--set", "optimizer.iterations=30"],
                       check=True, env=dict(os.environ))
        cpath = os.path.join(self.out, "results", name + ".cost.json")
        with open(cpath) as fh:
            c = json.load(fh)
        c.update(done=True, stop="converged", iterations=30)
        with open(cpath, "w") as fh:
            json.dump(c, fh)
        n = len(self.calls())
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        self.assertEqual(self.calls()[n:], [["restart", name + ".h5"]] * 2, p.stderr)
        with open(cpath) as fh:
            c = json.load(fh)
        self.assertEqual((c["stop"], c["iterations"], c["done"]), ("cap", 40, True))
        self.assertTrue(any(d.startswith("reopened: gain") for d in c["decisions"]), c["decisions"])
        # a failing run: listed in the report with the error line, the other runs kept
        other = os.path.join(self.tmp, "fail")
        shutil.copytree(self.out, other)
        for ext in (".h5", ".cost.json"):
            os.remove(os.path.join(other, "results", "ring6__rbm_symm__s1" + ext))
        p = subprocess.run([sys.executable, RUN, "--quick", "--only", "momentum", "-o", other,
                            "--nqs", self.nqs], capture_output=True, text=True,
                           env=dict(env, FAKE_NQS_FAIL_MODEL="rbm_symm"))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(other, "report.md"), encoding="utf-8") as fh:
            md = fh.read()
        failed = md.split("## Failed or unfinished runs")[1]
        self.assertIn("`ring6__rbm_symm__s1`: nqs: error: simulated failure of rbm_symm", failed)
        self.assertIn("| rbm | rbm | none | 60 | 2/2 |", md)
        self.assertIn("| rbm_symm | rbm | translations | 6 | 1/2 |", md)

    def test_usage_errors(self):
        for args in (["--only", "nonsense", "-o", self.tmp], ["--jobs", "0", "-o", self.tmp], []):
            p = subprocess.run([sys.executable, RUN] + args, capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, args)
        p = subprocess.run([sys.executable, RUN, "--matrix", "medium", "-o", self.out, "--nqs",
                            self.nqs], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)  # a quick DIR is not reused for the medium matrix
        self.assertIn("holds a quick study", p.stderr)


if __name__ == "__main__":
    unittest.main()
