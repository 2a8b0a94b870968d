// Tests for src/model/attention.{h,cpp}: MultiHeadAttention against LibTorch's
// MultiheadAttention with copied weights (outputs, weights, gradients), masking semantics,
// shape/dtype checks, finite-difference gradients, and (optionally) PyTorch from Python.

#include "model/attention.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::additive_mask;
using test::all_finite;
using test::error_message;
using test::expect_contains;
using test::max_abs_diff;

constexpr int64_t kB = 2, kT = 5, kC = 8, kH = 2;
constexpr double kTol = 1e-5;

MultiHeadAttention make_attention(double dropout = 0.0) {
  MultiHeadAttentionOptions options;
  options.d_model = kC;
  options.num_heads = kH;
  options.dropout = dropout;
  MultiHeadAttention attention(options);
  // Biases start at zero; make them non-zero so copying them is tested.
  torch::NoGradGuard no_grad;
  attention->in_proj->bias.normal_(0.0, 0.3);
  attention->out_proj->bias.normal_(0.0, 0.3);
  return attention;
}

// Row 0 has all kT tokens, row 1 only 3 (last two are padding).
torch::Tensor padding_mask() { return test::padding_mask_from_lengths({kT, 3}, kT); }

torch::Tensor causal_mask(int64_t T) {
  return torch::ones({T, T}, torch::kBool).triu(1);  // (T, T), true above the diagonal
}

// Runs LibTorch's module on batch-first x; returns (output (B, T, C), head-averaged weights).
std::tuple<torch::Tensor, torch::Tensor> run_reference(torch::nn::MultiheadAttention& ref,
                                                       const torch::Tensor& x,
                                                       const torch::Tensor& key_padding_mask,
                                                       const torch::Tensor& float_attn_mask) {
  auto xt = x.transpose(0, 1);  // (T, B, C): LibTorch 1.13's C++ module is sequence-first
  auto [out, weights] = ref(xt, xt, xt, key_padding_mask, /*need_weights=*/true, float_attn_mask);
  return {out.transpose(0, 1), weights};
}

TEST(MultiHeadAttention, MatchesLibTorchWithoutMask) {
  torch::manual_seed(1);
  auto attention = make_attention();
  auto ref = test::reference_attention(attention);
  auto x = torch::randn({kB, kT, kC});
  auto ours = attention->forward(x, {}, {}, /*need_weights=*/true);
  auto [ref_out, ref_weights] = run_reference(ref, x, {}, {});
  ASSERT_EQ(ours.output.sizes(), (std::vector<int64_t>{kB, kT, kC}));
  ASSERT_EQ(ours.weights.sizes(), (std::vector<int64_t>{kB, kH, kT, kT}));
  EXPECT_LT(max_abs_diff(ours.output, ref_out), kTol);
  EXPECT_LT(max_abs_diff(ours.weights.mean(1), ref_weights), kTol);
}

TEST(MultiHeadAttention, MatchesLibTorchWithKeyPaddingMask) {
  torch::manual_seed(2);
  auto attention = make_attention();
  auto ref = test::reference_attention(attention);
  auto x = torch::randn({kB, kT, kC});
  auto kpm = padding_mask();
  auto ours = attention->forward(x, kpm, {}, /*need_weights=*/true);
  auto [ref_out, ref_weights] = run_reference(ref, x, kpm, {});
  EXPECT_LT(max_abs_diff(ours.output, ref_out), kTol);
  EXPECT_LT(max_abs_diff(ours.weights.mean(1), ref_weights), kTol);
}

TEST(MultiHeadAttention, MatchesLibTorchWithCausalAndPaddingMasks) {
  torch::manual_seed(3);
  auto attention = make_attention();
  auto ref = test::reference_attention(attention);
  auto x = torch::randn({kB, kT, kC});
  auto kpm = padding_mask();
  auto causal = causal_mask(kT);
  auto ours = attention->forward(x, kpm, causal, /*need_weights=*/true);
  auto [ref_out, ref_weights] = run_reference(ref, x, kpm, additive_mask(causal));
  EXPECT_LT(max_abs_diff(ours.output, ref_out), kTol);
  EXPECT_LT(max_abs_diff(ours.weights.mean(1), ref_weights), kTol);
}

