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
meaning. Rows with query_len < seq_len (decode, chunked prefill) get two figures
of their own: time against the KV length N, and GB/s (min_bytes / time, the
compulsory traffic of Q, K, V and the output) against N, one panel per query
count M. --read-bandwidth GBPS draws the machine's read bandwidth as a ceiling
on the GB/s panels (for example the triad figure of attnbench_micro, in GB/s of
10^9 bytes).
"""

import argparse
import csv
import math
import os
import re
import statistics
import sys
import textwrap
from collections import defaultdict

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display on benchmark machines; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

# Without these the CSV cannot be split into lines at all.
REQUIRED_COLUMNS = ("variant", "params", "seq_len", "status")

# Configuration columns that change what a line means. A figure that does not
# facet on one of them keeps a single value, so every line compares like with like.
CONFIG_COLUMNS = ("input", "threads", "causal", "shared_qk", "batch", "heads", "kv_heads", "head_dim",
                  "scale", "dtype")

# Known variants first, in the order a reader expects (baselines, then sparse).
VARIANT_ORDER = ("dense", "flash", "sliding_window", "longformer", "bigbird", "lsh", "streaming",
                 "block_topk", "moba", "vertical_slash", "quest", "topp", "topk")
# The oracle that keeps each query's k best keys: at a given density no method that keeps k keys
# per query can recall more mass, so the density figures draw it as the frontier.
FRONTIER_VARIANT = "topk"
EXACT_VARIANTS = ("dense", "flash")
DENSITY_PANEL_SHAPES = 4

FIGURE_FORMATS = ("png", "svg")
LEGEND_WRAP = 32
# Two or more display pixels per pooled cell, so a one-token global row stays visible.
MAX_PATTERN_PIXELS = 256
MAX_PATTERN_HEADS = 4
PARETO_PANELS = 3
LABEL_FONT_SIZE = 7


class InputError(Exception):
    """A file the script cannot read; main() reports it and exits with status 2."""


# ---------------------------------------------------------------- reading


def read_results(path):
    """Return (rows, header) with every field a string; empty or short fields become ''."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            if not header:
                return [], []
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from e
    except csv.Error as e:
        raise InputError(f"{path}: malformed CSV: {e}") from e
    return rows, header


def num(row, column):
    """Numeric field, NaN when absent, empty, unparsable or infinite."""
    try:
        value = float(row.get(column, ""))
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def is_square(row):
    """Self-attention: M = N queries and one kv head per query head; columns absent count as square."""
    def same(column, other):
        value = row.get(column, "")
        return value == "" or num(row, column) == num(row, other)
    return same("query_len", "seq_len") and same("kv_heads", "heads")


def is_decode(row):
    """Fewer queries than keys: decode (M = 1) or a chunk of prefill over a KV cache."""
    return num(row, "query_len") < num(row, "seq_len")


def gigabytes_per_second(row):
    """min_bytes / time in 10^9 bytes per second; min_bytes from the shape when the row has none."""
    traffic = num(row, "min_bytes")
    if math.isnan(traffic):
        b, h, kv, m, n, d = (num(row, c) for c in ("batch", "heads", "kv_heads", "query_len",
                                                     "seq_len", "head_dim"))
        traffic = 4 * (2 * b * h * m * d + 2 * b * kv * n * d)
    time_ms = num(row, "time_ms")
    if math.isnan(traffic) or not time_ms > 0:
        return math.nan
    return traffic / (time_ms * 1e6)


def spec_of(row):
    """The full variant spec, as the sweep's --variants flag accepts it."""
    params = row.get("params", "")
    return row["variant"] + (":" + params if params else "")


def distinct(rows, column):
    """Values of a column in order of first appearance."""
    return list(dict.fromkeys(row.get(column, "") for row in rows))


def numeric_key(value):
    """Sort key that orders numeric strings by value and puts the rest after them."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


# ---------------------------------------------------------------- styling


def wrap_spec(spec, width=LEGEND_WRAP):
    """Break a long spec after its commas so legends stay narrow but keep the exact text."""
    lines, current = [], ""
    for piece in spec.replace(",", ",\n").split("\n"):
        if current and len(current) + len(piece) > width:
            lines.append(current)
            current = "  " + piece
        else:
            current += piece
    lines.append(current)
    return "\n".join(lines)


def spec_styles(rows):
    """Colour and marker per spec, fixed over the whole CSV so every figure agrees."""
    def order(spec):
        name = spec.split(":", 1)[0]
        rank = VARIANT_ORDER.index(name) if name in VARIANT_ORDER else len(VARIANT_ORDER)
        # Natural order: window=256 before window=1024.
        return (rank, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", spec)])

    specs = sorted(dict.fromkeys(spec_of(r) for r in rows), key=order)
    colours = plt.get_cmap("tab10" if len(specs) <= 10 else "tab20").colors
    markers = "osD^vP*Xhp<>"
    return {s: (colours[i % len(colours)], markers[i % len(markers)]) for i, s in enumerate(specs)}


def human_bytes(value, _pos=None):
    """Axis label for a byte count in binary units."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = 0
    while abs(value) >= 1024 and power < len(units) - 1:
        value /= 1024
        power += 1
    return f"{value:.3g} {units[power]}"


