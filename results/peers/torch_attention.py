#!/usr/bin/env python3
"""PyTorch's attention on this machine, the peer most users would reach for first.

Times softmax(Q·Kᵀ·scale)·V, the textbook three-step form (PyTorch 1.13, as Debian ships it,
has no fused CPU attention), in fp32 with B=1, H=8, D=64 by default, so attnbench's dense and
flash rows can be compared with it as ratios measured on the same machine. With --causal the
scores above the diagonal are set to -inf before the softmax (masked_fill_ in place, the boolean
mask built once outside the timing): the same attention as `attnbench run --causal`, computed
the textbook way (every score, then the mask), and GFLOP/s counts only the N(N+1)/2 causal pairs
per head, as attnbench does.

Usage: /usr/bin/python3 results/peers/torch_attention.py [--seq-len 1024,2048,...] [--threads 2]
       [--heads 8] [--head-dim 64] [--reps 5] [--causal]
Needs python3-torch (Debian). Prints CSV: peer,seq_len,threads,time_ms,time_ms_min,time_ms_max,gflops
"""
import argparse
import statistics
import sys
import time


def make_forward(torch, q, k, v, scale, causal):
    if causal:
        n = q.shape[-2]
        above = torch.ones(n, n, dtype=torch.bool).triu(1)  # key j > query i: not visible

        def forward():
            scores = (q @ k.transpose(-1, -2)) * scale
            return torch.softmax(scores.masked_fill_(above, float("-inf")), dim=-1) @ v
    else:
        def forward():
            return torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1) @ v
    return forward


def check(torch, args):
    """The forward against fp64 attention written out row by row, N = 256."""
    n, d = 256, args.head_dim
    q, k, v = (torch.randn(1, args.heads, n, d) for _ in range(3))
    with torch.no_grad():
        out = make_forward(torch, q, k, v, d ** -0.5, args.causal)().double()
        ref = torch.empty_like(out)
        for i in range(n):
            keys = i + 1 if args.causal else n
            s = (q[:, :, i:i + 1].double() @ k[:, :, :keys].double().transpose(-1, -2)) * d ** -0.5
            ref[:, :, i:i + 1] = torch.softmax(s, dim=-1) @ v[:, :, :keys].double()
    err = float((out - ref).norm() / ref.norm())
    ok = err <= 1e-5
    print(f"torch check N={n} H={args.heads} D={d} causal={args.causal}: rel_err {err:.2e} "
          f"(tolerance 1e-05) {'ok' if ok else 'WRONG'}", file=sys.stderr)
    return 0 if ok else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", default="1024,2048,4096,8192")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--causal", action="store_true",
                        help="mask the scores above the diagonal with -inf (attnbench's --causal)")
    parser.add_argument("--check", action="store_true",
                        help="only compare the forward with fp64 attention at N=256; exit 1 if wrong")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch_attention.py: needs PyTorch (apt-get install python3-torch)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.check:
        return check(torch, args)
    print("peer,seq_len,threads,time_ms,time_ms_min,time_ms_max,gflops")
    for n in (int(x) for x in args.seq_len.split(",")):
        shape = (1, args.heads, n, args.head_dim)
        q, k, v = (torch.randn(shape) for _ in range(3))
        scale = args.head_dim ** -0.5

        forward = make_forward(torch, q, k, v, scale, args.causal)

        with torch.no_grad():
            forward()  # warm-up
            times = []
            for _ in range(args.reps):
                start = time.perf_counter()
                forward()
                times.append((time.perf_counter() - start) * 1e3)
        median = statistics.median(times)
        pairs = n * (n + 1) // 2 if args.causal else n * n
        flops = 4.0 * args.heads * pairs * args.head_dim
        print(f"torch_matmul_softmax,{n},{args.threads},{median:.3f},{min(times):.3f},"
              f"{max(times):.3f},{flops / (median * 1e6):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
