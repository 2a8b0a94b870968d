#include "train/ctc.h"

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace attnlab {

at::Tensor ctc_loss_per_token(const at::Tensor& logits, const at::Tensor& lengths,
                              const at::Tensor& targets) {
  TORCH_CHECK(logits.dim() == 3, "ctc_loss: logits must be (B, T, V), got ", logits.sizes());
  TORCH_CHECK(targets.dim() == 2 && targets.size(0) == logits.size(0),
              "ctc_loss: targets must be (B, S) with B=", logits.size(0), ", got ", targets.sizes());
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == logits.size(0),
              "ctc_loss: lengths must be (B), got ", lengths.sizes());
  // Outside CPU autocast: its ctc_loss casts a bf16 input but not the float32 gradient buffer
  // its backward writes ("expected scalar type BFloat16 but found Float"); the loss is float32
  // anyway.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  const auto target_lengths = targets.ne(kCtcBlank).sum(1);  // (B)
  const auto log_probs = at::log_softmax(logits.to(at::kFloat), -1).transpose(0, 1);  // (T, B, V)
  const auto total = at::ctc_loss(log_probs, targets, lengths.to(at::kLong), target_lengths,
                                  kCtcBlank, at::Reduction::Sum, /*zero_infinity=*/false);
  const auto tokens = std::max<int64_t>(1, target_lengths.sum().item<int64_t>());
  return total / static_cast<double>(tokens);
}

std::vector<CtcDecoded> ctc_greedy_decode(const at::Tensor& ids_or_logits, const at::Tensor& lengths) {
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
    TORCH_CHECK(n[b] >= 0 && n[b] <= T, "ctc_greedy_decode: length ", n[b], " out of range for T=", T);
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

}  // namespace attnlab