def human_tokens(value, _pos=None):
    """Axis label for a token count: 1K, 64K, 1M."""
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def plain_number(value, _pos=None):
    """Log-axis label without exponents, which read poorly for times and ratios."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def set_pow2_axis(axis, values, formatter, max_ticks=7):
    """Log2 axis with ticks on powers of two, thinned so the labels never collide."""
    values = [v for v in values if v > 0]
    if not values:
        return
    lo, hi = math.floor(math.log2(min(values))), math.ceil(math.log2(max(values)))
    stride = max(1, math.ceil((hi - lo + 1) / max_ticks))
    axis.set_major_locator(ticker.FixedLocator([2.0 ** e for e in range(lo, hi + 1, stride)]))
    axis.set_major_formatter(ticker.FuncFormatter(formatter))
    axis.set_minor_locator(ticker.NullLocator())


def finish_log10_axis(ax, which, plain=True):
    """Label a log10 axis once its data are in: plain numbers for times and ratios.

    Minor ticks stay (labelled) only when the axis spans less than a decade and
    majors alone would leave it bare; on wide axes they cost seconds per figure in
    layout and add nothing.
    """
    ax.autoscale_view()
    axis = ax.xaxis if which == "x" else ax.yaxis
    if plain:
        axis.set_major_formatter(ticker.FuncFormatter(plain_number))
    lo, hi = axis.get_view_interval()
    if lo > 0 and hi / lo >= 10:
        axis.set_minor_locator(ticker.NullLocator())
    else:
        axis.set_minor_formatter(ticker.FuncFormatter(lambda v, _p=None: minor_label(v, plain)))


def minor_label(value, plain):
    """Label the 2, 3 and 5 minor ticks of a short log axis; more would crowd it."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
    if mantissa not in (2, 3, 5):
        return ""
    return plain_number(value) if plain else f"{value:.0e}"


def seq_len_axis(ax, ns, max_ticks=7):
    """The shared x axis of most figures."""
    ax.set_xscale("log", base=2)
    set_pow2_axis(ax.xaxis, ns, human_tokens, max_ticks)
    ax.set_xlabel("sequence length N (tokens)")


# ---------------------------------------------------------------- selection


class Context:
    """What every figure needs besides its rows: the columns present, styles and the left-out count."""

    def __init__(self, all_rows, header):
        self.header = header
        self.styles = spec_styles(all_rows)
        left_out = defaultdict(int)
        for row in all_rows:
            if row["status"] != "ok":
                left_out[row["status"] or "no status"] += 1
        self.left_out = dict(left_out)
        self.not_square = sum(1 for r in all_rows if r["status"] == "ok" and not is_square(r))

    def has(self, column):
        return column in self.header

    def ordered(self, by_spec):
        """Items of a spec-keyed dict in style order, so legends list variants alike everywhere."""
        rank = {spec: i for i, spec in enumerate(self.styles)}
        return sorted(by_spec.items(), key=lambda item: rank.get(item[0], len(rank)))

    def left_out_note(self, square_figure=True):
        notes = []
        if square_figure and self.not_square:
            notes.append(f"square rows only (query_len = seq_len, kv_heads = heads): {self.not_square} "
                         "ok row(s) of other shapes left out; rows with query_len < seq_len are in "
                         "the decode figures")
        if self.left_out:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(self.left_out.items()))
            notes.append(f"left out (status not ok, whole file): {counts}")
        return notes


def pin_config(rows, free=()):
    """Keep one value of each configuration column not in free; return rows and notes saying which.

    Threads pin to the largest count (the timing a user would quote); other columns
    to the first value in the file, which is the first value the sweep config listed.
    """
    pins = []
    for column in CONFIG_COLUMNS:
        if column in free:
            continue
        values = distinct(rows, column)
        if len(values) <= 1:
            continue
        chosen = max(values, key=numeric_key) if column == "threads" else values[0]
        rows = [r for r in rows if r.get(column, "") == chosen]
        pins.append(f"{column}={chosen} (of {', '.join(sorted(values, key=numeric_key))})")
    return rows, (["shown: " + "; ".join(pins)] if pins else [])


def series(rows, metric, low=None, high=None):
    """Per spec, sorted (N, value, low, high) points; repeated points (seeds) take the median."""
    grouped = defaultdict(lambda: defaultdict(list))
    for row in rows:
        n, value = num(row, "seq_len"), num(row, metric)
        if math.isnan(n) or math.isnan(value):
            continue
        lo = num(row, low) if low else value
        hi = num(row, high) if high else value
        grouped[spec_of(row)][n].append((value, lo, hi))
    out = {}
    for spec, by_n in grouped.items():
        out[spec] = [
            (n, statistics.median(p[0] for p in pts),
             statistics.median(p[1] for p in pts), statistics.median(p[2] for p in pts))
            for n, pts in sorted(by_n.items())
        ]
    return out


