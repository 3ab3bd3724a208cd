"""Smoke tests for plot_results.py and its figures package: figures appear, bad input exits 2,
patterns render.

Run from the repository root with `python3 -m unittest discover plots` (or from
plots/ with `python3 -m unittest test_plot_results`).
"""

import contextlib
import csv
import io
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import plot_results  # noqa: E402
from figures import data, density, serving, style  # noqa: E402

HEADER = ("variant,params,batch,heads,kv_heads,seq_len,query_len,head_dim,causal,shared_qk,input,seed,"
          "scale,threads,reps,time_ms,time_ms_min,time_ms_max,pairs,gflops,min_bytes,peak_bytes,"
          "rss_delta_bytes,predicted_bytes,rel_err,max_abs_err,cos_sim_min,mass_recall,accuracy_rows,"
          "status,message,git_revision,cpu,blas_core,compiler,build_type,timestamp").split(",")
# Before serving shapes: no kv_heads, query_len or min_bytes.
SQUARE_ERA_HEADER = [c for c in HEADER if c not in ("kv_heads", "query_len", "min_bytes")]
# With the CPU identity columns after cpu.
CPU_IDENTITY_COLUMNS = ["cpu_vendor", "cpu_family_model", "cpu_uarch", "cpu_isa"]
CPU_IDENTITY_HEADER = (HEADER[:HEADER.index("cpu") + 1] + CPU_IDENTITY_COLUMNS
                       + HEADER[HEADER.index("cpu") + 1:])

DECODE_STEMS = ["decode_time_vs_seq_len", "decode_bandwidth_vs_seq_len"]
SQUARE_STEMS = ["time_vs_seq_len", "memory_vs_seq_len", "accuracy_vs_seq_len",
                "speed_vs_mass_recall", "speed_vs_rel_err", "thread_scaling"]


