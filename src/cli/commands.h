#pragma once
// Command dispatch for the attnlab binary.

namespace attnlab::cli {

// Exit codes every command follows.
constexpr int kExitOk = 0;        // success
constexpr int kExitFailure = 1;   // a failure while running
constexpr int kExitUsage = 2;     // bad usage, config or input, before any work starts

// Parses argv, runs the command, turns any exception into one message and an exit code.
int run_main(int argc, char** argv);

}  // namespace attnlab::cli
