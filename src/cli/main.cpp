// attnlab: one binary, one command per job. Exceptions are caught here, once.
#include "cli/commands.h"
#include "train/runtime.h"

int main(int argc, char** argv) {
  attnlab::configure_allocator();  // before any tensor exists
  return attnlab::cli::run_main(argc, argv);
}
