#include "kernels/fused_attention.h"

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/simd.h"

namespace attnlab {
namespace {

// Each kernel is templated on the storage type In of q, k, v, the output and the gradients
// (float, double, bfloat16) and on its accumulation type Acc = at::opmath_type<In> (float for
// float and bfloat16, double for double): scores, probabilities and softmax gradients are
// always Acc; a bf16 GEMM (kernels/gemm.h) takes bf16 operands and returns float.

struct Dims {
  int64_t B, T, H, D, C;
};

// ---- Element loops on (T, T) blocks and (T, D) products --------------------------------------
// Each loop is an inline template (`*_impl`) behind non-template entry points: the float ones
// are compiled for several x86-64 levels (kernels/simd.h: the baseline x86-64 build does not
// vectorise the softmax), the double ones plainly (gradient checks).

// dst[j] = src[j] * (kept ? keep_scale : 0) for the n elements whose flat index in the
// (B, H, T, T) probabilities starts at `first` (the same mask as dropout_with_seed), or just
// src[j] when dropout is off; stored in Dst's type.
template <typename Src, typename Dst>
ATTNLAB_INLINE void dropout_convert_impl(const Src* src, Dst* dst, int64_t n, uint64_t first,
                                         const DropoutMask& mask) {
  if (!mask.active) {
    for (int64_t j = 0; j < n; ++j) store(dst[j], src[j]);
    return;
  }
  const DropoutMask m = mask;  // a local copy: its fields stay in registers in the loop
  const Src keep = static_cast<Src>(m.keep_scale);
  for (int64_t j = 0; j < n; ++j)
    store(dst[j], m.kept(first + static_cast<uint64_t>(j)) ? src[j] * keep : Src(0));
}
ATTNLAB_VECTOR_CLONES void dropout_convert(const float* src, float* dst, int64_t n, uint64_t first,
                                           const DropoutMask& mask) {
  dropout_convert_impl(src, dst, n, first, mask);
}
ATTNLAB_VECTOR_CLONES void dropout_convert(const float* src, c10::BFloat16* dst, int64_t n,
                                           uint64_t first, const DropoutMask& mask) {
  dropout_convert_impl(src, dst, n, first, mask);
}
void dropout_convert(const double* src, double* dst, int64_t n, uint64_t first,
                     const DropoutMask& mask) {
  dropout_convert_impl(src, dst, n, first, mask);
}

// dst (rows x cols, row stride ld_dst) = src (rows x cols, contiguous), rounded to bf16.
ATTNLAB_VECTOR_CLONES void store_rows(const float* src, int64_t rows, int64_t cols,
                                      c10::BFloat16* dst, int64_t ld_dst) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) store(dst[i * ld_dst + j], src[i * cols + j]);
}

// C (M x N, row stride ldc, type In) = op(A) op(B) for In operands. When In is narrower than
// Acc the product goes through `scratch` (M * N Acc values) and is rounded on the way out.
template <typename In, typename Acc>
void gemm_store(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const In* A,
                int64_t lda, const In* B, int64_t ldb, In* C, int64_t ldc, Acc* scratch) {
  if constexpr (std::is_same_v<In, Acc>) {
    gemm(trans_a, trans_b, M, N, K, Acc(1), A, lda, B, ldb, Acc(0), C, ldc);
  } else {
    gemm(trans_a, trans_b, M, N, K, Acc(1), A, lda, B, ldb, Acc(0), scratch, N);
    store_rows(scratch, M, N, C, ldc);
  }
}

// In place over a (T, T) block of scores: masked entries (mask true) get probability 0,
// the rest a softmax over the row; a row with every key masked becomes all zeros.
template <typename T>
ATTNLAB_INLINE void masked_softmax_rows_impl(T* scores, const bool* mask, int64_t rows,
                                             int64_t cols) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < rows; ++i) {
    T* row = scores + i * cols;
    if (mask) {
      const bool* m = mask + i * cols;
      for (int64_t j = 0; j < cols; ++j) row[j] = m[j] ? kNegInf : row[j];
    }
    T max = kNegInf;
#pragma omp simd reduction(max : max)
    for (int64_t j = 0; j < cols; ++j) max = row[j] > max ? row[j] : max;
    if (max == kNegInf) {  // every key masked
      std::fill(row, row + cols, T(0));
      continue;
    }
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) {
      const T e = row[j] == kNegInf ? T(0) : exp_nonpositive(row[j] - max);
      row[j] = e;
      sum += e;
    }
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}
ATTNLAB_VECTOR_CLONES void masked_softmax_rows(float* scores, const bool* mask, int64_t rows,
                                               int64_t cols) {
  masked_softmax_rows_impl(scores, mask, rows, cols);
}
void masked_softmax_rows(double* scores, const bool* mask, int64_t rows, int64_t cols) {
  masked_softmax_rows_impl(scores, mask, rows, cols);
}

