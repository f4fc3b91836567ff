"""Synthetic nqsvmc result files for the analysis tests.

Writes exactly the layout of docs/results-format.md (root attributes, /history,
/checkpoint, /result, /reference) with h5py, from energy histories chosen by the
test so that every expected number can be worked out by hand.
"""

import h5py
import numpy as np

# Heisenberg 4x4 periodic, Pauli units (docs/physics.md).
E_REF_HEIS_4X4 = -44.913932834

INPUT_TEXT = """[lattice]
type = square
extent = 4,4
boundary = periodic
[hamiltonian]
type = heisenberg
J = 1
[model]
type = rbm_symm
alpha = 2
"""


def history_arrays(energy, n_sites=16, n_samples=1000, energy_error=0.01,
                   energy_variance=None, wall_per_iteration=0.5):
    """All 16 /history datasets for the given energies (1-D array)."""
    energy = np.asarray(energy, dtype=np.float64)
    n = len(energy)
    t = np.arange(n, dtype=np.int64)
    if energy_variance is None:
        energy_variance = 4.0 * np.exp(-t / 30.0) + 0.05
    energy_variance = np.broadcast_to(np.asarray(energy_variance, np.float64), (n,)).copy()
    n_samp = np.full(n, float(n_samples))
    return {
        "iteration": t,
        "energy": energy,
        "energy_imag": np.full(n, 1e-4),
        "energy_error": np.broadcast_to(np.asarray(energy_error, np.float64), (n,)).copy(),
        "energy_variance": energy_variance,
        "v_score": n_sites * energy_variance / energy**2,
        "acceptance": np.full(n, 0.45),
        "rhat": np.full(n, 1.01),
        "tau": np.full(n, 2.5),
        "wall_time": wall_per_iteration * (t + 1.0),
        "learning_rate": np.full(n, 0.01),
        "diag_shift": np.full(n, 1e-3),
        "sr_residual": np.zeros(n),
        "grad_norm": np.exp(-t / 40.0),
        "n_samples": n_samp,
        "samples_total": np.cumsum(n_samp),
        "step_length": np.full(n, 0.05),
        "rejections": np.zeros(n),
    }


def _root_attrs(f, program, model, shared, n_sites, n_params, lattice, hamiltonian):
    a = f.attrs
    if program is not None:
        a["program"] = program
    a["version"] = "0.1.0"
    a["git_commit"] = "0123456789ab"
    a["date"] = "2024-05-01T12:00:00Z"
    a["command_line"] = "nqs run runs/heis4x4.ini -o out.h5"
    a["convention"] = "pauli"
    a["input"] = INPUT_TEXT
    a["lattice"] = lattice
    a["hamiltonian"] = hamiltonian
    a["model"] = model
    a["shared"] = np.int32(shared)
    a["n_sites"] = np.int32(n_sites)
    a["n_params"] = np.int64(n_params)


def _reference(f, e_ref, source):
    g = f.create_group("reference")
    g.attrs["energy"] = float(e_ref)
    g.attrs["source"] = source
    g.attrs["convention"] = "pauli"
    return g


def write_result(path, energy, *, reference=E_REF_HEIS_4X4,
                 reference_source="exact diagonalisation (ARPACK)",
                 result=None, model="rbm_symm", shared=1, n_sites=16, n_params=35,
                 lattice="square 4x4 periodic,periodic", hamiltonian="heisenberg",
                 program="nqsvmc", libver="latest", drop=(), **history_kw):
    """A result file. `result` is a dict of /result attributes (energy, energy_error,
    energy_variance, v_score, ...) or None for a run that has not finished;
    `reference` None leaves out /reference; `drop` names /history datasets to leave
    out (a damaged or foreign file)."""
    h = history_arrays(energy, n_sites=n_sites, **history_kw)
    with h5py.File(path, "w", libver=libver) as f:
        _root_attrs(f, program, model, shared, n_sites, n_params, lattice, hamiltonian)
        g = f.create_group("history")
        for name, data in h.items():
            if name in drop:
                continue
            g.create_dataset(name, data=data, maxshape=(None,), chunks=(64,))
        cp = f.create_group("checkpoint")
        for k, v in (("n_chains", 4), ("n_params", n_params), ("n_sites", n_sites)):
            cp.attrs[k] = np.int32(v)
        cp.attrs["model"], cp.attrs["lattice"], cp.attrs["hamiltonian"] = model, lattice, hamiltonian
        cp.create_dataset("active", data=np.int32(0 if len(h["energy"]) else -1))
        slot = cp.create_group("slot0")
        slot.create_dataset("iteration", data=np.int64(len(h["energy"])))
        cdt = np.dtype([("r", "<f8"), ("i", "<f8")])
        slot.create_dataset("params", data=np.zeros(n_params, dtype=cdt))
        slot.create_dataset("optimizer_state", data=np.zeros(4))
        slot.create_dataset("chains", data=np.ones((4, n_sites), dtype=np.int8))
        slot.create_dataset("rng_state", data=np.zeros((4, 16), dtype=np.uint8))
        slot.create_dataset("wall_time", data=float(h["wall_time"][-1]) if len(h["energy"]) else 0.0)
        slot.create_dataset("samples_total",
                            data=float(h["samples_total"][-1]) if len(h["energy"]) else 0.0)
        if result is not None:
            r = f.create_group("result")
            attrs = {"n_sites": n_sites, "n_params": n_params, "n_samples": 100000,
                     "model": model, "shared": shared, "tau": 2.5, "rhat": 1.01,
                     "acceptance": 0.45, "convention": "pauli"}
            attrs.update(result)
            for k, v in attrs.items():
                r.attrs[k] = v
            obs = r.create_group("observables")
            obs.create_dataset("structure_factor", data=np.linspace(0.0, 1.0, 16))
            obs.attrs["magnetisation"] = 0.0
        if reference is not None:
            g = _reference(f, reference, reference_source)
            if result is not None:
                g.attrs["relative_error"] = abs(result["energy"] - reference) / abs(reference)
    return path


class SwmrWriter:
    """A result file held open by a SWMR writer, appended to like a running optimisation."""

    def __init__(self, path, *, reference=E_REF_HEIS_4X4, n_sites=16, n_params=35):
        self.n_sites = n_sites
        self.f = h5py.File(path, "w", libver="latest")
        _root_attrs(self.f, "nqsvmc", "rbm_symm", 1, n_sites, n_params,
                    "square 4x4 periodic,periodic", "heisenberg")
        if reference is not None:
            _reference(self.f, reference, "exact diagonalisation (ARPACK)")
        g = self.f.create_group("history")
        empty = history_arrays(np.zeros(0), n_sites=n_sites)
        self.ds = {name: g.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(64,),
                                          dtype=a.dtype)
                   for name, a in empty.items()}
        self.f.swmr_mode = True  # from here on no new objects or attributes
        self.n = 0

    def append(self, energy, only=None):
        """Append entries (all datasets, or the names in `only`) and flush."""
        energy = np.asarray(energy, np.float64)
        h = history_arrays(np.concatenate([np.full(self.n, energy[0]), energy]),
                           n_sites=self.n_sites)
        new = self.n + len(energy)
        for name, ds in self.ds.items():
            if only is not None and name not in only:
                continue
            ds.resize((new,))
            ds[self.n:new] = h[name][self.n:new]
            ds.flush()
        if only is None:
            self.n = new

    def close(self):
        self.f.close()
