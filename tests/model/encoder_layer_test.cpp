// Tests for src/model/encoder_layer.{h,cpp}: post-LN against LibTorch's
// TransformerEncoderLayer with copied weights, pre-LN against a hand-composed reference,
// finite-difference gradients, dropout train/eval behaviour.

#include "model/encoder_layer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

namespace F = torch::nn::functional;
using test::max_abs_diff;

constexpr int64_t kB = 2, kT = 5, kC = 8, kH = 2, kFF = 16;
constexpr double kTol = 1e-5;

EncoderLayerOptions layer_options(bool norm_first, Activation activation, double dropout) {
  EncoderLayerOptions options;
  options.d_model = kC;
  options.num_heads = kH;
  options.d_ff = kFF;
  options.dropout = dropout;
  options.attention_dropout = dropout;
  options.activation = activation;
  options.norm_first = norm_first;
  return options;
}

EncoderLayer make_layer(bool norm_first, Activation activation, double dropout = 0.0) {
  EncoderLayer layer(layer_options(norm_first, activation, dropout));
  test::randomize_parameters(*layer);
  return layer;
}

torch::Tensor padding_mask() { return test::padding_mask_from_lengths({kT, 3}, kT); }

void expect_post_ln_matches_libtorch(Activation activation) {
  torch::manual_seed(activation == Activation::kRelu ? 1 : 2);
  // Dropout is set on both sides; eval() must switch it off in both.
  auto ours = make_layer(/*norm_first=*/false, activation, /*dropout=*/0.1);
  auto ref_options =
      torch::nn::TransformerEncoderLayerOptions(kC, kH).dim_feedforward(kFF).dropout(0.1);
  if (activation == Activation::kRelu)
    ref_options.activation(torch::kReLU);
  else
    ref_options.activation(torch::kGELU);
  torch::nn::TransformerEncoderLayer ref(ref_options);
  test::copy_into_reference_layer(ours, *ref);
  ours->eval();
  ref->eval();

  auto x = torch::randn({kB, kT, kC});
  for (bool with_mask : {false, true}) {
    SCOPED_TRACE(with_mask ? "with key padding mask" : "without mask");
    auto kpm = with_mask ? padding_mask() : torch::Tensor();
    auto out = ours->forward(x, kpm).output;
    auto expected = ref(x.transpose(0, 1), /*src_mask=*/torch::Tensor(), kpm).transpose(0, 1);
    EXPECT_LT(max_abs_diff(out, expected), kTol);
  }
  // A causal attn_mask as well (LibTorch's C++ module takes it additively).
  auto causal = torch::ones({kT, kT}, torch::kBool).triu(1);
  auto out = ours->forward(x, padding_mask(), causal).output;
  auto expected =
      ref(x.transpose(0, 1), test::additive_mask(causal), padding_mask()).transpose(0, 1);
  EXPECT_LT(max_abs_diff(out, expected), kTol);
}

TEST(EncoderLayer, PostLnReluMatchesLibTorchTransformerEncoderLayer) {
  expect_post_ln_matches_libtorch(Activation::kRelu);
}

TEST(EncoderLayer, PostLnGeluMatchesLibTorchTransformerEncoderLayer) {
  expect_post_ln_matches_libtorch(Activation::kGelu);
}

