"""Matched-density figures: accuracy and speedup against the share of pairs computed."""

import math
import statistics
from collections import defaultdict

import matplotlib.pyplot as plt

from .data import EXACT_VARIANTS, FRONTIER_VARIANT, VARIANT_ORDER, distinct, num, pin_config, spec_of
from .style import finish, finish_log10_axis, human_tokens, legend_entries, new_figure, skip
from .accuracy import baseline_name


DENSITY_PANEL_SHAPES = 4


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
                                            "dtype", "kv_dtype", "scale", "shared_qk"))


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
