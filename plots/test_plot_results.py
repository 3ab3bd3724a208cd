"""Smoke tests for plot_results.py: figures appear, bad input exits 2, patterns render.

Run from the repository root with `python3 -m unittest discover plots` (or from
plots/ with `python3 -m unittest test_plot_results`).
"""

import contextlib
import csv
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import plot_results  # noqa: E402

HEADER = ("variant,params,batch,heads,seq_len,head_dim,causal,shared_qk,input,seed,scale,threads,"
          "reps,time_ms,time_ms_min,time_ms_max,pairs,gflops,peak_bytes,rss_delta_bytes,"
          "predicted_bytes,rel_err,max_abs_err,cos_sim_min,mass_recall,accuracy_rows,status,message,"
          "git_revision,cpu,blas_core,compiler,build_type,timestamp").split(",")


def result_row(variant, params, seq_len, threads, status="ok"):
    """One plausible sweep row; sparse variants are faster and less accurate than flash."""
    row = dict.fromkeys(HEADER, "")
    row.update(variant=variant, params=params, batch=1, heads=2, seq_len=seq_len, head_dim=16,
               causal="false", shared_qk="false", input="gaussian", seed=1, threads=threads, reps=3,
               status=status, cpu="Test CPU", blas_core="generic")
    if status != "ok":
        row["message"] = "not measured"
        return row
    sparse = variant != "flash"
    time_ms = (seq_len / 1024) ** (1 if sparse else 2) / threads
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


if __name__ == "__main__":
    unittest.main()
