#pragma once
// Connectionist Temporal Classification for the translation task: the loss (LibTorch's
// ctc_loss, normalised per target token like the other tasks' losses) and greedy decoding.
// The blank is id 0 of the target vocabulary (<pad>, which is never a target token).

#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

namespace attnlab {

constexpr int64_t kCtcBlank = 0;

// logits (B, T, V) in any float type; lengths (B) int64, the valid positions of each row
// (<= T); targets (B, S) int64 padded with kCtcBlank. Returns the summed negative
// log-likelihood of the batch divided by its number of target tokens, in float32: a scalar
// with autograd to logits.
at::Tensor ctc_loss_per_token(const at::Tensor& logits, const at::Tensor& lengths,
                              const at::Tensor& targets);

// One decoded row: the tokens, and for each the output position that emitted it (the first
// position of its run on the best path).
struct CtcDecoded {
  std::vector<int64_t> tokens;
  std::vector<int64_t> positions;
};

// Greedy (best-path) decoding: argmax per position over the first lengths[b] positions, merge
// runs of the same id, drop blanks. ids: (B, T) int64 argmax ids, or logits (B, T, V).
std::vector<CtcDecoded> ctc_greedy_decode(const at::Tensor& ids_or_logits,
                                          const at::Tensor& lengths);

// CTC prefix beam search (Hannun et al., 2014): keeps the `beam` most probable labelings
// (prefixes, each with its probability of ending in a blank and in a non-blank) through the
// positions, summing over every path that collapses to the same labeling, so it can find a
// labeling more probable than the greedy path's. logits (T, V) of one row, already cut to its
// length; at each position only the 16 most probable tokens (and the blank) are extended.
// The survivors and the greedy labeling are then scored exactly (ctc_loss) and the most
// probable returned: never less probable than greedy decoding.
std::vector<int64_t> ctc_prefix_beam_search(const at::Tensor& logits, int64_t beam);

}  // namespace attnlab
