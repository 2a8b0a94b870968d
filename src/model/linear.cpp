#include "model/linear.h"

#include <mutex>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <torch/autograd.h>

#include "model/gemm.h"
#include "model/simd.h"

namespace attnlab {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// (M, in) x2 -> (M, out) = x2 W^T (+ b). x2 and weight contiguous float32.
torch::Tensor forward_2d(const torch::Tensor& x2, const torch::Tensor& weight,
                         const torch::Tensor& bias) {
  const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
  torch::Tensor out;
  float beta = 0.0f;
  if (bias.defined()) {
    out = bias.view({1, N}).expand({M, N}).contiguous();  // (M, out), every row = b
    beta = 1.0f;
  } else {
    out = at::empty({M, N}, x2.options());
  }
  gemm(false, true, M, N, K, 1.0f, x2.data_ptr<float>(), K, weight.data_ptr<float>(), K, beta,
       out.data_ptr<float>(), N);
  return out;
}

struct LinearFunction : public torch::autograd::Function<LinearFunction> {
  // x2: (M, in) contiguous; weight: (out, in) contiguous; bias: (out), or an empty tensor
  // for none (autograd functions take no undefined tensor arguments).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    ctx->save_for_backward({x2, weight});
    const bool has_bias = bias.numel() > 0;
    ctx->saved_data["has_bias"] = has_bias;
    return forward_2d(x2, weight, has_bias ? bias : torch::Tensor());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x2 = saved[0];
    const auto& weight = saved[1];
    const auto grad = grads[0].to(at::kFloat).contiguous();  // (M, out)
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_x = at::empty({M, K}, x2.options());  // dy W: (M, out) x (out, in)
      gemm(false, false, M, K, N, 1.0f, grad.data_ptr<float>(), N, weight.data_ptr<float>(), K,
           0.0f, grad_x.data_ptr<float>(), K);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = at::empty({N, K}, weight.options());  // dy^T x: (out, M) x (M, in)
      gemm(true, false, N, K, M, 1.0f, grad.data_ptr<float>(), N, x2.data_ptr<float>(), K, 0.0f,
           grad_weight.data_ptr<float>(), K);
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) grad_bias = grad.sum(0);
    return {grad_x, grad_weight, grad_bias};
  }
};

torch::Tensor apply_activation(const torch::Tensor& y, LinearActivation activation) {
  switch (activation) {
    case LinearActivation::kRelu: return at::relu(y);
    case LinearActivation::kGelu: return at::gelu(y);
    case LinearActivation::kNone: break;
  }
  return y;
}

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void execute(const dnnl::matmul& matmul, std::unordered_map<int, dnnl::memory> args) {
  dnnl::stream stream(cpu_engine());
  matmul.execute(stream, args);
  stream.wait();
}

// Primitives kept per input size; a bounded list, since a run with ragged batches meets many
// row counts and each primitive holds JIT code.
constexpr size_t kMaxPrimitives = 32;

// grad_x (M, K) bf16 = grad (M, N) bf16 . weight (N, K) bf16: the input gradient of a linear
// layer whose input was bf16. One process-wide list (the primitive depends on shapes only;
// the backward has no module at hand). False when oneDNN has no bf16 matmul for this CPU.
bool bf16_backward_data(const torch::Tensor& grad, const torch::Tensor& weight,
                        torch::Tensor& grad_x) {
  struct Entry {
    int64_t M, K, N;
    dnnl::matmul matmul;
  };
  static std::mutex mutex;
  static std::vector<Entry> entries;
  static bool unsupported = false;
  const int64_t M = grad.size(0), N = grad.size(1), K = weight.size(1);
  std::lock_guard<std::mutex> lock(mutex);
  if (unsupported) return false;
  const Entry* found = nullptr;
  for (const auto& e : entries)
    if (e.M == M && e.K == K && e.N == N) found = &e;
  if (!found) {
    dnnl::matmul::primitive_desc pd;
    try {
      pd = dnnl::matmul::primitive_desc(
          dnnl::matmul::desc(dnnl::memory::desc({M, N}, dt::bf16, tag::ab),
                             dnnl::memory::desc({N, K}, dt::bf16, tag::ab),
                             dnnl::memory::desc({M, K}, dt::bf16, tag::ab)),
          cpu_engine());
    } catch (const dnnl::error&) {
      unsupported = true;
      return false;
    }
    if (entries.size() >= kMaxPrimitives) entries.clear();
    entries.push_back({M, K, N, dnnl::matmul(pd)});
    found = &entries.back();
  }
  auto& engine = cpu_engine();
  execute(found->matmul,
          {{DNNL_ARG_SRC, dnnl::memory({{M, N}, dt::bf16, tag::ab}, engine, grad.data_ptr())},
           {DNNL_ARG_WEIGHTS, dnnl::memory({{N, K}, dt::bf16, tag::ab}, engine, weight.data_ptr())},
           {DNNL_ARG_DST, dnnl::memory({{M, K}, dt::bf16, tag::ab}, engine, grad_x.data_ptr())}});
  return true;
}

