#pragma once
// `attnlab data`: writes one of the built-in toy datasets as train/valid/test TSV files.

#include <ostream>
#include <string>
#include <vector>

namespace attnlab::cli {

// args: the arguments after "data":
//   --dataset NAME (required; --task NAME, its old name, is accepted with a warning)
//   --out DIR (required)  --seed N (default 1)
//   --train N  --valid N  --test N (defaults: the dataset's shipped sizes)  --help
// Each option takes its value as the next argument or after '=' (--seed=3) (cli/args.h).
// Throws UsageError for unknown options, missing or malformed values and unknown datasets;
// prints what it wrote to out (--help: to stdout). Returns kExitOk.
int data_command(const std::vector<std::string>& args, std::ostream& out);
int data_command(const std::vector<std::string>& args);  // prints to std::cout

// The text --help prints.
std::string data_usage();

}  // namespace attnlab::cli
