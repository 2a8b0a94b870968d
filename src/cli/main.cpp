// attnlab: one binary, one command per job. Exceptions are caught here, once.
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) { return attnlab::cli::run_main(argc, argv); }
