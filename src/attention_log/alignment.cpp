#include "attention_log/alignment.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <stdexcept>

#include "tasks/ctc.h"
#include "train/trained_model.h"

namespace attnlab {

int64_t TranslationAlignment::source_of(size_t j) const {
  return weights[static_cast<int64_t>(j)].argmax().item<int64_t>();
}

ModelOutput forward_with_weights(EncoderModel& model, const at::Tensor& input) {
  const bool was_training = model->is_training();
  model->eval();
  ModelOutput output;
  {
    torch::NoGradGuard no_grad;
    output = model->forward(input, /*need_weights=*/true);
  }
  if (was_training) model->train();
  return output;
}

TranslationAlignment align_translation(EncoderModel& model, const TaskSpec& spec,
                                       const std::string& text) {
  if (spec.task != TaskKind::kTranslation)
    throw std::invalid_argument(std::string("alignments are for translation models; this one is ") +
                                name_of(spec.task));
  TrainedModel view;
  view.model = model;
  view.vocabs = spec;
  const auto tokens = encode_inputs(view, {text});  // (1, T)
  const auto output = forward_with_weights(model, tokens);
  return alignment_from_output(model, output, 0, spec.tokenizer.tokenize(text), spec);
}

TranslationAlignment alignment_from_output(const EncoderModel& model, const ModelOutput& output,
                                           int64_t row, std::vector<std::string> source_tokens,
                                           const TaskSpec& spec) {
  TORCH_CHECK(!output.weights.empty() && output.lengths.defined(),
              "alignment_from_output: the forward pass returned no attention weights or lengths");
  const int64_t k = model->options.ctc_upsample;
  const auto S = static_cast<int64_t>(source_tokens.size());
  const auto decoded = ctc_greedy_decode(output.logits.narrow(0, row, 1).argmax(-1),
                                         output.lengths.narrow(0, row, 1))[0];
  // Last layer, heads averaged: (T', T') with T' = T (split after the layers) or k*T, T the
  // batch's padded source length.
  auto attention = output.weights.back()[row].to(at::kFloat).mean(0);
  const bool split_after = model->options.ctc_split_at == CtcSplitAt::kEncoder;
  if (!split_after) {
    const int64_t T = attention.size(1) / k;
    attention = attention.reshape({k * T, T, k}).sum(-1);  // (k*T, T): a token's k states summed
  }
  TranslationAlignment a;
  a.source_tokens = std::move(source_tokens);
  a.output_tokens = spec.target.decode(decoded.tokens);
  a.positions = decoded.positions;
  a.translation = spec.tokenizer.detokenize(a.output_tokens);
  std::vector<at::Tensor> rows;
  for (const int64_t p : decoded.positions)
    rows.push_back(attention[split_after ? p / k : p].slice(0, 0, S));  // padded keys carry 0
  a.weights = rows.empty() ? at::zeros({0, S}) : at::stack(rows).contiguous();  // (J, S)
  return a;
}

}  // namespace attnlab