def machine_text(rows):
    """One line naming the machine, so figures from different hosts are never confused."""
    parts = []
    for column, label in (("cpu", "CPU"), ("blas_core", "BLAS core")):
        values = [v for v in distinct(rows, column) if v]
        if values:
            parts.append(f"{label}: {' / '.join(values)}")
    return " · ".join(parts)


def shape_text(rows, free=()):
    """One line with the shape and the pinned configuration of the plotted rows."""
    parts = []
    for column, label in (("batch", "B"), ("heads", "H"), ("kv_heads", "KV"), ("head_dim", "D")):
        values = distinct(rows, column)
        if column == "kv_heads" and all(is_square(r) for r in rows):
            continue  # KV = H, nothing to say
        if values != [""] and column not in free:
            parts.append(f"{label}={'/'.join(values)}")
    causal = distinct(rows, "causal")
    if causal != [""] and "causal" not in free:
        parts.append(" / ".join("causal" if c == "true" else "non-causal" for c in causal))
    for column in ("input", "threads"):
        values = distinct(rows, column)
        if values != [""] and column not in free:
            parts.append(f"{column}={'/'.join(values)}")
    return " · ".join(parts)


# ---------------------------------------------------------------- figure plumbing


def new_figure(title, rows, free=(), ncols=1, nrows=1, panel_size=(5.2, 3.8), **kwargs):
    """Figure with a title carrying the machine and shape lines."""
    fig, axes = plt.subplots(
        nrows, ncols, squeeze=False, constrained_layout=True,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.6), **kwargs)
    subtitle = "\n".join(t for t in (machine_text(rows), shape_text(rows, free)) if t)
    fig.suptitle(f"{title}\n{subtitle}" if subtitle else title, fontsize=11)
    return fig, axes


def finish(fig, out_dir, stem, notes, written, legend_handles=None):
    """Add the shared legend and the note, save every format, record the files."""
    if legend_handles:
        handles, labels = legend_handles
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.92),
                   fontsize=8, frameon=False, borderaxespad=0.5)
    if notes:
        text = "\n".join(textwrap.fill(n, 130) for n in notes)
        fig.text(0.0, -0.01, text, ha="left", va="top", fontsize=7.5, color="0.35")
        for note in notes:
            print(f"{stem}: {note}", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    for fmt in FIGURE_FORMATS:
        path = os.path.join(out_dir, f"{stem}.{fmt}")
        # Tight bbox takes in the legend and note placed outside the layout box.
        fig.savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.15)
        written.append(path)
    plt.close(fig)


def legend_entries(axes_list):
    """Deduplicated handles over all panels, so a figure has one legend naming each spec once."""
    entries = {}
    for ax in axes_list:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries.keys())


def skip(stem, reason):
    print(f"{stem}: skipped, {reason}", file=sys.stderr)


def draw_lines(ax, data, ctx, band=False):
    """One line per spec; band shades the min-max range where the row carried one."""
    for spec, points in ctx.ordered(data):
        colour, marker = ctx.styles[spec]
        ns = [p[0] for p in points]
        ax.plot(ns, [p[1] for p in points], color=colour, marker=marker, markersize=4,
                linewidth=1.5, label=wrap_spec(spec))
        if band and len(points) > 1:
            lows = [p[2] if not math.isnan(p[2]) else p[1] for p in points]
            highs = [p[3] if not math.isnan(p[3]) else p[1] for p in points]
            ax.fill_between(ns, lows, highs, color=colour, alpha=0.18, linewidth=0)


# ---------------------------------------------------------------- figures


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


def plot_memory(rows, ctx, out_dir, written):
    """Peak heap bytes (with the prediction) and peak RSS growth against N, log-log."""
    stem = "memory_vs_seq_len"
    rows, notes = pin_config(rows)
    panels = [(c, t) for c, t in (("peak_bytes", "peak heap during a forward"),
                                  ("rss_delta_bytes", "peak RSS growth"))
              if ctx.has(c) and series(rows, c)]
    if not panels:
        return skip(stem, "no peak_bytes or rss_delta_bytes values")
    fig, axes = new_figure("Peak memory vs sequence length", rows, ncols=len(panels),
                           sharey=True, panel_size=(4.6, 3.8))
    for ax, (column, title) in zip(axes[0], panels):
        data = series(rows, column)
        draw_lines(ax, data, ctx)
        if column == "peak_bytes" and ctx.has("predicted_bytes"):
            draw_predicted(ax, series(rows, "predicted_bytes"), ctx)
        ax.set_yscale("log", base=2)
        values = [p[1] for pts in data.values() for p in pts]
        set_pow2_axis(ax.yaxis, values, human_bytes, max_ticks=8)
        seq_len_axis(ax, sorted({p[0] for pts in data.values() for p in pts}))
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("bytes")
    if ctx.has("predicted_bytes") and panels[0][0] == "peak_bytes":
        notes.append("thin dotted: the variant's predicted workspace (predicted_bytes)")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(), written, legend_entries(axes[0]))