TEST(MultiHeadAttention, GradientsMatchLibTorch) {
  torch::manual_seed(4);
  auto attention = make_attention();
  auto ref = test::reference_attention(attention);
  auto x = torch::randn({kB, kT, kC});
  auto kpm = padding_mask();
  auto upstream = torch::randn({kB, kT, kC});  // a non-trivial dL/d(output)

  auto x_ours = x.clone().requires_grad_(true);
  (attention->forward(x_ours, kpm).output * upstream).sum().backward();
  auto x_ref = x.clone().requires_grad_(true);
  auto xt = x_ref.transpose(0, 1);  // (T, B, C)
  auto ref_out = std::get<0>(ref(xt, xt, xt, kpm)).transpose(0, 1);
  (ref_out * upstream).sum().backward();

  EXPECT_LT(max_abs_diff(x_ours.grad(), x_ref.grad()), kTol);
  EXPECT_LT(max_abs_diff(attention->in_proj->weight.grad(), ref->in_proj_weight.grad()), kTol);
  EXPECT_LT(max_abs_diff(attention->in_proj->bias.grad(), ref->in_proj_bias.grad()), kTol);
  EXPECT_LT(max_abs_diff(attention->out_proj->weight.grad(), ref->out_proj->weight.grad()), kTol);
  EXPECT_LT(max_abs_diff(attention->out_proj->bias.grad(), ref->out_proj->bias.grad()), kTol);
}

TEST(MultiHeadAttention, BatchedAttnMaskMatchesLibTorchPerItem) {
  torch::manual_seed(5);
  auto attention = make_attention();
  auto ref = test::reference_attention(attention);
  auto x = torch::randn({kB, kT, kC});
  // Item 0 causal, item 1 may not attend to key 1 (and query 0 sees only key 0).
  auto mask = torch::zeros({kB, kT, kT}, torch::kBool);
  mask[0].copy_(causal_mask(kT));
  mask[1].select(1, 1).fill_(true);
  mask[1][0].slice(0, 1, kT).fill_(true);
  auto ours = attention->forward(x, {}, mask, /*need_weights=*/true);
  for (int64_t b = 0; b < kB; ++b) {
    SCOPED_TRACE("batch item " + std::to_string(b));
    auto [ref_out, ref_weights] =
        run_reference(ref, x.slice(0, b, b + 1), {}, additive_mask(mask[b]));
    EXPECT_LT(max_abs_diff(ours.output.slice(0, b, b + 1), ref_out), kTol);
    EXPECT_LT(max_abs_diff(ours.weights.slice(0, b, b + 1).mean(1), ref_weights), kTol);
  }
}

TEST(MultiHeadAttention, TwoDimAttnMaskEqualsSameMaskRepeatedOverBatch) {
  torch::manual_seed(6);
  auto attention = make_attention();
  auto x = torch::randn({kB, kT, kC});
  auto causal = causal_mask(kT);
  auto two_d = attention->forward(x, {}, causal, /*need_weights=*/true);
  auto three_d =
      attention->forward(x, {}, causal.unsqueeze(0).expand({kB, kT, kT}).contiguous(), true);
  EXPECT_LT(max_abs_diff(two_d.output, three_d.output), 1e-6);
  EXPECT_LT(max_abs_diff(two_d.weights, three_d.weights), 1e-6);
  // Causal: nothing above the diagonal, in every head.
  EXPECT_TRUE(two_d.weights.masked_select(causal.view({1, 1, kT, kT}).expand_as(two_d.weights))
                  .eq(0)
                  .all()
                  .item<bool>());
}

TEST(MultiHeadAttention, PaddedKeysGetExactlyZeroWeightAndRowsSumToOne) {
  torch::manual_seed(7);
  auto attention = make_attention();
  auto x = torch::randn({kB, kT, kC});
  auto kpm = padding_mask();
  auto weights = attention->forward(x, kpm, {}, /*need_weights=*/true).weights;  // (B, H, T, T)
  auto padded_keys = kpm.view({kB, 1, 1, kT}).expand_as(weights);
  EXPECT_TRUE(weights.masked_select(padded_keys).eq(0).all().item<bool>());
  EXPECT_LT(max_abs_diff(weights.sum(-1), torch::ones({kB, kH, kT})), 1e-6);
}

