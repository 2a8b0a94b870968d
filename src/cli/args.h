#pragma once
// A small command-line parser shared by every command: --name VALUE, --name=VALUE, boolean
// flags, repeatable options, positionals, and --help. Errors throw UsageError.

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::cli {

class ArgParser {
 public:
  // `usage` is the first help line, e.g. "attnlab eval --checkpoint FILE [options]".
  ArgParser(std::string command, std::string usage, std::string description);

  void option(const std::string& name, std::string* out, const std::string& help);
  void option(const std::string& name, int64_t* out, const std::string& help);
  void repeated(const std::string& name, std::vector<std::string>* out, const std::string& help);
  void flag(const std::string& name, bool* out, const std::string& help);
  // Positionals go to `out`; without this call a positional argument is an error.
  void positionals(const std::string& name, std::vector<std::string>* out, const std::string& help);

  // Parses; returns false when --help was given (help has been printed to stdout).
  bool parse(const std::vector<std::string>& args);
  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  enum class Kind { kString, kInt, kRepeated, kFlag };
  struct Spec {
    std::string name;
    Kind kind;
    void* out;
    std::string help;
  };
  const Spec* find(const std::string& name) const;

  std::string command_, usage_, description_;
  std::vector<Spec> specs_;
  std::vector<std::string>* positionals_ = nullptr;
  std::string positionals_name_, positionals_help_;
};

}  // namespace attnlab::cli