def draw_predicted(ax, data, ctx):
    """Predicted workspace as a thin dotted line in the spec's colour, without a legend entry."""
    for spec, points in data.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], ":", linewidth=1,
                color=ctx.styles[spec][0], alpha=0.8)


def plot_accuracy(rows, ctx, out_dir, written):
    """rel_err and mass_recall against N, a column of panels per input generator."""
    stem = "accuracy_vs_seq_len"
    metrics = [(c, label) for c, label in
               (("rel_err", "relative Frobenius error"), ("mass_recall", "attention-mass recall"))
               if ctx.has(c)]
    rows, notes = pin_config(rows, free=("input",))
    inputs = [i for i in distinct(rows, "input") if any(series(
        [r for r in rows if r.get("input", "") == i], c) for c, _ in metrics)]
    if not metrics or not inputs:
        return skip(stem, "no rel_err or mass_recall values")
    fig, axes = new_figure("Accuracy vs full attention", rows, free=("input",), ncols=len(inputs),
                           nrows=len(metrics), sharex=True, sharey="row", panel_size=(4.2, 3.0))
    all_ns = set()
    for col, inp in enumerate(inputs):
        subset = [r for r in rows if r.get("input", "") == inp]
        for row_index, (column, label) in enumerate(metrics):
            ax = axes[row_index][col]
            data = series(subset, column)
            draw_lines(ax, data, ctx)
            all_ns.update(p[0] for pts in data.values() for p in pts)
            ax.grid(True, alpha=0.3)
            if row_index == 0:
                ax.set_title(f"input = {inp or '(unnamed)'}", fontsize=10)
    # Shared axes share their tickers, so each row and the x axis are set up once, after all data.
    for row_index, (column, label) in enumerate(metrics):
        first = axes[row_index][0]
        first.set_ylabel(label)
        if column == "rel_err":
            first.set_yscale("log")
            finish_log10_axis(first, "y", plain=False)
        else:
            first.set_ylim(-0.02, 1.02)
    seq_len_axis(axes[-1][0], sorted(all_ns), max_ticks=6)
    for ax in axes[-1][1:]:
        ax.set_xlabel(axes[-1][0].get_xlabel())
    notes.append("rel_err: ‖O − O_full‖_F / ‖O_full‖_F on sampled query rows; "
                 "mass_recall: share of full attention's softmax mass on the keys the variant keeps")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(), written,
           legend_entries([ax for line in axes for ax in line]))


def plot_speed_accuracy(rows, ctx, out_dir, written, metric):
    """Speedup over flash (or dense) against an accuracy metric: the Pareto view.

    Panels: one row per input, one column per sequence length (the largest few at
    which a baseline was measured, since a speedup needs one).
    """
    stem = f"speed_vs_{metric}"
    if not (ctx.has("time_ms") and ctx.has(metric)):
        return skip(stem, f"no time_ms or {metric} column")
    rows, notes = pin_config(rows, free=("input",))
    # A zero time would divide by zero in the speedup; a NaN metric has no place on the axis.
    rows = [r for r in rows if num(r, "time_ms") > 0 and not math.isnan(num(r, metric))]
    if metric == "rel_err":
        rows = [r for r in rows if num(r, metric) > 0]  # a log axis cannot show an exact zero
    inputs = distinct(rows, "input")
    panels_n = pareto_lengths(rows)
    if not rows or not panels_n:
        return skip(stem, f"no ok rows with both time_ms and {metric}")
    fig, axes = new_figure(f"Speed vs accuracy ({metric})", rows, free=("input",),
                           ncols=len(panels_n), nrows=len(inputs), panel_size=(4.0, 3.3))
    for r_index, inp in enumerate(inputs):
        for c_index, n in enumerate(panels_n):
            subset = [r for r in rows if r.get("input", "") == inp and num(r, "seq_len") == n]
            draw_pareto_panel(axes[r_index][c_index], subset, ctx, metric)
            axes[r_index][c_index].set_title(f"N = {human_tokens(n)} · input = {inp or '(unnamed)'}",
                                             fontsize=9)
    notes.append(f"up and {'right' if metric == 'mass_recall' else 'left'} is better; grey steps: Pareto front; "
                 "speedup = baseline time / variant time at the same N and input, baseline flash (else dense); "
                 f"panels: N = {', '.join(human_tokens(n) for n in panels_n)}, the largest with a baseline")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(), written,
           legend_entries([ax for line in axes for ax in line]))


def baseline_name(rows):
    """flash is the fair exact baseline; dense is the fallback when flash was not swept."""
    names = {r["variant"] for r in rows}
    return next((b for b in ("flash", "dense") if b in names), None)


def pareto_lengths(rows):
    """The largest few sequence lengths at which a baseline time exists."""
    ns = {num(r, "seq_len") for r in rows if r["variant"] in ("flash", "dense")}
    return sorted(n for n in ns if not math.isnan(n))[-PARETO_PANELS:]


