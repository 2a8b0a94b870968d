#include "model/fused_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "model/dropout.h"

// Fortran BLAS (libblas.so.3: OpenBLAS after scripts/setup.sh). Called from inside
// at::parallel_for, where OpenBLAS's OpenMP build runs each call on the calling thread.
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b,
            const int* ldb, const double* beta, double* c, const int* ldc);
}

namespace attnlab {
namespace {

void blas_gemm(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
               const float* b, int ldb, float beta, float* c, int ldc) {
  sgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
void blas_gemm(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
               const double* b, int ldb, double beta, double* c, int ldc) {
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}

// Row-major C (M x N) = alpha * op(A) * op(B), op(X) = X^T when the flag is set; A is M x K
// after op, B is K x N after op. Row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T, so the operands swap.
template <typename T>
void gemm_row_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                    const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc) {
  blas_gemm(trans_b ? 'T' : 'N', trans_a ? 'T' : 'N', static_cast<int>(N), static_cast<int>(M),
            static_cast<int>(K), alpha, B, static_cast<int>(ldb), A, static_cast<int>(lda), T(0),
            C, static_cast<int>(ldc));
}

struct Dims {
  int64_t B, T, H, D, C;
};

struct DropoutSpec {
  bool on = false;
  uint64_t seed = 0;
  uint32_t threshold = 0;  // drop when the element's 32 random bits are below this
  double keep_scale = 1.0;
};

// dst[j] = src[j] * (kept ? keep_scale : 0) for the n elements whose flat index in the
// (B, H, T, T) probabilities starts at `first`; the same mask as dropout_with_seed.
template <typename T>
void apply_dropout(const T* src, T* dst, int64_t n, uint64_t first, const DropoutSpec& d) {
  const T keep = static_cast<T>(d.keep_scale);
  for (int64_t j = 0; j < n; ++j)
    dst[j] = dropout_bits(d.seed, first + static_cast<uint64_t>(j)) >= d.threshold ? src[j] * keep
                                                                                    : T(0);
}

// exp(x) for x <= 0 (softmax after subtracting the row max): 2^n * 2^f with a degree-7
// Taylor polynomial for 2^f, |f| <= 1/2 (relative error < 1e-8, below float rounding).
// Branch-free so that the row loops vectorise; std::exp is the scalar libm call.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);  // exp(-87) ~ 1.6e-38, still a normal float
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (|t| < 2^22)
  const float f = t - n;
  float p = 1.5252733804059841e-5f;
  p = p * f + 1.5403530393381609e-4f;
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910071e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  const int32_t exponent = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &exponent, sizeof scale);
  return p * scale;
}
inline double exp_nonpositive(double x) { return std::exp(x); }

// In place over a (T, T) block of scores: masked entries (mask true) get probability 0,
// the rest a softmax over the row; a row with every key masked becomes all zeros.
template <typename T>
void masked_softmax_rows(T* scores, const bool* mask, int64_t rows, int64_t cols) {
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

// Forward for every (b, h). probs: (B, H, T, T) to keep, or null (scratch per task).
template <typename T>
void attention_forward(const T* qkv, const bool* mask, int64_t mask_batch_stride, const Dims& d,
                       const DropoutSpec& drop, T* out, T* probs) {
  const int64_t TT = d.T * d.T, row3 = 3 * d.C;
  const T scale = T(1) / std::sqrt(static_cast<T>(d.D));
  at::parallel_for(0, d.B * d.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch((probs ? 0 : TT) + (drop.on ? TT : 0));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const T* q = qkv + b * d.T * row3 + h * d.D;  // (T, D), row stride 3C
      const T* k = q + d.C;
      const T* v = q + 2 * d.C;
      T* p = probs ? probs + bh * TT : scratch.data();
      gemm_row_major(false, true, d.T, d.T, d.D, scale, q, row3, k, row3, p, d.T);  // (T, T)
      masked_softmax_rows(p, mask ? mask + b * mask_batch_stride : nullptr, d.T, d.T);
      const T* attended = p;
      if (drop.on) {
        T* dropped = scratch.data() + (probs ? 0 : TT);
        apply_dropout(p, dropped, TT, static_cast<uint64_t>(bh * TT), drop);
        attended = dropped;
      }
      // out[b, :, h*D:(h+1)*D] = attended v   (T, D), row stride C
      gemm_row_major(false, false, d.T, d.D, d.T, T(1), attended, d.T, v, row3,
                     out + b * d.T * d.C + h * d.D, d.C);
    }
  });
}

