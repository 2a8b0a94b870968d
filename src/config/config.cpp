#include "config/config.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/checks.h"
#include "config/reader.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;
using namespace config_detail;

Config parse(const std::string& text, const std::string& source,
             const std::vector<std::string>& overrides) {
  Reader reader(source);
  reader.read_document(text);
  for (const auto& assignment : overrides) reader.apply_override(assignment);
  Config config;
  reader.fill(config);
  check_values(reader, config);
  reader.throw_if_errors();
  return config;
}

// Runs `body`, turning anything it throws into a ConfigError.
template <typename F>
auto guarded(const std::string& source, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": " + e.what());
  } catch (const std::exception& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

// Makes a relative path absolute against `base`; "" and absolute paths stay.
void resolve(std::string& path, const fs::path& base) {
  if (path.empty() || fs::path(path).is_absolute()) return;
  path = (base / path).lexically_normal().string();
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides) {
  const std::string source = source_name.empty() ? "<string>" : source_name;
  return guarded(source, [&] {
    Config config = parse(yaml_text, source, overrides);
    config.source = source_name;
    return config;
  });
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return guarded(path, [&] {
    std::error_code ec;
    if (fs::is_directory(path, ec))
      throw ConfigError("cannot read config file " + path + ": is a directory");
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const int error = errno;
      throw ConfigError("cannot read config file " + path + ": " +
                        (error ? std::strerror(error) : "cannot open"));
    }
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError("cannot read config file " + path + ": read failed");

    Config config = parse(text.str(), path, overrides);
    config.source = path;
    const fs::path base = fs::absolute(fs::path(path)).parent_path();
    resolve(config.data.train, base);
    resolve(config.data.valid, base);
    resolve(config.data.test, base);
    resolve(config.data.image.train_labels, base);
    resolve(config.data.image.valid_labels, base);
    resolve(config.data.image.test_labels, base);
    resolve(config.data.spm.model, base);
    resolve(config.run.out_dir, base);
    return config;
  });
}

}  // namespace attnlab
