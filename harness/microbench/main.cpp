// attnbench_micro: microbenchmarks of this machine's ceilings (FMA peak, OpenBLAS SGEMM at the
// attention shapes), of the block engine's kernels against SIMD/GEMM libraries, and of the
// engine itself. Read ratios within one run: the machine is shared and noisy.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