def draw_pareto_panel(ax, rows, ctx, metric):
    """Scatter of one (input, N) cell, its Pareto front and a label per point."""
    base = baseline_name(rows)
    base_times = [num(r, "time_ms") for r in rows if r["variant"] == base]
    if not base_times:
        ax.set_axis_off()
        return
    base_time = statistics.median(base_times)
    points = defaultdict(list)
    for r in rows:
        points[spec_of(r)].append((num(r, metric), base_time / num(r, "time_ms")))
    xy = {spec: (statistics.median(p[0] for p in pts), statistics.median(p[1] for p in pts))
          for spec, pts in points.items()}
    for spec, (x, y) in ctx.ordered(xy):
        colour, marker = ctx.styles[spec]
        ax.scatter([x], [y], color=colour, marker=marker, s=40, label=wrap_spec(spec), zorder=3)
    higher_x_better = metric == "mass_recall"
    front = pareto_front(list(xy.values()), higher_x_better)
    # The corners sit on the dominated side, so the staircase bounds what the variants achieve.
    ax.step([p[0] for p in front], [p[1] for p in front], where="pre" if higher_x_better else "post",
            color="0.6", linewidth=1, zorder=1)
    ax.set_yscale("log")
    ax.set_ylabel(f"speedup over {base} (×)")
    if metric == "rel_err":
        ax.set_xscale("log")
        ax.set_xlabel("relative Frobenius error (lower is better)")
    else:
        ax.set_xlabel("attention-mass recall")
    ax.margins(x=0.12, y=0.2)
    ax.grid(True, alpha=0.3)
    label_points(ax, xy, ctx)
    finish_log10_axis(ax, "y")
    if metric == "rel_err":
        finish_log10_axis(ax, "x", plain=False)


def pareto_front(points, higher_x_better):
    """Points no other point beats on both accuracy and speed, ordered along x."""
    # Among equally accurate points the fastest comes first, so the slower one is dominated.
    ordered = sorted(points, key=lambda p: (-p[0] if higher_x_better else p[0], -p[1]))
    front, best_y = [], -math.inf
    for x, y in ordered:
        if y > best_y:
            front.append((x, y))
            best_y = y
    return sorted(front)


def label_points(ax, xy, ctx):
    """Name each point by its variant, placing labels where they overlap no other label or point.

    Works in axes fractions, which survive constrained layout resizing the axes
    later; label widths are estimated from the character count.
    """
    ax.autoscale_view()
    to_axes = ax.transScale + ax.transLimits
    width_in = ax.get_position().width * ax.figure.get_figwidth()
    char_w = LABEL_FONT_SIZE * 0.58 / 72 / width_in
    height = 0.07
    names = [spec.split(":", 1)[0] for spec in xy]
    anchors = {spec: tuple(to_axes.transform(p)) for spec, p in xy.items()}
    taken = [(fx - 0.02, fy - 0.03, fx + 0.02, fy + 0.03) for fx, fy in anchors.values()]
    for spec, (fx, fy) in sorted(anchors.items(), key=lambda item: -item[1][1]):
        name = spec.split(":", 1)[0]
        text = name if names.count(name) == 1 else textwrap.shorten(spec, 26, placeholder="…")
        box = place_label(fx, fy, len(text) * char_w, height, taken)
        taken.append(box)
        left = box[2] < fx
        far = not box[1] - 0.01 <= fy <= box[3] + 0.01
        ax.annotate(text, xy[spec], xytext=(box[2] if left else box[0], box[1] + height / 2),
                    textcoords="axes fraction", fontsize=LABEL_FONT_SIZE, color=ctx.styles[spec][0],
                    ha="right" if left else "left", va="center", zorder=4,
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.75),
                    arrowprops=dict(arrowstyle="-", color="0.6", linewidth=0.6) if far else None)


def place_label(fx, fy, width, height, taken):
    """First free box near (fx, fy): beside the point, then stepping away vertically."""
    def overlaps(box):
        return any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken)

    candidates = []
    for step in range(0, 12):
        for dy in ((step * height,) if step == 0 else (step * height, -step * height)):
            for x0 in (fx + 0.025, fx - 0.025 - width):
                y0 = fy - height / 2 + dy
                candidates.append((x0, y0, x0 + width, y0 + height))
    inside = [b for b in candidates if b[0] >= 0 and b[2] <= 1 and b[1] >= 0 and b[3] <= 1]
    return next((b for b in inside if not overlaps(b)), inside[0] if inside else candidates[0])


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


# ---------------------------------------------------------------- decode figures


def decode_panels(rows, title):
    """The shared frame of the decode figures: pinned rows, one panel per query count M."""
    rows, notes = pin_config(rows)
    ms = sorted({num(r, "query_len") for r in rows if not math.isnan(num(r, "query_len"))})
    fig, axes = new_figure(title, rows, ncols=len(ms), sharey=True, panel_size=(4.4, 3.6))
    return rows, notes, ms, fig, axes[0]


