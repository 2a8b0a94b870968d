// Tests for src/model/encoder_model.{h,cpp}: checkpoint key names and shapes, padding
// invariance with pad tokens, per-layer weights, dropout, parameter count, checks.

#include "model/encoder_model.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <utility>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

constexpr int64_t kV = 11, kC = 8, kH = 2, kFF = 16, kOut = 5, kMaxLen = 16;
constexpr int kPad = 0;  // int, like the literals it sits among in torch::tensor({...})

ModelOptions model_options(TaskKind task, bool norm_first, int64_t num_layers = 2) {
  ModelOptions options;
  options.embedding.vocab_size = kV;
  options.embedding.d_model = kC;
  options.embedding.max_len = kMaxLen;
  options.encoder.num_layers = num_layers;
  options.encoder.layer.d_model = kC;
  options.encoder.layer.num_heads = kH;
  options.encoder.layer.d_ff = kFF;
  options.encoder.layer.dropout = 0.0;
  options.encoder.layer.norm_first = norm_first;
  options.task = task;
  options.num_outputs = kOut;
  options.pad_id = kPad;
  return options;
}

using Shape = std::vector<int64_t>;

std::vector<std::pair<std::string, Shape>> names_and_shapes(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, Shape>> result;
  for (const auto& item : module.named_parameters())
    result.emplace_back(item.key(), item.value().sizes().vec());
  return result;
}

// The per-layer keys, written out once for both expected lists below.
void add_layer(std::vector<std::pair<std::string, Shape>>& keys, int layer) {
  const std::string p = "encoder.layers." + std::to_string(layer) + ".";
  keys.push_back({p + "self_attention.in_proj.weight", {3 * kC, kC}});
  keys.push_back({p + "self_attention.in_proj.bias", {3 * kC}});
  keys.push_back({p + "self_attention.out_proj.weight", {kC, kC}});
  keys.push_back({p + "self_attention.out_proj.bias", {kC}});
  keys.push_back({p + "feed_forward.linear1.weight", {kFF, kC}});
  keys.push_back({p + "feed_forward.linear1.bias", {kFF}});
  keys.push_back({p + "feed_forward.linear2.weight", {kC, kFF}});
  keys.push_back({p + "feed_forward.linear2.bias", {kC}});
  keys.push_back({p + "norm1.weight", {kC}});
  keys.push_back({p + "norm1.bias", {kC}});
  keys.push_back({p + "norm2.weight", {kC}});
  keys.push_back({p + "norm2.bias", {kC}});
}

TEST(EncoderModel, ParameterNamesOfTwoLayerPreLnTransductionModel) {
  EncoderModel model(model_options(TaskKind::kTransduction, /*norm_first=*/true));
  std::vector<std::pair<std::string, Shape>> expected = {{"embedding.token.weight", {kV, kC}}};
  add_layer(expected, 0);
  add_layer(expected, 1);
  expected.push_back({"encoder.final_norm.weight", {kC}});
  expected.push_back({"encoder.final_norm.bias", {kC}});
  expected.push_back({"token_head.proj.weight", {kOut, kC}});
  expected.push_back({"token_head.proj.bias", {kOut}});
  EXPECT_EQ(names_and_shapes(*model), expected);

  std::vector<std::string> buffers;
  for (const auto& item : model->named_buffers()) buffers.push_back(item.key());
  EXPECT_EQ(buffers, std::vector<std::string>{"embedding.position_table"});

  // Hand count: V*C + per layer (3C*C + 3C + C*C + C + FF*C + FF + C*FF + C + 4C) + 2C + V'*C + V'.
  const int64_t per_layer =
      3 * kC * kC + 3 * kC + kC * kC + kC + kFF * kC + kFF + kC * kFF + kC + 4 * kC;
  EXPECT_EQ(count_parameters(*model), kV * kC + 2 * per_layer + 2 * kC + kOut * kC + kOut);
}

