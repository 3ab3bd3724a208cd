#include "harness/measure/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace attn::harness {
namespace {

// Lock-free atomics are async-signal-safe, and unlike a volatile sig_atomic_t they are also
// seen by the other threads (the handler may run on a TBB worker).
std::atomic<int> pending_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

struct sigaction previous_int {
}, previous_term{};

void write_stderr(const char* text) {
  // write() is async-signal-safe; a short or failed write of a notice is harmless.
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" void on_interrupt(int signo) {
  int expected = 0;
  if (!pending_signal.compare_exchange_strong(expected, signo)) {
    // Second signal: stop now. Every row on disk was written with one write(), and a row torn
    // by this exit is dropped by the next --resume.
    write_stderr("\nattnbench: second interrupt, exiting at once\n");
    ::_exit(128 + expected);
  }
  write_stderr(
      "\nattnbench: interrupted; stopping after the current measurement (interrupt again to "
      "exit at once)\n");
}

}  // namespace

InterruptGuard::InterruptGuard() {
  pending_signal.store(0);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // file writes and waits resume rather than fail with EINTR
  ::sigaction(SIGINT, &action, &previous_int);
  ::sigaction(SIGTERM, &action, &previous_term);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &previous_int, nullptr);
  ::sigaction(SIGTERM, &previous_term, nullptr);
}

bool interrupt_requested() { return pending_signal.load(std::memory_order_relaxed) != 0; }

int interrupt_signal() { return pending_signal.load(); }

int interrupted_exit_status() { return 128 + interrupt_signal(); }

const char* interrupt_signal_name() {
  switch (interrupt_signal()) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "no signal";
  }
}

void clear_interrupt_for_testing() { pending_signal.store(0); }

}  // namespace attn::harness