// Backward for every (b, h): fills grad_qkv (B, T, 3C) completely.
template <typename T>
void attention_backward(const T* qkv, const T* probs, const T* grad_out, const Dims& d,
                        const DropoutSpec& drop, T* grad_qkv) {
  const int64_t TT = d.T * d.T, row3 = 3 * d.C;
  const T scale = T(1) / std::sqrt(static_cast<T>(d.D));
  at::parallel_for(0, d.B * d.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch((drop.on ? 2 : 1) * TT);
    T* grad_p = scratch.data();
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const int64_t offset = b * d.T * row3 + h * d.D;
      const T* q = qkv + offset;
      const T* k = q + d.C;
      const T* v = q + 2 * d.C;
      T* dq = grad_qkv + offset;
      T* dk = dq + d.C;
      T* dv = dq + 2 * d.C;
      const T* go = grad_out + b * d.T * d.C + h * d.D;  // (T, D), row stride C
      const T* p = probs + bh * TT;
      const T* attended = p;
      if (drop.on) {
        T* dropped = scratch.data() + TT;
        apply_dropout(p, dropped, TT, static_cast<uint64_t>(bh * TT), drop);
        attended = dropped;
      }
      // dv = attended^T go   (T, D)
      gemm_row_major(true, false, d.T, d.D, d.T, T(1), attended, d.T, go, d.C, dv, row3);
      // d(attended) = go v^T   (T, T); through dropout: the same mask and scale
      gemm_row_major(false, true, d.T, d.T, d.D, T(1), go, d.C, v, row3, grad_p, d.T);
      if (drop.on) apply_dropout(grad_p, grad_p, TT, static_cast<uint64_t>(bh * TT), drop);
      // Softmax backward: dS = P * (dP - sum_j P dP), times the score scale.
      for (int64_t i = 0; i < d.T; ++i) {
        const T* pr = p + i * d.T;
        T* gr = grad_p + i * d.T;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < d.T; ++j) dot += pr[j] * gr[j];
        for (int64_t j = 0; j < d.T; ++j) gr[j] = pr[j] * (gr[j] - dot) * scale;
      }
      gemm_row_major(false, false, d.T, d.D, d.T, T(1), grad_p, d.T, k, row3, dq, row3);  // dS k
      gemm_row_major(true, false, d.T, d.D, d.T, T(1), grad_p, d.T, q, row3, dk, row3);   // dS^T q
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
  TORCH_CHECK(num_heads > 0 && C % num_heads == 0, "fused_self_attention: num_heads=",
              num_heads, " must be positive and divide C=", C);
  p.dims = {qkv.size(0), qkv.size(1), num_heads, C / num_heads, C};
  const int64_t B = p.dims.B, T = p.dims.T;
  if (mask.defined()) {
    TORCH_CHECK(mask.scalar_type() == at::kBool, "attention mask must be bool, got ",
                mask.scalar_type());
    TORCH_CHECK(mask.dim() == 4 && (mask.size(0) == 1 || mask.size(0) == B) &&
                    mask.size(1) == 1 && (mask.size(2) == 1 || mask.size(2) == T) &&
                    mask.size(3) == T,
                "attention mask must broadcast to (B, 1, T, T) = (", B, ", 1, ", T, ", ", T,
                "), got ", mask.sizes());
    p.mask = mask.expand({mask.size(0), 1, T, T}).contiguous();  // (1|B, 1, T, T)
    p.mask_batch_stride = mask.size(0) == 1 ? 0 : T * T;
  }
  return p;
}

DropoutSpec make_dropout(double p, uint64_t seed) {
  DropoutSpec d;
  d.on = p > 0.0;
  d.seed = seed;
  d.threshold = dropout_threshold(p);
  d.keep_scale = 1.0 / (1.0 - p);
  return d;
}