// sums[j] += dy[i][j] over rows i in [0, M), for columns j in [begin, end); dy bf16 with row
// stride ld, sums float32. The bias gradient of a bf16 linear: at::sum with a float32 dtype
// first widens all of dy into a float32 copy.
ATTNLAB_INLINE void column_sums_impl(const c10::BFloat16* dy, int64_t M, int64_t ld,
                                     int64_t begin, int64_t end, float* sums) {
  for (int64_t i = 0; i < M; ++i) {
    const c10::BFloat16* row = dy + i * ld;
    for (int64_t j = begin; j < end; ++j) sums[j] += static_cast<float>(row[j]);
  }
}

ATTNLAB_VECTOR_CLONES void column_sums(const c10::BFloat16* dy, int64_t M, int64_t ld,
                                       int64_t begin, int64_t end, float* sums) {
  column_sums_impl(dy, M, ld, begin, end, sums);
}

// (M, N) bf16 contiguous -> (N) float32 sums over the rows.
torch::Tensor bf16_column_sums(const torch::Tensor& dy) {
  const int64_t M = dy.size(0), N = dy.size(1);
  auto sums = at::zeros({N}, dy.options().dtype(at::kFloat));
  const auto* data = dy.data_ptr<at::BFloat16>();
  float* out = sums.data_ptr<float>();
  at::parallel_for(0, N, 64, [&](int64_t begin, int64_t end) {  // columns split over threads
    column_sums(data, M, N, begin, end, out);
  });
  return sums;
}

}  // namespace

struct LinearBf16Cache::State {
  struct Primitive {
    int64_t rows;
    LinearActivation activation;
    bool has_bias;
    dnnl::matmul matmul;
    dnnl::memory::desc weights_desc;
  };

  std::mutex mutex;
  bool unsupported = false;           // this CPU has no bf16 matmul in oneDNN (no AVX-512)
  const void* weight_data = nullptr;  // the weight the copies below were made from
  int64_t weight_version = -1;
  torch::Tensor weight_bf16;  // (N, K) row-major bf16, for the backward GEMMs
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed;  // per weight layout
  std::vector<Primitive> primitives;

  // Forgets the copies when `weight` is another tensor or was changed in place.
  void follow(const torch::Tensor& weight) {
    if (weight.data_ptr() == weight_data && weight._version() == weight_version) return;
    packed.clear();  // the primitives stay valid: they depend on shapes only
    weight_bf16 = torch::Tensor();
    weight_data = weight.data_ptr();
    weight_version = weight._version();
  }

  // True when oneDNN has a bf16 matmul for these sizes on this CPU (it is then kept).
  bool supports(int64_t M, int64_t K, int64_t N, bool has_bias, LinearActivation activation) {
    std::lock_guard<std::mutex> lock(mutex);
    return primitive(M, K, N, has_bias, activation) != nullptr;
  }