TEST(EncoderLayer, PreLnMatchesHandComposedReference) {
  for (Activation activation : {Activation::kGelu, Activation::kRelu}) {
    SCOPED_TRACE(name_of(activation));
    torch::manual_seed(3);
    auto layer = make_layer(/*norm_first=*/true, activation);
    layer->eval();
    auto attention = test::reference_attention(layer->self_attention);
    attention->eval();
    const auto& ff = layer->feed_forward;
    auto x = torch::randn({kB, kT, kC});
    for (bool with_mask : {false, true}) {
      SCOPED_TRACE(with_mask ? "with key padding mask" : "without mask");
      auto kpm = with_mask ? padding_mask() : torch::Tensor();
      // x + attn(ln1(x)), then + ff(ln2(.)), from LibTorch functional ops.
      auto ln1 = torch::layer_norm(x, {kC}, layer->norm1->weight, layer->norm1->bias, 1e-5);
      auto ln1_t = ln1.transpose(0, 1);  // (T, B, C) for LibTorch's MultiheadAttention
      auto attended = std::get<0>(attention(ln1_t, ln1_t, ln1_t, kpm)).transpose(0, 1);
      auto h = x + attended;
      auto ln2 = torch::layer_norm(h, {kC}, layer->norm2->weight, layer->norm2->bias, 1e-5);
      auto hidden = F::linear(ln2, ff->linear1->weight, ff->linear1->bias);
      hidden = activation == Activation::kRelu ? F::relu(hidden) : F::gelu(hidden);
      auto expected = h + F::linear(hidden, ff->linear2->weight, ff->linear2->bias);
      EXPECT_LT(max_abs_diff(layer->forward(x, kpm).output, expected), kTol);
    }
  }
}

TEST(EncoderLayer, ReturnsPerHeadWeightsOnlyWhenAsked) {
  auto layer = make_layer(/*norm_first=*/true, Activation::kGelu);
  auto x = torch::randn({kB, kT, kC});
  EXPECT_FALSE(layer->forward(x).weights.defined());
  auto weights = layer->forward(x, padding_mask(), {}, /*need_weights=*/true).weights;
  EXPECT_EQ(weights.sizes(), (std::vector<int64_t>{kB, kH, kT, kT}));
}

TEST(EncoderLayer, GradientsMatchFiniteDifferencesInDouble) {
  for (bool norm_first : {true, false}) {
    SCOPED_TRACE(norm_first ? "pre-LN" : "post-LN");
    torch::manual_seed(4);
    // Small sizes: every parameter and input element costs two forward passes.
    EncoderLayerOptions options = layer_options(norm_first, Activation::kGelu, 0.0);
    options.d_model = 4;
    options.d_ff = 6;
    EncoderLayer layer(options);
    test::randomize_parameters(*layer, /*scale=*/0.5);
    layer->to(torch::kDouble);
    auto x = torch::randn({2, 3, 4}, torch::dtype(torch::kDouble).requires_grad(true));
    auto kpm = test::padding_mask_from_lengths({3, 2}, 3);
    auto upstream = torch::randn({2, 3, 4}, torch::kDouble);
    auto loss = [&] { return (layer->forward(x, kpm).output * upstream).sum(); };
    std::vector<torch::Tensor> inputs = layer->parameters();
    inputs.push_back(x);
    test::expect_gradients_match_finite_differences(loss, inputs);
  }
}

TEST(EncoderLayer, DropoutOffInEvalAndSeededInTrain) {
  torch::manual_seed(5);
  auto layer = make_layer(/*norm_first=*/true, Activation::kGelu, /*dropout=*/0.2);
  EncoderLayer plain(layer_options(/*norm_first=*/true, Activation::kGelu, 0.0));
  test::copy_parameters(*layer, *plain);
  auto x = torch::randn({kB, kT, kC});
  auto kpm = padding_mask();

  layer->eval();
  auto eval1 = layer->forward(x, kpm).output;
  auto eval2 = layer->forward(x, kpm).output;
  EXPECT_TRUE(torch::equal(eval1, eval2));
  EXPECT_LT(max_abs_diff(eval1, plain->forward(x, kpm).output), 1e-6);

  layer->train();
  torch::manual_seed(77);
  auto train1 = layer->forward(x, kpm).output;
  torch::manual_seed(77);
  auto train2 = layer->forward(x, kpm).output;
  EXPECT_TRUE(torch::equal(train1, train2));
  EXPECT_GT(max_abs_diff(train1, eval1), 1e-3);
}

