// The include layering of the sources: attention/ <- variants/ <- harness/; inside attention/
// numeric/ <- core/ <- engine/ <- bases/ (reference/ beside engine/), and inside harness/ io/ <-
// measure/ <- sweep/ <- analysis/ <- cli/ (microbench/ beside cli/). A file may include headers
// of its own folder and of the layers below it, never above it. tests/ may include anything and
// is not checked.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// The layers, bottom to top. Folders of one rank are siblings: neither includes the other (the
// fp64 reference stands on core/ apart from the engine it checks; cli/ parses and runs commands,
// microbench/ is a separate program over the same layers). Every C++ file under kRoots must lie
// in one of these folders, so a new folder has to be placed in this order before it can hold
// code.
struct Layer {
  const char* folder;  // relative to the source root
  int rank;
};
constexpr Layer kLayers[] = {
    {"attention/numeric", 0},   {"attention/core", 1},  {"attention/engine", 2},
    {"attention/reference", 2}, {"attention/bases", 3}, {"variants", 4},
    {"harness/io", 5},          {"harness/measure", 6}, {"harness/sweep", 7},
    {"harness/analysis", 8},    {"harness/cli", 9},     {"harness/microbench", 9},
};

// The folders whose C++ files are checked.
constexpr const char* kRoots[] = {"attention", "variants", "harness"};

// Headers written into the build tree rather than the source tree, and the layer they belong
// to: harness/CMakeLists.txt generates git_revision.hpp for io/machine.cpp.
struct GeneratedHeader {
  const char* name;
  const char* folder;
};
constexpr GeneratedHeader kGenerated[] = {{"git_revision.hpp", "harness/io"}};

// The layer of a path relative to the source root ("harness/cli/main.cpp"), or nullptr when it
// lies in none.
const Layer* layer_of(const std::string& path) {
  for (const Layer& layer : kLayers) {
    const std::string folder = layer.folder;
    if (path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
        path[folder.size()] == '/')
      return &layer;
  }
  return nullptr;
}

// Whether a file of layer `from` may include a header of layer `to`: its own folder, or a
// lower rank.
bool may_include(const Layer& from, const Layer& to) { return &from == &to || to.rank < from.rank; }

bool is_cpp_file(const fs::path& path) {
  const std::string ext = path.extension().string();
  for (const char* cpp : {".cpp", ".hpp", ".h", ".cc", ".cxx", ".hh", ".hxx", ".inl", ".ipp"})
    if (ext == cpp) return true;
  return false;
}

bool names_a_root(const std::string& include) {
  for (const char* root : {"attention/", "variants/", "harness/", "tests/"})
    if (include.rfind(root, 0) == 0) return true;
  return false;
}

// The source-root-relative path an include names: a quoted include is looked up next to the
// including file first, as the compiler does ("../cli/options.hpp", "options.hpp"), then from
// the root.
std::string include_target(const fs::path& root, const std::string& file,
                           const std::string& written, bool quoted) {
  if (quoted) {
    const fs::path beside = (root / file).parent_path() / written;
    std::error_code ec;
    if (fs::is_regular_file(beside, ec))
      return fs::relative(beside, root, ec).lexically_normal().generic_string();
  }
  return fs::path(written).lexically_normal().generic_string();
}

const Layer* layer_of_include(const std::string& target) {
  for (const GeneratedHeader& header : kGenerated)
    if (target == header.name) return layer_of(std::string(header.folder) + "/");
  return layer_of(target);
}

std::string describe(const Layer& layer) {
  return std::string(layer.folder) + "/ (rank " + std::to_string(layer.rank) + ")";
}

