"""Reading a results CSV and choosing its rows: fields, shapes, pinned configuration, series."""

import csv
import math
import statistics
from collections import defaultdict


# Without these the CSV cannot be split into lines at all.
REQUIRED_COLUMNS = ("variant", "params", "seq_len", "status")

# Configuration columns that change what a line means. A figure that does not
# facet on one of them keeps a single value, so every line compares like with like.
CONFIG_COLUMNS = ("input", "threads", "causal", "shared_qk", "batch", "heads", "kv_heads", "head_dim",
                  "scale", "dtype", "kv_dtype", "decode_steps")

# Known variants first, in the order a reader expects (baselines, then sparse).
VARIANT_ORDER = ("dense", "flash", "sliding_window", "longformer", "bigbird", "lsh", "streaming",
                 "block_topk", "moba", "vertical_slash", "quest", "h2o", "tova", "snapkv", "topp",
                 "topk")

# The oracle that keeps each query's k best keys: at a given density no method that keeps k keys
# per query can recall more mass, so the density figures draw it as the frontier.
FRONTIER_VARIANT = "topk"

EXACT_VARIANTS = ("dense", "flash")


class InputError(Exception):
    """A file the script cannot read; main() reports it and exits with status 2."""


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


def is_session(row):
    """A decode session (decode_steps > 0): time_ms is its median step, accuracy over its steps."""
    return num(row, "decode_steps") > 0


def is_decode(row):
    """One forward of fewer queries than keys: decode (M = 1) or a chunk of prefill over a KV cache."""
    return num(row, "query_len") < num(row, "seq_len") and not is_session(row)


def accuracy_by_step(row):
    """The sampled steps of a session row as (step, rel_err, mass_recall) triples."""
    out = []
    for entry in (row.get("accuracy_by_step") or "").split(";"):
        parts = entry.split(":")
        if len(parts) == 3:
            try:
                out.append((int(parts[0]), float(parts[1]), float(parts[2])))
            except ValueError:
                continue
    return out


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
