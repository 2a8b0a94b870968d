#pragma once
// Per-operator time breakdown from LibTorch's autograd profiler, for `attnlab bench --profile`.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attnlab {

struct OpTime {
  std::string name;  // operator or autograd node, e.g. "aten::bmm", "SoftmaxBackward0"
  int64_t calls = 0;
  double self_us = 0.0;   // time inside this op minus the ops it called
  double total_us = 0.0;  // time inside this op, including the ops it called
};

// Runs `work` under the profiler and returns one row per op name, sorted by self time
// (largest first). Only the calling thread's ops are timed (that is where LibTorch runs CPU
// work and CPU autograd; intra-op worker threads show up inside their op's time).
std::vector<OpTime> profile_ops(const std::function<void()>& work);

// A fixed-width table of the `top` rows with each row's share of the summed self time.
std::string format_op_profile(const std::vector<OpTime>& rows, size_t top);

}  // namespace attnlab