// Pre-LN, in training, with one branch silenced so that the other's residual dropout shows
// alone: out - x must be 0 or (branch output) / (1 - p) element by element (inverted dropout),
// with about a fraction p zeroed. Attention dropout is 0, so the attention branch is what eval
// mode computes; a feed-forward with linear2.weight = 0 outputs linear2.bias whatever its inner
// dropout did.
void expect_inverted_residual_dropout(const torch::Tensor& delta, const torch::Tensor& branch,
                                      double p) {
  int64_t dropped = 0;
  const auto d = delta.flatten(), b = branch.flatten();
  for (int64_t i = 0; i < d.numel(); ++i) {
    const double got = d[i].item<double>(), kept = b[i].item<double>() / (1.0 - p);
    ASSERT_GT(std::abs(kept), 1e-4) << "the fixture needs a nonzero branch at " << i;
    if (std::abs(got) < 1e-6)
      ++dropped;
    else
      EXPECT_NEAR(got, kept, 1e-5 * std::max(1.0, std::abs(kept))) << "element " << i;
  }
  const double fraction = static_cast<double>(dropped) / static_cast<double>(d.numel());
  EXPECT_GT(fraction, p - 0.25) << dropped << " of " << d.numel();
  EXPECT_LT(fraction, p + 0.25) << dropped << " of " << d.numel();
}

TEST(EncoderLayer, ResidualDropoutIsInvertedDropoutOnEachBranch) {
  constexpr double p = 0.5;
  auto options = layer_options(/*norm_first=*/true, Activation::kGelu, p);
  options.attention_dropout = 0.0;
  torch::manual_seed(8);
  const auto x = torch::randn({kB, kT, kC});
  {
    SCOPED_TRACE("attention branch (feed-forward silenced)");
    EncoderLayer layer(options);
    test::randomize_parameters(*layer);
    torch::NoGradGuard no_grad;
    layer->named_parameters()["feed_forward.linear2.weight"].zero_();
    layer->named_parameters()["feed_forward.linear2.bias"].zero_();
    layer->eval();
    const auto attention = layer->forward(x).output - x;  // x + a + 0 in eval mode
    layer->train();
    torch::manual_seed(9);
    expect_inverted_residual_dropout(layer->forward(x).output - x, attention, p);
  }
  {
    SCOPED_TRACE("feed-forward branch (attention silenced)");
    EncoderLayer layer(options);
    test::randomize_parameters(*layer);
    torch::NoGradGuard no_grad;
    layer->named_parameters()["self_attention.out_proj.weight"].zero_();
    layer->named_parameters()["self_attention.out_proj.bias"].zero_();
    layer->named_parameters()["feed_forward.linear2.weight"].zero_();
    const auto bias = layer->named_parameters()["feed_forward.linear2.bias"];
    bias.copy_(torch::linspace(0.5, 1.5, kC));
    layer->train();
    torch::manual_seed(10);
    expect_inverted_residual_dropout(layer->forward(x).output - x, bias.expand({kB, kT, kC}), p);
  }
}

TEST(EncoderLayer, ParameterNames) {
  auto layer = make_layer(/*norm_first=*/true, Activation::kGelu);
  std::vector<std::string> names;
  for (const auto& item : layer->named_parameters()) names.push_back(item.key());
  const std::vector<std::string> expected = {"self_attention.in_proj.weight",
                                             "self_attention.in_proj.bias",
                                             "self_attention.out_proj.weight",
                                             "self_attention.out_proj.bias",
                                             "feed_forward.linear1.weight",
                                             "feed_forward.linear1.bias",
                                             "feed_forward.linear2.weight",
                                             "feed_forward.linear2.bias",
                                             "norm1.weight",
                                             "norm1.bias",
                                             "norm2.weight",
                                             "norm2.bias"};
  EXPECT_EQ(names, expected);
}

TEST(EncoderLayer, RejectsBadOptions) {
  auto options = layer_options(true, Activation::kGelu, 0.0);
  options.num_heads = 3;  // does not divide 8
  EXPECT_THROW(EncoderLayer{options}, c10::Error);
  test::expect_contains(test::error_message([&] { EncoderLayer{options}; }), "num_heads=3");
  options = layer_options(true, Activation::kGelu, 1.0);
  EXPECT_THROW(EncoderLayer{options}, c10::Error);
}

}  // namespace
}  // namespace attnlab