TEST(MultiHeadAttention, FullyMaskedQueryRowGivesOutputBiasAndFiniteGradients) {
  torch::manual_seed(8);
  auto attention = make_attention();
  auto x = torch::randn({kB, kT, kC}).requires_grad_(true);
  auto mask = torch::zeros({kT, kT}, torch::kBool);
  mask[2].fill_(true);  // query 2 may attend to nothing
  auto result = attention->forward(x, {}, mask, /*need_weights=*/true);
  EXPECT_TRUE(result.weights.select(2, 2).eq(0).all().item<bool>());
  // Attended values are exactly zero, so the output is exactly out_proj's bias.
  auto row = result.output.select(1, 2);  // (B, C)
  EXPECT_TRUE(row.eq(attention->out_proj->bias.expand_as(row)).all().item<bool>());
  EXPECT_TRUE(all_finite(result.output));
  (result.output * torch::randn_like(result.output)).sum().backward();
  EXPECT_TRUE(all_finite(x.grad()));
  for (const auto& p : attention->parameters()) EXPECT_TRUE(all_finite(p.grad()));
}

TEST(MultiHeadAttention, AttentionDropoutOnlyInTrainingAndWeightsArePreDropout) {
  torch::manual_seed(9);
  auto attention = make_attention(/*dropout=*/0.5);
  auto plain = make_attention(/*dropout=*/0.0);
  test::copy_parameters(*attention, *plain);
  auto x = torch::randn({kB, kT, kC});
  attention->eval();
  auto eval1 = attention->forward(x, {}, {}, true);
  auto eval2 = attention->forward(x, {}, {}, true);
  auto reference = plain->forward(x, {}, {}, true);
  EXPECT_TRUE(torch::equal(eval1.output, eval2.output));
  EXPECT_LT(max_abs_diff(eval1.output, reference.output), 1e-6);

  attention->train();
  torch::manual_seed(123);
  auto train1 = attention->forward(x, {}, {}, true);
  torch::manual_seed(123);
  auto train2 = attention->forward(x, {}, {}, true);
  EXPECT_TRUE(torch::equal(train1.output, train2.output));
  EXPECT_GT(max_abs_diff(train1.output, eval1.output), 1e-3);
  // The returned weights are the probabilities before dropout.
  EXPECT_LT(max_abs_diff(train1.weights, eval1.weights), 1e-6);
}

TEST(MultiHeadAttention, RejectsWrongMaskShapesAndDtypes) {
  auto attention = make_attention();
  auto x = torch::randn({kB, kT, kC});
  auto bad_2d = torch::zeros({kT, kT + 1}, torch::kBool);
  auto bad_3d = torch::zeros({kB + 1, kT, kT}, torch::kBool);
  auto bad_kpm = torch::zeros({kB, kT + 1}, torch::kBool);
  EXPECT_THROW(attention->forward(x, {}, bad_2d), c10::Error);
  EXPECT_THROW(attention->forward(x, {}, bad_3d), c10::Error);
  EXPECT_THROW(attention->forward(x, bad_kpm), c10::Error);
  EXPECT_THROW(attention->forward(x, {}, torch::zeros({kT, kT})), c10::Error);
  EXPECT_THROW(attention->forward(x, torch::zeros({kB, kT})), c10::Error);
  EXPECT_THROW(attention(torch::randn({kB, kT, kC + 1})), c10::Error);

  auto msg = error_message([&] { attention->forward(x, {}, bad_2d); });
  expect_contains(msg, "(5, 5)");
  expect_contains(msg, "[5, 6]");
  msg = error_message([&] { attention->forward(x, {}, bad_3d); });
  expect_contains(msg, "(2, 5, 5)");
  expect_contains(msg, "[3, 5, 5]");
  msg = error_message([&] { attention->forward(x, bad_kpm); });
  expect_contains(msg, "(2, 5)");
  expect_contains(msg, "[2, 6]");
  msg = error_message([&] { attention->forward(x, {}, torch::zeros({kT, kT})); });
  expect_contains(msg, "bool");
  expect_contains(msg, "Float");
  msg = error_message([&] { attention->forward(x, torch::zeros({kB, kT}, torch::kLong)); });
  expect_contains(msg, "bool");
  expect_contains(msg, "Long");
  msg = error_message([&] { attention(torch::randn({kB, kT, kC + 1})); });
  expect_contains(msg, "[2, 5, 9]");
}

