// attnbench: measures attention variants' time, memory and accuracy against full attention.
// Exit status: 0 success, 1 a runtime failure (a point failed, a file could not be written),
// 2 bad usage (options, specs, files given by the user).
#include <cstdio>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "attention/numeric/bf16_pairs.hpp"
#include "harness/cli/analysis_commands.hpp"
#include "harness/cli/commands.hpp"
#include "harness/cli/options.hpp"
#include "harness/sweep/usage_error.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: attnbench <command> [options]\n"
    "\n"
    "Commands:\n"
    "  list      the registered variants, their parameters, defaults and ranges\n"
    "  run       measure variants at one point (time, memory, accuracy vs full attention)\n"
    "  sweep     measure the cartesian product of option lists into one CSV\n"
    "  pattern   export a variant's key set as a uint8 [H, M, N] .npy file\n"
    "  compare   time ratios and accuracy changes between two results CSVs, flags regressions\n"
    "  merge     concatenate results CSVs into one; with --expect, a sharded sweep's parts,\n"
    "            checked for missing and twice-measured items\n"
    "  status    done / skipped / error / missing per shard of a sharded sweep's parts\n"
    "  advise    per group of points, the fastest variant meeting recall/error/memory bounds\n"
    "  report    one self-contained HTML file: context, advice, figures, sortable results\n"
    "\n"
    "Environment (read at startup; 'attnbench list' shows what this CPU can run):\n"
    "  ATTN_KERNEL_PATH  auto | avx512 | avx2 | sse4 | scalar: the SIMD path of every kernel\n"
    "  ATTN_BF16_DOT     auto | widening | pairs | vdpbf16ps | amx: how bf16 prefill takes its "
    "dot\n"
    "                    products\n"
    "\n"
    "'attnbench <command> --help' lists a command's options.\n";

int dispatch(const std::string& command, const std::vector<std::string>& args) {
  using namespace attn::harness;
  std::string help;
  if (command == "list") {
    if (!args.empty() && args[0] != "--help" && args[0] != "-h")
      throw UsageError("list takes no options, got '" + args[0] + "'");
    return list_variants(std::cout);
  }
  if (command == "run" || command == "sweep") {
    auto config =
        command == "run" ? parse_run_options(args, help) : parse_sweep_options(args, help);
    if (!config) {
      std::cout << help;
      return 0;
    }
    return run_sweep(*config);
  }
  if (command == "pattern") {
    auto config = parse_pattern_options(args, help);
    if (!config) {
      std::cout << help;
      return 0;
    }
    return export_pattern(*config);
  }
  if (command == "compare") return compare_command(args, std::cout);
  if (command == "merge") return merge_command(args, std::cout);
  if (command == "status") return status_command(args, std::cout);
  if (command == "advise") return advise_command(args, std::cout);
  if (command == "report") return report_command(args, std::cout);
  throw UsageError(
      "unknown command '" + command +
      "'; commands: list, run, sweep, pattern, compare, merge, status, advise, report");
}

}  // namespace

int main(int argc, char** argv) {
  // ATTN_BF16_DOT is settled (and a value this CPU cannot run refused) before any work starts,
  // not at the first bf16 forward (ATTN_KERNEL_PATH is settled before main).
  attn::kernel::bf16_dot();
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  try {
    return dispatch(command, std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::invalid_argument& e) {
    std::cerr << "attnbench " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "attnbench " << command << ": out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "attnbench " << command << ": " << e.what() << "\n";
    return 1;
  }
}
