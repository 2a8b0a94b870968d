#pragma once
// The config schema, shared by the reader, the checks and the writer: one row per YAML key (its
// path and the Config field it fills), the sections they form, and the message helpers
// (did-you-mean, lists). Internal to src/config/.

#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "config/config.h"

namespace attnlab::config_detail {

using FieldRef =
    std::variant<int64_t*, uint64_t*, double*, bool*, std::string*, std::vector<std::string>*,
                 std::vector<int64_t>*, TaskKind*, Tokenization*, NormPlacement*, Activation*,
                 PositionKind*, Pooling*, ScheduleKind*, Precision*, BestMetric*, CtcSplitAt*,
                 ResumeMode*, DataFormat*, SpmModelType*>;

struct Field {
  const char* path;  // "log.attention.layers"; every proper prefix is a section
  FieldRef ref;
};

// One row per YAML key of `c`, in the order to_yaml writes them.
std::vector<Field> fields_of(Config& c);

// Key names, section names and the children of each section, derived from fields_of.
struct Schema {
  std::set<std::string> leaves;
  std::set<std::string> sections;                            // "" is the document root
  std::map<std::string, std::vector<std::string>> children;  // section -> child paths, in order
  Schema();
};
const Schema& schema();

std::string parent_of(const std::string& path);  // "a.b.c" -> "a.b"
std::string last_part(const std::string& path);  // "a.b.c" -> "c"
std::string join_path(const std::string& prefix, const std::string& key);
std::string joined(const std::vector<std::string>& items, const char* separator);
std::string quoted(const std::string& s);  // 'abc'

// The closest candidate within `max_distance` edits (1 for very short words), or "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates,
                    size_t max_distance = 2);

// The known path an unknown `path` most likely meant, or "".
std::string suggestion_for(const std::string& path);

// "unknown key; did you mean 'model.d_model'?" for an unknown `path`, or the list of known keys.
std::string unknown_key_message(const std::string& path);

}  // namespace attnlab::config_detail
