"""The sparsity pattern figure of an [H, M, N] (or [M, N]) .npy export."""

import math
import os

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from .data import InputError
from .style import human_tokens


# Two or more display pixels per pooled cell, so a one-token global row stays visible.
MAX_PATTERN_PIXELS = 256

MAX_PATTERN_HEADS = 4


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