def result_row(variant, params, seq_len, threads, status="ok", query_len=None, kv_heads=2):
    """One plausible sweep row; sparse variants are faster and less accurate than flash."""
    row = dict.fromkeys(HEADER, "")
    query_len = seq_len if query_len is None else query_len
    row.update(variant=variant, params=params, batch=1, heads=2, kv_heads=kv_heads, seq_len=seq_len,
               query_len=query_len, head_dim=16, causal="false", shared_qk="false", input="gaussian",
               seed=1, threads=threads, reps=3, status=status, cpu="Test CPU", blas_core="generic",
               min_bytes=4 * (2 * 2 * query_len * 16 + 2 * kv_heads * seq_len * 16))
    if status != "ok":
        row["message"] = "not measured"
        return row
    sparse = variant != "flash"
    time_ms = (seq_len / 1024) ** (1 if sparse else 2) / threads * query_len / seq_len
    row.update(time_ms=time_ms, time_ms_min=0.9 * time_ms, time_ms_max=1.2 * time_ms,
               peak_bytes=seq_len * 4096, rss_delta_bytes=seq_len * 5000, predicted_bytes=seq_len * 4096,
               rel_err=0.2 if sparse else 1e-7, mass_recall=0.7 if sparse else 1.0, accuracy_rows=8)
    return row


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def run(argv):
    """main() with its output captured, so test logs stay readable."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = plot_results.main(argv)
    return status, out.getvalue(), err.getvalue()


class PlotResultsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_figures_written_next_to_csv(self):
        rows = [result_row(v, p, n, t) for v, p in (("flash", ""), ("sliding_window", "window=64"))
                for n in (1024, 2048) for t in (1, 2)]
        rows.append(result_row("flash", "", 4096, 1, status="skipped"))
        path = os.path.join(self.dir, "sweep.csv")
        write_csv(path, rows)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        expected = ["time_vs_seq_len", "memory_vs_seq_len", "accuracy_vs_seq_len",
                    "speed_vs_mass_recall", "speed_vs_rel_err", "thread_scaling"]
        for stem in expected:
            for fmt in ("png", "svg"):
                figure = os.path.join(self.dir, "sweep", f"{stem}.{fmt}")
                self.assertGreater(os.path.getsize(figure), 0, figure)
                self.assertIn(figure, out.splitlines())
        self.assertIn("1 skipped", err)

    def written_stems(self, out, folder):
        return {os.path.splitext(os.path.basename(line))[0] for line in out.splitlines()
                if os.path.dirname(line) == folder}

    def test_decode_rows_get_their_own_figures_and_stay_out_of_the_others(self):
        square = [result_row(v, p, n, t) for v, p in (("flash", ""), ("sliding_window", "window=64"))
                  for n in (1024, 2048) for t in (1, 2)]
        decode = [result_row(v, p, n, 2, query_len=m, kv_heads=1)
                  for v, p in (("flash", ""), ("sliding_window", "window=64"))
                  for n in (1024, 4096, 16384) for m in (1, 16)]
        path = os.path.join(self.dir, "serving.csv")
        write_csv(path, square + decode)
        status, out, err = run([path, "--read-bandwidth", "20"])
        self.assertEqual(status, 0, err)
        folder = os.path.join(self.dir, "serving")
        self.assertEqual(self.written_stems(out, folder), set(SQUARE_STEMS + DECODE_STEMS))
        self.assertIn("square rows only", err)
        self.assertIn("12 ok row(s) of other shapes left out", err)
        self.assertIn("read bandwidth 20 GB/s", err)

        # Decode rows alone: only the decode figures, and no square figure built from them.
        only = os.path.join(self.dir, "decode_only.csv")
        write_csv(only, decode)
        status, out, err = run([only])
        self.assertEqual(status, 0, err)
        self.assertEqual(self.written_stems(out, os.path.join(self.dir, "decode_only")),
                         set(DECODE_STEMS))
        self.assertNotIn("(--read-bandwidth)", err)

    def test_sessions_get_their_own_figures_and_stay_out_of_the_others(self):
        header = HEADER + ["decode_steps", "cache_bytes", "mass_recall_last", "accuracy_by_step"]
        decode = [result_row("flash", "", n, 2, query_len=1, kv_heads=1) for n in (1024, 4096)]
        sessions = []
        for spec, params, kept in (("flash", "", 1.0), ("h2o", "budget=64,recent=16", 0.6),
                                   ("h2o", "budget=128,recent=16", 0.8)):
            for n in (1024, 4096):
                row = result_row(spec, params, n, 2, query_len=1, kv_heads=1)
                row.update(decode_steps=32, cache_bytes=n * 512, mass_recall_last=kept,
                           accuracy_by_step=";".join(f"{t}:{0.1 * t / 31 if kept < 1 else 1e-7}:"
                                                     f"{kept + (1 - kept) * (31 - t) / 31}"
                                                     for t in (0, 10, 20, 31)))
                sessions.append(row)
        self.assertEqual(data.accuracy_by_step(sessions[2])[1][0], 10)
        path = os.path.join(self.dir, "sessions.csv")
        write_csv(path, decode + sessions, header)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        # Session rows are neither decode forwards nor a budget sweep of single forwards.
        self.assertEqual(self.written_stems(out, os.path.join(self.dir, "sessions")),
                         set(DECODE_STEMS + ["session_error_vs_step", "session_step_vs_cache"]))

    def test_budget_sweeps_get_density_figures_with_the_oracle_frontier(self):
        rows = [result_row("flash", "", 4096, 2)]
        for variant, budgets in (("topk", (64, 256, 1024)), ("sliding_window", (64, 512))):
            for budget in budgets:
                row = result_row(variant, f"k={budget}", 4096, 2)
                row.update(pairs=2 * 4096 * budget, mass_recall=min(1.0, budget / 1024))
                rows.append(row)
        for row in rows[:1]:
            row["pairs"] = 2 * 4096 * 4096
        path = os.path.join(self.dir, "budgets.csv")
        write_csv(path, rows)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        stems = self.written_stems(out, os.path.join(self.dir, "budgets"))
        self.assertTrue({"mass_recall_vs_density", "rel_err_vs_density", "speedup_vs_density"} <= stems,
                        stems)
        # Density is the pairs column over full attention's pairs, causal or not.
        self.assertAlmostEqual(density.density(rows[1]), 64 / 4096)
        causal = dict(rows[1], causal="true", query_len=1)
        self.assertAlmostEqual(density.full_pairs(causal), 2 * 4096)
        curves = density.variant_curves(rows, lambda r: float(r["mass_recall"]))
        self.assertEqual([round(x * 4096) for x, _ in curves["topk"]], [64, 256, 1024])

    def test_density_panels_without_points_stay_blank(self):
        # One input measured at 4K only, the other at 8K only: two of four panels have no points.
        rows = []
        for inp, n in (("lm", 4096), ("local", 8192)):
            for variant, budget in (("flash", n), ("topk", 64), ("topk", 256)):
                row = result_row(variant, "" if variant == "flash" else f"k={budget}", n, 2)
                row.update(input=inp, pairs=2 * n * budget)
                rows.append(row)
        path = os.path.join(self.dir, "gaps.csv")
        write_csv(path, rows)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        stems = self.written_stems(out, os.path.join(self.dir, "gaps"))
        self.assertTrue({"mass_recall_vs_density", "rel_err_vs_density", "speedup_vs_density"} <= stems,
                        stems)

    def test_single_budget_sweeps_draw_no_density_figures(self):
        rows = [result_row(v, p, n, 2) for v, p in (("flash", ""), ("sliding_window", "window=64"))
                for n in (1024, 2048)]
        path = os.path.join(self.dir, "one.csv")
        write_csv(path, rows)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        self.assertFalse(any("density" in line for line in out.splitlines()))

    def test_square_and_decode_selection(self):
        square = result_row("flash", "", 1024, 1)
        self.assertTrue(data.is_square(square))
        self.assertFalse(data.is_decode(square))
        decode = result_row("flash", "", 1024, 1, query_len=1)
        self.assertFalse(data.is_square(decode))
        self.assertTrue(data.is_decode(decode))
        grouped = result_row("flash", "", 1024, 1, kv_heads=1)  # prefill with grouped kv heads
        self.assertFalse(data.is_square(grouped))
        self.assertFalse(data.is_decode(grouped))
        old = {c: str(v) for c, v in square.items() if c in SQUARE_ERA_HEADER}
        self.assertTrue(data.is_square(old))
        self.assertFalse(data.is_decode(old))

    def test_gigabytes_per_second(self):
        row = {"min_bytes": "2000000000", "time_ms": "1000"}
        self.assertAlmostEqual(serving.gigabytes_per_second(row), 2.0)
        # Without min_bytes the traffic comes from the shape: 4·(2·B·H·M·D + 2·B·KV·N·D).
        row = {"batch": "1", "heads": "8", "kv_heads": "2", "query_len": "1", "seq_len": "1000000",
               "head_dim": "100", "time_ms": "1", "min_bytes": ""}
        self.assertAlmostEqual(serving.gigabytes_per_second(row), 4 * (2 * 8 * 100 + 2 * 2 * 1e8) / 1e6)
        self.assertTrue(math.isnan(serving.gigabytes_per_second({"min_bytes": "8", "time_ms": "0"})))

    def test_square_era_csv_plots_as_before(self):
        rows = [result_row(v, p, n, 1) for v, p in (("flash", ""), ("sliding_window", "window=64"))
                for n in (1024, 2048)]
        path = os.path.join(self.dir, "old.csv")
        write_csv(path, rows, SQUARE_ERA_HEADER)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        stems = self.written_stems(out, os.path.join(self.dir, "old"))
        self.assertEqual(stems, set(SQUARE_STEMS) - {"thread_scaling"})
        self.assertNotIn("square rows only", err)

    def test_titles_name_the_cpu_by_its_identity_columns(self):
        zen3 = dict(result_row("flash", "", 1024, 1), cpu="AMD EPYC", cpu_vendor="AuthenticAMD",
                    cpu_family_model="25/1/1", cpu_uarch="Zen 3", cpu_isa="avx2 fma")
        self.assertEqual(style.machine_text([zen3]), "CPU: AMD EPYC (Zen 3, 25/1/1) · BLAS core: generic")
        # Rows from two CPUs the model name alone cannot tell apart: both named, once each.
        zen4 = dict(zen3, cpu_family_model="25/17/1", cpu_uarch="Zen 4")
        self.assertEqual(style.machine_text([zen3, zen4, zen3]),
                         "CPU: AMD EPYC (Zen 3, 25/1/1) / AMD EPYC (Zen 4, 25/17/1) · BLAS core: generic")
        # What the writer could not tell is left out.
        other = dict(zen3, cpu="Some CPU", cpu_uarch="unknown", cpu_family_model="6/200/1")
        self.assertEqual(style.cpu_text(other), "Some CPU (6/200/1)")
        arm = dict(zen3, cpu="unknown", cpu_vendor="unknown", cpu_uarch="unknown",
                   cpu_family_model="unknown", cpu_isa="")
        self.assertEqual(style.cpu_text(arm), "unknown")
        # A CSV from before the columns keeps today's title.
        old = {c: str(v) for c, v in zen3.items() if c in HEADER}
        self.assertEqual(style.machine_text([old]), "CPU: AMD EPYC · BLAS core: generic")
        self.assertEqual(style.machine_text([dict(old, cpu_uarch="", cpu_family_model="")]),
                         "CPU: AMD EPYC · BLAS core: generic")
        fig, _ = style.new_figure("Forward time", [{c: str(v) for c, v in zen3.items()}])
        titles = [t.get_text() for t in fig.texts]
        style.plt.close(fig)
        self.assertTrue(any(t.startswith("Forward time\nCPU: AMD EPYC (Zen 3, 25/1/1) · ") for t in titles),
                        titles)

    def test_csv_with_cpu_identity_columns_plots_like_one_without(self):
        rows = [dict(result_row(v, p, n, t), cpu="AMD EPYC", cpu_vendor="AuthenticAMD",
                     cpu_family_model="26/2/1", cpu_uarch="Zen 5",
                     cpu_isa="avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni avx_vnni")
                for v, p in (("flash", ""), ("sliding_window", "window=64")) for n in (1024, 2048)
                for t in (1, 2)]
        path = os.path.join(self.dir, "identified.csv")
        write_csv(path, rows, CPU_IDENTITY_HEADER)
        status, out, err = run([path])
        self.assertEqual(status, 0, err)
        self.assertEqual(self.written_stems(out, os.path.join(self.dir, "identified")), set(SQUARE_STEMS))

    def test_bad_read_bandwidth_is_a_usage_error(self):
        path = os.path.join(self.dir, "sweep.csv")
        write_csv(path, [result_row("flash", "", 1024, 1)])
        for bad in ("0", "-3", "fast", "nan"):
            with self.assertRaises(SystemExit) as exit_info, \
                    contextlib.redirect_stderr(io.StringIO()) as err:
                plot_results.main([path, "--read-bandwidth", bad])
            self.assertEqual(exit_info.exception.code, 2)
            self.assertIn("--read-bandwidth", err.getvalue())

    def test_missing_column_exits_2_and_names_it(self):
        path = os.path.join(self.dir, "broken.csv")
        header = [c for c in HEADER if c != "seq_len"]
        write_csv(path, [result_row("flash", "", 1024, 1)], header)
        status, _, err = run([path])
        self.assertEqual(status, 2)
        self.assertIn("broken.csv", err)
        self.assertIn("seq_len", err)

    def test_no_ok_rows_writes_nothing(self):
        path = os.path.join(self.dir, "failed.csv")
        write_csv(path, [result_row("flash", "", 1024, 1, status="error")])
        status, out, err = run([path])
        self.assertEqual(status, 0)
        self.assertEqual(out, "")
        self.assertIn("no rows with status ok", err)

    def test_pattern_renders(self):
        n = 96
        positions = np.arange(n)
        band = np.abs(positions[:, None] - positions[None, :]) <= 4
        band[:, :2] = band[:2, :] = True
        pattern = np.stack([band, band]).astype(np.uint8)
        npy = os.path.join(self.dir, "pattern.npy")
        np.save(npy, pattern)
        png = os.path.join(self.dir, "pattern.png")
        status, out, err = run(["--pattern", npy, "--title", "window + global", "--out", png])
        self.assertEqual(status, 0, err)
        self.assertGreater(os.path.getsize(png), 0)
        self.assertEqual(out.strip(), png)

    def test_decode_pattern_renders_and_bad_shapes_exit_2(self):
        # [H, M, N] from `attnbench pattern --query-len 3`: the last 3 positions of 96.
        n, m = 96, 3
        positions = np.arange(n - m, n)
        keys = np.arange(n)
        band = (np.abs(positions[:, None] - keys[None, :]) <= 4).astype(np.uint8)
        npy = os.path.join(self.dir, "decode.npy")
        np.save(npy, np.stack([band, band]))
        png = os.path.join(self.dir, "decode.png")
        status, out, err = run(["--pattern", npy, "--out", png])
        self.assertEqual(status, 0, err)
        self.assertGreater(os.path.getsize(png), 0)
        tall = os.path.join(self.dir, "tall.npy")
        np.save(tall, np.zeros((1, 5, 4), dtype=np.uint8))
        status, _, err = run(["--pattern", tall])
        self.assertEqual(status, 2)
        self.assertIn("M <= N", err)


if __name__ == "__main__":
    unittest.main()
