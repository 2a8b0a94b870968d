#include "kernels/dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <mutex>

#include "kernels/simd.h"

namespace attnlab {
namespace {

// dst[i] = src[i] * (bits(i) >= threshold ? scale : 0) for i in [begin, end). An inline
// template behind entry points; the float and bfloat16 ones are compiled for several x86-64
// levels (kernels/simd.h).
template <typename scalar_t>
ATTNLAB_INLINE void mask_range_impl(const scalar_t* src, scalar_t* dst, int64_t begin, int64_t end,
                                    const DropoutMask& mask) {
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
ATTNLAB_VECTOR_CLONES void mask_range(const c10::BFloat16* src, c10::BFloat16* dst, int64_t begin,
                                      int64_t end, const DropoutMask& mask) {
  mask_range_impl(src, dst, begin, end, mask);
}

// out[i] = x[i] * (bits(base + i) >= threshold ? scale : 0), for a contiguous x.
torch::Tensor apply_mask(const torch::Tensor& input, double p, uint64_t seed, uint64_t base) {
  auto x = input.contiguous();
  auto out = at::empty_like(x);
  const int64_t n = x.numel();
  const auto mask = DropoutMask::make(p, seed, base);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "attnlab_dropout",
                                  [&] {
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
                               double p, int64_t seed, int64_t base) {
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["base"] = base;
    return apply_mask(x, p, static_cast<uint64_t>(seed), static_cast<uint64_t>(base));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const double p = ctx->saved_data["p"].toDouble();
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    const auto base = static_cast<uint64_t>(ctx->saved_data["base"].toInt());
    return {apply_mask(grads[0], p, seed, base), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The DropoutStream alive on this thread, if any.
struct StreamState {
  bool active = false;
  uint64_t seed = 0;
  uint64_t calls = 0;
  int64_t first_row = 0;
  int64_t rows = 1;
};
thread_local StreamState stream;

// splitmix64's finaliser: one call's seed from the stream's seed and the call's number.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

DropoutStream::DropoutStream(uint64_t seed, int64_t first_row, int64_t rows) {
  TORCH_CHECK(!stream.active, "DropoutStream: one is already alive on this thread");
  TORCH_CHECK(first_row >= 0 && rows > 0, "DropoutStream: rows ", first_row, " + ", rows);
  stream = {true, seed, 0, first_row, rows};
}

DropoutStream::~DropoutStream() { stream = StreamState{}; }

uint64_t dropout_index_base(int64_t numel) {
  if (!stream.active) return 0;
  TORCH_CHECK(numel % stream.rows == 0, "dropout: a tensor of ", numel,
              " elements does not split into the stream's ", stream.rows, " examples");
  return static_cast<uint64_t>(stream.first_row) * static_cast<uint64_t>(numel / stream.rows);
}

uint64_t draw_seed() {
  if (stream.active) return mix64(stream.seed + 0x9E3779B97F4A7C15ull * ++stream.calls);
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

torch::Tensor dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed,
                                uint64_t index_base) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  return DropoutFunction::apply(x, p, static_cast<int64_t>(seed), static_cast<int64_t>(index_base));
}

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  return dropout_with_seed(x, p, draw_seed(), dropout_index_base(x.numel()));
}

}  // namespace attnlab