def finish_decode_axis(ax, ns, m):
    seq_len_axis(ax, ns, max_ticks=6)
    ax.set_xlabel("KV length N (keys)")
    ax.set_title(f"M = {human_tokens(m)} quer{'y' if m == 1 else 'ies'}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)


def plot_decode_time(rows, ctx, out_dir, written):
    """Forward time against the KV length N, one panel per query count M (query_len < seq_len)."""
    stem = "decode_time_vs_seq_len"
    rows = [r for r in rows if num(r, "time_ms") > 0]
    if not rows:
        return skip(stem, "no decode rows with a time")
    rows, notes, ms, fig, axes = decode_panels(rows, "Decode: forward time vs KV length")
    for ax, m in zip(axes, ms):
        data = series([r for r in rows if num(r, "query_len") == m], "time_ms", "time_ms_min",
                      "time_ms_max")
        draw_lines(ax, data, ctx, band=True)
        finish_decode_axis(ax, sorted({p[0] for pts in data.values() for p in pts}), m)
    axes[0].set_yscale("log")
    finish_log10_axis(axes[0], "y")
    axes[0].set_ylabel("time per forward, median (ms)")
    notes.append("rows with query_len M < seq_len N: the M queries are the last M positions; "
                 "line: median over reps; band: min-max over reps")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(square_figure=False), written,
           legend_entries(axes))


def plot_decode_bandwidth(rows, ctx, out_dir, written, read_bandwidth=None):
    """GB/s = min_bytes / time against N, one panel per M, under an optional read-bandwidth ceiling."""
    stem = "decode_bandwidth_vs_seq_len"
    rows = [dict(r, gbps=gigabytes_per_second(r)) for r in rows]
    rows = [r for r in rows if not math.isnan(r["gbps"])]
    if not rows:
        return skip(stem, "no decode rows with a time and min_bytes")
    rows, notes, ms, fig, axes = decode_panels(rows, "Decode: memory traffic rate vs KV length")
    for ax, m in zip(axes, ms):
        data = series([r for r in rows if num(r, "query_len") == m], "gbps")
        draw_lines(ax, data, ctx)
        if read_bandwidth:
            ax.axhline(read_bandwidth, color="0.3", linestyle="--", linewidth=1,
                       label=f"read bandwidth ({read_bandwidth:g} GB/s)")
        finish_decode_axis(ax, sorted({p[0] for pts in data.values() for p in pts}), m)
    axes[0].set_yscale("log")
    finish_log10_axis(axes[0], "y")
    axes[0].set_ylabel("GB/s (min_bytes / median time)")
    notes.append("min_bytes = 4 bytes × (Q + K + V + output): what full attention must move once; "
                 "a variant that reads fewer keys can go above the read bandwidth")
    if read_bandwidth:
        notes.append(f"dashed: read bandwidth {read_bandwidth:g} GB/s (--read-bandwidth)")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(square_figure=False), written,
           legend_entries(axes))


def full_pairs(row):
    """Pairs full attention computes at the row's point: B·H·M·N, or the causal triangle's tail."""
    b, h, n = num(row, "batch"), num(row, "heads"), num(row, "seq_len")
    m = num(row, "query_len") if "query_len" in row and row["query_len"] else n
    if row.get("causal", "") == "true":
        per_head = m * (n - m) + m * (m + 1) / 2  # query i of M sees positions 0 .. N-M+i
    else:
        per_head = m * n
    return b * h * per_head


def density(row):
    """The share of full attention's pairs a variant computed (its pairs column over full_pairs)."""
    full = full_pairs(row)
    return num(row, "pairs") / full if full > 0 else math.nan


def point_key(row):
    """What makes two rows the same measurement point, apart from the variant."""
    return tuple(row.get(c, "") for c in ("input", "seq_len", "query_len", "batch", "heads",
                                            "kv_heads", "head_dim", "causal", "threads", "seed",
                                            "dtype", "scale", "shared_qk"))


def density_panels(rows):
    """(seq_len, query_len) shapes, the largest few; a panel column each."""
    shapes = sorted({(num(r, "seq_len"), num(r, "query_len") if r.get("query_len") else num(r, "seq_len"))
                     for r in rows}, key=lambda s: (s[1] < s[0], s[0], s[1]))
    return shapes[-DENSITY_PANEL_SHAPES:]


def shape_title(n, m, inp):
    queries = "" if m == n else f" · M = {human_tokens(m)}"
    return f"N = {human_tokens(n)}{queries} · input = {inp or '(unnamed)'}"


def variant_curves(rows, y_of):
    """Per variant name, its budget points (density, y) sorted by density; seeds take the median."""
    points = defaultdict(lambda: defaultdict(list))
    for r in rows:
        x, y = density(r), y_of(r)
        if math.isnan(x) or math.isnan(y) or x <= 0:
            continue
        points[r["variant"]][spec_of(r)].append((x, y))
    curves = {}
    for variant, by_spec in points.items():
        curve = [(statistics.median(p[0] for p in pts), statistics.median(p[1] for p in pts))
                 for pts in by_spec.values()]
        curves[variant] = sorted(curve)
    return curves