// An include directive: `#include "x"` or `#include <x>`, whitespace allowed after the '#'.
// Spelled out rather than with std::regex, whose std::function trips GCC 12's
// maybe-uninitialized warning in the sanitizer builds.
struct IncludeLine {
  bool quoted = false;
  std::string written;  // the path between the delimiters
  std::string text;     // the directive as written, for messages
};
std::optional<IncludeLine> parse_include(const std::string& line) {
  std::size_t at = line.find_first_not_of(" \t");
  if (at == std::string::npos || line[at] != '#') return std::nullopt;
  at = line.find_first_not_of(" \t", at + 1);
  if (at == std::string::npos || line.compare(at, 7, "include") != 0) return std::nullopt;
  at = line.find_first_not_of(" \t", at + 7);
  if (at == std::string::npos || (line[at] != '"' && line[at] != '<')) return std::nullopt;
  const char close = line[at] == '"' ? '"' : '>';
  const std::size_t end = line.find(close, at + 1);
  if (end == std::string::npos || end == at + 1) return std::nullopt;
  const std::size_t start = line.find('#');
  return IncludeLine{close == '"', line.substr(at + 1, end - at - 1),
                     line.substr(start, end + 1 - start)};
}

// Every include of a file under kRoots that leaves its layer for one above it or beside it,
// and every file or include that lies in no layer, as "FILE:LINE: ..." messages.
std::vector<std::string> layering_violations(const fs::path& root) {
  std::vector<std::string> violations;
  for (const char* top : kRoots) {
    if (!fs::is_directory(root / top)) {
      violations.push_back(std::string(top) + "/: missing under " + root.string());
      continue;
    }
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(root / top))
      if (entry.is_regular_file() && is_cpp_file(entry.path()))
        files.push_back(fs::relative(entry.path(), root).generic_string());
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      const Layer* from = layer_of(file);
      if (!from) {
        violations.push_back(file +
                             ": lies in no layer; place its folder in kLayers of "
                             "tests/layers_test.cpp");
        continue;
      }
      std::ifstream in(root / file);
      std::string line;
      for (int number = 1; std::getline(in, line); ++number) {
        const std::optional<IncludeLine> include = parse_include(line);
        if (!include) continue;
        const bool quoted = include->quoted;
        const std::string& written = include->written;
        if (!quoted && !names_a_root(written)) continue;  // a system or third-party header
        const std::string target = include_target(root, file, written, quoted);
        const Layer* to = layer_of_include(target);
        const std::string where = file + ":" + std::to_string(number) + ": " + include->text;
        if (!to) {
          violations.push_back(where + " names a header in no layer (" + target + ")");
        } else if (!may_include(*from, *to)) {
          violations.push_back(where + " goes " + (to->rank == from->rank ? "sideways" : "up") +
                               " from " + describe(*from) + " to " + describe(*to));
        }
      }
    }
  }
  return violations;
}

