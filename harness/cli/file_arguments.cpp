#include "harness/cli/file_arguments.hpp"

#include <ostream>

#include "harness/sweep/usage_error.hpp"

namespace po = boost::program_options;

namespace attn::harness {

bool parse_options_and_files(const std::vector<std::string>& args,
                             const po::options_description& visible, const char* usage,
                             std::vector<std::string>& files, std::ostream& out) {
  po::options_description all = visible;
  all.add_options()("file", po::value(&files));
  po::positional_options_description positional;
  positional.add("file", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "; see --help");
  }
  if (vm.count("help")) {
    out << usage << "\n\n" << visible;
    return false;
  }
  return true;
}

}  // namespace attn::harness
