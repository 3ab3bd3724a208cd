#!/usr/bin/env python3
"""Merges one run.sh run into peers.csv and prints attnbench flash's same-run speedups.

Reads the peers' rows (run.sh's common CSV: peer,dtype,kv_dtype,batch,heads,kv_heads,seq_len,
query_len,head_dim,causal,threads,reps,time_ms,time_ms_min,time_ms_max,status) and attnbench's
own CSV, and writes one tidy row per (peer, dtype, shape) with the same columns for everyone:
pairs (causal: the last M of N positions, query i sees keys j <= N - M + i; N(N+1)/2 per head when
M = N), GFLOP/s = 4 · pairs · D / time, the compulsory bytes (Q, K, V read once in their dtypes,
the fp32 output written once) and GB/s, the kernel path attnbench's rows took (`kernel`, empty
for the peers), the CPU's model string, its microarchitecture as attnbench's rows name it
(`cpu_uarch`: the model string alone does not tell AMD's generations apart under a hypervisor)
and family/model/stepping.
Prints (and writes beside the CSV as .md) markdown tables of flash's time against each peer's.

Usage: report.py --raw RAW.csv --attnbench ATTNBENCH.csv --out peers.csv [--versions k=v,...]
                 [--command TEXT]
"""
import argparse
import csv
import datetime
import os
import sys

COLUMNS = ["peer", "version", "config", "dtype", "kv_dtype", "batch", "heads", "kv_heads",
           "seq_len", "query_len", "head_dim", "causal", "threads", "reps", "time_ms",
           "time_ms_min", "time_ms_max", "pairs", "gflops", "min_bytes", "gbps", "status", "kernel",
           "cpu", "cpu_uarch", "cpu_family_model", "timestamp"]
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def cpu_identity():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    key, value = (x.strip() for x in line.split(":", 1))
                    info.setdefault(key, value)
                if not line.strip() and info:
                    break
    except OSError:
        pass
    model = info.get("model name", "unknown")
    fms = "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping"))
    return model, fms


def pairs_of(n, m, causal, problems):
    if not causal:
        return problems * m * n
    return problems * (m * (n - m) + m * (m + 1) // 2)


def complete(row, cpu, fms, stamp):
    b, h, kv = int(row["batch"]), int(row["heads"]), int(row["kv_heads"])
    n, m, d = int(row["seq_len"]), int(row["query_len"]), int(row["head_dim"])
    causal = row["causal"] in ("1", "true", "True")
    row["causal"] = "1" if causal else "0"
    row["config"] = "prefill" if m == n else ("decode" if m == 1 else "chunk")
    pairs = pairs_of(n, m, causal, b * h)
    row["pairs"] = str(pairs)
    min_bytes = (BYTES[row["dtype"]] * b * h * m * d + 2 * BYTES[row["kv_dtype"]] * b * kv * n * d
                 + 4 * b * h * m * d)
    row["min_bytes"] = str(min_bytes)
    t = float(row["time_ms"]) if row.get("time_ms") else None
    row["gflops"] = f"{4.0 * pairs * d / (t * 1e6):.2f}" if t else ""
    row["gbps"] = f"{min_bytes / (t * 1e6):.3f}" if t else ""
    row["cpu"], row["cpu_family_model"], row["timestamp"] = cpu, fms, stamp
    return row


def read_attnbench(path):
    """attnbench's rows, and the microarchitecture its rows name (the model string alone does
    not tell AMD's generations apart under a hypervisor)."""
    rows, uarch = [], ""
    if not os.path.exists(path):
        return rows, uarch
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            uarch = uarch or r.get("cpu_uarch", "")
            status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['message']}"
            rows.append({
                "peer": "attnbench_" + r["variant"], "version": r["git_revision"],
                "dtype": r["dtype"], "kv_dtype": r.get("kv_dtype") or r["dtype"],
                "batch": r["batch"], "heads": r["heads"], "kv_heads": r["kv_heads"],
                "seq_len": r["seq_len"], "query_len": r["query_len"], "head_dim": r["head_dim"],
                "causal": r["causal"], "threads": r["threads"], "reps": r["reps"],
                "time_ms": r["time_ms"], "time_ms_min": r["time_ms_min"],
                "time_ms_max": r["time_ms_max"], "status": status,
                "kernel": r.get("kernel", "")})
    return rows, uarch


def shape_key(r):
    return (r["config"], int(r["seq_len"]), int(r["query_len"]), int(r["heads"]),
            int(r["kv_heads"]), int(r["head_dim"]))


