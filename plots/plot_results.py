#!/usr/bin/env python3
"""Draw the figures of an attnbench results CSV, or a sparsity pattern.

    plot_results.py RESULTS.csv [--out DIR] [--read-bandwidth GBPS]
    plot_results.py --pattern PATTERN.npy [--title TEXT] [--out FILE.png]

The CSV is the tidy long-format file written by `attnbench sweep`: one row per
(point, variant). Columns are selected by name, so columns appended later do not
matter. Only rows with status "ok" are plotted; the others are counted in each
figure's note. Figures go to a folder named after the CSV (results/foo.csv gives
results/foo/*.png and *.svg) unless --out names another folder.

The sequence-length figures use the square rows only (query_len = seq_len and
kv_heads = heads, or a CSV from before those columns), so they keep their
meaning. Decode sessions (decode_steps > 0) get two figures: error against step,
and step time against the cache's bytes. Rows with query_len < seq_len (decode,
chunked prefill) get two figures
of their own: time against the KV length N, and GB/s (min_bytes / time, the
compulsory traffic of Q, K, V and the output) against N, one panel per query
count M. --read-bandwidth GBPS draws the machine's read bandwidth as a ceiling
on the GB/s panels (for example the triad figure of attnbench_micro, in GB/s of
10^9 bytes).

The figures are drawn by the modules of figures/, one per family (timing, memory,
accuracy, serving, density, pattern); this script chooses which the data support.
"""

import argparse
import math
import os
import sys

from figures.data import (EXACT_VARIANTS, InputError, distinct, is_decode, is_session, is_square,
                          read_results, spec_of)
from figures.style import Context
from figures.accuracy import plot_accuracy, plot_speed_accuracy
from figures.density import plot_density, plot_speedup_density
from figures.memory import plot_memory
from figures.pattern import plot_pattern
from figures.serving import plot_decode_bandwidth, plot_decode_time
from figures.sessions import plot_session_cost, plot_session_error
from figures.timing import plot_threads, plot_time


def plot_all(rows, header, source, out_dir, read_bandwidth=None):
    """Every figure the data support; returns the files written."""
    ctx = Context(rows, header)
    ok = [r for r in rows if r["status"] == "ok"]
    written = []
    if not ok:
        print(f"{source}: no rows with status ok, nothing to plot", file=sys.stderr)
        return written
    # The sequence-length figures compare square self-attention, as they always have.
    square = [r for r in ok if is_square(r)]
    if square:
        plot_time(square, ctx, out_dir, written)
        plot_memory(square, ctx, out_dir, written)
        plot_accuracy(square, ctx, out_dir, written)
        plot_speed_accuracy(square, ctx, out_dir, written, "mass_recall")
        plot_speed_accuracy(square, ctx, out_dir, written, "rel_err")
        plot_threads(square, ctx, out_dir, written)
    decode = [r for r in ok if is_decode(r)]
    if decode:
        plot_decode_time(decode, ctx, out_dir, written)
        plot_decode_bandwidth(decode, ctx, out_dir, written, read_bandwidth)
    sessions = [r for r in ok if is_session(r)]
    if sessions:
        plot_session_error(sessions, ctx, out_dir, written)
        plot_session_cost(sessions, ctx, out_dir, written)
    # Matched density: only worth drawing when some variant was swept over several budgets.
    forwards = [r for r in ok if not is_session(r)]
    sparse = [r for r in forwards if r["variant"] not in EXACT_VARIANTS]
    if any(len({spec_of(r) for r in sparse if r["variant"] == v}) > 1 for v in distinct(sparse, "variant")):
        plot_density(forwards, ctx, out_dir, written, "mass_recall")
        plot_density(forwards, ctx, out_dir, written, "rel_err")
        plot_speedup_density(forwards, ctx, out_dir, written)
    if not written:
        print(f"{source}: the ok rows carry nothing these figures need, none written", file=sys.stderr)
    return written


# ---------------------------------------------------------------- command line


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Plot an attnbench results CSV, or a sparsity pattern (.npy).")
    parser.add_argument("csv", nargs="?", help="results CSV written by `attnbench sweep`")
    parser.add_argument("--pattern", metavar="NPY", help="draw this uint8 [H, M, N] pattern instead")
    parser.add_argument("--title", help="pattern figure title (default: the file name)")
    parser.add_argument("--out", help="output folder for a CSV (default: next to it, named after it); "
                                      "output file for a pattern (default: PATTERN.png)")
    parser.add_argument("--read-bandwidth", metavar="GBPS", type=positive_float,
                        help="memory read bandwidth of the machine in GB/s (10^9 bytes), drawn as a "
                             "ceiling on the decode GB/s figure (default: none drawn)")
    args = parser.parse_args(argv)
    if bool(args.csv) == bool(args.pattern):
        parser.error("give either a results CSV or --pattern NPY")
    if args.pattern and args.read_bandwidth:
        parser.error("--read-bandwidth is for a results CSV, not a pattern")
    return args


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of GB/s, got {text!r}")
    return value


def main(argv=None):
    """Entry point; returns the exit status (0 ok, 2 unreadable input)."""
    args = parse_args(argv)
    try:
        if args.pattern:
            written = [plot_pattern(args.pattern, args.title, args.out)]
        else:
            rows, header = read_results(args.csv)
            if not header:
                print(f"{args.csv}: empty file, nothing to plot", file=sys.stderr)
                return 0
            out_dir = args.out or os.path.splitext(args.csv)[0]
            written = plot_all(rows, header, args.csv, out_dir, args.read_bandwidth)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