def draw_density_panel(ax, curves, ctx):
    """One line per variant across its budgets; the oracle frontier as a thick dashed line.

    Returns False (and blanks the panel) when no variant has a point there, e.g. a rel_err panel
    whose every error is exactly 0, so that a log axis is never asked to show nothing.
    """
    if not curves:
        ax.set_axis_off()
        return False
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    order = {name: i for i, name in enumerate(VARIANT_ORDER)}
    for index, (variant, curve) in enumerate(sorted(curves.items(), key=lambda kv: order.get(kv[0], 99))):
        xs, ys = [p[0] for p in curve], [p[1] for p in curve]
        if variant == FRONTIER_VARIANT:
            ax.plot(xs, ys, color="black", linestyle="--", linewidth=2.2, marker="o", markersize=3,
                    label=f"{variant} (oracle frontier)", zorder=4)
        else:
            colour = colours[order.get(variant, index) % len(colours)]
            ax.plot(xs, ys, color=colour, marker="o", markersize=4, linewidth=1.3, label=variant,
                    zorder=3)
    ax.set_xscale("log")
    finish_log10_axis(ax, "x", plain=False)
    ax.set_xlabel("density (pairs computed / full attention's pairs)")
    ax.grid(True, which="major", alpha=0.3)
    return True


def plot_density(rows, ctx, out_dir, written, metric):
    """Accuracy (mass_recall or rel_err) against density, one panel per input and shape.

    The figure that compares methods at matched density: each variant's budget sweep is a line,
    and the top-k oracle bounds what any method keeping k keys per query can reach.
    """
    stem = f"{metric}_vs_density"
    if not (ctx.has("pairs") and ctx.has(metric)):
        return skip(stem, f"no pairs or {metric} column")
    rows, notes = pin_config(rows, free=("input",))
    rows = [r for r in rows if r["variant"] not in EXACT_VARIANTS]
    if metric == "rel_err":
        rows = [r for r in rows if num(r, metric) > 0]
    inputs = distinct(rows, "input")
    shapes = density_panels(rows)
    if not rows or not shapes:
        return skip(stem, f"no ok sparse rows with pairs and {metric}")
    fig, axes = new_figure(f"{'Attention-mass recall' if metric == 'mass_recall' else 'Relative error'}"
                           " vs density", rows, free=("input",), ncols=len(shapes), nrows=len(inputs),
                           panel_size=(4.2, 3.4))
    for r_index, inp in enumerate(inputs):
        for c_index, (n, m) in enumerate(shapes):
            ax = axes[r_index][c_index]
            subset = [r for r in rows if r.get("input", "") == inp and num(r, "seq_len") == n
                      and (num(r, "query_len") if r.get("query_len") else n) == m]
            ax.set_title(shape_title(n, m, inp), fontsize=9)
            if not draw_density_panel(ax, variant_curves(subset, lambda r: num(r, metric)), ctx):
                continue
            if metric == "rel_err":
                ax.set_yscale("log")
                ax.set_ylabel("relative Frobenius error")
            else:
                ax.set_ylabel("attention-mass recall")
    notes.append("density = pairs / full attention's pairs at the same point; a line joins one "
                 "variant's budgets; dashed: the top-k oracle, the best recall any method keeping "
                 "k keys per query can reach")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(square_figure=False), written,
           legend_entries([ax for line in axes for ax in line]))


def plot_speedup_density(rows, ctx, out_dir, written):
    """Speedup over flash (else dense) at the same point against density."""
    stem = "speedup_vs_density"
    if not (ctx.has("pairs") and ctx.has("time_ms")):
        return skip(stem, "no pairs or time_ms column")
    rows, notes = pin_config(rows, free=("input",))
    rows = [r for r in rows if num(r, "time_ms") > 0]
    base = baseline_name(rows)
    if base is None:
        return skip(stem, "no flash or dense rows to take a speedup over")
    base_time = defaultdict(list)
    for r in rows:
        if r["variant"] == base:
            base_time[point_key(r)].append(num(r, "time_ms"))
    rows = [dict(r, speedup=statistics.median(base_time[point_key(r)]) / num(r, "time_ms"))
            for r in rows if r["variant"] not in EXACT_VARIANTS and point_key(r) in base_time]
    inputs = distinct(rows, "input")
    shapes = density_panels(rows)
    if not rows or not shapes:
        return skip(stem, f"no sparse rows at points where {base} was measured")
    fig, axes = new_figure(f"Speedup over {base} vs density", rows, free=("input",),
                           ncols=len(shapes), nrows=len(inputs), panel_size=(4.2, 3.4))
    for r_index, inp in enumerate(inputs):
        for c_index, (n, m) in enumerate(shapes):
            ax = axes[r_index][c_index]
            subset = [r for r in rows if r.get("input", "") == inp and num(r, "seq_len") == n
                      and (num(r, "query_len") if r.get("query_len") else n) == m]
            ax.set_title(shape_title(n, m, inp), fontsize=9)
            if not draw_density_panel(ax, variant_curves(subset, lambda r: r["speedup"]), ctx):
                continue
            ax.axhline(1.0, color="0.5", linewidth=0.8)
            ax.set_yscale("log")
            ax.set_ylabel(f"speedup over {base} (×)")
            finish_log10_axis(ax, "y")
    notes.append(f"speedup = median {base} time / median variant time at the same point (selection "
                 "included: it runs inside the forward); grey line: as fast as the baseline")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(square_figure=False), written,
           legend_entries([ax for line in axes for ax in line]))


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
    # Matched density: only worth drawing when some variant was swept over several budgets.
    sparse = [r for r in ok if r["variant"] not in EXACT_VARIANTS]
    if any(len({spec_of(r) for r in sparse if r["variant"] == v}) > 1 for v in distinct(sparse, "variant")):
        plot_density(ok, ctx, out_dir, written, "mass_recall")
        plot_density(ok, ctx, out_dir, written, "rel_err")
        plot_speedup_density(ok, ctx, out_dir, written)
    if not written:
        print(f"{source}: the ok rows carry nothing these figures need, none written", file=sys.stderr)
    return written


