#pragma once

#include <boost/program_options.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace attn::harness {

// Parses `args` against `visible` plus any number of positional file names, which go to
// `files`. Throws UsageError on bad options. Returns false after writing `usage` and the options
// to `out` when --help is given (`visible` must declare "help,h").
bool parse_options_and_files(const std::vector<std::string>& args,
                             const boost::program_options::options_description& visible,
                             const char* usage, std::vector<std::string>& files, std::ostream& out);

}  // namespace attn::harness
