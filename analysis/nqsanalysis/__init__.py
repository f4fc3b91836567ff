"""nqsanalysis: read nqsvmc result files (HDF5, docs/results-format.md) and make
summary tables and plots. Only reads files; never writes to them.

Library API for reports:
    run = load_result(path)                  # Run: attrs, history arrays, result, reference
    row = summary_row(run, window=10)        # dict, keys summary.COLUMNS
    it, rel = relative_error_curve(run, window=1)        # None without reference
    samples, rel = samples_vs_relative_error(run, window=10)
    first_iteration_within(run, 1e-3, window=10), samples_to_reach(run, 1e-3, window=10)
"""

from .resultfile import HISTORY_DATASETS, ResultFileError, Run, load_result
from .stats import (first_iteration_within, relative_error, relative_error_curve,
                    running_energy, samples_to_reach, samples_vs_relative_error,
                    tail_estimate)
from .summary import COLUMNS, format_table, summary_row, write_csv

__all__ = [
    "HISTORY_DATASETS", "ResultFileError", "Run", "load_result",
    "first_iteration_within", "relative_error", "relative_error_curve", "running_energy",
    "samples_to_reach", "samples_vs_relative_error", "tail_estimate",
    "COLUMNS", "format_table", "summary_row", "write_csv",
]
