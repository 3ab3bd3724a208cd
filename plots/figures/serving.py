"""Decode figures (query_len < seq_len): time and GB/s against the KV length, a panel per M."""

import math

from .data import num, pin_config, series
from .style import (draw_lines, finish, finish_log10_axis, human_tokens, legend_entries, new_figure,
                    seq_len_axis, skip)


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
