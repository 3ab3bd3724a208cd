"""Accuracy figures: rel_err and mass_recall against N, and speed against accuracy (Pareto)."""

import math
import statistics
import textwrap
from collections import defaultdict

from .data import distinct, num, pin_config, series, spec_of
from .style import (draw_lines, finish, finish_log10_axis, human_tokens, legend_entries, new_figure,
                    seq_len_axis, skip, wrap_spec)


PARETO_PANELS = 3

LABEL_FONT_SIZE = 7


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