// In place over a (T, T) block: grad (dP) becomes dS = P * (dP - sum_j P dP) * scale, the
// gradient of the scaled scores through the softmax.
template <typename T>
ATTNLAB_INLINE void softmax_backward_rows_impl(const T* probs, T* grad, int64_t rows, int64_t cols,
                                               T scale) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* pr = probs + i * cols;
    T* gr = grad + i * cols;
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += pr[j] * gr[j];
    for (int64_t j = 0; j < cols; ++j) gr[j] = pr[j] * (gr[j] - dot) * scale;
  }
}
ATTNLAB_VECTOR_CLONES void softmax_backward_rows(const float* probs, float* grad, int64_t rows,
                                                 int64_t cols, float scale) {
  softmax_backward_rows_impl(probs, grad, rows, cols, scale);
}
void softmax_backward_rows(const double* probs, double* grad, int64_t rows, int64_t cols,
                           double scale) {
  softmax_backward_rows_impl(probs, grad, rows, cols, scale);
}

// ---- The kernels ---------------------------------------------------------------------------

// Forward for every (b, h). probs: (B, H, T, T) Acc values to keep, or null (scratch per task).
template <typename In, typename Acc>
void attention_forward(const In* qkv, const bool* mask, int64_t mask_batch_stride, const Dims& d,
                       const DropoutMask& drop, In* out, Acc* probs) {
  constexpr bool kSameType = std::is_same_v<In, Acc>;
  const int64_t TT = d.T * d.T, row3 = 3 * d.C;
  const Acc scale = Acc(1) / std::sqrt(static_cast<Acc>(d.D));
  at::parallel_for(0, d.B * d.H, 1, [&](int64_t begin, int64_t end) {
    // Per task: the (T, T) scores if not kept, the (T, T) attended operand of the second
    // GEMM if it differs from the probabilities, a (T, D) product to round if In != Acc.
    std::vector<Acc> scores_scratch(probs ? 0 : TT);
    std::vector<In> attended_scratch(drop.active || !kSameType ? TT : 0);
    std::vector<Acc> product_scratch(kSameType ? 0 : d.T * d.D);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const In* q = qkv + b * d.T * row3 + h * d.D;  // (T, D), row stride 3C
      const In* k = q + d.C;
      const In* v = q + 2 * d.C;
      Acc* p = probs ? probs + bh * TT : scores_scratch.data();
      gemm(false, true, d.T, d.T, d.D, scale, q, row3, k, row3, Acc(0), p, d.T);  // (T, T)
      masked_softmax_rows(p, mask ? mask + b * mask_batch_stride : nullptr, d.T, d.T);
      const In* attended;
      if constexpr (kSameType) attended = p;
      if (drop.active || !kSameType) {
        dropout_convert(p, attended_scratch.data(), TT, static_cast<uint64_t>(bh * TT), drop);
        attended = attended_scratch.data();
      }
      // out[b, :, h*D:(h+1)*D] = attended v   (T, D), row stride C
      gemm_store(false, false, d.T, d.D, d.T, attended, d.T, v, row3, out + b * d.T * d.C + h * d.D,
                 d.C, product_scratch.data());
    }
  });
}

