// Tests for src/model/encoder.{h,cpp}: per-layer weights from one forward, post-LN stack
// against LibTorch's TransformerEncoder, padding invariance, structure.

#include "model/encoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

constexpr int64_t kB = 2, kT = 5, kC = 8, kH = 2, kFF = 16, kLayers = 3;

EncoderOptions encoder_options(bool norm_first) {
  EncoderOptions options;
  options.num_layers = kLayers;
  options.layer.d_model = kC;
  options.layer.num_heads = kH;
  options.layer.d_ff = kFF;
  options.layer.dropout = 0.0;
  options.layer.norm_first = norm_first;
  return options;
}

Encoder make_encoder(bool norm_first) {
  Encoder encoder(encoder_options(norm_first));
  test::randomize_parameters(*encoder);
  return encoder;
}

TEST(Encoder, ReturnsOneWeightsTensorPerLayerEqualToLayerByLayerRun) {
  for (bool norm_first : {true, false}) {
    SCOPED_TRACE(norm_first ? "pre-LN" : "post-LN");
    torch::manual_seed(1);
    auto encoder = make_encoder(norm_first);
    encoder->eval();
    auto x = torch::randn({kB, kT, kC});
    auto kpm = test::padding_mask_from_lengths({kT, 3}, kT);
    auto result = encoder->forward(x, kpm, {}, /*need_weights=*/true);
    ASSERT_EQ(result.weights.size(), static_cast<size_t>(kLayers));

    auto hidden = x;
    for (int64_t i = 0; i < kLayers; ++i) {
      SCOPED_TRACE("layer " + std::to_string(i));
      auto layer = encoder->layers[i]->as<EncoderLayerImpl>();
      auto alone = layer->forward(hidden, kpm, {}, /*need_weights=*/true);
      ASSERT_EQ(result.weights[i].sizes(), (std::vector<int64_t>{kB, kH, kT, kT}));
      EXPECT_LT(max_abs_diff(result.weights[i], alone.weights), 1e-6);
      hidden = alone.output;
    }
    if (norm_first) {
      ASSERT_TRUE(encoder->final_norm);
      hidden = encoder->final_norm(hidden);
    } else {
      EXPECT_FALSE(encoder->final_norm);
    }
    EXPECT_LT(max_abs_diff(result.hidden, hidden), 1e-6);
    EXPECT_TRUE(encoder->forward(x, kpm).weights.empty());
  }
}

TEST(Encoder, PostLnStackMatchesLibTorchTransformerEncoder) {
  torch::manual_seed(2);
  auto encoder = make_encoder(/*norm_first=*/false);
  torch::nn::TransformerEncoder ref(torch::nn::TransformerEncoderOptions(
      torch::nn::TransformerEncoderLayerOptions(kC, kH).dim_feedforward(kFF).activation(
          torch::kGELU),
      kLayers));
  for (int64_t i = 0; i < kLayers; ++i) {
    test::copy_into_reference_layer(EncoderLayer(encoder->layers->ptr<EncoderLayerImpl>(i)),
                                    *ref->layers->ptr<torch::nn::TransformerEncoderLayerImpl>(i));
  }
  encoder->eval();
  ref->eval();
  auto x = torch::randn({kB, kT, kC});
  auto kpm = test::padding_mask_from_lengths({kT, 2}, kT);
  auto expected = ref(x.transpose(0, 1), torch::Tensor(), kpm).transpose(0, 1);
  EXPECT_LT(max_abs_diff(encoder->forward(x, kpm).hidden, expected), 1e-5);
}

TEST(Encoder, AppendedPaddingDoesNotChangeRealPositions) {
  for (bool norm_first : {true, false}) {
    SCOPED_TRACE(norm_first ? "pre-LN" : "post-LN");
    torch::manual_seed(3);
    auto encoder = make_encoder(norm_first);
    encoder->eval();
    auto x = torch::randn({kB, kT, kC});
    auto kpm = test::padding_mask_from_lengths({kT, 3}, kT);
    auto short_out = encoder->forward(x, kpm, {}, true);

    // Three more padded positions holding large garbage values.
    constexpr int64_t kExtra = 3;
    auto x_long = torch::cat({x, torch::randn({kB, kExtra, kC}) * 100.0}, 1);
    auto kpm_long = test::padding_mask_from_lengths({kT, 3}, kT + kExtra);
    auto long_out = encoder->forward(x_long, kpm_long, {}, true);
    EXPECT_LT(max_abs_diff(long_out.hidden.slice(1, 0, kT)[0], short_out.hidden[0]), 1e-5);
    EXPECT_LT(max_abs_diff(long_out.hidden.slice(1, 0, 3)[1], short_out.hidden.slice(1, 0, 3)[1]),
              1e-5);
    for (size_t i = 0; i < long_out.weights.size(); ++i) {
      EXPECT_TRUE(long_out.weights[i].slice(3, kT).eq(0).all().item<bool>()) << "layer " << i;
    }
  }
}

TEST(Encoder, ParameterNames) {
  auto options = encoder_options(/*norm_first=*/true);
  options.num_layers = 2;
  Encoder encoder(options);
  std::vector<std::string> names;
  for (const auto& item : encoder->named_parameters()) names.push_back(item.key());
  std::vector<std::string> expected;
  for (int i = 0; i < 2; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    for (const char* suffix :
         {"self_attention.in_proj.weight", "self_attention.in_proj.bias",
          "self_attention.out_proj.weight", "self_attention.out_proj.bias",
          "feed_forward.linear1.weight", "feed_forward.linear1.bias", "feed_forward.linear2.weight",
          "feed_forward.linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"})
      expected.push_back(p + suffix);
  }
  expected.push_back("final_norm.weight");
  expected.push_back("final_norm.bias");
  EXPECT_EQ(names, expected);
}

TEST(Encoder, RejectsZeroLayers) {
  auto options = encoder_options(true);
  options.num_layers = 0;
  EXPECT_THROW(Encoder{options}, c10::Error);
}

}  // namespace
}  // namespace attnlab
