#include "cli/args.h"

#include <cstdio>
#include <sstream>

#include "cli/commands.h"

namespace attnlab::cli {

ArgParser::ArgParser(std::string command, std::string usage, std::string description)
    : command_(std::move(command)),
      usage_(std::move(usage)),
      description_(std::move(description)) {}

void ArgParser::option(const std::string& name, std::string* out, const std::string& help) {
  specs_.push_back({name, Kind::kString, out, help});
}
void ArgParser::option(const std::string& name, int64_t* out, const std::string& help) {
  specs_.push_back({name, Kind::kInt, out, help});
}
void ArgParser::repeated(const std::string& name, std::vector<std::string>* out,
                         const std::string& help) {
  specs_.push_back({name, Kind::kRepeated, out, help});
}
void ArgParser::flag(const std::string& name, bool* out, const std::string& help) {
  specs_.push_back({name, Kind::kFlag, out, help});
}
void ArgParser::positionals(const std::string& name, std::vector<std::string>* out,
                            const std::string& help) {
  positionals_ = out;
  positionals_name_ = name;
  positionals_help_ = help;
}

const ArgParser::Spec* ArgParser::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

std::string ArgParser::help() const {
  std::ostringstream out;
  out << "usage: " << usage_ << "\n\n" << description_ << "\n";
  if (positionals_) out << "\n  " << positionals_name_ << "\n      " << positionals_help_ << "\n";
  out << "\noptions:\n";
  for (const auto& s : specs_) {
    std::string left = "--" + s.name;
    if (s.kind == Kind::kString || s.kind == Kind::kRepeated) left += " VALUE";
    if (s.kind == Kind::kInt) left += " N";
    out << "  " << left << "\n      " << s.help << "\n";
  }
  out << "  --help\n      show this help and exit\n";
  return out.str();
}

bool ArgParser::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      if (arg == "--") {  // everything after is positional
        for (++i; i < args.size(); ++i) {
          if (!positionals_) throw UsageError("unexpected argument '" + args[i] + "'");
          positionals_->push_back(args[i]);
        }
        break;
      }
      if (!positionals_) throw UsageError("unexpected argument '" + arg + "'");
      positionals_->push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Spec* spec = find(name);
    if (!spec) throw UsageError("unknown option --" + name);
    if (spec->kind == Kind::kFlag) {
      if (has_value) throw UsageError("--" + name + " takes no value");
      *static_cast<bool*>(spec->out) = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value");
      value = args[++i];
    }
    switch (spec->kind) {
      case Kind::kString:
        *static_cast<std::string*>(spec->out) = value;
        break;
      case Kind::kRepeated:
        static_cast<std::vector<std::string>*>(spec->out)->push_back(value);
        break;
      case Kind::kInt: {
        try {
          size_t used = 0;
          const long long v = std::stoll(value, &used);
          if (used != value.size()) throw std::invalid_argument(value);
          *static_cast<int64_t*>(spec->out) = v;
        } catch (const std::exception&) {
          throw UsageError("--" + name + " expects an integer, got '" + value + "'");
        }
        break;
      }
      case Kind::kFlag:
        break;
    }
  }
  return true;
}

}  // namespace attnlab::cli
