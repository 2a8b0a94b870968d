// libFuzzer harness for the config reader: YAML text plus --set overrides (config/config.h).
// Input bytes: the YAML document, then optionally a NUL byte and --set overrides, one per line.
// Allowed outcomes: a Config, or a ConfigError (the one exception parse_config may throw).
// Checked on every Config: to_yaml writes what parse_config reads back to the same text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string yaml = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    const std::string sets = input.substr(nul + 1);
    size_t start = 0;
    while (start <= sets.size() && overrides.size() < 16) {
      const auto end = std::min(sets.find('\n', start), sets.size());
      overrides.push_back(sets.substr(start, end - start));
      start = end + 1;
    }
  }
  attnlab::Config config;
  try {
    config = attnlab::parse_config(yaml, "fuzz.yaml", overrides);
  } catch (const attnlab::ConfigError&) {
    return 0;
  }
  const std::string written = attnlab::to_yaml(config);
  try {
    const auto again =
        attnlab::to_yaml(attnlab::parse_config(written, "fuzz.yaml (written back)", {}));
    if (again != written) {
      std::fprintf(stderr, "to_yaml/parse_config round trip differs:\n%s\n---\n%s\n",
                   written.c_str(), again.c_str());
      std::abort();
    }
  } catch (const attnlab::ConfigError& e) {
    std::fprintf(stderr, "to_yaml wrote a config parse_config rejects: %s\n%s\n", e.what(),
                 written.c_str());
    std::abort();
  }
  return 0;
}
