#include "attention_log/head_stats.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

namespace attnlab {
namespace {

std::string fixed(double v, int width, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%*.*f", width, decimals, v);
  return buf;
}

std::string right(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string pattern_of(const HeadStats& s) {
  const std::pair<double, const char*> candidates[] = {
      {s.diagonal, "diagonal"}, {s.anti_diagonal, "anti-diagonal"}, {s.first_token, "first token"}};
  const auto* best = &candidates[0];
  for (const auto& c : candidates)
    if (c.first > best->first) best = &c;
  return best->first > 0.5 ? best->second : "-";
}

}  // namespace

HeadStats compute_head_stats(const at::Tensor& weights, const std::vector<int64_t>& lengths) {
  TORCH_CHECK(weights.dim() == 3 && weights.size(1) == weights.size(2),
              "compute_head_stats: weights must be (N, T, T), got ", weights.sizes());
  const int64_t N = weights.size(0), T = weights.size(1);
  TORCH_CHECK(static_cast<int64_t>(lengths.size()) == N, "compute_head_stats: ", N,
              " examples but ", lengths.size(), " lengths");
  const auto w = weights.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto acc = w.accessor<double, 3>();  // (N, T, T)

  HeadStats s;
  int64_t queries = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t L = lengths[static_cast<size_t>(n)];
    TORCH_CHECK(L >= 1 && L <= T, "compute_head_stats: length ", L, " of example ", n,
                " outside [1, ", T, "]");
    for (int64_t i = 0; i < L; ++i) {
      double entropy = 0, max_weight = 0, distance = 0;
      for (int64_t j = 0; j < L; ++j) {
        const double p = acc[n][i][j];
        if (p > 0 || std::isnan(p)) entropy -= p * std::log(p);
        max_weight = std::max(max_weight, p);
        if (std::isnan(p)) max_weight = p;
        distance += p * static_cast<double>(std::abs(i - j));
      }
      s.entropy += entropy;
      s.max_weight += max_weight;
      s.distance += distance;
      s.diagonal += acc[n][i][i];
      s.anti_diagonal += acc[n][i][L - 1 - i];
      s.first_token += acc[n][i][0];
      ++queries;
    }
  }
  const double q = static_cast<double>(queries);
  for (double* v :
       {&s.entropy, &s.max_weight, &s.distance, &s.diagonal, &s.anti_diagonal, &s.first_token})
    *v /= q;
  return s;
}

std::vector<HeadStats> compute_record_stats(const AttentionRecord& record) {
  std::vector<HeadStats> out;
  for (int64_t l = 0; l < record.num_layers(); ++l) {
    const auto& layer = record.layers[static_cast<size_t>(l)];  // (N, H', T, T)
    for (int64_t h = 0; h < record.num_heads(); ++h) {
      auto s = compute_head_stats(layer.select(1, h), record.lengths);  // (N, T, T)
      s.layer = record.layer_ids[static_cast<size_t>(l)];
      s.head = record.head_ids[static_cast<size_t>(h)];
      out.push_back(s);
    }
  }
  return out;
}

std::vector<size_t> spread_indices(size_t size, size_t count) {
  std::vector<size_t> out;
  if (size == 0 || count == 0) return out;
  if (count >= size) {
    for (size_t i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  if (count == 1) return {size - 1};
  for (size_t k = 0; k < count; ++k) {
    const auto i = static_cast<size_t>(std::lround(
        static_cast<double>(k) * static_cast<double>(size - 1) / static_cast<double>(count - 1)));
    if (out.empty() || out.back() != i) out.push_back(i);
  }
  return out;
}

std::string render_stats_table(const std::vector<StepStats>& steps) {
  // Rows keyed by (layer, head) in first-seen order.
  std::vector<std::pair<int64_t, int64_t>> keys;
  std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<int64_t, const HeadStats*>>> rows;
  for (const auto& step : steps)
    for (const auto& h : step.heads) {
      const auto key = std::make_pair(h.layer, h.head);
      if (rows.find(key) == rows.end()) keys.push_back(key);
      rows[key].emplace_back(step.step, &h);
    }
  size_t step_width = 4;
  for (const auto& step : steps)
    step_width = std::max(step_width, std::to_string(step.step).size());

  std::string out = "layer  head  " + right("step", step_width) +
                    "  entropy  max_w    dist   diag   anti  first  pattern\n";
  for (const auto& key : keys) {
    bool first = true;
    for (const auto& [step, s] : rows[key]) {
      std::string line = first ? right(std::to_string(key.first), 5) + "  " +
                                     right(key.second < 0 ? "avg" : std::to_string(key.second), 4) +
                                     "  "
                               : std::string(13, ' ');
      line += right(std::to_string(step), step_width) + "  " + fixed(s->entropy, 7, 3) + "  " +
              fixed(s->max_weight, 5, 3) + "  " + fixed(s->distance, 6, 2) + "  " +
              fixed(s->diagonal, 5, 3) + "  " + fixed(s->anti_diagonal, 5, 3) + "  " +
              fixed(s->first_token, 5, 3) + "  " + pattern_of(*s);
      out += line + "\n";
      first = false;
    }
  }
  return out;
}

}  // namespace attnlab
