#include "kernels/gelu_dropout.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cmath>

#include "kernels/dropout.h"
#include "kernels/simd.h"

namespace attnlab {
namespace {

// Phi(x), the standard normal CDF, and phi(x), its density, from one exp. With z = |x| / sqrt 2,
// erfc(z) ~ q = t (a1 + a2 t + ... + a5 t^4) exp(-z^2), t = 1 / (1 + p z) (A&S 7.1.26), and
// Phi(x) = q / 2 for x < 0, 1 - q / 2 otherwise: the negative tail keeps its relative
// accuracy instead of cancelling in 1 + erf(x / sqrt 2).
// Branch-free (only finished values are selected) so that the loops calling it vectorise.
ATTNLAB_INLINE void normal_cdf_pdf(float x, float& cdf, float& pdf) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float e = exp_nonpositive(-z * z);  // exp(-x^2 / 2) (kernels/simd.h)
  const float half_q = 0.5f * poly * t * e;
  const float upper = 1.0f - half_q;
  cdf = x < 0.0f ? half_q : upper;
  pdf = e * 0.39894228040143268f;  // 1 / sqrt(2 pi)
}

// y[i] = gelu(x[i]) * keep(i) for i in [begin, end), keep(i) = mask.keep_scale or 0; without
// the mask (p = 0 or not training), y[i] = gelu(x[i]).
template <bool kMasked, typename T>
ATTNLAB_INLINE void forward_impl(const T* x, T* y, int64_t begin, int64_t end,
                                 const DropoutMask& mask) {
  const DropoutMask m = mask;  // a local copy: its fields stay in registers in the loop
  const float scale = static_cast<float>(m.keep_scale);
  for (int64_t i = begin; i < end; ++i) {
    const float v = static_cast<float>(x[i]);
    float cdf, pdf;
    normal_cdf_pdf(v, cdf, pdf);
    float out = v * cdf;
    if (kMasked) out *= m.kept(static_cast<uint64_t>(i)) ? scale : 0.0f;
    store(y[i], out);
  }
}

// grad_x[i] = grad[i] * keep(i) * gelu'(x[i]), gelu'(x) = Phi(x) + x phi(x).
template <bool kMasked, typename T>
ATTNLAB_INLINE void backward_impl(const T* x, const T* grad, T* grad_x, int64_t begin, int64_t end,
                                  const DropoutMask& mask) {
  const DropoutMask m = mask;
  const float scale = static_cast<float>(m.keep_scale);
  for (int64_t i = begin; i < end; ++i) {
    const float v = static_cast<float>(x[i]);
    float cdf, pdf;
    normal_cdf_pdf(v, cdf, pdf);
    float g = static_cast<float>(grad[i]);
    if (kMasked) g *= m.kept(static_cast<uint64_t>(i)) ? scale : 0.0f;
    store(grad_x[i], g * (cdf + v * pdf));
  }
}

// Entry points compiled for several x86-64 levels (kernels/simd.h).
#define ATTNLAB_GELU_DROPOUT_ENTRY_POINTS(T)                                                     \
  ATTNLAB_VECTOR_CLONES void forward_range(const T* x, T* y, int64_t begin, int64_t end,         \
                                           const DropoutMask& mask) {                            \
    if (mask.active)                                                                             \
      forward_impl<true>(x, y, begin, end, mask);                                                \
    else                                                                                         \
      forward_impl<false>(x, y, begin, end, mask);                                               \
  }                                                                                              \
  ATTNLAB_VECTOR_CLONES void backward_range(const T* x, const T* grad, T* grad_x, int64_t begin, \
                                            int64_t end, const DropoutMask& mask) {              \
    if (mask.active)                                                                             \
      backward_impl<true>(x, grad, grad_x, begin, end, mask);                                    \
    else                                                                                         \
      backward_impl<false>(x, grad, grad_x, begin, end, mask);                                   \
  }
ATTNLAB_GELU_DROPOUT_ENTRY_POINTS(float)
ATTNLAB_GELU_DROPOUT_ENTRY_POINTS(c10::BFloat16)
#undef ATTNLAB_GELU_DROPOUT_ENTRY_POINTS

constexpr int64_t kGrain = 16384;  // elements per parallel chunk

template <typename T>
torch::Tensor forward_typed(const torch::Tensor& x, const DropoutMask& mask) {
  auto y = at::empty_like(x);
  const T* src = x.data_ptr<T>();
  T* dst = y.data_ptr<T>();
  at::parallel_for(0, x.numel(), kGrain,
                   [&](int64_t begin, int64_t end) { forward_range(src, dst, begin, end, mask); });
  return y;
}

template <typename T>
torch::Tensor backward_typed(const torch::Tensor& x, const torch::Tensor& grad,
                             const DropoutMask& mask) {
  auto grad_x = at::empty_like(x);
  const T* src = x.data_ptr<T>();
  const T* g = grad.data_ptr<T>();
  T* dst = grad_x.data_ptr<T>();
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    backward_range(src, g, dst, begin, end, mask);
  });
  return grad_x;
}

struct GeluDropoutFunction : public torch::autograd::Function<GeluDropoutFunction> {
  // x: contiguous float32 or bfloat16.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double p, int64_t seed, int64_t base) {
    ctx->save_for_backward({x});
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["base"] = base;
    const auto mask =
        DropoutMask::make(p, static_cast<uint64_t>(seed), static_cast<uint64_t>(base));
    return x.scalar_type() == at::kFloat ? forward_typed<float>(x, mask)
                                         : forward_typed<c10::BFloat16>(x, mask);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto grad = grads[0].to(x.scalar_type()).contiguous();
    const auto mask = DropoutMask::make(ctx->saved_data["p"].toDouble(),
                                        static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                                        static_cast<uint64_t>(ctx->saved_data["base"].toInt()));
    auto grad_x = x.scalar_type() == at::kFloat ? backward_typed<float>(x, grad, mask)
                                                : backward_typed<c10::BFloat16>(x, grad, mask);
    return {grad_x, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gelu_dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed,
                                     uint64_t index_base) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  const auto type = x.scalar_type();
  if (!x.device().is_cpu() || (type != at::kFloat && type != at::kBFloat16))
    return p > 0.0 ? dropout_with_seed(at::gelu(x), p, seed, index_base) : at::gelu(x);
  return GeluDropoutFunction::apply(x.contiguous(), p, static_cast<int64_t>(seed),
                                    static_cast<int64_t>(index_base));
}

torch::Tensor gelu_dropout(const torch::Tensor& x, double p, bool training) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  const double applied = training ? p : 0.0;
  return gelu_dropout_with_seed(x, applied, applied > 0.0 ? draw_seed() : 0,
                                applied > 0.0 ? dropout_index_base(x.numel()) : 0);
}

}  // namespace attnlab
