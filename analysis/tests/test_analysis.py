#!/usr/bin/env python3
"""Tests of analysis/ (nqs-analyze and the nqsanalysis package) on synthetic
result files written by make_fixture.py in the layout of docs/results-format.md.

Expected numbers are worked out by hand in the comments (closed forms of the
fixture histories), not taken from the code under test. Run directly or via
ctest (test_analysis); unittest prints OK / FAILED and exits non-zero on failure.
"""

import csv
import hashlib
import io
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
ANALYSIS = os.path.dirname(HERE)
SCRIPT = os.path.join(ANALYSIS, "nqs-analyze")
sys.path.insert(0, ANALYSIS)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import make_fixture as mf  # noqa: E402
import nqsanalysis as na  # noqa: E402

E_REF = mf.E_REF_HEIS_4X4
N_IT = 200


def approach(n=N_IT):
    """E_t = E_ref (1 − 0.5 e^{−t/20}): relative error exactly 0.5 e^{−t/20}."""
    t = np.arange(n)
    return E_REF * (1.0 - 0.5 * np.exp(-t / 20.0))


def run_cli(*args):
    """Run the script as a user would (fresh interpreter, the one running the tests)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                       env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest(), os.stat(path).st_mtime_ns


class TmpDirCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="nqs_analysis_")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)


# ------------------------------------------------------------------ definitions

class TestRunningEnergy(TmpDirCase):
    def test_running_energy_is_trailing_mean(self):
        e = [1.0, 2.0, 4.0, 8.0]
        r = na.running_energy(e, 2)
        self.assertTrue(math.isnan(r[0]))
        np.testing.assert_allclose(r[1:], [1.5, 3.0, 6.0], rtol=0, atol=1e-15)
        np.testing.assert_array_equal(na.running_energy(e, 1), e)
        self.assertTrue(np.all(np.isnan(na.running_energy(e, 5))))  # shorter than the window
        with self.assertRaises(ValueError):
            na.running_energy(e, 0)

    def test_first_iteration_raw_history(self):
        # Window 1: relative error 0.5 e^{-t/20} <= d  <=>  t >= 20 ln(0.5/d):
        # d = 1e-2: 20 ln 50 = 78.24 -> 79;  d = 1e-3: 20 ln 500 = 124.29 -> 125.
        run = na.load_result(mf.write_result(self.path("a.h5"), approach()))
        self.assertEqual(na.first_iteration_within(run, 1e-2, window=1), 79)
        self.assertEqual(na.first_iteration_within(run, 1e-3, window=1), 125)
        # 1000 samples per iteration, samples_total = 1000 (t + 1).
        self.assertEqual(na.samples_to_reach(run, 1e-2, window=1), 80000)

    def test_first_iteration_moving_average(self):
        # Window 10: mean of 0.5 e^{-s/20}, s = t-9..t, = 0.5 e^{-t/20} c with
        # c = (e^{1/2} - 1) / (10 (e^{1/20} - 1)) = 1.265277 (all errors have one sign,
        # so the relative error of the mean is the mean of the relative errors).
        # d = 1e-2: t >= 20 ln(50 c) = 82.946 -> 83;  d = 1e-3: 20 ln(500 c) = 128.998 -> 129.
        run = na.load_result(mf.write_result(self.path("a.h5"), approach()))
        self.assertEqual(na.first_iteration_within(run, 1e-2, window=10), 83)
        self.assertEqual(na.first_iteration_within(run, 1e-3, window=10), 129)
        self.assertEqual(na.samples_to_reach(run, 1e-2, window=10), 84000)
        self.assertEqual(na.samples_to_reach(run, 1e-3, window=10), 130000)
        self.assertIsNone(na.first_iteration_within(run, 1e-6, window=10))  # 0.5 e^{-199/20} c = 3e-5

    def test_single_noisy_iteration_does_not_count_with_window(self):
        # One iteration (t = 30) lands on E_ref by chance: the raw history counts it,
        # the moving average over 10 raises it by (E_ref - E_t)/10 only, not enough.
        e = approach()
        e[30] = E_REF
        run = na.load_result(mf.write_result(self.path("a.h5"), e))
        self.assertEqual(na.first_iteration_within(run, 1e-3, window=1), 30)
        # The windows ending at t = 30..39 contain the spike; their relative error is
        # 0.5 c e^{-t/20} - 0.5 e^{-30/20}/10 >= 0.0900 - 0.0112 = 0.079 >> 1e-3 (t = 39).
        self.assertEqual(na.first_iteration_within(run, 1e-3, window=10), 129)

    def test_relative_error_curve_and_samples(self):
        run = na.load_result(mf.write_result(self.path("a.h5"), approach()))
        it, rel = na.relative_error_curve(run, window=1)
        np.testing.assert_array_equal(it, np.arange(N_IT))
        # E - E_ref of numbers of size 45 carries an absolute rounding error of about
        # 45·2^-52 = 1e-14, i.e. 2.2e-16 on the relative error: atol 1e-15.
        np.testing.assert_allclose(rel, 0.5 * np.exp(-np.arange(N_IT) / 20.0), rtol=0, atol=1e-15)
        s, rel10 = na.samples_vs_relative_error(run, window=10)
        np.testing.assert_array_equal(s, 1000.0 * (np.arange(N_IT) + 1))
        c = (math.exp(0.5) - 1) / (10 * (math.exp(0.05) - 1))
        self.assertAlmostEqual(rel10[50] / (0.5 * math.exp(-50 / 20.0)), c, delta=1e-12)

    def test_no_reference_gives_none(self):
        run = na.load_result(mf.write_result(self.path("a.h5"), approach(), reference=None))
        self.assertIsNone(run.reference_energy)
        self.assertIsNone(na.relative_error_curve(run))
        self.assertIsNone(na.samples_vs_relative_error(run))
        self.assertIsNone(na.first_iteration_within(run, 1e-2))
        row = na.summary_row(run)
        for k in ("reference_energy", "relative_error", "first_iteration_1e-2", "samples_to_1e-3"):
            self.assertIsNone(row[k], k)


# ---------------------------------------------------------------------- summary

FINISHED = dict(energy=-44.8, energy_error=0.0012, energy_variance=0.0731, v_score=0.000583)


class TestSummary(TmpDirCase):
    def write_running(self, name, **kw):
        # 100 iterations; the last 10 (the tail, 10 % of 100) alternate -44.0 -/+ 0.1:
        # mean -44.0, sample std sqrt(10·0.01/9), standard error sqrt(0.1/9)/sqrt(10) = 0.1/3.
        e = np.full(100, -30.0)
        e[90:] = -44.0 + 0.1 * np.array([-1, 1] * 5)
        var = np.full(100, 9.0)
        var[90:] = [0.2, 0.4] * 5  # tail mean 0.3
        return mf.write_result(self.path(name), e, energy_variance=var, **kw)

    def test_csv_finished_values(self):
        f = mf.write_result(self.path("fin.h5"), approach(), result=FINISHED)
        rc, out, err = run_cli("summary", "--csv", f)
        self.assertEqual(rc, 0, err)
        rows = read_csv(out)
        self.assertEqual(len(rows), 1)
        r = rows[0]
        for col in ("file", "model", "shared", "n_params", "energy", "energy_error",
                    "relative_error", "v_score"):
            self.assertIn(col, r)
        self.assertEqual(r["file"], f)
        self.assertEqual(r["status"], "finished")
        self.assertEqual(r["model"], "rbm_symm")
        self.assertEqual(r["shared"], "1")
        self.assertEqual(r["n_params"], "35")
        self.assertEqual(r["system"], "heisenberg on square 4x4 periodic,periodic")
        self.assertEqual(r["samples_per_iteration"], "1000")
        self.assertEqual(r["iterations"], "200")
        self.assertEqual(float(r["energy"]), -44.8)          # from /result, not the history
        self.assertEqual(float(r["energy_error"]), 0.0012)
        self.assertEqual(float(r["energy_variance"]), 0.0731)
        self.assertEqual(float(r["v_score"]), 0.000583)
        self.assertEqual(float(r["reference_energy"]), E_REF)
        # |-44.8 + 44.913932834| / 44.913932834 = 0.113932834 / 44.913932834
        self.assertAlmostEqual(float(r["relative_error"]), 0.113932834 / 44.913932834, delta=1e-15)
        self.assertAlmostEqual(float(r["relative_error_error"]), 0.0012 / 44.913932834, delta=1e-15)
        self.assertEqual(float(r["wall_time"]), 100.0)       # 0.5 s × 200 iterations
        self.assertEqual(r["first_iteration_1e-2"], "83")    # window 10, see TestRunningEnergy
        self.assertEqual(r["first_iteration_1e-3"], "129")
        self.assertEqual(r["samples_to_1e-3"], "130000")
        self.assertEqual(r["convention"], "pauli")

    def test_csv_window_option(self):
        f = mf.write_result(self.path("fin.h5"), approach(), result=FINISHED)
        rc, out, err = run_cli("summary", "--csv", "--window", "1", f)
        self.assertEqual(rc, 0, err)
        r = read_csv(out)[0]
        self.assertEqual((r["first_iteration_1e-2"], r["first_iteration_1e-3"]), ("79", "125"))
        rc, _, err = run_cli("summary", "--window", "0", f)
        self.assertEqual(rc, 2)
        self.assertIn("--window", err)

    def test_running_file_uses_tail_of_history(self):
        f = self.write_running("run.h5")
        run = na.load_result(f)
        self.assertFalse(run.finished)
        row = na.summary_row(run)
        self.assertEqual(row["status"], "running")
        self.assertAlmostEqual(row["energy"], -44.0, delta=1e-12)
        self.assertAlmostEqual(row["energy_error"], 0.1 / 3.0, delta=1e-12)
        self.assertAlmostEqual(row["energy_variance"], 0.3, delta=1e-12)
        self.assertAlmostEqual(row["v_score"], 16 * 0.3 / 44.0**2, delta=1e-12)
        self.assertAlmostEqual(row["relative_error"], 0.913932834 / 44.913932834, delta=1e-12)
        rc, out, err = run_cli("summary", f)
        self.assertEqual(rc, 0, err)
        self.assertIn("running", out)
        self.assertIn("-44.000 +/- 0.033", out)  # two significant digits of the error

    def test_single_entry_tail_uses_its_error(self):
        # 5 iterations: tail = ceil(0.5) = 1 entry, error = that entry's energy_error.
        f = mf.write_result(self.path("short.h5"), [-40.0, -41.0, -42.0, -43.0, -43.5],
                            energy_error=0.07)
        row = na.summary_row(na.load_result(f))
        self.assertEqual(row["energy"], -43.5)
        self.assertEqual(row["energy_error"], 0.07)

    def test_empty_history_does_not_crash(self):
        f = mf.write_result(self.path("empty.h5"), np.zeros(0), reference=None)
        rc, out, err = run_cli("summary", "--csv", f)
        self.assertEqual(rc, 0, err)
        r = read_csv(out)[0]
        self.assertEqual(r["status"], "running")
        self.assertEqual(r["iterations"], "0")
        self.assertEqual(r["energy"], "")
        self.assertEqual(r["wall_time"], "")

    def test_text_table_and_missing_reference(self):
        fin = mf.write_result(self.path("fin.h5"), approach(), result=FINISHED)
        noref = mf.write_result(self.path("noref.h5"), approach(), reference=None,
                                model="rbm", shared=0, n_params=528)
        rc, out, err = run_cli("summary", fin, noref)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 4)  # header, rule, two rows
        header = lines[0]
        for col in ("file", "system", "model", "shared", "P", "samples/it", "iters", "status",
                    "E +/- err", "variance", "V-score", "E_ref", "rel.err", "wall(s)",
                    "it@1e-2", "it@1e-3"):
            self.assertIn(col, header)
        # Aligned: every line has the same length up to the last column, which is
        # right-aligned, so all lines end at the same column.
        self.assertEqual(len({len(l) for l in lines}), 1, out)
        fin_line = next(l for l in lines if l.startswith(fin))
        self.assertIn("-44.8000 +/- 0.0012", fin_line)
        self.assertIn("2.537e-03", fin_line)  # 0.113932834 / 44.913932834 = 2.5367e-3
        self.assertIn("finished", fin_line)
        noref_line = next(l for l in lines if l.startswith(noref))
        self.assertIn(" no ", noref_line)
        self.assertTrue(noref_line.rstrip().endswith("-        -"), noref_line)
        rc, out, err = run_cli("summary", "--csv", noref)
        r = read_csv(out)[0]
        self.assertEqual((r["reference_energy"], r["relative_error"], r["first_iteration_1e-2"]),
                         ("", "", ""))

    def test_output_file(self):
        f = mf.write_result(self.path("fin.h5"), approach(), result=FINISHED)
        out_path = self.path("table.csv")
        rc, out, err = run_cli("summary", "--csv", "-o", out_path, f)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "")
        with open(out_path) as fh:
            self.assertEqual(read_csv(fh.read())[0]["n_params"], "35")
        before = digest(f)
        rc, _, err = run_cli("summary", "--csv", "-o", f, f)  # would destroy the input
        self.assertEqual(rc, 2)
        self.assertIn("refusing", err)
        self.assertEqual(digest(f), before)
        rc, _, err = run_cli("summary", "-o", self.path("no/such/dir/t.txt"), f)
        self.assertEqual(rc, 1)
        self.assertIn("t.txt", err)

    def test_non_latest_format_is_read(self):
        # Written without libver="latest": the SWMR open fails, the plain open is used.
        f = mf.write_result(self.path("old.h5"), approach(), libver="earliest")
        rc, out, err = run_cli("summary", "--csv", f)
        self.assertEqual(rc, 0, err)
        self.assertEqual(read_csv(out)[0]["iterations"], "200")

    def test_library_load(self):
        f = mf.write_result(self.path("fin.h5"), approach(), result=FINISHED)
        run = na.load_result(f)
        self.assertEqual(set(run.history), set(na.HISTORY_DATASETS))
        self.assertEqual(run.n_iterations, 200)
        self.assertEqual(run.history["iteration"].dtype, np.int64)
        self.assertEqual(run.result["energy"], -44.8)
        self.assertEqual(run.reference_source, "exact diagonalisation (ARPACK)")
        self.assertEqual(run.input["model"]["alpha"], "2")
        self.assertEqual(len(run.observables["structure_factor"]), 16)
        self.assertTrue(run.shared)
        self.assertEqual((run.n_sites, run.n_params), (16, 35))


# ------------------------------------------------------------------------- SWMR

class TestOpenFile(TmpDirCase):
    def test_summary_while_swmr_writer_appends(self):
        f = self.path("live.h5")
        w = mf.SwmrWriter(f)
        try:
            e = approach(120)
            w.append(e[:50])
            rc, out, err = run_cli("summary", "--csv", f)
            self.assertEqual(rc, 0, err)
            r = read_csv(out)[0]
            self.assertEqual((r["status"], r["iterations"]), ("running", "50"))
            # Tail = last 5 entries, t = 45..49.
            self.assertAlmostEqual(float(r["energy"]), float(np.mean(e[45:50])), delta=1e-12)
            w.append(e[50:100])
            rc, out, err = run_cli("summary", "--csv", f)
            self.assertEqual(rc, 0, err)
            r = read_csv(out)[0]
            self.assertEqual(r["iterations"], "100")
            self.assertEqual(r["first_iteration_1e-2"], "83")
            # Writer caught between two appends: energy has one more entry than the rest.
            w.append(e[100:101], only=("energy",))
            rc, out, err = run_cli("summary", "--csv", f)
            self.assertEqual(rc, 0, err)
            self.assertEqual(read_csv(out)[0]["iterations"], "100")
            rc, out, err = run_cli("plot", f, "-o", self.path("plots"))
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(out.split()), 4)
        finally:
            w.close()

    def test_file_of_killed_writer_is_readable(self):
        # A run killed while in SWMR mode leaves the file marked "open for write";
        # a plain open refuses it, the SWMR open reads what was flushed.
        f = self.path("killed.h5")
        code = ("import os, sys, numpy as np; sys.path.insert(0, %r); import make_fixture as mf; "
                "w = mf.SwmrWriter(%r); w.append(-40.0 - np.arange(30) / 10); "
                "os.kill(os.getpid(), 9)" % (HERE, f))
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)  # really killed, file not closed
        rc, out, err = run_cli("summary", "--csv", f)
        self.assertEqual(rc, 0, err)
        r = read_csv(out)[0]
        self.assertEqual((r["status"], r["iterations"]), ("running", "30"))
        # Tail: last 3 entries -42.7, -42.8, -42.9 -> mean -42.8.
        self.assertAlmostEqual(float(r["energy"]), -42.8, delta=1e-12)

    def test_reading_never_modifies_the_file(self):
        f = mf.write_result(self.path("fin.h5"), approach(), result=FINISHED)
        before = digest(f)
        self.assertEqual(run_cli("summary", f)[0], 0)
        self.assertEqual(run_cli("summary", "--csv", f)[0], 0)
        self.assertEqual(run_cli("plot", f, "-o", self.path("p"))[0], 0)
        na.load_result(f)
        self.assertEqual(digest(f), before)


# ------------------------------------------------------------------------ plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TestPlot(TmpDirCase):
    def check_png(self, path):
        import matplotlib.image as mpimg
        with open(path, "rb") as fh:
            self.assertEqual(fh.read(8), PNG_SIGNATURE, path)
        self.assertGreater(os.path.getsize(path), 5000, path)
        img = mpimg.imread(path)
        self.assertEqual(img.shape[:2], (600, 960), path)  # 8 x 5 in at 120 dpi

    def test_plot_two_files_with_reference(self):
        a = mf.write_result(self.path("a.h5"), approach(), result=FINISHED)
        b = mf.write_result(self.path("b.h5"), approach() * 0.999, model="rbm", shared=0,
                            n_params=528)
        outdir = self.path("figs")
        rc, out, err = run_cli("plot", a, b, "-o", outdir, "--labels", "shared", "dense")
        self.assertEqual(rc, 0, err)
        written = out.split()
        names = sorted(os.path.basename(p) for p in written)
        self.assertEqual(names, ["energy.png", "relative_error.png",
                                 "relative_error_vs_samples.png", "variance.png"])
        for p in written:
            self.assertTrue(p.startswith(outdir))
            self.check_png(p)

    def test_plot_without_reference_skips_relative_error(self):
        a = mf.write_result(self.path("a.h5"), approach(), reference=None)
        outdir = self.path("figs")
        rc, out, err = run_cli("plot", a, "-o", outdir)
        self.assertEqual(rc, 0, err)
        names = sorted(os.path.basename(p) for p in out.split())
        self.assertEqual(names, ["energy.png", "variance.png"])
        self.assertFalse(os.path.exists(os.path.join(outdir, "relative_error.png")))
        self.assertIn("no reference", err)
        for p in out.split():
            self.check_png(p)

    def test_degenerate_histories(self):
        # Energy exactly at the reference (relative error 0 everywhere: no positive
        # value for a log axis) and no energy_variance dataset (NaN): still 4 figures.
        exact = mf.write_result(self.path("exact.h5"), np.full(50, E_REF),
                                drop=("energy_variance",))
        run = na.load_result(exact)
        self.assertTrue(np.all(np.isnan(run.history["energy_variance"])))
        self.assertEqual(na.first_iteration_within(run, 1e-3, window=10), 9)  # first full window
        empty = mf.write_result(self.path("empty.h5"), np.zeros(0))
        outdir = self.path("figs")
        rc, out, err = run_cli("plot", empty, exact, "-o", outdir, "--labels", "e", "x")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.split()), 4)
        self.assertIn(empty, err)  # "no history entries yet, not plotted"
        for p in out.split():
            self.check_png(p)
        rc, out, err = run_cli("plot", empty, "-o", self.path("figs2"))
        self.assertEqual(rc, 1)
        self.assertIn("nothing to plot", err)

    def test_default_labels(self):
        a = na.load_result(mf.write_result(self.path("a.h5"), approach()))
        b = na.load_result(mf.write_result(self.path("b.h5"), approach(), model="rbm",
                                           n_params=528))
        c = na.load_result(mf.write_result(self.path("c.h5"), approach(), model="rbm",
                                           n_params=528))
        from nqsanalysis.plots import default_labels
        self.assertEqual(default_labels([a, b]), ["rbm_symm (P=35)", "rbm (P=528)"])
        self.assertEqual(default_labels([b, c]), ["rbm (P=528) [b.h5]", "rbm (P=528) [c.h5]"])

    def test_label_count_mismatch(self):
        a = mf.write_result(self.path("a.h5"), approach())
        rc, out, err = run_cli("plot", a, "-o", self.path("figs"), "--labels", "x", "y")
        self.assertEqual(rc, 2)
        self.assertIn("2 labels given for 1 files", err)
        self.assertFalse(os.path.exists(self.path("figs")))


# ----------------------------------------------------------------------- errors

class TestErrors(TmpDirCase):
    def check_error(self, path, words, command=("summary",)):
        extra = ("-o", self.path("figs")) if command[0] == "plot" else ()
        rc, out, err = run_cli(*command, path, *extra)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn(path, lines[0])
        self.assertIn(words, lines[0])

    def test_missing_file(self):
        self.check_error(self.path("nope.h5"), "no such file")
        self.check_error(self.path("nope.h5"), "no such file", command=("plot",))

    def test_not_hdf5(self):
        p = self.path("notes.h5")
        with open(p, "w") as fh:
            fh.write("energy = -44.9\n" * 100)
        self.check_error(p, "not an HDF5 file")
        self.check_error(p, "not an HDF5 file", command=("plot",))
        with self.assertRaises(na.ResultFileError):
            na.load_result(p)

    def test_other_program(self):
        p = mf.write_result(self.path("other.h5"), approach(), program="netket")
        self.check_error(p, "not an nqsvmc result file")
        q = mf.write_result(self.path("none.h5"), approach(), program=None)
        self.check_error(q, "not an nqsvmc result file")

    def test_one_bad_file_among_good_ones(self):
        good = mf.write_result(self.path("good.h5"), approach())
        bad = self.path("missing.h5")
        rc, out, err = run_cli("summary", good, bad)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")  # no partial table
        self.assertIn(bad, err)
        self.assertNotIn(good, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
