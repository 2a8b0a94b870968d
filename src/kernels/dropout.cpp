#include "kernels/dropout.h"

#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "kernels/simd.h"

namespace attnlab {
namespace {

// dst[i] = src[i] * (bits(i) >= threshold ? scale : 0) for i in [begin, end). An inline
// template behind entry points; the float and bfloat16 ones are compiled for several x86-64
// levels (kernels/simd.h).
template <typename scalar_t>
ATTNLAB_INLINE void mask_range_impl(const scalar_t* src, scalar_t* dst, int64_t begin,
                                    int64_t end, const DropoutMask& mask) {
  using opmath_t = at::opmath_type<scalar_t>;
  const DropoutMask m = mask;  // a local copy: its fields stay in registers in the loop
  const auto scale = static_cast<opmath_t>(m.keep_scale);
  for (int64_t i = begin; i < end; ++i) {
    const opmath_t keep = m.kept(static_cast<uint64_t>(i)) ? scale : opmath_t(0);
    dst[i] = static_cast<scalar_t>(static_cast<opmath_t>(src[i]) * keep);
  }
}
template <typename scalar_t>
void mask_range(const scalar_t* src, scalar_t* dst, int64_t begin, int64_t end,
                const DropoutMask& mask) {
  mask_range_impl(src, dst, begin, end, mask);
}
ATTNLAB_VECTOR_CLONES void mask_range(const float* src, float* dst, int64_t begin, int64_t end,
                                      const DropoutMask& mask) {
  mask_range_impl(src, dst, begin, end, mask);
}
ATTNLAB_VECTOR_CLONES void mask_range(const c10::BFloat16* src, c10::BFloat16* dst,
                                      int64_t begin, int64_t end, const DropoutMask& mask) {
  mask_range_impl(src, dst, begin, end, mask);
}

// out[i] = x[i] * (bits(i) >= threshold ? scale : 0), for a contiguous x.
torch::Tensor apply_mask(const torch::Tensor& input, double p, uint64_t seed) {
  auto x = input.contiguous();
  auto out = at::empty_like(x);
  const int64_t n = x.numel();
  const auto mask = DropoutMask::make(p, seed);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "attnlab_dropout", [&] {
    const scalar_t* src = x.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
      mask_range(src, dst, begin, end, mask);
    });
  });
  return out;
}

struct DropoutFunction : public torch::autograd::Function<DropoutFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double p, int64_t seed) {
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return apply_mask(x, p, static_cast<uint64_t>(seed));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const double p = ctx->saved_data["p"].toDouble();
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    return {apply_mask(grads[0], p, seed), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

uint64_t draw_seed() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

torch::Tensor dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  return DropoutFunction::apply(x, p, static_cast<int64_t>(seed));
}

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  return dropout_with_seed(x, p, draw_seed());
}

}  // namespace attnlab