  // out (M, N) bf16 = act(x2 (M, K) bf16 . weight^T + bias). False, with nothing done, when
  // oneDNN has no bf16 matmul for this CPU (the caller falls back to autocast's linear).
  bool forward(const torch::Tensor& x2, const torch::Tensor& weight, const torch::Tensor& bias,
               LinearActivation activation, torch::Tensor& out) {
    std::lock_guard<std::mutex> lock(mutex);
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    const Primitive* found = primitive(M, K, N, bias.defined(), activation);
    if (!found) return false;
    follow(weight);
    auto& engine = cpu_engine();
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory({{M, K}, dt::bf16, tag::ab}, engine, x2.data_ptr())},
        {DNNL_ARG_WEIGHTS, packed_weight(found->weights_desc, weight, K, N)},
        {DNNL_ARG_DST, dnnl::memory({{M, N}, dt::bf16, tag::ab}, engine, out.data_ptr())}};
    if (bias.defined())
      args.emplace(DNNL_ARG_BIAS,
                   dnnl::memory({{1, N}, dt::f32, tag::ab}, engine, bias.data_ptr()));
    execute(found->matmul, std::move(args));
    return true;
  }

  // The weight (N, K) rounded to bf16, row-major; made once per weight version.
  torch::Tensor bf16_weight(const torch::Tensor& weight) {
    std::lock_guard<std::mutex> lock(mutex);
    follow(weight);
    if (!weight_bf16.defined()) weight_bf16 = weight.detach().to(at::kBFloat16).contiguous();
    return weight_bf16;
  }

 private:
  // Called with the mutex held.
  const Primitive* primitive(int64_t M, int64_t K, int64_t N, bool has_bias,
                             LinearActivation activation) {
    if (unsupported) return nullptr;
    for (const auto& p : primitives)
      if (p.rows == M && p.has_bias == has_bias && p.activation == activation) return &p;
    dnnl::memory::desc src_md({M, K}, dt::bf16, tag::ab);
    dnnl::memory::desc weights_md({K, N}, dt::bf16, tag::any);  // oneDNN picks the layout
    dnnl::memory::desc bias_md = has_bias ? dnnl::memory::desc({1, N}, dt::f32, tag::ab)
                                          : dnnl::memory::desc();
    dnnl::memory::desc dst_md({M, N}, dt::bf16, tag::ab);
    dnnl::primitive_attr attr;
    if (activation != LinearActivation::kNone) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f,
                         activation == LinearActivation::kGelu ? dnnl::algorithm::eltwise_gelu_erf
                                                               : dnnl::algorithm::eltwise_relu,
                         0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd;
    try {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md),
                                        attr, cpu_engine());
    } catch (const dnnl::error&) {
      unsupported = true;  // e.g. ONEDNN_MAX_CPU_ISA=AVX2 or an older CPU
      return nullptr;
    }
    if (primitives.size() >= kMaxPrimitives) primitives.clear();
    primitives.push_back({M, activation, has_bias, dnnl::matmul(pd), pd.weights_desc()});
    return &primitives.back();
  }

  // The weight (N, K) float32 rounded to bf16 in `layout`, made once per weight version.
  // Called with the mutex held, after follow().
  const dnnl::memory& packed_weight(const dnnl::memory::desc& layout, const torch::Tensor& weight,
                                    int64_t K, int64_t N) {
    for (const auto& [desc, memory] : packed)
      if (desc == layout) return memory;
    auto& engine = cpu_engine();
    // weight (N, K) row-major is the (K, N) matrix in column-major order: tag ba.
    dnnl::memory source({{K, N}, dt::f32, tag::ba}, engine, weight.data_ptr());
    dnnl::memory target(layout, engine);
    dnnl::stream stream(engine);
    dnnl::reorder(source, target).execute(stream, source, target);
    stream.wait();
    packed.emplace_back(layout, target);
    return packed.back().second;
  }
};