// probs: (B, H, T, T) of qkv's dtype to fill, or undefined.
torch::Tensor run_forward(const torch::Tensor& qkv, const Prepared& prep,
                          const DropoutSpec& drop, const torch::Tensor& probs) {
  const auto& d = prep.dims;
  auto out = at::empty({d.B, d.T, d.C}, qkv.options());
  AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "fused_attention_forward", [&] {
    attention_forward<scalar_t>(qkv.data_ptr<scalar_t>(),
                                prep.mask.defined() ? prep.mask.data_ptr<bool>() : nullptr,
                                prep.mask_batch_stride, d, drop, out.data_ptr<scalar_t>(),
                                probs.defined() ? probs.data_ptr<scalar_t>() : nullptr);
  });
  return out;
}

struct FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
  // `probs` is filled here and saved; it never requires grad. The mask travels inside `prep`
  // (autograd functions take no undefined tensor arguments, and backward does not need it:
  // masked probabilities are exactly zero).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv,
                               const Prepared* prep, const torch::Tensor& probs, double p,
                               int64_t seed) {
    const auto drop = make_dropout(p, static_cast<uint64_t>(seed));
    auto out = run_forward(qkv, *prep, drop, probs);
    ctx->save_for_backward({qkv, probs});
    ctx->saved_data["num_heads"] = prep->dims.H;
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& qkv = saved[0];
    const auto& probs = saved[1];
    const auto prep = prepare(qkv, ctx->saved_data["num_heads"].toInt(), {});
    const auto drop = make_dropout(ctx->saved_data["p"].toDouble(),
                                   static_cast<uint64_t>(ctx->saved_data["seed"].toInt()));
    auto grad_out = grads[0].to(qkv.scalar_type()).contiguous();
    auto grad_qkv = at::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "fused_attention_backward", [&] {
      attention_backward<scalar_t>(qkv.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>(),
                                   grad_out.data_ptr<scalar_t>(), prep.dims, drop,
                                   grad_qkv.data_ptr<scalar_t>());
    });
    return {grad_qkv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

FusedAttentionOutput fused_impl(const torch::Tensor& qkv_in, int64_t num_heads,
                                const torch::Tensor& mask, double p, uint64_t seed,
                                bool need_weights) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "attention dropout must be in [0, 1), got ", p);
  TORCH_CHECK(at::isFloatingType(qkv_in.scalar_type()),
              "fused_self_attention: qkv must be floating point, got ", qkv_in.scalar_type());
  // Reduced precision (bfloat16 from autocast) is computed in float32; the cast is on the
  // autograd graph, so the gradient comes back in the input's dtype.
  const bool native = qkv_in.scalar_type() == at::kFloat || qkv_in.scalar_type() == at::kDouble;
  auto qkv = (native ? qkv_in : qkv_in.to(at::kFloat)).contiguous();
  const auto prep = prepare(qkv, num_heads, mask);
  const auto& d = prep.dims;
  const bool grad = torch::GradMode::is_enabled() && qkv.requires_grad();

  FusedAttentionOutput result;
  torch::Tensor probs;
  if (grad || need_weights) probs = at::empty({d.B, d.H, d.T, d.T}, qkv.options());
  if (grad) {
    result.output = FusedAttentionFunction::apply(qkv, &prep, probs, p, static_cast<int64_t>(seed));
  } else {
    result.output = run_forward(qkv, prep, make_dropout(p, seed), probs);
  }
  if (need_weights) result.weights = probs;
  return result;
}

}  // namespace

FusedAttentionOutput fused_self_attention_with_seed(const torch::Tensor& qkv, int64_t num_heads,
                                                    const torch::Tensor& mask, double dropout,
                                                    uint64_t seed, bool need_weights) {
  return fused_impl(qkv, num_heads, mask, dropout, seed, need_weights);
}

FusedAttentionOutput fused_self_attention(const torch::Tensor& qkv, int64_t num_heads,
                                          const torch::Tensor& mask, double dropout,
                                          bool training, bool need_weights) {
  const double p = training ? dropout : 0.0;
  return fused_impl(qkv, num_heads, mask, p, p > 0.0 ? draw_seed() : 0, need_weights);
}

}  // namespace attnlab
