#pragma once
// Translation alignments from attention: for each output token of the greedy CTC decode, the
// position that emitted it and where that position attends in the source (last layer, heads
// averaged). Used by `predict --alignment` and `attn --checkpoint F "text" --alignment`.

#include <ATen/Tensor.h>

#include <string>
#include <vector>

#include "model/encoder_model.h"
#include "train/run_data.h"

namespace attnlab {

// The model's output with attention weights, in eval mode without gradients; the model's
// mode is restored after. For records (probe.h) and alignments alike.
ModelOutput forward_with_weights(EncoderModel& model, const at::Tensor& input);

struct TranslationAlignment {
  std::vector<std::string> source_tokens;  // T
  std::vector<std::string> output_tokens;  // J, the greedy decode
  std::vector<int64_t> positions;          // J emitting positions (0 .. k*T-1)
  at::Tensor weights;       // (J, T) float32: row j is the attention of output j's position over
                            // the source tokens (split before the layers: the k states of a token
                            // summed), so each row sums to 1
  std::string translation;  // the output tokens detokenized

  // Index of the most-attended source token of output j.
  int64_t source_of(size_t j) const;
};

// The alignment of batch row `row` of a forward pass that returned attention weights, whose
// source has `source_tokens` (padding-free). `model` gives k and where the split is.
TranslationAlignment alignment_from_output(const EncoderModel& model, const ModelOutput& output,
                                           int64_t row, std::vector<std::string> source_tokens,
                                           const TaskSpec& spec);

// Runs the model (eval mode, no grad) on one input. Throws std::invalid_argument unless the
// model is a translation model.
TranslationAlignment align_translation(EncoderModel& model, const TaskSpec& spec,
                                       const std::string& text);

}  // namespace attnlab
