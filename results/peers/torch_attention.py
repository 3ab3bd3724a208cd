#!/usr/bin/env python3
"""PyTorch's attention on this machine, the peer most users would reach for first.

Times softmax(Q·Kᵀ·scale)·V, the textbook three-step form (PyTorch 1.13, as Debian ships it,
has no fused CPU attention), in fp32 with B=1, H=8, D=64 by default, so attnbench's dense and
flash rows can be compared with it as ratios measured on the same machine.

Usage: /usr/bin/python3 results/peers/torch_attention.py [--seq-len 1024,2048,...] [--threads 2]
Needs python3-torch (Debian). Prints CSV: peer,seq_len,threads,time_ms,time_ms_min,time_ms_max,gflops
"""
import argparse
import statistics
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", default="1024,2048,4096,8192")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch_attention.py: needs PyTorch (apt-get install python3-torch)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("peer,seq_len,threads,time_ms,time_ms_min,time_ms_max,gflops")
    for n in (int(x) for x in args.seq_len.split(",")):
        shape = (1, args.heads, n, args.head_dim)
        q, k, v = (torch.randn(shape) for _ in range(3))
        scale = args.head_dim ** -0.5

        def forward():
            return torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1) @ v

        with torch.no_grad():
            forward()  # warm-up
            times = []
            for _ in range(args.reps):
                start = time.perf_counter()
                forward()
                times.append((time.perf_counter() - start) * 1e3)
        median = statistics.median(times)
        flops = 4.0 * args.heads * n * n * args.head_dim
        print(f"torch_matmul_softmax,{n},{args.threads},{median:.3f},{min(times):.3f},"
              f"{max(times):.3f},{flops / (median * 1e6):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