// Backward for every (b, h): fills grad_qkv (B, T, 3C) completely.
template <typename In, typename Acc>
void attention_backward(const In* qkv, const Acc* probs, const In* grad_out, const Dims& d,
                        const DropoutMask& drop, In* grad_qkv) {
  constexpr bool kSameType = std::is_same_v<In, Acc>;
  const int64_t TT = d.T * d.T, row3 = 3 * d.C;
  const Acc scale = Acc(1) / std::sqrt(static_cast<Acc>(d.D));
  at::parallel_for(0, d.B * d.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<Acc> grad_p(TT);                                           // dP, then dS
    std::vector<In> attended_scratch(drop.active || !kSameType ? TT : 0);  // dropped P as In
    std::vector<In> grad_s_scratch(kSameType ? 0 : TT);                    // dS as In
    std::vector<Acc> product_scratch(kSameType ? 0 : d.T * d.D);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const int64_t offset = b * d.T * row3 + h * d.D;
      const In* q = qkv + offset;
      const In* k = q + d.C;
      const In* v = q + 2 * d.C;
      In* dq = grad_qkv + offset;
      In* dk = dq + d.C;
      In* dv = dq + 2 * d.C;
      const In* go = grad_out + b * d.T * d.C + h * d.D;  // (T, D), row stride C
      const Acc* p = probs + bh * TT;
      const In* attended;
      if constexpr (kSameType) attended = p;
      if (drop.active || !kSameType) {
        dropout_convert(p, attended_scratch.data(), TT, static_cast<uint64_t>(bh * TT), drop);
        attended = attended_scratch.data();
      }
      // dv = attended^T go   (T, D)
      gemm_store(true, false, d.T, d.D, d.T, attended, d.T, go, d.C, dv, row3,
                 product_scratch.data());
      // d(attended) = go v^T   (T, T); through dropout: the same mask and scale
      gemm(false, true, d.T, d.T, d.D, Acc(1), go, d.C, v, row3, Acc(0), grad_p.data(), d.T);
      if (drop.active)
        dropout_convert(grad_p.data(), grad_p.data(), TT, static_cast<uint64_t>(bh * TT), drop);
      softmax_backward_rows(p, grad_p.data(), d.T, d.T, scale);  // dP -> dS
      const In* grad_s;
      if constexpr (kSameType) {
        grad_s = grad_p.data();
      } else {
        store_rows(grad_p.data(), 1, TT, grad_s_scratch.data(), TT);
        grad_s = grad_s_scratch.data();
      }
      gemm_store(false, false, d.T, d.D, d.T, grad_s, d.T, k, row3, dq, row3,
                 product_scratch.data());  // dS k
      gemm_store(true, false, d.T, d.D, d.T, grad_s, d.T, q, row3, dk, row3,
                 product_scratch.data());  // dS^T q
    }
  });
}

struct Prepared {
  Dims dims;
  torch::Tensor mask;  // (1 or B, 1, T, T) contiguous bool, or undefined
  int64_t mask_batch_stride = 0;
};

Prepared prepare(const torch::Tensor& qkv, int64_t num_heads, const torch::Tensor& mask) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.size(2) % 3 == 0,
              "fused_self_attention: qkv must be (B, T, 3C), got ", qkv.sizes());
  Prepared p;
  const int64_t C = qkv.size(2) / 3;
  TORCH_CHECK(num_heads > 0 && C % num_heads == 0, "fused_self_attention: num_heads=", num_heads,
              " must be positive and divide C=", C);
  p.dims = {qkv.size(0), qkv.size(1), num_heads, C / num_heads, C};
  const int64_t B = p.dims.B, T = p.dims.T;
  if (mask.defined()) {
    TORCH_CHECK(mask.scalar_type() == at::kBool, "attention mask must be bool, got ",
                mask.scalar_type());
    TORCH_CHECK(mask.dim() == 4 && (mask.size(0) == 1 || mask.size(0) == B) && mask.size(1) == 1 &&
                    (mask.size(2) == 1 || mask.size(2) == T) && mask.size(3) == T,
                "attention mask must broadcast to (B, 1, T, T) = (", B, ", 1, ", T, ", ", T,
                "), got ", mask.sizes());
    p.mask = mask.expand({mask.size(0), 1, T, T}).contiguous();  // (1|B, 1, T, T)
    p.mask_batch_stride = mask.size(0) == 1 ? 0 : T * T;
  }
  return p;
}

// probs: (B, H, T, T) in the accumulation type (float32; float64 for float64) to fill, or
// undefined.
torch::Tensor run_forward(const torch::Tensor& qkv, const Prepared& prep, const DropoutMask& drop,
                          const torch::Tensor& probs) {
  const auto& d = prep.dims;
  auto out = at::empty({d.B, d.T, d.C}, qkv.options());
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, qkv.scalar_type(), "fused_attention_forward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    attention_forward<scalar_t, acc_t>(qkv.data_ptr<scalar_t>(),
                                       prep.mask.defined() ? prep.mask.data_ptr<bool>() : nullptr,
                                       prep.mask_batch_stride, d, drop, out.data_ptr<scalar_t>(),
                                       probs.defined() ? probs.data_ptr<acc_t>() : nullptr);
  });
  return out;
}

