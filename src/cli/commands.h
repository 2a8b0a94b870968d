#pragma once
// Command dispatch for the attnlab binary. Each command takes the arguments after its name
// and returns an exit code; bad usage is reported by throwing UsageError.

#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab::cli {

// Exit codes every command follows.
constexpr int kExitOk = 0;       // success
constexpr int kExitFailure = 1;  // a failure while running
constexpr int kExitUsage = 2;    // bad usage, config or input, before any work starts

// Bad command-line usage; main prints the message and the command's --help hint, exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv, runs the command, turns any exception into one message and an exit code.
int run_main(int argc, char** argv);

using Args = std::vector<std::string>;
int train_command(const Args& args);
int eval_command(const Args& args);
int predict_command(const Args& args);
int data_command(const Args& args);
int attn_command(const Args& args);
int bench_command(const Args& args);
int average_command(const Args& args);

}  // namespace attnlab::cli
