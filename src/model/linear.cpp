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

namespace attnlab {
namespace {

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

}  // namespace

struct LinearInferenceCache::State {
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;

  struct Primitive {
    int64_t rows;
    LinearActivation activation;
    bool has_bias;
    dnnl::matmul matmul;
    dnnl::memory::desc weights_desc;
  };

  std::mutex mutex;
  bool unsupported = false;           // this CPU has no bf16 matmul in oneDNN (no AVX-512)
  const void* weight_data = nullptr;  // the weight the entries below were made from
  int64_t weight_version = -1;
  std::vector<Primitive> primitives;
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed;  // per weight layout

  // out (M, N) bf16 = act(x2 (M, K) bf16 . weight^T + bias). False, with nothing done, when
  // oneDNN has no bf16 matmul for this CPU (the caller falls back to autocast's linear).
  bool run(const torch::Tensor& x2, const torch::Tensor& weight, const torch::Tensor& bias,
           LinearActivation activation, torch::Tensor& out) {
    std::lock_guard<std::mutex> lock(mutex);
    if (unsupported) return false;
    if (weight.data_ptr() != weight_data || weight._version() != weight_version) {
      packed.clear();  // the primitives stay valid: they depend on shapes only
      weight_data = weight.data_ptr();
      weight_version = weight._version();
    }
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    const Primitive* found = primitive(M, K, N, bias.defined(), activation);
    if (!found) return false;
    const Primitive& p = *found;
    const dnnl::memory& w = packed_weight(p.weights_desc, weight, K, N);
    auto& engine = cpu_engine();
    dnnl::memory src({{M, K}, dt::bf16, tag::ab}, engine, x2.data_ptr());
    dnnl::memory dst({{M, N}, dt::bf16, tag::ab}, engine, out.data_ptr());
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
    if (bias.defined())
      args.emplace(DNNL_ARG_BIAS,
                   dnnl::memory({{1, N}, dt::f32, tag::ab}, engine, bias.data_ptr()));
    dnnl::stream stream(engine);
    p.matmul.execute(stream, args);
    stream.wait();
    return true;
  }

  const Primitive* primitive(int64_t M, int64_t K, int64_t N, bool has_bias,
                             LinearActivation activation) {
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
    primitives.push_back({M, activation, has_bias, dnnl::matmul(pd), pd.weights_desc()});
    return &primitives.back();
  }

  // The weight (N, K) float32 rounded to bf16 in `layout`, made once per weight version.
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

LinearInferenceCache::LinearInferenceCache() : state(std::make_shared<State>()) {}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias, LinearActivation activation,
                     LinearInferenceCache* cache) {
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

  if (cpu_nonempty && float_params && autocast_bf16 && !grad && cache &&
      (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16)) {
    auto x2 = x.reshape({-1, x.size(-1)}).to(at::kBFloat16).contiguous();  // (M, in)
    auto out = at::empty({x2.size(0), weight.size(0)}, x2.options());      // (M, out)
    if (cache->state->run(x2, weight.contiguous(), bias.defined() ? bias.contiguous() : bias,
                          activation, out))
      return out.view(out_sizes);  // (..., out)
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
