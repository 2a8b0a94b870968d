#include "bench/op_profile.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <cstdio>
#include <map>

namespace attnlab {

std::vector<OpTime> profile_ops(const std::function<void()>& work) {
  namespace prof = torch::autograd::profiler;
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(prof::ProfilerState::CPU));
  try {
    work();
  } catch (...) {
    prof::disableProfilerLegacy();
    throw;
  }
  const auto threads = prof::disableProfilerLegacy();

  std::map<std::string, OpTime> by_name;
  for (const auto& events : threads) {
    struct Open {
      const prof::LegacyEvent* start;
      double children_us;
    };
    std::vector<Open> stack;
    for (const auto& event : events) {
      if (event.kind() == prof::EventKind::PushRange) {
        stack.push_back({&event, 0.0});
      } else if (event.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double total = open.start->cpuElapsedUs(event);
        auto& row = by_name[open.start->name()];
        row.name = open.start->name();
        row.calls += 1;
        row.total_us += total;
        row.self_us += std::max(0.0, total - open.children_us);
        if (!stack.empty()) stack.back().children_us += total;
      }
    }
  }
  std::vector<OpTime> rows;
  for (auto& kv : by_name) rows.push_back(std::move(kv.second));
  std::sort(rows.begin(), rows.end(),
            [](const OpTime& a, const OpTime& b) { return a.self_us > b.self_us; });
  return rows;
}

std::string format_op_profile(const std::vector<OpTime>& rows, size_t top) {
  double sum = 0.0;
  for (const auto& r : rows) sum += r.self_us;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "  %-42s %8s %12s %7s %12s\n", "op", "calls", "self ms",
                "self %", "total ms");
  out += line;
  for (size_t i = 0; i < rows.size() && i < top; ++i) {
    const auto& r = rows[i];
    std::snprintf(line, sizeof line, "  %-42.42s %8lld %12.2f %6.1f%% %12.2f\n", r.name.c_str(),
                  static_cast<long long>(r.calls), r.self_us / 1e3,
                  sum > 0 ? 100.0 * r.self_us / sum : 0.0, r.total_us / 1e3);
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-42s %8s %12.2f\n", "(all ops, self)", "", sum / 1e3);
  out += line;
  return out;
}

}  // namespace attnlab