TEST(MultiHeadAttention, HeadsNotDividingDModelThrows) {
  MultiHeadAttentionOptions options;
  options.d_model = 10;
  options.num_heads = 4;
  EXPECT_THROW(MultiHeadAttention{options}, c10::Error);
  auto msg = error_message([&] { MultiHeadAttention{options}; });
  expect_contains(msg, "num_heads=4");
  expect_contains(msg, "d_model=10");
}

TEST(MultiHeadAttention, ParameterNamesAndShapes) {
  auto attention = make_attention();
  auto params = attention->named_parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params["in_proj.weight"].sizes(), (std::vector<int64_t>{3 * kC, kC}));
  EXPECT_EQ(params["in_proj.bias"].sizes(), (std::vector<int64_t>{3 * kC}));
  EXPECT_EQ(params["out_proj.weight"].sizes(), (std::vector<int64_t>{kC, kC}));
  EXPECT_EQ(params["out_proj.bias"].sizes(), (std::vector<int64_t>{kC}));
}

// ---- scaled_dot_product_attention --------------------------------------------------------

TEST(ScaledDotProductAttention, MatchesHandComputedSoftmax) {
  // One query, two keys, D = 4: scores = q.k / 2.
  auto q = torch::tensor({1.0, 0.0, 2.0, 0.0}).view({1, 4});
  auto k = torch::tensor({1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 0.0, -2.0}).view({2, 4});
  auto v = torch::tensor({1.0, 10.0, -3.0, 4.0}).view({2, 2});
  auto result = scaled_dot_product_attention(q.to(torch::kFloat), k.to(torch::kFloat),
                                             v.to(torch::kFloat), {}, 0.0, false, true);
  const double s0 = 3.0 / 2.0, s1 = 0.0;
  const double p0 = std::exp(s0) / (std::exp(s0) + std::exp(s1)), p1 = 1.0 - p0;
  EXPECT_NEAR(result.weights[0][0].item<double>(), p0, 1e-6);
  EXPECT_NEAR(result.weights[0][1].item<double>(), p1, 1e-6);
  EXPECT_NEAR(result.output[0][0].item<double>(), p0 * 1.0 + p1 * -3.0, 1e-5);
  EXPECT_NEAR(result.output[0][1].item<double>(), p0 * 10.0 + p1 * 4.0, 1e-5);
}

TEST(ScaledDotProductAttention, FullyMaskedRowsGiveZeroOutputAndFiniteGradients) {
  torch::manual_seed(10);
  auto q = torch::randn({kB, kH, kT, 4}, torch::requires_grad());
  auto k = torch::randn({kB, kH, kT, 4}, torch::requires_grad());
  auto v = torch::randn({kB, kH, kT, 4}, torch::requires_grad());
  auto mask = torch::zeros({kT, kT}, torch::kBool);
  mask[0].fill_(true);
  mask[3].fill_(true);
  mask[1][4] = true;
  auto result = scaled_dot_product_attention(q, k, v, mask, 0.0, false, true);
  for (int64_t row : {0, 3}) {
    EXPECT_TRUE(result.output.select(2, row).eq(0).all().item<bool>()) << "row " << row;
    EXPECT_TRUE(result.weights.select(2, row).eq(0).all().item<bool>()) << "row " << row;
  }
  EXPECT_TRUE(all_finite(result.output));
  (result.output * torch::randn_like(result.output)).sum().backward();
  for (const auto& t : {q, k, v}) EXPECT_TRUE(all_finite(t.grad()));
  // Nothing flows back through a fully masked query.
  EXPECT_TRUE(q.grad().select(2, 0).eq(0).all().item<bool>());
}

