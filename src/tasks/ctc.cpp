#include "tasks/ctc.h"

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "data/dataset.h"

namespace attnlab {

at::Tensor ctc_loss_per_token(const at::Tensor& logits, const at::Tensor& lengths,
                              const at::Tensor& targets) {
  TORCH_CHECK(logits.dim() == 3, "ctc_loss: logits must be (B, T, V), got ", logits.sizes());
  TORCH_CHECK(targets.dim() == 2 && targets.size(0) == logits.size(0),
              "ctc_loss: targets must be (B, S) with B=", logits.size(0), ", got ",
              targets.sizes());
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == logits.size(0),
              "ctc_loss: lengths must be (B), got ", lengths.sizes());
  // Outside CPU autocast: its ctc_loss casts a bf16 input but not the float32 gradient buffer
  // its backward writes ("expected scalar type BFloat16 but found Float"); the loss is float32
  // anyway.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  const auto target_lengths = targets.ne(kCtcBlank).sum(1);                           // (B)
  const auto log_probs = at::log_softmax(logits.to(at::kFloat), -1).transpose(0, 1);  // (T, B, V)
  const auto total = at::ctc_loss(log_probs, targets, lengths.to(at::kLong), target_lengths,
                                  kCtcBlank, at::Reduction::Sum, /*zero_infinity=*/false);
  const auto tokens = std::max<int64_t>(1, target_lengths.sum().item<int64_t>());
  return total / static_cast<double>(tokens);
}

std::vector<CtcDecoded> ctc_greedy_decode(const at::Tensor& ids_or_logits,
                                          const at::Tensor& lengths) {
  auto ids = ids_or_logits.dim() == 3 ? ids_or_logits.argmax(-1) : ids_or_logits;  // (B, T)
  TORCH_CHECK(ids.dim() == 2, "ctc_greedy_decode: expected (B, T) ids or (B, T, V) logits, got ",
              ids_or_logits.sizes());
  ids = ids.to(at::kLong).contiguous();
  const auto len = lengths.to(at::kLong).contiguous();
  TORCH_CHECK(len.dim() == 1 && len.size(0) == ids.size(0), "ctc_greedy_decode: lengths must be (",
              ids.size(0), "), got ", lengths.sizes());
  const auto B = ids.size(0), T = ids.size(1);
  const auto* id = ids.data_ptr<int64_t>();
  const auto* n = len.data_ptr<int64_t>();
  std::vector<CtcDecoded> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    TORCH_CHECK(n[b] >= 0 && n[b] <= T, "ctc_greedy_decode: length ", n[b],
                " out of range for T=", T);
    int64_t previous = kCtcBlank;
    for (int64_t t = 0; t < n[b]; ++t) {
      const int64_t v = id[b * T + t];
      if (v != kCtcBlank && v != previous) {
        out[static_cast<size_t>(b)].tokens.push_back(v);
        out[static_cast<size_t>(b)].positions.push_back(t);
      }
      previous = v;
    }
  }
  return out;
}

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(-std::abs(a - b)));
}

struct PrefixScore {
  double blank = kNegInf;      // log p(prefix, path ends in a blank)
  double non_blank = kNegInf;  // log p(prefix, path ends in its last token)
  double total() const { return log_add(blank, non_blank); }
};

}  // namespace

std::vector<int64_t> ctc_prefix_beam_search(const at::Tensor& logits, int64_t beam) {
  TORCH_CHECK(logits.dim() == 2, "ctc_prefix_beam_search: logits must be (T, V), got ",
              logits.sizes());
  TORCH_CHECK(beam >= 1, "ctc_prefix_beam_search: beam must be >= 1, got ", beam);
  const auto log_probs = at::log_softmax(logits.to(at::kDouble), -1).contiguous();  // (T, V)
  const int64_t T = log_probs.size(0), V = log_probs.size(1);
  const int64_t extend = std::min<int64_t>(V, 16);
  const auto top = std::get<1>(log_probs.topk(extend, -1)).contiguous();  // (T, extend) ids
  const double* lp = log_probs.data_ptr<double>();
  const int64_t* candidates = top.data_ptr<int64_t>();

  using Prefix = std::vector<int64_t>;
  std::map<Prefix, PrefixScore> beams;
  beams[Prefix{}].blank = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    const double* row = lp + t * V;
    std::map<Prefix, PrefixScore> next;
    for (const auto& [prefix, score] : beams) {
      // The blank: the labeling stays, its path now ends in a blank.
      auto& same = next[prefix];
      same.blank = log_add(same.blank, score.total() + row[kCtcBlank]);
      for (int64_t i = 0; i < extend; ++i) {
        const int64_t c = candidates[t * extend + i];
        if (c == kCtcBlank) continue;
        const double p = row[c];
        Prefix longer = prefix;
        longer.push_back(c);
        auto& grown = next[longer];
        if (!prefix.empty() && prefix.back() == c) {
          // A repeat extends the labeling only after a blank; without one it merges.
          grown.non_blank = log_add(grown.non_blank, score.blank + p);
          auto& merged = next[prefix];
          merged.non_blank = log_add(merged.non_blank, score.non_blank + p);
        } else {
          grown.non_blank = log_add(grown.non_blank, score.total() + p);
        }
      }
    }
    std::vector<std::pair<double, Prefix>> ranked;
    ranked.reserve(next.size());
    for (auto& [prefix, score] : next) ranked.emplace_back(score.total(), prefix);
    const auto keep = std::min<size_t>(ranked.size(), static_cast<size_t>(beam));
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep),
                      ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    beams.clear();
    for (size_t i = 0; i < keep; ++i) beams[ranked[i].second] = next[ranked[i].second];
  }
  // Pruning can drop the greedy labeling's paths; score it and the survivors exactly (the sum
  // over all their paths, by ctc_loss) and return the most probable, so the result is never
  // less probable than greedy decoding's.
  std::vector<Prefix> finalists;
  for (const auto& entry : beams) finalists.push_back(entry.first);
  const auto greedy =
      ctc_greedy_decode(log_probs.argmax(-1).unsqueeze(0), at::full({1}, T, at::kLong))[0].tokens;
  if (beams.count(greedy) == 0) finalists.push_back(greedy);
  const auto exact = [&](const Prefix& labeling) {
    if (labeling.empty()) return log_probs.select(1, kCtcBlank).sum().item<double>();
    if (ctc_min_positions(labeling) > T) return kNegInf;
    const auto target = at::tensor(labeling, at::kLong).unsqueeze(0);  // (1, S)
    return -at::ctc_loss(log_probs.unsqueeze(1), target, at::full({1}, T, at::kLong),
                         at::full({1}, static_cast<int64_t>(labeling.size()), at::kLong), kCtcBlank,
                         at::Reduction::Sum, /*zero_infinity=*/false)
                .item<double>();
  };
  Prefix best;
  double best_score = kNegInf;
  for (const auto& labeling : finalists) {
    const double score = exact(labeling);
    if (score > best_score) {
      best_score = score;
      best = labeling;
    }
  }
  return best;
}

}  // namespace attnlab
