#pragma once

#include <string>
#include <vector>

#include "harness/analysis/advise.hpp"

namespace attn::harness {

// What a report is made of. `command`, when known (sweep --report), is the exact command line
// of the sweep; otherwise the report derives one from the rows' axes.
struct ReportRequest {
  std::vector<std::string> files;
  std::string out;
  std::string command;
  AdviseOptions advise;
};

// Writes one self-contained HTML file (no network: styles, script and SVG figures inline): the
// machine and build context, the advice for the bounds, the plot script's figures, every row in
// a table sortable by any column, each variant's definition, the skipped and error rows with
// their messages, and the command that reproduces the sweep. Returns 0, or 1 when the plot
// script failed (the report is still written, saying so). Throws std::invalid_argument for
// unreadable or malformed CSVs and UsageError for bad requests.
int write_report(const ReportRequest& request);

}  // namespace attn::harness