TEST(ScaledDotProductAttention, NonFiniteScoreAtMaskedPositionDoesNotLeak) {
  // D = 2, queries with positive entries. Key 1 is +inf in both dims, so its score is +inf for
  // every query; key 2 is NaN, so its score is NaN. Both keys are masked.
  auto q = torch::tensor({1.0f, 0.5f, 0.2f, 2.0f, 1.5f, 1.0f}).view({3, 2});
  auto k = torch::tensor({0.3f, -0.7f, INFINITY, INFINITY, NAN, 0.0f, -1.0f, 0.4f}).view({4, 2});
  auto v = torch::randn({4, 3}, torch::requires_grad());
  auto mask = torch::tensor({false, true, true, false}).view({1, 4}).expand({3, 4});
  auto result = scaled_dot_product_attention(q, k, v, mask, 0.0, false, true);
  ASSERT_TRUE(all_finite(result.output));
  ASSERT_TRUE(all_finite(result.weights));

  // Reference: plain softmax attention over the unmasked keys 0 and 3 only.
  auto keep = torch::tensor({0, 3}, torch::kLong);
  auto k_kept = k.index_select(0, keep), v_kept = v.detach().index_select(0, keep);
  auto probs = torch::softmax(torch::matmul(q, k_kept.t()) / std::sqrt(2.0), -1);  // (3, 2)
  EXPECT_LT(max_abs_diff(result.output, torch::matmul(probs, v_kept)), 1e-6);
  EXPECT_LT(max_abs_diff(result.weights.index_select(1, keep), probs), 1e-6);
  EXPECT_TRUE(
      result.weights.index_select(1, torch::tensor({1, 2}, torch::kLong)).eq(0).all().item<bool>());

  result.output.sum().backward();
  EXPECT_TRUE(all_finite(v.grad()));
  EXPECT_TRUE(
      v.grad().index_select(0, torch::tensor({1, 2}, torch::kLong)).eq(0).all().item<bool>());
}

TEST(ScaledDotProductAttention, GradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(11);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble).requires_grad(true);
  auto q = torch::randn({2, 4, 3}, opts);
  auto k = torch::randn({2, 5, 3}, opts);
  auto v = torch::randn({2, 5, 2}, opts);
  auto mask = torch::zeros({2, 4, 5}, torch::kBool);
  mask[0].slice(1, 3, 5).fill_(true);  // item 0: keys 3, 4 are padding
  mask[1][2].fill_(true);              // item 1: query 2 fully masked
  mask[1][0][1] = true;
  auto upstream = torch::randn({2, 4, 2}, torch::kDouble);
  auto loss = [&] {
    return (scaled_dot_product_attention(q, k, v, mask, 0.0, false, false).output * upstream).sum();
  };
  test::expect_gradients_match_finite_differences(loss, {q, k, v});
}

TEST(ScaledDotProductAttention, RejectsMismatchedShapes) {
  auto q = torch::randn({2, 3, 4});
  EXPECT_THROW(scaled_dot_product_attention(q, torch::randn({2, 3, 5}), torch::randn({2, 3, 4}), {},
                                            0.0, false, false),
               c10::Error);
  EXPECT_THROW(scaled_dot_product_attention(q, torch::randn({2, 3, 4}), torch::randn({2, 6, 4}), {},
                                            0.0, false, false),
               c10::Error);
  EXPECT_THROW(scaled_dot_product_attention(q, q, q, torch::zeros({3, 3}), 0.0, false, false),
               c10::Error);
}

TEST(CombineMasks, BroadcastsAndOrsBothMasks) {
  auto kpm = test::padding_mask_from_lengths({3, 2}, 3);
  auto attn = torch::ones({3, 3}, torch::kBool).triu(1);
  auto mask = combine_masks(kpm, attn, 2, 3, 3);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{2, 1, 3, 3}));
  // Hand-written: item 0 is causal only; item 1 additionally masks key 2.
  auto expected = torch::tensor({0, 1, 1, 0, 0, 1, 0, 0, 0,  //
                                 0, 1, 1, 0, 0, 1, 0, 0, 1})
                      .to(torch::kBool)
                      .view({2, 1, 3, 3});
  EXPECT_TRUE(torch::equal(mask, expected));
  EXPECT_FALSE(combine_masks({}, {}, 2, 3, 3).defined());
}