TEST(Layers, RanksPlaceEachFolderAndRejectUpwardEdges) {
  const Layer* measure = layer_of("harness/measure/timing.cpp");
  const Layer* cli = layer_of("harness/cli/options.hpp");
  ASSERT_NE(measure, nullptr);
  ASSERT_NE(cli, nullptr);
  EXPECT_LT(measure->rank, cli->rank);
  EXPECT_FALSE(may_include(*measure, *cli));  // the planted upward edge
  EXPECT_TRUE(may_include(*cli, *measure));
  EXPECT_TRUE(may_include(*measure, *measure));

  // Inside attention/ as well: the planted upward edge from core/ to the engine.
  const Layer* core = layer_of("attention/core/variant.cpp");
  const Layer* engine = layer_of("attention/engine/block_engine.hpp");
  ASSERT_NE(core, nullptr);
  ASSERT_NE(engine, nullptr);
  EXPECT_FALSE(may_include(*core, *engine));
  EXPECT_TRUE(may_include(*engine, *core));

  const std::vector<std::string> bottom_to_top = {
      "attention/numeric/a.hpp", "attention/core/a.hpp", "attention/engine/a.hpp",
      "attention/bases/a.hpp",   "variants/a.cpp",       "harness/io/a.hpp",
      "harness/measure/a.hpp",   "harness/sweep/a.hpp",  "harness/analysis/a.hpp",
      "harness/cli/a.hpp"};
  for (std::size_t low = 0; low < bottom_to_top.size(); ++low)
    for (std::size_t high = low + 1; high < bottom_to_top.size(); ++high) {
      const Layer* lower = layer_of(bottom_to_top[low]);
      const Layer* higher = layer_of(bottom_to_top[high]);
      ASSERT_NE(lower, nullptr) << bottom_to_top[low];
      ASSERT_NE(higher, nullptr) << bottom_to_top[high];
      EXPECT_TRUE(may_include(*higher, *lower))
          << bottom_to_top[high] << " -> " << bottom_to_top[low];
      EXPECT_FALSE(may_include(*lower, *higher))
          << bottom_to_top[low] << " -> " << bottom_to_top[high];
    }

  // The reference stands on core/ beside the engine: neither includes the other.
  const Layer* reference = layer_of("attention/reference/reference.cpp");
  ASSERT_NE(reference, nullptr);
  EXPECT_TRUE(may_include(*reference, *core));
  EXPECT_TRUE(may_include(*reference, *layer_of("attention/numeric/a.hpp")));
  EXPECT_FALSE(may_include(*reference, *engine));
  EXPECT_FALSE(may_include(*engine, *reference));
  EXPECT_FALSE(may_include(*core, *reference));
  EXPECT_TRUE(may_include(*layer_of("variants/a.cpp"), *reference));

  // cli/ and microbench/ are siblings on top: neither includes the other.
  const Layer* microbench = layer_of("harness/microbench/main.cpp");
  ASSERT_NE(microbench, nullptr);
  EXPECT_FALSE(may_include(*microbench, *cli));
  EXPECT_FALSE(may_include(*cli, *microbench));
  EXPECT_TRUE(may_include(*microbench, *layer_of("harness/analysis/a.hpp")));

  // Nothing outside the placed folders has a layer.
  EXPECT_EQ(layer_of("attention/a.hpp"), nullptr);
  EXPECT_EQ(layer_of("attention/kernels/a.hpp"), nullptr);
  EXPECT_EQ(layer_of("attention/core"), nullptr);
  EXPECT_EQ(layer_of("harness/new_folder/a.cpp"), nullptr);
  EXPECT_EQ(layer_of("harness/slurm/a.cpp"), nullptr);
  EXPECT_EQ(layer_of("harness/a.cpp"), nullptr);
  EXPECT_EQ(layer_of("harness/cli"), nullptr);
  EXPECT_EQ(layer_of("harness/client/a.hpp"), nullptr);
  EXPECT_EQ(layer_of("tests/a.hpp"), nullptr);
  EXPECT_EQ(layer_of("git_revision.hpp"), nullptr);
  EXPECT_EQ(layer_of_include("git_revision.hpp"), layer_of("harness/io/machine.cpp"));
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

bool mentions(const std::vector<std::string>& violations, const std::string& text) {
  for (const std::string& v : violations)
    if (v.find(text) != std::string::npos) return true;
  return false;
}

TEST(Layers, ScanFindsPlantedViolations) {
  const fs::path root =
      fs::temp_directory_path() / ("attnbench_layers_test_" + std::to_string(::getpid()));
  fs::remove_all(root);
  write(root / "attention/numeric/n.hpp", "#pragma once\n");
  write(root / "attention/core/a.hpp",
        "#pragma once\n#include <vector>\n#include \"attention/numeric/n.hpp\"\n");
  write(root / "attention/engine/e.hpp", "#pragma once\n#include \"attention/core/a.hpp\"\n");
  write(root / "attention/reference/r.cpp", "#include \"attention/core/a.hpp\"\n");
  write(root / "attention/bases/b.hpp",
        "#pragma once\n#include \"../engine/e.hpp\"\n#include \"attention/numeric/n.hpp\"\n");
  write(root / "variants/v.cpp",
        "#include \"attention/bases/b.hpp\"\n#include \"variants/v.hpp\"\n");
  write(root / "variants/v.hpp", "#pragma once\n");
  write(root / "harness/io/machine.cpp", "#include \"git_revision.hpp\"\n");
  write(root / "harness/cli/options.hpp", "#pragma once\n");
  write(root / "harness/cli/main.cpp",
        "#include \"options.hpp\"\n#include \"harness/measure/timing.hpp\"\n");
  write(root / "harness/measure/timing.hpp", "#pragma once\n");
  ASSERT_EQ(layering_violations(root), std::vector<std::string>{}) << "a clean tree";

  write(root / "harness/measure/timing.cpp",
        "#include \"harness/measure/timing.hpp\"\n\n#include \"harness/cli/options.hpp\"\n");
  write(root / "harness/sweep/plan.cpp", "// relative\n#include \"../cli/options.hpp\"\n");
  write(root / "attention/numeric/b.cpp", "  #  include <harness/io/csv.hpp>\n");
  write(root / "attention/core/c.cpp",
        "#include \"attention/core/a.hpp\"\n#include \"attention/engine/e.hpp\"\n");
  write(root / "attention/reference/s.cpp", "#include \"../engine/e.hpp\"\n");
  write(root / "attention/loose.hpp", "#pragma once\n");
  write(root / "harness/microbench/bench.cpp", "#include \"harness/cli/options.hpp\"\n");
  write(root / "harness/new_folder/x.cpp", "#include \"attention/core/a.hpp\"\n");
  write(root / "harness/io/csv.cpp", "#include \"tests/support/test_support.hpp\"\n");
  const std::vector<std::string> violations = layering_violations(root);
  EXPECT_EQ(violations.size(), 9u);
  EXPECT_TRUE(mentions(violations,
                       "harness/measure/timing.cpp:3: #include \"harness/cli/options.hpp\" goes up "
                       "from harness/measure/ (rank 6) to harness/cli/ (rank 9)"));
  EXPECT_TRUE(
      mentions(violations, "harness/sweep/plan.cpp:2: #include \"../cli/options.hpp\" goes up"));
  EXPECT_TRUE(mentions(violations, "attention/numeric/b.cpp:1:"));
  EXPECT_TRUE(mentions(violations,
                       "attention/core/c.cpp:2: #include \"attention/engine/e.hpp\" goes up from "
                       "attention/core/ (rank 1) to attention/engine/ (rank 2)"));
  EXPECT_TRUE(mentions(violations,
                       "attention/reference/s.cpp:1: #include \"../engine/e.hpp\" goes sideways"));
  EXPECT_TRUE(mentions(violations, "attention/loose.hpp: lies in no layer"));
  EXPECT_TRUE(mentions(
      violations,
      "harness/microbench/bench.cpp:1: #include \"harness/cli/options.hpp\" goes sideways"));
  EXPECT_TRUE(mentions(violations, "harness/new_folder/x.cpp: lies in no layer"));
  EXPECT_TRUE(mentions(violations,
                       "harness/io/csv.cpp:1: #include \"tests/support/test_support.hpp\" names a "
                       "header in no layer"));
  for (const std::string& v : violations) std::cout << "  planted: " << v << "\n";
  fs::remove_all(root);
}

TEST(Layers, NoIncludeGoesUpALayer) {
  const fs::path root = ATTNBENCH_SOURCE_DIR;
  ASSERT_TRUE(fs::is_regular_file(root / "harness/cli/main.cpp")) << root;
  const std::vector<std::string> violations = layering_violations(root);
  std::string listed;
  for (const std::string& v : violations) listed += "  " + v + "\n";
  EXPECT_TRUE(violations.empty()) << violations.size()
                                  << " include(s) break the layering (bottom to top: "
                                     "attention/{numeric, core, engine | reference, bases}/, "
                                     "variants/, harness/{io, measure, sweep, analysis, "
                                     "cli | microbench}/):\n"
                                  << listed;
}

}  // namespace
