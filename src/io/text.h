#pragma once
// Small text helpers shared by error reporting across layers.

#include <string>

namespace attnlab {

// The first line of a (often multi-line) message, e.g. a c10::Error with its backtrace.
inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace attnlab