// ---- PyTorch from Python (optional peer) ------------------------------------------------

void write_tensor(std::ostream& out, const std::string& name, const torch::Tensor& t) {
  auto flat = t.to(torch::kDouble).contiguous().view(-1);
  out << name << ' ' << t.dim();
  for (auto s : t.sizes()) out << ' ' << s;
  out.precision(17);
  for (int64_t i = 0; i < flat.numel(); ++i) out << ' ' << flat[i].item<double>();
  out << '\n';
}

TEST(MultiHeadAttention, MatchesPyTorchFunctionalFromPython) {
  torch::manual_seed(12);
  auto attention = make_attention();
  auto x = torch::randn({kB, kT, kC});
  auto kpm = padding_mask();
  auto causal = causal_mask(kT);
  auto ours = attention->forward(x, kpm, causal, /*need_weights=*/true);

  const std::string dir = ::testing::TempDir();
  const std::string in_path = dir + "attnlab_mha_in.txt", out_path = dir + "attnlab_mha_out.txt",
                    script_path = dir + "attnlab_mha.py";
  {
    std::ofstream in(in_path);
    write_tensor(in, "x", x);
    write_tensor(in, "kpm", kpm);
    write_tensor(in, "causal", causal);
    write_tensor(in, "w_in", attention->in_proj->weight.detach());
    write_tensor(in, "b_in", attention->in_proj->bias.detach());
    write_tensor(in, "w_out", attention->out_proj->weight.detach());
    write_tensor(in, "b_out", attention->out_proj->bias.detach());
    std::ofstream script(script_path);
    script << R"PY(
import sys
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(77)
t = {}
for line in open(sys.argv[1]):
    f = line.split()
    dim = int(f[1]); shape = [int(s) for s in f[2:2 + dim]]
    t[f[0]] = torch.tensor([float(v) for v in f[2 + dim:]], dtype=torch.float32).view(shape)
x = t['x'].transpose(0, 1)
out, w = F.multi_head_attention_forward(
    x, x, x, x.shape[-1], )PY"
           << kH << R"PY(, t['w_in'], t['b_in'], None, None, False, 0.0,
    t['w_out'], t['b_out'], training=False, key_padding_mask=t['kpm'].bool(),
    need_weights=True, attn_mask=t['causal'].bool(), average_attn_weights=False)
with open(sys.argv[2], 'w') as o:
    o.write(' '.join(repr(v) for v in out.transpose(0, 1).reshape(-1).tolist()) + '\n')
    o.write(' '.join(repr(v) for v in w.reshape(-1).tolist()) + '\n')
)PY";
  }
  const std::string command = "/usr/bin/python3 " + script_path + " " + in_path + " " + out_path;
  // Exit code 77: no torch module; 127 from the shell: no /usr/bin/python3.
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 77 || code == 127) GTEST_SKIP() << "/usr/bin/python3 with torch not available";
  ASSERT_EQ(code, 0) << command;
  std::ifstream result(out_path);
  std::string out_line, weight_line;
  std::getline(result, out_line);
  std::getline(result, weight_line);
  auto parse = [](const std::string& line) {
    std::istringstream in(line);
    std::vector<double> values;
    for (double v; in >> v;) values.push_back(v);
    return torch::tensor(values);
  };
  auto py_out = parse(out_line), py_weights = parse(weight_line);
  ASSERT_EQ(py_out.numel(), kB * kT * kC);
  ASSERT_EQ(py_weights.numel(), kB * kH * kT * kT);
  EXPECT_LT(max_abs_diff(ours.output, py_out.view({kB, kT, kC})), kTol);
  EXPECT_LT(max_abs_diff(ours.weights, py_weights.view({kB, kH, kT, kT})), kTol);
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  std::remove(script_path.c_str());
}

}  // namespace
}  // namespace attnlab
