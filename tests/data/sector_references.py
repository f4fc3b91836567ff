#!/usr/bin/python3
"""Exact sector energies for the projection tests (tests/test_projection.c).

Dense exact diagonalisation with numpy, independent of the C code: the
Hamiltonian (Pauli units, H = J sum_<ij> sigma_i . sigma_j, optional J2 on
next-nearest neighbours) is built in the sz basis of a magnetisation sector,
optionally rotated by the Marshall sign (-1)^{N_up(A)}, and restricted to a
symmetry sector by the projector P = (1/|G|) sum_g conj(chi(g)) U_g (and the
spin flip). The lowest eigenvalue of P H P on the range of P is the sector's
ground-state energy. Site i = x + Lx y; (g s)[perm_g(i)] = s[i];
psi(T_d s) = exp(i k.d) psi(s).  Run: python3 tests/data/sector_references.py
"""
import itertools
import numpy as np


def chain_bonds(L):
    return [(i, (i + 1) % L) for i in range(L)]


def square_bonds(L):
    nn, nnn = set(), set()
    for y in range(L):
        for x in range(L):
            i = x + L * y
            for dx, dy in ((1, 0), (0, 1)):
                j = (x + dx) % L + L * ((y + dy) % L)
                nn.add(tuple(sorted((i, j))))
            for dx, dy in ((1, 1), (1, -1)):
                j = (x + dx) % L + L * ((y + dy) % L)
                nnn.add(tuple(sorted((i, j))))
    return sorted(nn), sorted(nnn)


def basis(N, mag):
    n_up = (N + mag) // 2
    states = []
    for ups in itertools.combinations(range(N), n_up):
        s = -np.ones(N, dtype=int)
        s[list(ups)] = 1
        states.append(tuple(s))
    return states, {s: k for k, s in enumerate(states)}


def hamiltonian(states, index, bonds, J, sublat=None):
    D = len(states)
    H = np.zeros((D, D))
    for k, s in enumerate(states):
        for (i, j, Jij) in bonds:
            H[k, k] += Jij * s[i] * s[j]
            if s[i] != s[j]:
                t = list(s)
                t[i], t[j] = -t[i], -t[j]
                sign = 1.0
                if sublat is not None and sublat[i] != sublat[j]:
                    sign = -1.0
                H[index[tuple(t)], k] += 2.0 * Jij * sign
    return H


def operator(states, index, perm, flip=False):
    D = len(states)
    U = np.zeros((D, D))
    for k, s in enumerate(states):
        t = [0] * len(s)
        for i, si in enumerate(s):
            t[perm[i]] = -si if flip else si
        U[index[tuple(t)], k] = 1.0
    return U


def sector_energy(H, ops):
    """ops: list of (U, coefficient); projector P = sum c U / sum over group."""
    P = sum(c * U for U, c in ops) / len(ops)
    w, v = np.linalg.eigh((P + P.conj().T) / 2)
    rng = v[:, w > 0.5]
    if rng.shape[1] == 0:
        return None
    Hs = rng.conj().T @ H @ rng
    return float(np.linalg.eigvalsh((Hs + Hs.conj().T) / 2)[0])


def ring(N, k_m, mag, marshall, reflection=None, flip=None):
    states, index = basis(N, mag)
    sub = [i % 2 for i in range(N)] if marshall else None
    H = hamiltonian(states, index, [(i, j, 1.0) for i, j in chain_bonds(N)], 1.0, sub)
    k = 2 * np.pi * k_m / N
    ops = []
    for d in range(N):
        for m in ([0, 1] if reflection is not None else [0]):
            perm = [((-i if m else i) + d) % N for i in range(N)]
            chi = np.exp(1j * k * d) * (reflection if m else 1)
            for f in ([0, 1] if flip is not None else [0]):
                chi_f = chi * (flip if f else 1)
                ops.append((operator(states, index, perm, bool(f)), np.conj(chi_f)))
    return sector_energy(H, ops)


def square(L, mag, marshall, J2=0.0, k=(0, 0), irrep=None, flip=None):
    N = L * L
    states, index = basis(N, mag)
    nn, nnn = square_bonds(L)
    sub = [(i % L + i // L) % 2 for i in range(N)] if marshall else None
    bonds = [(i, j, 1.0) for i, j in nn] + [(i, j, J2) for i, j in nnn if J2 != 0.0]
    H = hamiltonian(states, index, bonds, 1.0, sub)
    # point group C4v: r^j m^b, r: (x,y)->(-y,x), m: (x,y)->(x,-y); k = 0 only here
    assert irrep is None or k == (0, 0)
    mats = []
    for b in range(2):
        R = np.eye(2, dtype=int) if b == 0 else np.array([[1, 0], [0, -1]])
        for j in range(4):
            mats.append((R, j, b))
            R = np.array([[0, -1], [1, 0]]) @ R
    chars = {None: lambda j, b: 1, 'A1': lambda j, b: 1, 'A2': lambda j, b: (-1) ** b,
             'B1': lambda j, b: (-1) ** j, 'B2': lambda j, b: (-1) ** (j + b)}
    ops = []
    points = mats if irrep is not None else [mats[0]]
    for dx in range(L):
        for dy in range(L):
            for (R, j, b) in points:
                perm = []
                for i in range(N):
                    x, y = i % L, i // L
                    X, Y = R @ np.array([x, y])
                    perm.append((X + dx) % L + L * ((Y + dy) % L))
                chi = np.exp(2j * np.pi * (k[0] * dx + k[1] * dy) / L) * chars[irrep](j, b)
                for f in ([0, 1] if flip is not None else [0]):
                    ops.append((operator(states, index, perm, bool(f)),
                                np.conj(chi * (flip if f else 1))))
    return sector_energy(H, ops)


if __name__ == "__main__":
    print("ring N=10, no Marshall, m=0: k=0", ring(10, 0, 0, False), "k=pi", ring(10, 5, 0, False))
    print("ring N=10, Marshall, m=0, k=0:", ring(10, 0, 0, True))
    print("ring N=10, Marshall, m=2, k=0:", ring(10, 0, 2, True), "k=pi:", ring(10, 5, 2, True))
    print("ring N=10, Marshall, m=0, k=0, refl odd:", ring(10, 0, 0, True, reflection=-1))
    print("ring N=10, Marshall, m=0, k=0, flip odd:", ring(10, 0, 0, True, flip=-1))
    print("ring N=10, Marshall, m=0, k=0, flip even:", ring(10, 0, 0, True, flip=+1))
