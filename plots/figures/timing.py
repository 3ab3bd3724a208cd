"""Time figures: forward time against N, and thread scaling."""

import math
import statistics
from collections import defaultdict

from matplotlib import ticker

from .data import num, pin_config, series, spec_of
from .style import (draw_lines, finish, finish_log10_axis, human_tokens, legend_entries, new_figure,
                    seq_len_axis, set_pow2_axis, skip, wrap_spec)


def plot_time(rows, ctx, out_dir, written):
    """Forward time against N, log-log, with faint N and N² slopes to read complexity from."""
    stem = "time_vs_seq_len"
    if not ctx.has("time_ms"):
        return skip(stem, "no time_ms column")
    rows, notes = pin_config(rows)
    data = series(rows, "time_ms", "time_ms_min", "time_ms_max")
    if not data:
        return skip(stem, "no ok rows with a time")
    fig, axes = new_figure("Forward time vs sequence length", rows)
    ax = axes[0][0]
    draw_lines(ax, data, ctx, band=True)
    ax.set_yscale("log")
    finish_log10_axis(ax, "y")
    ns = sorted({p[0] for pts in data.values() for p in pts})
    seq_len_axis(ax, ns)
    ax.set_ylabel("time per forward, median (ms)")
    ax.grid(True, which="major", alpha=0.3)
    notes.append("line: median over reps; band: min-max over reps")
    if draw_reference_slopes(ax, data, ns):
        notes[-1] += "; grey: slopes ∝N and ∝N² through the smallest-N median"
    finish(fig, out_dir, stem, notes + ctx.left_out_note(), written, legend_entries([ax]))


def draw_reference_slopes(ax, data, ns):
    """Grey ∝N and ∝N² guides anchored at the median time of the smallest N, clipped to the data.

    Returns whether they were drawn: a single N has no slope to compare.
    """
    if len(ns) < 2:
        return False
    first = [p[1] for pts in data.values() for p in pts if p[0] == ns[0]]
    anchor = statistics.median(first)
    ylim = ax.get_ylim()
    for power, style, label in ((1, "--", "∝ N"), (2, ":", "∝ N²")):
        ax.plot(ns, [anchor * (n / ns[0]) ** power for n in ns], style, color="0.45",
                linewidth=1, alpha=0.7, label=label, zorder=0)
    ax.set_ylim(ylim)
    return True


def plot_threads(rows, ctx, out_dir, written):
    """Speedup over the smallest thread count, per spec, at its largest N measured at every count."""
    stem = "thread_scaling"
    if not (ctx.has("threads") and ctx.has("time_ms")):
        return skip(stem, "no threads or time_ms column")
    rows, notes = pin_config(rows, free=("threads",))
    counts = sorted({num(r, "threads") for r in rows if not math.isnan(num(r, "threads"))})
    if len(counts) < 2:
        return skip(stem, "only one thread count in the data")
    by_spec = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        t, n, threads = num(r, "time_ms"), num(r, "seq_len"), num(r, "threads")
        if not any(math.isnan(v) for v in (t, n, threads)):
            by_spec[spec_of(r)][n][threads] = t
    fig, axes = new_figure("Thread scaling", rows, free=("threads",))
    ax = axes[0][0]
    for spec, by_n in ctx.ordered(by_spec):
        full = [n for n, times in by_n.items() if len(times) == len(counts)]
        if not full:
            continue
        n = max(full)
        times = by_n[n]
        colour, marker = ctx.styles[spec]
        ax.plot(counts, [times[counts[0]] / times[c] for c in counts], color=colour, marker=marker,
                label=wrap_spec(f"{spec} (N={human_tokens(n)})"))
    ax.plot(counts, [c / counts[0] for c in counts], "--", color="0.5", linewidth=1, label="ideal")
    ax.set_xscale("log", base=2)
    set_pow2_axis(ax.xaxis, counts, lambda v, _p=None: f"{v:g}")
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p=None: f"{v:g}×"))
    ax.set_xlabel("threads")
    ax.set_ylabel(f"speedup over {counts[0]:g} thread(s)")
    ax.grid(True, alpha=0.3)
    notes.append("per spec at the largest N measured at every thread count (N in the legend)")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(), written, legend_entries([ax]))
