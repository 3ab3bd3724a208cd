#pragma once

#include <stdexcept>

namespace attn::harness {

// SIGINT and SIGTERM during a measurement: the first one asks the sweep to stop after the
// current (point, variant) and to abandon a timing in progress; the rows already written stay.
// A second one exits at once with the same status (rows on disk are whole, see CsvWriter).
//
// Exit status of an interrupted `run` or `sweep`: 128 + the signal number, as shells report a
// process killed by it: 130 for SIGINT, 143 for SIGTERM.

// Installs the handlers for its lifetime and restores the previous ones afterwards.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

// True once SIGINT or SIGTERM arrived under an InterruptGuard. Cheap: polled between
// measurements and between Google Benchmark iterations.
bool interrupt_requested();
// The signal that arrived first (SIGINT or SIGTERM), 0 if none.
int interrupt_signal();
// 128 + interrupt_signal().
int interrupted_exit_status();
// A name for messages: "SIGINT", "SIGTERM".
const char* interrupt_signal_name();

// Thrown when a measurement in progress is abandoned because of an interrupt; it produces no
// CSV row, so --resume measures that (point, variant) again.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// For tests: forget an interrupt that was requested.
void clear_interrupt_for_testing();

}  // namespace attn::harness