# ---------------------------------------------------------------- pattern


def load_pattern(path):
    """Map a [H, M, N] (or [M, N]) pattern without reading it all; reject any other shape."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from e
    except ValueError as e:
        raise InputError(f"{path}: not a .npy array file ({e})") from e
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or 0 in array.shape:
        raise InputError(f"{path}: expected shape [heads, M, N], got {list(array.shape)}")
    if array.shape[1] > array.shape[2]:
        raise InputError(f"{path}: {array.shape[1]} query rows over {array.shape[2]} keys; "
                         "expected [heads, M, N] with M <= N")
    return array


def max_pool(mask, factor):
    """Downsample by blocks keeping a cell lit if any element in it is: sparse bands stay visible."""
    if factor == 1:
        return np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    pr, pc = -rows % factor, -cols % factor
    padded = np.pad(np.asarray(mask, dtype=bool), ((0, pr), (0, pc)))
    return padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).any(axis=(1, 3))


def position_step(size, max_ticks=5):
    """Power-of-two tick spacing, so positions read as 2K, 4K, ... rather than 1.95312K."""
    step = 1
    while size / step > max_ticks:
        step *= 2
    return step


def heads_to_draw(pattern):
    """Head 0 alone when all heads match it, else the first few, so distinct heads are shown."""
    count = min(pattern.shape[0], MAX_PATTERN_HEADS)
    if all(np.array_equal(pattern[0] != 0, pattern[h] != 0) for h in range(1, pattern.shape[0])):
        return [0], True
    return list(range(count)), False


def plot_pattern(path, title, out_path):
    """Render a sparsity pattern like the BigBird and Longformer figures; returns the file written."""
    pattern = load_pattern(path)
    heads, n_q, n_k = pattern.shape
    # Query row m of an [H, M, N] export is the absolute position N - M + m.
    first = n_k - n_q
    # A few decode rows over many keys would be a sliver at equal aspect: give them some height.
    aspect = "equal" if n_q * 4 >= n_k else "auto"
    factor = max(1, math.ceil(max(n_q, n_k) / MAX_PATTERN_PIXELS))
    drawn, identical = heads_to_draw(pattern)
    fig, axes = plt.subplots(1, len(drawn), squeeze=False, constrained_layout=True,
                             figsize=(3.9 * len(drawn) + 0.5, 4.4))
    colours = matplotlib.colors.ListedColormap(["white", "#1f4e9c"])
    for ax, h in zip(axes[0], drawn):
        mask = pattern[h] != 0
        density = float(mask.mean())
        ax.imshow(max_pool(mask, factor), cmap=colours, vmin=0, vmax=1, interpolation="nearest",
                  extent=(0, n_k, n_k, first), aspect=aspect)
        # A small margin keeps the first row and column clear of the axes frame.
        ax.set_xlim(-0.015 * n_k, 1.015 * n_k)
        ax.set_ylim(n_k + 0.015 * n_q, first - 0.015 * n_q)
        head_label = f"all {heads} heads" if identical and heads > 1 else f"head {h}"
        ax.set_title(f"{head_label} · {density:.2%} of pairs", fontsize=9, pad=8)
        ax.set_xlabel("key position")
        ax.set_ylabel("query position")
        for axis, size in ((ax.xaxis, n_k), (ax.yaxis, n_q)):
            axis.set_major_locator(ticker.MultipleLocator(position_step(size)))
            axis.set_major_formatter(ticker.FuncFormatter(human_tokens))
    pooled = f" · shown max-pooled over {factor}×{factor} blocks" if factor > 1 else ""
    queries = f"N = {n_q} queries" if first == 0 else f"M = {n_q} queries (positions {first}–{n_k - 1})"
    fig.suptitle(f"{title or os.path.basename(path)}\n{queries} × {n_k} keys{pooled}"
                 " · dark: the query attends the key", fontsize=10)
    out_path = out_path or os.path.splitext(path)[0] + ".png"
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    fig.savefig(out_path, dpi=150, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return out_path


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