TEST(EncoderModel, ParameterNamesOfClassificationModelWithLearnedPositions) {
  auto options = model_options(TaskKind::kClassification, /*norm_first=*/false);
  options.embedding.positions = PositionKind::kLearned;
  options.pooling = Pooling::kMean;
  EncoderModel model(options);
  std::vector<std::pair<std::string, Shape>> expected = {
      {"embedding.token.weight", {kV, kC}}, {"embedding.position.weight", {kMaxLen, kC}}};
  add_layer(expected, 0);
  add_layer(expected, 1);
  // Post-LN: no final_norm.
  expected.push_back({"classification_head.classifier.weight", {kOut, kC}});
  expected.push_back({"classification_head.classifier.bias", {kOut}});
  EXPECT_EQ(names_and_shapes(*model), expected);
  EXPECT_TRUE(model->named_buffers().is_empty());
}

// Two sequences (5 and 3 real tokens), then the same batch with three more pad columns and an
// extra all-pad row.
torch::Tensor short_batch() {
  return torch::tensor({3, 7, 1, 9, 4, 5, 2, 8, kPad, kPad}, torch::kLong).view({2, 5});
}
torch::Tensor padded_batch() {
  auto longer = torch::full({3, 8}, kPad, torch::kLong);
  longer.slice(0, 0, 2).slice(1, 0, 5).copy_(short_batch());
  return longer;
}

TEST(EncoderModel, AppendedPadTokensDoNotChangeTransductionOutputs) {
  for (bool norm_first : {true, false}) {
    SCOPED_TRACE(norm_first ? "pre-LN" : "post-LN");
    torch::manual_seed(1);
    EncoderModel model(model_options(TaskKind::kTransduction, norm_first));
    test::randomize_parameters(*model);
    model->eval();
    torch::NoGradGuard no_grad;
    auto short_out = model(short_batch(), /*need_weights=*/true);
    auto long_out = model(padded_batch(), /*need_weights=*/true);
    ASSERT_EQ(long_out.logits.sizes(), (Shape{3, 8, kOut}));
    EXPECT_LT(max_abs_diff(long_out.logits[0].slice(0, 0, 5), short_out.logits[0]), 1e-5);
    EXPECT_LT(max_abs_diff(long_out.logits[1].slice(0, 0, 3), short_out.logits[1].slice(0, 0, 3)),
              1e-5);
    EXPECT_TRUE(test::all_finite(long_out.logits));
    ASSERT_EQ(long_out.weights.size(), 2u);
    for (const auto& w : long_out.weights) {
      EXPECT_EQ(w.sizes(), (Shape{3, kH, 8, 8}));
      EXPECT_TRUE(test::all_finite(w));
      EXPECT_TRUE(w.slice(0, 0, 2).slice(3, 5).eq(0).all().item<bool>());
      EXPECT_TRUE(w[1].slice(2, 3).eq(0).all().item<bool>());
      EXPECT_TRUE(w[2].eq(0).all().item<bool>());  // all-pad row: every query fully masked
    }
  }
}

TEST(EncoderModel, AppendedPadTokensDoNotChangeClassificationLogits) {
  for (Pooling pooling : {Pooling::kMean, Pooling::kCls}) {
    SCOPED_TRACE(name_of(pooling));
    torch::manual_seed(2);
    auto options = model_options(TaskKind::kClassification, /*norm_first=*/true);
    options.pooling = pooling;
    EncoderModel model(options);
    test::randomize_parameters(*model);
    model->eval();
    torch::NoGradGuard no_grad;
    auto short_logits = model(short_batch()).logits;
    auto long_logits = model(padded_batch()).logits;
    ASSERT_EQ(long_logits.sizes(), (Shape{3, kOut}));
    EXPECT_LT(max_abs_diff(long_logits.slice(0, 0, 2), short_logits), 1e-5);
    EXPECT_TRUE(test::all_finite(long_logits));
  }
}

