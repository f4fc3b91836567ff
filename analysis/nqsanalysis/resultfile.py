"""Read one nqsvmc result file (HDF5) into memory.

The layout is fixed by docs/results-format.md: root attributes (program, lattice,
hamiltonian, model, shared, n_sites, n_params, convention, input, ...), the
per-iteration datasets under /history, the final evaluation /result and the
reference energy /reference. Energies are in the convention named by the
`convention` attribute ("pauli" for every file nqsvmc writes).

A file may still be written by a running optimisation, which keeps it open in
HDF5 single-writer/multiple-reader (SWMR) mode. It is therefore opened with
h5py.File(path, "r", swmr=True), falling back to a plain read-only open; the
/history datasets are cut to the shortest of their lengths, so every array of
one Run has the same length even when the writer is between two appends.
Nothing here ever opens a file for writing.
"""

from __future__ import annotations

import configparser
import math
import os
from dataclasses import dataclass, field

import h5py
import numpy as np

# The /history datasets of docs/results-format.md, in the order of that page.
HISTORY_DATASETS = (
    "iteration", "energy", "energy_imag", "energy_error", "energy_variance",
    "v_score", "acceptance", "rhat", "tau", "wall_time", "learning_rate",
    "diag_shift", "sr_residual", "grad_norm", "n_samples", "samples_total", "step_length",
    "rejections",
)

PROGRAM = "nqsvmc"

