"""Decode-session figures (decode_steps > 0): error against step, and step time against cache bytes."""

import math

from .data import accuracy_by_step, distinct, num, numeric_key, pin_config, spec_of
from .style import (finish, human_bytes, human_tokens, legend_entries, new_figure, skip, wrap_spec)


def session_panels(rows, title, free=("seq_len",)):
    """Pinned rows and one panel per cache length N (the tokens loaded before the steps)."""
    rows, notes = pin_config(rows, free=free)
    ns = sorted({num(r, "seq_len") for r in rows}, key=float)
    fig, axes = new_figure(title, rows, ncols=len(ns), sharey=True, panel_size=(4.6, 3.8))
    return rows, notes, ns, fig, axes[0]


def plot_session_error(rows, ctx, out_dir, written):
    """rel_err and mass recall against the step, a line per spec: how eviction's loss grows."""
    stem = "session_error_vs_step"
    rows = [r for r in rows if accuracy_by_step(r)]
    if not rows:
        return skip(stem, "no session rows with per-step accuracy")
    rows, notes = pin_config(rows, free=("seq_len",))
    ns = sorted({num(r, "seq_len") for r in rows}, key=float)
    fig, axes = new_figure("Decode sessions: error against step (fp64 over the full cache)", rows,
                           ncols=len(ns), nrows=2, sharex="col", panel_size=(4.6, 3.2))
    for col, n in enumerate(ns):
        for row in sorted((r for r in rows if num(r, "seq_len") == n), key=spec_of):
            spec = spec_of(row)
            colour, marker = ctx.styles[spec]
            steps = accuracy_by_step(row)
            for line, metric in ((0, 1), (1, 2)):
                axes[line][col].plot([s[0] for s in steps], [s[metric] for s in steps],
                                     color=colour, marker=marker, markersize=3.5, linewidth=1.3,
                                     label=wrap_spec(spec))
        axes[0][col].set_title(f"cache N = {human_tokens(n)} before the steps", fontsize=10)
        axes[1][col].set_xlabel("decode step")
        axes[0][col].set_yscale("log")
        for line in (0, 1):
            axes[line][col].grid(True, alpha=0.3)
    axes[0][0].set_ylabel("rel_err vs full attention")
    axes[1][0].set_ylabel("softmax mass kept")
    notes.append("each step appends one token and attends with its query; accuracy at the sampled "
                 "steps against exact fp64 attention over every cached token, so what an eviction "
                 "method dropped counts against it")
    finish(fig, out_dir, stem, notes + ctx.left_out_note(square_figure=False), written,
           legend_entries(axes[0]))


def plot_session_cost(rows, ctx, out_dir, written):
    """Median step time against the cache's bytes, labelled with the mass kept at the last step."""
    stem = "session_step_vs_cache"
    rows = [r for r in rows if num(r, "time_ms") > 0 and num(r, "cache_bytes") > 0]
    if not rows:
        return skip(stem, "no session rows with a step time and cache bytes")
    # The cache's format is a point of the figure, not a facet: a spec's caches (fp32, bf16,
    # int8 ...) are joined by a line, so what each format saves in bytes and time shows.
    rows, notes, ns, fig, axes = session_panels(rows, "Decode sessions: step time against cache size",
                                                free=("seq_len", "dtype", "kv_dtype"))
    formats = sorted({row.get("kv_dtype") or row.get("dtype") or "fp32" for row in rows})
    for ax, n in zip(axes, ns):
        by_spec = {}
        for row in (r for r in rows if num(r, "seq_len") == n):
            by_spec.setdefault(spec_of(row), []).append(row)
        for spec in sorted(by_spec):
            colour, marker = ctx.styles[spec]
            points = sorted(by_spec[spec], key=lambda r: num(r, "cache_bytes"))
            xs = [num(r, "cache_bytes") for r in points]
            ys = [num(r, "time_ms") for r in points]
            ax.plot(xs, ys, color=colour, marker=marker, markersize=6, linewidth=0.8,
                    linestyle="-" if len(points) > 1 else "none", label=wrap_spec(spec))
            for row, x, y in zip(points, xs, ys):
                recall = num(row, "mass_recall_last")
                text = "" if math.isnan(recall) else f"{recall:.2f}"
                if len(formats) > 1:
                    text = f"{row.get('kv_dtype') or row.get('dtype') or 'fp32'} {text}".strip()
                if text:
                    ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 3),
                                fontsize=6.5, color="0.3")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(human_bytes)
        ax.set_xlabel("cache after the last step (K, V kept + state)")
        ax.set_title(f"cache N = {human_tokens(n)} before the steps", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("time per step, median (ms)")
    notes.append("label: softmax mass kept at the last sampled step"
                 + (f"; the KV-cache format ({', '.join(formats)}) before it, a spec's formats "
                    "joined by a line" if len(formats) > 1 else ""))
    finish(fig, out_dir, stem, notes + ctx.left_out_note(square_figure=False), written,
           legend_entries(axes))
