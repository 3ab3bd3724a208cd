"""What every figure shares: spec colours and markers, axis labels, titles, legends, notes, saving."""

import math
import os
import re
import sys
import textwrap
from collections import defaultdict

import matplotlib.pyplot as plt
from matplotlib import ticker

from .data import VARIANT_ORDER, distinct, is_square, spec_of


FIGURE_FORMATS = ("png", "svg")

LEGEND_WRAP = 32


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


def cpu_text(row):
    """'AMD EPYC (Zen 3, 25/1/1)': the model name, which a hypervisor may cut to the vendor's
    family, with the microarchitecture and family/model/stepping; the name alone in a CSV written
    before those columns, and without what they leave unknown (as `attnbench list` prints it)."""
    details = [row.get(c, "") for c in ("cpu_uarch", "cpu_family_model")]
    details = [d for d in details if d and d != "unknown"]
    cpu = row.get("cpu", "")
    if not details:
        return cpu
    return f"{cpu} ({', '.join(details)})".lstrip()


def machine_text(rows):
    """One line naming the machine, so figures from different hosts are never confused."""
    parts = []
    cpus = [c for c in dict.fromkeys(cpu_text(r) for r in rows) if c]
    if cpus:
        parts.append(f"CPU: {' / '.join(cpus)}")
    blas_cores = [v for v in distinct(rows, "blas_core") if v]
    if blas_cores:
        parts.append(f"BLAS core: {' / '.join(blas_cores)}")
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
