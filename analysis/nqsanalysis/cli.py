"""Command line of analysis/nqs-analyze: `summary`, `plot` and `observables` sub-commands.

Exit status: 0 success; 2 for a usage error or an input file that is missing,
not HDF5 or not an nqsvmc result (one line per file on stderr); 1 when an output
cannot be written.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from .resultfile import ResultFileError, load_result

PROG = "nqs-analyze"

DEFINITIONS = """\
definitions:
  final energy      /result energy and energy_error (autocorrelation-aware) when the
                    run has finished. Without /result (run still going, status
                    "running"): mean of the last ceil(n/10) history energies and
                    their standard error s/sqrt(k) (ddof=1; ignores correlation
                    between iterations); variance = mean of their energy_variance,
                    V-score = N*variance/E^2.
  relative error    |E - E_ref| / |E_ref|, E_ref from /reference (empty if absent).
  running energy    trailing moving average of /history/energy over W iterations
                    (--window, default 10): R_t = (E_{t-W+1} + ... + E_t)/W, defined
                    from history entry t = W-1 on. --window 1 uses the history
                    energy itself.
  first iteration within d
                    the /history/iteration value of the first entry whose running
                    energy has relative error <= d (d = 1e-2, 1e-3); empty if never
                    reached or no reference. samples_to_d (CSV) is samples_total
                    there.
  energies are in the file's convention (Pauli units for nqsvmc).
"""


def _load_all(paths):
    """Load every file; on failure print one line per bad file and return None."""
    runs, bad = [], False
    for p in paths:
        try:
            runs.append(load_result(p))
        except ResultFileError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            bad = True
    return None if bad else runs


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return v


def _cmd_summary(args) -> int:
    from .summary import format_table, summary_row, write_csv

    runs = _load_all(args.files)
    if runs is None:
        return 2
    rows = [summary_row(r, window=args.window, tail_fraction=args.tail_fraction) for r in runs]
    if args.output not in (None, "-") and os.path.exists(args.output):
        for p in args.files:
            if os.path.samefile(p, args.output):
                print(f"{PROG}: error: -o {args.output} is one of the input files; refusing to "
                      "overwrite it", file=sys.stderr)
                return 2
    try:
        out = sys.stdout if args.output in (None, "-") else open(args.output, "w", newline="",
                                                                 encoding="utf-8")
    except OSError as e:
        print(f"{PROG}: error: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 1
    try:
        if args.csv:
            write_csv(rows, out)
        else:
            out.write(format_table(rows))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _cmd_plot(args) -> int:
    runs = _load_all(args.files)
    if runs is None:
        return 2
    if args.labels is not None and len(args.labels) != len(runs):
        print(f"{PROG}: error: --labels: {len(args.labels)} labels given for {len(runs)} files",
              file=sys.stderr)
        return 2
    labels = args.labels
    keep = [i for i, r in enumerate(runs) if r.n_iterations > 0]
    for i, r in enumerate(runs):
        if i not in keep:
            print(f"{PROG}: note: {r.path}: no history entries yet, not plotted", file=sys.stderr)
    if not keep:
        print(f"{PROG}: error: nothing to plot (no history entries in any file)", file=sys.stderr)
        return 1
    runs = [runs[i] for i in keep]
    if labels is not None:
        labels = [labels[i] for i in keep]
    from .plots import default_labels, plot_runs  # matplotlib only when plotting

    if labels is None:
        labels = default_labels(runs)
    if not any(r.reference_energy is not None for r in runs):
        print(f"{PROG}: note: no reference energy in any file, relative-error figures skipped",
              file=sys.stderr)
    try:
        paths = plot_runs(runs, args.output, labels=labels, window=args.window)
    except OSError as e:
        print(f"{PROG}: error: cannot write figures to {args.output}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


def _cmd_observables(args) -> int:
    from .observables import plot_observables  # matplotlib only when plotting

    if args.labels is not None and len(args.labels) != len(args.files):
        print(f"{PROG}: error: --labels: {len(args.labels)} labels given for {len(args.files)} "
              "files", file=sys.stderr)
        return 2
    try:
        paths = plot_observables(args.files, args.output, group=args.group, labels=args.labels)
    except ResultFileError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: error: cannot write figures to {args.output}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    if not paths:
        print(f"{PROG}: error: no correlation or structure-factor datasets in the files "
              "([observables] correlations = zz|full, structure_factor = all)", file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(
            "Tables and plots from nqsvmc result files (HDF5). Files that are still "
            "being written (SWMR) can be read; files are never modified."),
        epilog=DEFINITIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser(
        "summary", help="one row per file: energy, error, V-score, relative error, convergence",
        description=textwrap.fill(
            "One row per result file. Text columns: file, system (Hamiltonian on lattice), "
            "model, shared (weights shared over translations), P (complex parameters), "
            "samples/it, iters, status (finished/running), E +/- err, variance, V-score, "
            "E_ref, rel.err, wall(s) (cumulative wall time), it@1e-2 and it@1e-3 (first "
            "iteration within that relative error). --csv writes more columns: lattice, "
            "hamiltonian, n_sites, reference_source, relative_error_error, samples_to_1e-2, "
            "samples_to_1e-3, window, convention."),
        epilog=DEFINITIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("files", nargs="+", metavar="FILE", help="nqsvmc result file(s)")
    s.add_argument("--csv", action="store_true", help="CSV with a header row instead of a table")
    s.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    s.add_argument("--window", type=_positive_int, default=10, metavar="W",
                   help="moving-average window of the running energy, iterations (default 10)")
    s.add_argument("--tail-fraction", type=_fraction, default=0.1, metavar="F",
                   help="fraction of the history averaged for a running file (default 0.1)")
    s.set_defaults(func=_cmd_summary)

    q = sub.add_parser(
        "plot", help="PNG figures: energy, relative error, variance vs iteration",
        description=textwrap.fill(
            "Writes DIR/energy.png, DIR/variance.png and, when a reference energy is "
            "known, DIR/relative_error.png and DIR/relative_error_vs_samples.png; "
            "prints the paths written. All files go on the same figures."),
        epilog=DEFINITIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("files", nargs="+", metavar="FILE", help="nqsvmc result file(s)")
    q.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="output directory (created if needed)")
    q.add_argument("--labels", nargs="+", metavar="LABEL",
                   help="legend labels, one per file (default: model (P=n_params))")
    q.add_argument("--window", type=_positive_int, default=10, metavar="W",
                   help="moving-average window of the running energy, iterations (default 10)")
    q.set_defaults(func=_cmd_plot)

    o = sub.add_parser(
        "observables", help="PNG figures: C(r) and S(q) with error bars",
        description=textwrap.fill(
            "Writes DIR/correlation.png (every correlation_zz / correlation_full dataset "
            "against the distance |r|, shortest periodic image) and "
            "DIR/structure_factor.png (structure_factor_zz at every q) with their Monte "
            "Carlo error bars, from /result/observables (default), or the group given with "
            "--group (e.g. /measure/0; without /result the last /measure/<k>); prints the "
            "paths written."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("files", nargs="+", metavar="FILE", help="nqsvmc result file(s)")
    o.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="output directory (created if needed)")
    o.add_argument("--group", metavar="GROUP", help="/result (default) or /measure/<k>")
    o.add_argument("--labels", nargs="+", metavar="LABEL", help="legend labels, one per file")
    o.set_defaults(func=_cmd_observables)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `nqs-analyze summary ... | head`
        return 0