def shape_label(key):
    config, n, m, h, kv, d = key
    heads = f"H={h}" if h == kv else f"H={h}/KV={kv}"
    if config == "prefill":
        return f"prefill N={n} {heads} D={d}"
    return f"{config} M={m} N={n} {heads} D={d}"


def fmt_ms(t):
    return f"{t:.3g}" if t < 100 else f"{t:.0f}"


def tables(rows):
    ok = [r for r in rows if r["status"] == "ok" and r["time_ms"]]
    flash = {(r["dtype"], shape_key(r)): float(r["time_ms"]) for r in ok if r["peer"] == "attnbench_flash"}
    groups = [
        ("fp32: Q, K, V in fp32 everywhere", "fp32",
         [("attnbench_dense", "fp32", "fp32", "attnbench dense (textbook)"),
          ("ggml_flash_attn_ext", "fp32", "fp32", "ggml flash_attn_ext"),
          ("torch_matmul_softmax", "fp32", "fp32", "PyTorch matmul-softmax"),
          ("torch_grouped", "fp32", "fp32", "PyTorch grouped"),
          ("torch_repeat_kv", "fp32", "fp32", "PyTorch repeat_kv"),
          ("onednn_matmul_softmax", "fp32", "fp32", "oneDNN matmul-softmax")]),
        ("16-bit: flash in bf16 against ggml with fp16 K/V (Q fp32) and oneDNN in bf16", "bf16",
         [("ggml_flash_attn_ext", "fp32", "fp16", "ggml flash_attn_ext, K/V fp16"),
          ("onednn_matmul_softmax", "bf16", "bf16", "oneDNN matmul-softmax bf16")]),
    ]
    out = []
    for title, flash_dtype, peers in groups:
        index = {}
        for r in rows:
            index[(r["peer"], r["dtype"], r["kv_dtype"], shape_key(r))] = r
        shapes = sorted({k for (dt, k) in flash if dt == flash_dtype},
                        key=lambda k: (k[0] != "prefill", k[1], k[3]))
        present = [p for p in peers if any((p[0], p[1], p[2], s) in index for s in shapes)]
        if not shapes:
            continue
        out.append(f"**{title}.** Each cell: how many times faster attnbench `flash` ({flash_dtype}) "
                   "is than the peer at that shape, with the peer's median ms.\n")
        out.append("| shape | flash ms | " + " | ".join(p[3] for p in present) + " |")
        out.append("|---|---|" + "---|" * len(present))
        for s in shapes:
            t_flash = flash[(flash_dtype, s)]
            cells = []
            for peer, dt, kvdt, _ in present:
                r = index.get((peer, dt, kvdt, s))
                if r is None:
                    cells.append("—")
                elif r["status"] != "ok" or not r["time_ms"]:
                    cells.append(r["status"].split(":")[0])
                else:
                    t = float(r["time_ms"])
                    ratio = t / t_flash
                    cells.append(f"{ratio:.2f}× ({fmt_ms(t)} ms)" if ratio < 10 else
                                 f"{ratio:.1f}× ({fmt_ms(t)} ms)")
            out.append(f"| {shape_label(s)} | {fmt_ms(t_flash)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True)
    parser.add_argument("--attnbench", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--versions", default="", help="peer=version,... for the version column")
    parser.add_argument("--command", default="", help="the command that measured, for the text")
    args = parser.parse_args(argv)
    versions = dict(kv.split("=", 1) for kv in args.versions.split(",") if "=" in kv)
    cpu, fms = cpu_identity()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    rows = []
    with open(args.raw, newline="") as f:
        for r in csv.DictReader(f):
            family = r["peer"].split("_")[0]  # ggml, torch, onednn
            r["version"] = versions.get(family, "")
            rows.append(r)
    attnbench_rows, uarch = read_attnbench(args.attnbench)
    rows += attnbench_rows
    rows = [complete(r, cpu, fms, stamp) | {"cpu_uarch": uarch} for r in rows]

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    threads = sorted({r["threads"] for r in rows})
    text = (f"Same-run comparison, {cpu}{' ' + uarch if uarch else ''} "
            f"(family/model/stepping {fms}), {stamp}, "
            f"threads {','.join(threads)}; causal; medians"
            + (f"; `{args.command}`" if args.command else "") + f". Rows: {os.path.basename(args.out)}"
            + " (beside this file)\n\n" + tables(rows))
    print(text)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
