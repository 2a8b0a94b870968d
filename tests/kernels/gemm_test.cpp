// Tests for src/kernels/gemm.{h,cpp}: every transpose combination, strided operands, alpha/beta,
// against at::matmul in float64 on the same inputs.

#include "kernels/gemm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

// A matrix of `rows` x `cols` stored with row stride `cols + pad` (the padding is garbage the
// GEMM must not read into the result): returns the storage; the logical matrix is a view.
torch::Tensor padded(int64_t rows, int64_t cols, int64_t pad, torch::ScalarType dtype) {
  return torch::randn({rows, cols + pad}).to(dtype);
}
torch::Tensor logical(const torch::Tensor& storage, int64_t cols) {
  return storage.narrow(1, 0, cols);
}

// C = alpha op(A) op(B) + beta C for one combination, checked against float64 matmul of the
// same stored values. A is stored M x K (K x M if transposed), B K x N (N x K).
template <typename In, typename Out>
void check_combination(bool ta, bool tb, torch::ScalarType in_type, torch::ScalarType out_type,
                       double tolerance) {
  SCOPED_TRACE(testing::Message() << "trans_a=" << ta << " trans_b=" << tb);
  const int64_t M = 37, N = 29, K = 70, pad = 3;
  auto a = padded(ta ? K : M, ta ? M : K, pad, in_type);
  auto b = padded(tb ? N : K, tb ? K : N, pad, in_type);
  auto c = padded(M, N, pad, out_type);
  const float alpha = 0.5f, beta = 2.0f;
  auto a_log = logical(a, ta ? M : K).to(torch::kDouble);
  auto b_log = logical(b, tb ? K : N).to(torch::kDouble);
  auto expected = alpha * torch::matmul(ta ? a_log.t() : a_log, tb ? b_log.t() : b_log) +
                  beta * logical(c, N).to(torch::kDouble);
  auto padding_before = c.narrow(1, N, pad).clone();
  gemm(ta, tb, M, N, K, static_cast<Out>(alpha), a.data_ptr<In>(), a.stride(0), b.data_ptr<In>(),
       b.stride(0), static_cast<Out>(beta), c.data_ptr<Out>(), c.stride(0));
  EXPECT_LT(max_abs_diff(logical(c, N), expected), tolerance);
  EXPECT_TRUE(torch::equal(c.narrow(1, N, pad), padding_before)) << "wrote past ldc's row";
}

TEST(Gemm, FloatMatchesMatmulForEveryTransposeCombination) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      check_combination<float, float>(ta, tb, torch::kFloat, torch::kFloat, 1e-4);
}

TEST(Gemm, BFloat16OperandsAccumulateInFloat) {
  // The inputs are exact bf16 values: the only error is float32 accumulation, far below the
  // 2^-9 relative error a bf16 result would carry.
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      check_combination<c10::BFloat16, float>(ta, tb, torch::kBFloat16, torch::kFloat, 1e-4);
}

TEST(Gemm, DoubleMatchesMatmulForEveryTransposeCombination) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      check_combination<double, double>(ta, tb, torch::kDouble, torch::kDouble, 1e-12);
}

TEST(Gemm, LargeFloatProductRunsMultithreadedAndMatches) {
  // Big enough for oneDNN to split the work over threads (a (4096 x 512) x (512 x 1536)
  // product, the medium benchmark's fused QKV projection).
  torch::manual_seed(3);
  auto a = torch::randn({4096, 512});
  auto b = torch::randn({1536, 512});
  auto c = torch::empty({4096, 1536});
  gemm(false, true, 4096, 1536, 512, 1.0f, a.data_ptr<float>(), 512, b.data_ptr<float>(), 512, 0.0f,
       c.data_ptr<float>(), 1536);
  auto expected = torch::matmul(a.to(torch::kDouble), b.to(torch::kDouble).t());
  EXPECT_LT(max_abs_diff(c, expected), 1e-3);
}

}  // namespace
}  // namespace attnlab
