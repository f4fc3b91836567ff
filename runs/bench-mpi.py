#!/usr/bin/env python3
"""MPI/OpenMP scaling benchmark of `nqs run` (docs/cluster.md "Benchmark").

Runs the same short optimisation (Heisenberg 10x10 periodic, rbm_symm alpha = 4,
P = 405, dense SR) on several ranks x threads layouts and prints, per layout:
sampling throughput (samples per second of sampling time), seconds per SR
update (optimiser time per iteration), wall time per iteration, and the
parallel efficiency E = T(1 x 1) / (ranks * threads * T(layout)) of the wall
time per iteration. Every layout must produce the same history bits (checked:
the script compares the energy column with the 1 x 1 run). The CPU time of all
processes per iteration (and cpu efficiency = CPU(first layout) / CPU(layout))
shows the work parallelism adds, independent of other load on the machine.

Usage: runs/bench-mpi.py [--nqs build/nqs] [--layouts 1x1,2x1,1x2] [--repeat 3]
       [--iterations 10] [--samples 4096] [--chains 16] [--json]
The best (smallest) time of --repeat runs is reported for each layout, since
other processes on a shared machine only ever add time. Open MPI is started
with --bind-to none and the environment of the ctest MPI tests (yield when
idle, shared-memory transport, oversubscription and root allowed).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

INPUT = """[lattice]
type = square
extent = 10,10
boundary = periodic
[hamiltonian]
type = heisenberg
[model]
type = rbm_symm
alpha = 4
seed = 1
[sampler]
chains = {chains}
samples = {samples}
burn_in_first = 5
[optimizer]
method = sr
solver = dense
iterations = {iterations}
learning_rate = 0.02
diag_shift = 0.1
[output]
exact_reference = false
final_samples = {chains}
checkpoint_every = 1000000
"""

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_hwloc_base_binding_policy": "none",
    "OMPI_MCA_btl": "self,vader", "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_mpi_yield_when_idle": "1", "OMPI_MCA_orte_execute_quiet": "1",
}


def run_once(nqs, mpiexec, ini, out, ranks, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **MPI_ENV)
    cmd = [nqs, "run", ini, "-o", out, "--force", "-q", "--json"]
    if ranks > 1:
        cmd = [mpiexec, "-np", str(ranks)] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        sys.exit(f"bench-mpi: {' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    j = json.loads(res.stdout)
    j["cpu_time"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return j


def energies(path):
    import h5py  # only for the bitwise check
    with h5py.File(path, "r", swmr=True) as f:
        return f["history/energy"][:].tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nqs", default=os.path.join(os.path.dirname(__file__), "..", "build", "nqs"))
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--layouts", default="1x1,2x1,1x2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--json", action="store_true", help="one JSON object per layout")
    a = ap.parse_args()
    layouts = [tuple(int(x) for x in l.split("x")) for l in a.layouts.split(",")]
    rows, ref = [], None
    with tempfile.TemporaryDirectory() as tmp:
        ini = os.path.join(tmp, "bench.ini")
        with open(ini, "w") as f:
            f.write(INPUT.format(chains=a.chains, samples=a.samples, iterations=a.iterations))
        for ranks, threads in layouts:
            out = os.path.join(tmp, f"r{ranks}t{threads}.h5")
            best = None
            for _ in range(a.repeat):
                j = run_once(a.nqs, a.mpiexec, ini, out, ranks, threads)
                if best is None or j["wall_time"] < best["wall_time"]:
                    best = j
            try:
                e = energies(out)
                same = None if ref is None else (e == ref)
                ref = e if ref is None else ref
            except ImportError:
                same = "unchecked (no h5py)"
            it = a.iterations
            rows.append({
                "ranks": ranks, "threads": threads, "iterations": it,
                "samples_per_iteration": a.samples,
                "sampling_samples_per_s": a.samples * it / best["time_sampling"],
                "sr_s_per_iteration": best["time_optimizer"] / it,
                "wall_s_per_iteration": best["wall_time"] / it,
                "cpu_s_per_iteration": best["cpu_time"] / it,
                "same_bits_as_first": same,
            })
    t1 = rows[0]["wall_s_per_iteration"] * rows[0]["ranks"] * rows[0]["threads"]
    c1 = rows[0]["cpu_s_per_iteration"]
    for r in rows:
        r["efficiency"] = t1 / (r["ranks"] * r["threads"] * r["wall_s_per_iteration"])
        r["cpu_efficiency"] = c1 / r["cpu_s_per_iteration"]
        if a.json:
            print(json.dumps(r))
    if not a.json:
        print(f"Heisenberg 10x10, rbm_symm alpha=4 (P=405), {a.samples} samples/iteration, "
              f"{a.chains} chains, dense SR, best of {a.repeat}")
        print(f"{'layout':>8} {'samples/s':>11} {'SR s/it':>9} {'wall s/it':>10} {'efficiency':>10} "
              f"{'cpu s/it':>9} {'cpu eff.':>8}  same bits")
        for r in rows:
            print(f"{r['ranks']:>3}x{r['threads']:<4} {r['sampling_samples_per_s']:11.0f} "
                  f"{r['sr_s_per_iteration']:9.4f} {r['wall_s_per_iteration']:10.4f} "
                  f"{100 * r['efficiency']:9.1f}% {r['cpu_s_per_iteration']:9.4f} "
                  f"{100 * r['cpu_efficiency']:7.1f}%  {r['same_bits_as_first']}")


if __name__ == "__main__":
    main()
