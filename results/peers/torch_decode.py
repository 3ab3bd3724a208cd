#!/usr/bin/env python3
"""PyTorch's grouped-query decode on this machine: one new query per head over a long KV cache.

Times attention of B=1, H=32 query heads over kv_heads=8 (Llama 3 8B) at M=1 in fp32, in the two
forms model code uses: `repeat_kv` (K and V expanded to every query head, as Hugging Face's
Llama does before its attention call; the copy is part of the forward) and `grouped` (Q reshaped
to [B, kv, H/kv, D] so that each kv head's group is one matmul, no copy). PyTorch 1.13, as Debian
ships it, has no fused CPU attention. GB/s counts the compulsory traffic (Q, K, V read once, the
output written once), like attnbench's min_bytes, so the two compare as ratios on one machine.
The query is the newest token, so causal masking changes nothing here: every cached key is visible
(the same attention as `attnbench run --query-len 1 --causal`).

Usage: /usr/bin/python3 results/peers/torch_decode.py [--seq-len 16384,...] [--head-dim 128]
Needs python3-torch (Debian). Prints CSV: peer,seq_len,head_dim,threads,time_ms,time_ms_min,time_ms_max,gbps
"""
import argparse
import statistics
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", default="16384,65536,262144,1048576")
    parser.add_argument("--head-dim", default="64,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch_decode.py: needs PyTorch (apt-get install python3-torch)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h, kv = args.heads, args.kv_heads
    group = h // kv
    print("peer,seq_len,head_dim,threads,time_ms,time_ms_min,time_ms_max,gbps")
    for d in (int(x) for x in args.head_dim.split(",")):
        for n in (int(x) for x in args.seq_len.split(",")):
            q = torch.rand(1, h, 1, d) * 2 - 1
            k = torch.rand(1, kv, n, d) * 2 - 1
            v = torch.rand(1, kv, n, d) * 2 - 1
            scale = d ** -0.5

            def repeat_kv():
                kr = k.repeat_interleave(group, dim=1)
                vr = v.repeat_interleave(group, dim=1)
                return torch.softmax((q @ kr.transpose(-1, -2)) * scale, dim=-1) @ vr

            def grouped():
                qg = q.view(1, kv, group, d)
                p = torch.softmax((qg @ k.transpose(-1, -2)) * scale, dim=-1)
                return (p @ v).view(1, h, 1, d)

            min_bytes = 4 * (2 * h * d + 2 * kv * n * d)
            for name, forward in (("torch_repeat_kv", repeat_kv), ("torch_grouped", grouped)):
                with torch.no_grad():
                    forward()  # warm-up
                    times = []
                    for _ in range(args.reps):
                        start = time.perf_counter()
                        forward()
                        times.append((time.perf_counter() - start) * 1e3)
                median = statistics.median(times)
                print(f"{name},{n},{d},{args.threads},{median:.3f},{min(times):.3f},"
                      f"{max(times):.3f},{min_bytes / (median * 1e6):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
