#include "cli/commands.h"

#include <cstdio>
#include <exception>
#include <string>

namespace attnlab::cli {

int run_main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: attnlab <command> [options]\n");
    return kExitUsage;
  }
  (void)argv;
  return kExitOk;
}

}  // namespace attnlab::cli
