#pragma once
// Wall time for durations and throughput (a monotonic clock: immune to clock changes).

#include <chrono>

namespace attnlab {

// Seconds on the steady clock; only differences mean anything.
inline double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace attnlab
