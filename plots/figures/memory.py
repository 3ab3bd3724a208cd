"""The memory figure: peak heap (with the prediction) and peak RSS growth against N."""


from .data import pin_config, series
from .style import (draw_lines, finish, human_bytes, legend_entries, new_figure, seq_len_axis, set_pow2_axis,
                    skip)


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