TEST(EncoderModel, GradientsAreFiniteWithAllPadRow) {
  torch::manual_seed(3);
  EncoderModel model(model_options(TaskKind::kTransduction, /*norm_first=*/true));
  model(padded_batch()).logits.sum().backward();
  for (const auto& item : model->named_parameters())
    EXPECT_TRUE(test::all_finite(item.value().grad())) << item.key();
}

TEST(EncoderModel, DropoutOffInEvalAndSeededInTrain) {
  torch::manual_seed(4);
  auto options = model_options(TaskKind::kTransduction, /*norm_first=*/true);
  options.embedding.dropout = 0.1;
  options.encoder.layer.dropout = 0.1;
  options.encoder.layer.attention_dropout = 0.1;
  EncoderModel model(options);
  EncoderModel plain(model_options(TaskKind::kTransduction, /*norm_first=*/true));
  test::copy_parameters(*model, *plain);
  auto tokens = short_batch();

  model->eval();
  auto eval1 = model(tokens).logits;
  EXPECT_TRUE(torch::equal(eval1, model(tokens).logits));
  EXPECT_LT(max_abs_diff(eval1, plain(tokens).logits), 1e-6);

  model->train();
  torch::manual_seed(42);
  auto train1 = model(tokens).logits;
  torch::manual_seed(42);
  auto train2 = model(tokens).logits;
  EXPECT_TRUE(torch::equal(train1, train2));
  EXPECT_GT(max_abs_diff(train1, eval1), 1e-3);
}

TEST(EncoderModel, Bf16InferenceAgreesWithFloat32AndWithBf16Training) {
  // Under bf16 autocast without gradients every linear layer runs the cached oneDNN bf16
  // primitive (kernels/linear_functions.h) and attention its bf16 kernel; with gradients,
  // autocast's own linear. All three must agree with the float32 model to bf16 accuracy.
  torch::manual_seed(12);
  auto options = model_options(TaskKind::kTransduction, /*norm_first=*/true, 3);
  options.embedding.d_model = options.encoder.layer.d_model = 64;
  options.encoder.layer.num_heads = 4;
  options.encoder.layer.d_ff = 128;
  EncoderModel model(options);
  model->eval();
  auto tokens = torch::randint(1, kV, {3, 12}, torch::kLong);
  tokens.index_put_({2, torch::indexing::Slice(7, 12)}, kPad);
  torch::Tensor fp32, inference, with_grad;
  {
    torch::NoGradGuard no_grad;
    fp32 = model->forward(tokens).logits;
  }
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  {
    torch::NoGradGuard no_grad;
    inference = model->forward(tokens).logits.to(torch::kFloat);
  }
  with_grad = model->forward(tokens).logits.to(torch::kFloat).detach();
  at::autocast::set_cpu_enabled(false);
  at::autocast::clear_cache();
  const double scale = fp32.abs().max().item<double>();
  EXPECT_LT(max_abs_diff(inference, fp32) / scale, 5e-2);
  EXPECT_LT(max_abs_diff(with_grad, fp32) / scale, 5e-2);
  EXPECT_LT(max_abs_diff(inference, with_grad) / scale, 5e-2);
  EXPECT_GT(max_abs_diff(inference, fp32), 0.0);  // it did run in bf16
}

TEST(EncoderModel, RejectsBadInputAndOptions) {
  EncoderModel model(model_options(TaskKind::kTransduction, /*norm_first=*/true));
  EXPECT_THROW(model(torch::zeros({2, 3})), c10::Error);
  EXPECT_THROW(model(torch::zeros({6}, torch::kLong)), c10::Error);
  auto options = model_options(TaskKind::kTransduction, true);
  options.embedding.d_model = kC * 2;
  EXPECT_THROW(EncoderModel{options}, c10::Error);
  test::expect_contains(test::error_message([&] { EncoderModel{options}; }), "16");
}

}  // namespace
}  // namespace attnlab
