#include "attention_log/alignment.h"

#include <stdexcept>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "train/ctc.h"
#include "train/trained_model.h"

namespace attnlab {

int64_t TranslationAlignment::source_of(size_t j) const {
  return weights[static_cast<int64_t>(j)].argmax().item<int64_t>();
}

TranslationAlignment align_translation(EncoderModel& model, const TaskSpec& spec, const std::string& text) {
  if (spec.task != TaskKind::kTranslation)
    throw std::invalid_argument(std::string("alignments are for translation models; this one is ") +
                                name_of(spec.task));
  TrainedModel view;
  view.model = model;
  view.vocabs = spec;
  const auto tokens = encode_inputs(view, {text});  // (1, T)
  const bool was_training = model->is_training();
  model->eval();
  ModelOutput output;
  {
    torch::NoGradGuard no_grad;
    output = model->forward(tokens, /*need_weights=*/true);
  }
  if (was_training) model->train();
  const int64_t k = model->options.ctc_upsample;
  const int64_t T = tokens.size(1);
  const auto decoded = ctc_greedy_decode(output.logits.argmax(-1), output.lengths)[0];
  // Last layer, heads averaged: (T', T') with T' = T (split after the layers) or k*T.
  auto attention = output.weights.back()[0].to(at::kFloat).mean(0);
  const bool split_after = model->options.ctc_split_at == CtcSplitAt::kEncoder;
  if (!split_after) attention = attention.reshape({k * T, T, k}).sum(-1);  // (k*T, T): a token's k states summed

  TranslationAlignment a;
  a.source_tokens = tokenize(text, spec.tokenization);
  a.output_tokens = spec.target.decode(decoded.tokens);
  a.positions = decoded.positions;
  a.translation = detokenize(a.output_tokens, spec.tokenization);
  std::vector<at::Tensor> rows;
  for (const int64_t p : decoded.positions) rows.push_back(attention[split_after ? p / k : p]);
  a.weights = rows.empty() ? at::zeros({0, T}) : at::stack(rows);  // (J, T)
  return a;
}

}  // namespace attnlab