struct FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
  // `probs` is filled here and saved; it never requires grad. The mask travels inside `prep`
  // (autograd functions take no undefined tensor arguments, and backward does not need it:
  // masked probabilities are exactly zero).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv,
                               const Prepared* prep, const torch::Tensor& probs, double p,
                               int64_t seed, int64_t base) {
    const auto drop =
        DropoutMask::make(p, static_cast<uint64_t>(seed), static_cast<uint64_t>(base));
    auto out = run_forward(qkv, *prep, drop, probs);
    ctx->save_for_backward({qkv, probs});
    ctx->saved_data["num_heads"] = prep->dims.H;
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["base"] = base;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& qkv = saved[0];
    const auto& probs = saved[1];
    const auto prep = prepare(qkv, ctx->saved_data["num_heads"].toInt(), {});
    const auto drop = DropoutMask::make(ctx->saved_data["p"].toDouble(),
                                        static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                                        static_cast<uint64_t>(ctx->saved_data["base"].toInt()));
    auto grad_out = grads[0].to(qkv.scalar_type()).contiguous();
    auto grad_qkv = at::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES_AND(
        at::kBFloat16, qkv.scalar_type(), "fused_attention_backward", [&] {
          using acc_t = at::opmath_type<scalar_t>;
          attention_backward<scalar_t, acc_t>(qkv.data_ptr<scalar_t>(), probs.data_ptr<acc_t>(),
                                              grad_out.data_ptr<scalar_t>(), prep.dims, drop,
                                              grad_qkv.data_ptr<scalar_t>());
        });
    return {grad_qkv,        torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

FusedAttentionOutput fused_impl(const torch::Tensor& qkv_in, int64_t num_heads,
                                const torch::Tensor& mask, double p, uint64_t seed, uint64_t base,
                                bool need_weights) {
  RECORD_FUNCTION("attnlab::fused_self_attention", std::vector<c10::IValue>({qkv_in}));
  TORCH_CHECK(p >= 0.0 && p < 1.0, "attention dropout must be in [0, 1), got ", p);
  TORCH_CHECK(at::isFloatingType(qkv_in.scalar_type()),
              "fused_self_attention: qkv must be floating point, got ", qkv_in.scalar_type());
  // float32, float64 and bfloat16 (autocast's matmul output) run natively; float16 is computed
  // in float32 (the cast is on the autograd graph, so the gradient comes back as float16).
  const auto dtype = qkv_in.scalar_type();
  const bool native = dtype == at::kFloat || dtype == at::kDouble || dtype == at::kBFloat16;
  auto qkv = (native ? qkv_in : qkv_in.to(at::kFloat)).contiguous();
  const auto prep = prepare(qkv, num_heads, mask);
  const auto& d = prep.dims;
  const bool grad = torch::GradMode::is_enabled() && qkv.requires_grad();

  FusedAttentionOutput result;
  torch::Tensor probs;
  // Probabilities are kept in the accumulation type: float32 for bfloat16 input.
  const auto probs_dtype = qkv.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  if (grad || need_weights)
    probs = at::empty({d.B, d.H, d.T, d.T}, qkv.options().dtype(probs_dtype));
  if (grad) {
    result.output = FusedAttentionFunction::apply(qkv, &prep, probs, p, static_cast<int64_t>(seed),
                                                  static_cast<int64_t>(base));
  } else {
    result.output = run_forward(qkv, prep, DropoutMask::make(p, seed, base), probs);
  }
  if (need_weights) result.weights = probs;
  return result;
}

}  // namespace

FusedAttentionOutput fused_self_attention_with_seed(const torch::Tensor& qkv, int64_t num_heads,
                                                    const torch::Tensor& mask, double dropout,
                                                    uint64_t seed, bool need_weights) {
  return fused_impl(qkv, num_heads, mask, dropout, seed, /*base=*/0, need_weights);
}

FusedAttentionOutput fused_self_attention(const torch::Tensor& qkv, int64_t num_heads,
                                          const torch::Tensor& mask, double dropout, bool training,
                                          bool need_weights) {
  const double p = training ? dropout : 0.0;
  // The mask covers the (B, H, T, T) probabilities; qkv is (B, T, 3C).
  const int64_t probs_numel = qkv.size(0) * num_heads * qkv.size(1) * qkv.size(1);
  return fused_impl(qkv, num_heads, mask, p, p > 0.0 ? draw_seed() : 0,
                    p > 0.0 ? dropout_index_base(probs_numel) : 0, need_weights);
}

}  // namespace attnlab
