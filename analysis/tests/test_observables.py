#!/usr/bin/env python3
"""Tests of `nqs-analyze observables` and nqsanalysis.observables on synthetic files in
the layout of docs/results-format.md (vector observables: value, error, coordinates).

The fixture values are chosen here (C(r) = (-1)^r / (1 + r) with error 0.01 (1 + r),
S(q) = 1 + m), so every number checked is known without the code under test.
"""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
ANALYSIS = os.path.dirname(HERE)
SCRIPT = os.path.join(ANALYSIS, "nqs-analyze")
sys.path.insert(0, ANALYSIS)

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from nqsanalysis import observables as ob  # noqa: E402

L = 8


def write_vectors(g):
    """correlation_zz, correlation_full and structure_factor_zz of a ring of L sites."""
    r = np.arange(L)
    dist = np.minimum(r, L - r).astype(float)
    for name, scale in (("correlation_zz", 1.0), ("correlation_full", 3.0)):
        v = g.create_group(name)
        v["value"] = scale * (-1.0) ** r / (1 + r)
        v["error"] = 0.01 * (1 + r)
        v["r"] = np.stack([r, 0 * r], axis=1)
        v["distance"] = dist
        v["count"] = np.full(L, L)
    s = g.create_group("structure_factor_zz")
    s["value"] = 1.0 + r
    s["error"] = np.full(L, 0.05)
    s["q"] = np.stack([2.0 * r / L, 0 * r], axis=1)
    s["q_index"] = np.stack([r, 0 * r], axis=1)


def make_file(path, result=True, measure=0, program="nqsvmc", vectors=True):
    with h5py.File(path, "w") as f:
        f.attrs["program"] = program
        if result:
            o = f.create_group("result/observables")
            if vectors:
                write_vectors(o)
        for k in range(measure):
            o = f.create_group(f"measure/{k}/observables")
            if vectors:
                write_vectors(o)
            o["correlation_zz/value"][0] = 100.0 + k  # tells the groups apart


def run_cli(*args):
    env = dict(os.environ, MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


class TestObservables(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="nqs_analysis_obs_")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def p(self, name):
        return os.path.join(self.dir, name)

    def test_read_vector_values_and_coordinates(self):
        make_file(self.p("a.h5"))
        grp, vec = ob.load_vectors(self.p("a.h5"))
        self.assertEqual(grp, "/result")
        self.assertEqual(sorted(vec), ["correlation_full", "correlation_zz", "structure_factor_zz"])
        c = vec["correlation_zz"]
        self.assertAlmostEqual(c["value"][3], -0.25, places=15)
        self.assertAlmostEqual(c["error"][3], 0.04, places=15)
        self.assertEqual(c["distance"][5], 3.0)
        self.assertAlmostEqual(vec["correlation_full"]["value"][1], -1.5, places=15)
        self.assertEqual(vec["structure_factor_zz"]["q"].shape, (L, 2))
        self.assertAlmostEqual(vec["structure_factor_zz"]["q"][4][0], 1.0, places=15)

    def test_group_choice(self):
        make_file(self.p("m.h5"), result=False, measure=2)
        grp, vec = ob.load_vectors(self.p("m.h5"))
        self.assertEqual(grp, "/measure/1")  # the last measurement without /result
        self.assertEqual(vec["correlation_zz"]["value"][0], 101.0)
        grp, vec = ob.load_vectors(self.p("m.h5"), "/measure/0")
        self.assertEqual(vec["correlation_zz"]["value"][0], 100.0)

    def test_cli_writes_both_figures(self):
        make_file(self.p("a.h5"))
        make_file(self.p("b.h5"), measure=1)
        rc, out, err = run_cli("observables", self.p("a.h5"), self.p("b.h5"), "-o", self.p("figs"))
        self.assertEqual(rc, 0, err)
        paths = out.split()
        self.assertEqual([os.path.basename(x) for x in paths],
                         ["correlation.png", "structure_factor.png"])
        for x in paths:
            with open(x, "rb") as fh:
                self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n")
        rc, out, err = run_cli("observables", self.p("b.h5"), "--group", "/measure/0", "-o",
                               self.p("figs2"), "--labels", "B")
        self.assertEqual(rc, 0, err)

    def test_cli_errors(self):
        make_file(self.p("none.h5"), vectors=False)
        rc, out, err = run_cli("observables", self.p("none.h5"), "-o", self.p("f"))
        self.assertEqual(rc, 1)
        self.assertIn("no correlation or structure-factor datasets", err)
        make_file(self.p("other.h5"), program="other")
        rc, out, err = run_cli("observables", self.p("other.h5"), "-o", self.p("f"))
        self.assertEqual(rc, 2)
        self.assertIn("not an nqsvmc result file", err)
        rc, out, err = run_cli("observables", self.p("missing.h5"), "-o", self.p("f"))
        self.assertEqual(rc, 2)
        make_file(self.p("a.h5"))
        rc, out, err = run_cli("observables", self.p("a.h5"), "-o", self.p("f"), "--labels", "x", "y")
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main()