# HDF5 format signature; the superblock sits at 0, 512, 1024, 2048, ... (user block).
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class ResultFileError(Exception):
    """A path that is not a readable nqsvmc result file; str() is one line naming the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class Run:
    """Everything read from one result file.

    attrs      root attributes, decoded to str / int / float
    history    /history dataset name -> 1-D numpy array; all the same length,
               every name of HISTORY_DATASETS present (NaN-filled when the file
               lacks one, except `iteration`, which then counts from 0)
    result     /result attributes, or None while the run has not finished
    observables  /result/observables datasets and attributes ({} if none)
    reference  /reference attributes, or None when no finite reference energy is stored
    input      the `input` attribute parsed as INI: section -> {key: value} ({} if absent)
    """

    path: str
    attrs: dict
    history: dict
    result: dict | None = None
    observables: dict = field(default_factory=dict)
    reference: dict | None = None
    input: dict = field(default_factory=dict)

    # Convenience accessors: None when the file does not say.
    @property
    def lattice(self) -> str | None:
        return self.attrs.get("lattice")

    @property
    def hamiltonian(self) -> str | None:
        return self.attrs.get("hamiltonian")

    @property
    def model(self) -> str | None:
        return self.attrs.get("model")

    @property
    def shared(self) -> bool | None:
        v = self.attrs.get("shared")
        return None if v is None else bool(v)

    @property
    def n_sites(self) -> int | None:
        return _as_int(self.attrs.get("n_sites"))

    @property
    def n_params(self) -> int | None:
        return _as_int(self.attrs.get("n_params"))

    @property
    def convention(self) -> str | None:
        return self.attrs.get("convention")

    @property
    def system(self) -> str:
        """'<hamiltonian> on <lattice>', e.g. 'heisenberg on square 4x4 periodic,periodic'."""
        return f"{self.hamiltonian or '?'} on {self.lattice or '?'}"

    @property
    def n_iterations(self) -> int:
        return len(self.history["energy"])

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def status(self) -> str:
        return "finished" if self.finished else "running"

    @property
    def reference_energy(self) -> float | None:
        return None if self.reference is None else self.reference["energy"]

    @property
    def reference_source(self) -> str | None:
        return None if self.reference is None else self.reference.get("source")


def _as_int(v):
    if v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _decode(v):
    """HDF5 attribute value -> str / int / float / list / ndarray."""
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray):
        if v.shape == () or v.size == 1:
            return _decode(v.reshape(-1)[0])
        if v.dtype.kind in "SO":
            return [_decode(x) for x in v.tolist()]
        return v
    if isinstance(v, np.generic):
        return v.item()
    return v


def _has_hdf5_signature(path: str) -> bool:
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        offset = 0
        while offset + len(_HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else 2 * offset
    return False


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def open_result_file(path: str) -> h5py.File:
    """Open `path` read-only (SWMR first), or raise ResultFileError with the reason."""
    if not os.path.exists(path):
        raise ResultFileError(path, "no such file")
    if os.path.isdir(path):
        raise ResultFileError(path, "is a directory, not a result file")
    if not os.access(path, os.R_OK):
        raise ResultFileError(path, "permission denied")
    try:
        if not _has_hdf5_signature(path):
            raise ResultFileError(path, "not an HDF5 file")
    except OSError as e:
        raise ResultFileError(path, f"cannot read ({_first_line(e)})") from e
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        pass  # not a SWMR-capable file, or locked by a non-SWMR writer
    try:
        return h5py.File(path, "r")
    except OSError as e:
        last = e
    # A writer that holds the file without SWMR keeps an exclusive lock; reading
    # without taking the lock is still read-only (h5py >= 3.5, HDF5 >= 1.10.7).
    try:
        return h5py.File(path, "r", locking=False)
    except (OSError, TypeError, ValueError):
        pass
    raise ResultFileError(path, f"cannot open HDF5 file ({_first_line(last)})") from last


def _read_history(f: h5py.File) -> dict:
    g = f.get("history")
    datasets = {}
    if isinstance(g, h5py.Group):
        for name in g:
            ds = g.get(name)
            if isinstance(ds, h5py.Dataset) and ds.ndim == 1:
                datasets[name] = ds
    # One consistent length even if the writer appended to some datasets only.
    n = min((ds.shape[0] for ds in datasets.values()), default=0)
    history = {name: np.asarray(ds[:n]) for name, ds in datasets.items()}
    for name in HISTORY_DATASETS:
        if name not in history:
            history[name] = (np.arange(n, dtype=np.int64) if name == "iteration"
                             else np.full(n, np.nan))
    for name in HISTORY_DATASETS:
        if name != "iteration":
            history[name] = history[name].astype(np.float64, copy=False)
    return history


def _read_attrs(obj) -> dict:
    return {k: _decode(v) for k, v in obj.attrs.items()}


def _read_observables(g) -> dict:
    out = _read_attrs(g)
    for name in g:
        item = g.get(name)
        if isinstance(item, h5py.Dataset):
            out[name] = _decode(item[()])
    return out


def _parse_input(text) -> dict:
    if not isinstance(text, str) or not text.strip():
        return {}
    parser = configparser.ConfigParser(interpolation=None, strict=False,
                                       inline_comment_prefixes=(";", "#"))
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}
    return {s: dict(parser.items(s)) for s in parser.sections()}


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def load_result(path: str) -> Run:
    """Read a result file completely and close it.

    Raises ResultFileError for a missing file, a file that is not HDF5, an HDF5
    file whose root attribute `program` is not "nqsvmc", or an unreadable file.
    """
    f = open_result_file(path)
    try:
        with f:
            attrs = _read_attrs(f)
            program = attrs.get("program")
            if program != PROGRAM:
                what = ("has no root attribute 'program'" if program is None
                        else f"root attribute 'program' is {program!r}")
                raise ResultFileError(path, f"not an nqsvmc result file ({what}, expected {PROGRAM!r})")
            history = _read_history(f)
            result = None
            observables = {}
            g = f.get("result")
            if isinstance(g, h5py.Group):
                r = _read_attrs(g)
                if _finite(r.get("energy")):
                    result = r
                    obs = g.get("observables")
                    if isinstance(obs, h5py.Group):
                        observables = _read_observables(obs)
            reference = None
            g = f.get("reference")
            if isinstance(g, h5py.Group):
                r = _read_attrs(g)
                if _finite(r.get("energy")) and float(r["energy"]) != 0.0:
                    r["energy"] = float(r["energy"])
                    reference = r
    except ResultFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ResultFileError(path, f"cannot read ({_first_line(e)})") from e
    return Run(path=path, attrs=attrs, history=history, result=result,
               observables=observables, reference=reference,
               input=_parse_input(attrs.get("input")))
