// attnlab: one binary, one command per job. Exceptions are caught here, once.
#include "cli/commands.h"
#include "runtime/stop_signals.h"
#include "runtime/threads.h"

int main(int argc, char** argv) {
  attnlab::install_stop_signal_watcher();  // before any thread exists
  attnlab::configure_allocator();          // before any tensor exists
  return attnlab::cli::run_main(argc, argv);
}