namespace {

// Training under bf16 autocast: y (M, N) bf16 = x2 W^T + b with the forward on the cached
// packed bf16 weight, and a backward that computes
//   dx = dy W   bf16 GEMM on the cached row-major bf16 weight; float32 straight from the
//               GEMM's accumulator when x came in as float32 (no bf16 rounding, no cast),
//               bf16 from a oneDNN matmul when x came in as bf16;
//   dW = dy^T x bf16 operands, float32 result written by the GEMM: the float32 master
//               weight's gradient, without autocast's bf16 gradient and cast back;
//   db = sum(dy) over the rows, accumulated in float32.
struct LinearBf16Function : public torch::autograd::Function<LinearBf16Function> {
  // x2: (M, in) float32 or bf16; weight (out, in) and bias (out) float32, bias an empty
  // tensor for none; cache: the module's copies of this weight.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               LinearBf16Cache::State* cache) {
    const bool has_bias = bias.numel() > 0;
    auto x_bf16 = x2.to(at::kBFloat16).contiguous();  // (M, in)
    auto out = at::empty({x2.size(0), weight.size(0)}, x_bf16.options());  // (M, out)
    TORCH_CHECK(cache->forward(x_bf16, weight, has_bias ? bias : torch::Tensor(),
                               LinearActivation::kNone, out),
                "linear: no bf16 matmul on this CPU");  // checked by the caller beforehand
    ctx->save_for_backward({x_bf16, cache->bf16_weight(weight)});
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["float_input"] = x2.scalar_type() == at::kFloat;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x_bf16 = saved[0];  // (M, in)
    const auto& w_bf16 = saved[1];  // (out, in)
    const auto grad = grads[0].to(at::kBFloat16).contiguous();  // (M, out)
    const int64_t M = x_bf16.size(0), K = x_bf16.size(1), N = w_bf16.size(0);
    const auto* dy = grad.data_ptr<at::BFloat16>();
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      if (ctx->saved_data["float_input"].toBool()) {
        grad_x = at::empty({M, K}, x_bf16.options().dtype(at::kFloat));  // dy W
        gemm(false, false, M, K, N, 1.0f, dy, N, w_bf16.data_ptr<at::BFloat16>(), K, 0.0f,
             grad_x.data_ptr<float>(), K);
      } else {
        grad_x = at::empty({M, K}, x_bf16.options());
        TORCH_CHECK(bf16_backward_data(grad, w_bf16, grad_x), "linear: no bf16 matmul on this CPU");
      }
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = at::empty({N, K}, x_bf16.options().dtype(at::kFloat));  // dy^T x
      gemm(true, false, N, K, M, 1.0f, dy, N, x_bf16.data_ptr<at::BFloat16>(), K, 0.0f,
           grad_weight.data_ptr<float>(), K);
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2))
      grad_bias = bf16_column_sums(grad);  // (out)
    return {grad_x, grad_weight, grad_bias, torch::Tensor()};
  }
};

}  // namespace

LinearBf16Cache::LinearBf16Cache() : state(std::make_shared<State>()) {}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias, LinearActivation activation,
                     LinearBf16Cache* cache) {
  RECORD_FUNCTION("attnlab::linear", std::vector<c10::IValue>({x}));  // named in profiles
  TORCH_CHECK(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1),
              "linear: input (..., ", weight.dim() == 2 ? weight.size(1) : -1,
              ") expected for weight ", weight.sizes(), ", got ", x.sizes());
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
              "linear: bias must be (", weight.size(0), "), got ", bias.sizes());
  const bool grad = torch::GradMode::is_enabled() &&
                    (x.requires_grad() || weight.requires_grad() ||
                     (bias.defined() && bias.requires_grad()));
  const bool float_params = weight.scalar_type() == at::kFloat &&
                            (!bias.defined() || bias.scalar_type() == at::kFloat);
  const bool cpu_nonempty = x.device().is_cpu() && weight.device().is_cpu() && x.numel() > 0;
  const bool autocast_bf16 =
      at::autocast::is_cpu_enabled() && at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = weight.size(0);

  if (cpu_nonempty && float_params && autocast_bf16 && cache &&
      (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16)) {
    const int64_t M = x.numel() / x.size(-1), K = x.size(-1), N = weight.size(0);
    const auto w = weight.contiguous();
    const auto b = bias.defined() ? bias.contiguous() : bias;
    if (!grad) {
      auto x2 = x.reshape({M, K}).to(at::kBFloat16).contiguous();  // (M, in)
      auto out = at::empty({M, N}, x2.options());                    // (M, out)
      if (cache->state->forward(x2, w, b, activation, out)) return out.view(out_sizes);
    } else if (cache->state->supports(M, K, N, b.defined(), LinearActivation::kNone)) {
      auto out = LinearBf16Function::apply(x.reshape({M, K}), w,  // (M, in) -> (M, out)
                                           b.defined() ? b : at::empty({0}, weight.options()),
                                           cache->state.get());
      return apply_activation(out.view(out_sizes), activation);  // (..., out)
    }
  }
  if (!(cpu_nonempty && float_params && x.scalar_type() == at::kFloat && !at::autocast::is_cpu_enabled()))
    return apply_activation(at::linear(x, weight, bias), activation);

  auto x2 = x.reshape({-1, x.size(-1)}).contiguous();  // (M, in), M = prod of leading dims
  const auto w = weight.contiguous();
  auto out = grad ? LinearFunction::apply(x2, w, bias.defined() ? bias : at::empty({0}, x.options()))
                  : forward_2d(x2, w, bias);
  return apply_activation(out.view(out_sizes), activation);  // (..., out)
}

}  // namespace attnlab
