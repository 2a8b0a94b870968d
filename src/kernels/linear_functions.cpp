#include "kernels/linear_functions.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <torch/autograd.h>

#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/simd.h"

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
    case LinearActivation::kRelu:
      return at::relu(y);
    case LinearActivation::kGelu:
      return at::gelu(y);
    case LinearActivation::kNone:
      break;
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

// sums[j] += dy[i][j] over rows i in [0, M), for columns j in [begin, end); dy bf16 with row
// stride ld, sums float32. The bias gradient of a bf16 linear: at::sum with a float32 dtype
// first widens all of dy into a float32 copy.
ATTNLAB_INLINE void column_sums_impl(const c10::BFloat16* dy, int64_t M, int64_t ld, int64_t begin,
                                     int64_t end, float* sums) {
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
  // The two products a bf16 linear layer runs on its weight W (N, K):
  //   kForward       y (M, N) bf16 = x (M, K) . W^T  (+ bias, activation)
  //   kBackwardData  dx (M, K)     = dy (M, N) . W   (float32 or bf16 result)
  // Each has its own primitive per row count and its own packed copy of W.
  enum class Product { kForward, kBackwardData };

  struct Primitive {
    Product product;
    int64_t rows;
    bool has_bias;
    LinearActivation activation;
    dt out_type;
    dnnl::matmul matmul;
    dnnl::memory::desc weights_desc;
  };
  struct Packed {
    Product product;
    dnnl::memory::desc layout;
    dnnl::memory memory;
  };

  std::mutex mutex;
  bool unsupported = false;           // this CPU has no bf16 matmul in oneDNN (no AVX-512)
  const void* weight_data = nullptr;  // the weight the packed copies were made from
  int64_t weight_version = -1;
  std::vector<Packed> packed;
  std::vector<Primitive> primitives;

  // True when oneDNN has a bf16 matmul for these sizes on this CPU (it is then kept).
  bool supports(int64_t M, int64_t K, int64_t N, bool has_bias, LinearActivation activation) {
    std::lock_guard<std::mutex> lock(mutex);
    return primitive(Product::kForward, M, K, N, has_bias, activation, dt::bf16) != nullptr;
  }

  // out (M, N) bf16 = act(x2 (M, K) bf16 . weight^T + bias). False, with nothing done, when
  // oneDNN has no bf16 matmul for this CPU (the caller falls back to autocast's linear).
  bool forward(const torch::Tensor& x2, const torch::Tensor& weight, const torch::Tensor& bias,
               LinearActivation activation, torch::Tensor& out) {
    std::lock_guard<std::mutex> lock(mutex);
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    const Primitive* p =
        primitive(Product::kForward, M, K, N, bias.defined(), activation, dt::bf16);
    if (!p) return false;
    auto& engine = cpu_engine();
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory({{M, K}, dt::bf16, tag::ab}, engine, x2.data_ptr())},
        {DNNL_ARG_WEIGHTS, packed_weight(*p, weight)},
        {DNNL_ARG_DST, dnnl::memory({{M, N}, dt::bf16, tag::ab}, engine, out.data_ptr())}};
    if (bias.defined())
      args.emplace(DNNL_ARG_BIAS,
                   dnnl::memory({{1, N}, dt::f32, tag::ab}, engine, bias.data_ptr()));
    execute(p->matmul, std::move(args));
    return true;
  }

  // grad_x (M, K) = grad (M, N) bf16 . weight (N, K), grad_x float32 or bf16 (allocated by
  // the caller). False when oneDNN has no bf16 matmul for this CPU.
  bool backward_data(const torch::Tensor& grad, const torch::Tensor& weight,
                     torch::Tensor& grad_x) {
    std::lock_guard<std::mutex> lock(mutex);
    const int64_t M = grad.size(0), N = grad.size(1), K = weight.size(1);
    const dt out_type = grad_x.scalar_type() == at::kFloat ? dt::f32 : dt::bf16;
    const Primitive* p =
        primitive(Product::kBackwardData, M, K, N, false, LinearActivation::kNone, out_type);
    if (!p) return false;
    auto& engine = cpu_engine();
    execute(p->matmul,
            {{DNNL_ARG_SRC, dnnl::memory({{M, N}, dt::bf16, tag::ab}, engine, grad.data_ptr())},
             {DNNL_ARG_WEIGHTS, packed_weight(*p, weight)},
             {DNNL_ARG_DST, dnnl::memory({{M, K}, out_type, tag::ab}, engine, grad_x.data_ptr())}});
    return true;
  }

 private:
  // Called with the mutex held. Null when oneDNN cannot make it (no bf16 on this CPU).
  const Primitive* primitive(Product product, int64_t M, int64_t K, int64_t N, bool has_bias,
                             LinearActivation activation, dt out_type) {
    if (unsupported) return nullptr;
    for (const auto& p : primitives)
      if (p.product == product && p.rows == M && p.has_bias == has_bias &&
          p.activation == activation && p.out_type == out_type)
        return &p;
    const bool forward = product == Product::kForward;
    const int64_t in = forward ? K : N, out = forward ? N : K;
    dnnl::memory::desc src_md({M, in}, dt::bf16, tag::ab);
    dnnl::memory::desc weights_md({in, out}, dt::bf16, tag::any);  // oneDNN picks the layout
    dnnl::memory::desc bias_md =
        has_bias ? dnnl::memory::desc({1, out}, dt::f32, tag::ab) : dnnl::memory::desc();
    dnnl::memory::desc dst_md({M, out}, out_type, tag::ab);
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
    primitives.push_back(
        {product, M, has_bias, activation, out_type, dnnl::matmul(pd), pd.weights_desc()});
    return &primitives.back();
  }

  // The weight (N, K) float32 rounded to bf16 in the layout `p` wants: made once per weight
  // version, forgotten when the weight is another tensor or changed in place. Called with
  // the mutex held.
  const dnnl::memory& packed_weight(const Primitive& p, const torch::Tensor& weight) {
    if (weight.data_ptr() != weight_data || weight._version() != weight_version) {
      packed.clear();  // the primitives stay valid: they depend on shapes only
      weight_data = weight.data_ptr();
      weight_version = weight._version();
    }
    for (const auto& entry : packed)
      if (entry.product == p.product && entry.layout == p.weights_desc) return entry.memory;
    auto& engine = cpu_engine();
    const int64_t N = weight.size(0), K = weight.size(1);
    // The forward multiplies by W^T (K, N): W (N, K) row-major read column-major (tag ba).
    // The backward multiplies by W (N, K) itself (tag ab).
    dnnl::memory source = p.product == Product::kForward
                              ? dnnl::memory({{K, N}, dt::f32, tag::ba}, engine, weight.data_ptr())
                              : dnnl::memory({{N, K}, dt::f32, tag::ab}, engine, weight.data_ptr());
    dnnl::memory target(p.weights_desc, engine);
    dnnl::stream stream(engine);
    dnnl::reorder(source, target).execute(stream, source, target);
    stream.wait();
    packed.push_back({p.product, p.weights_desc, target});
    return packed.back().memory;
  }
};

// Keeps a cache's state alive in an autograd context (saved_data holds IValues).
struct StateCapsule : torch::CustomClassHolder {
  explicit StateCapsule(std::shared_ptr<LinearBf16Cache::State> s) : state(std::move(s)) {}
  std::shared_ptr<LinearBf16Cache::State> state;
};

namespace {

// Training under bf16 autocast: y (M, N) bf16 = x2 W^T + b with the forward on the cached
// packed bf16 weight, and a backward that computes
//   dx = dy W   a oneDNN matmul on a second packed bf16 copy of W; float32 straight from
//               the accumulator when x came in as float32 (no bf16 rounding, no cast), bf16
//               when x came in as bf16;
//   dW = dy^T x bf16 operands, float32 result written by the GEMM: the float32 master
//               weight's gradient, without autocast's bf16 gradient and cast back;
//   db = sum(dy) over the rows, accumulated in float32.
struct LinearBf16Function : public torch::autograd::Function<LinearBf16Function> {
  // x2: (M, in) float32 or bf16; weight (out, in) and bias (out) float32, bias an empty
  // tensor for none; cache: the module's copies of this weight.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const std::shared_ptr<LinearBf16Cache::State>& cache) {
    const bool has_bias = bias.numel() > 0;
    auto x_bf16 = x2.to(at::kBFloat16).contiguous();                       // (M, in)
    auto out = at::empty({x2.size(0), weight.size(0)}, x_bf16.options());  // (M, out)
    TORCH_CHECK(cache->forward(x_bf16, weight, has_bias ? bias : torch::Tensor(),
                               LinearActivation::kNone, out),
                "linear: no bf16 matmul on this CPU");  // checked by the caller beforehand
    // The weight itself is saved: autograd then refuses a backward after an in-place change.
    ctx->save_for_backward({x_bf16, weight});
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["float_input"] = x2.scalar_type() == at::kFloat;
    ctx->saved_data["cache"] = at::IValue::make_capsule(c10::make_intrusive<StateCapsule>(cache));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x_bf16 = saved[0];                              // (M, in)
    const auto& weight = saved[1];                              // (out, in) float32
    const auto grad = grads[0].to(at::kBFloat16).contiguous();  // (M, out)
    const int64_t M = x_bf16.size(0), K = x_bf16.size(1), N = weight.size(0);
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      const bool float_input = ctx->saved_data["float_input"].toBool();
      grad_x = at::empty({M, K}, x_bf16.options().dtype(float_input ? at::kFloat : at::kBFloat16));
      auto capsule = ctx->saved_data["cache"].toCapsule();
      auto& cache = *static_cast<StateCapsule*>(capsule.get())->state;
      TORCH_CHECK(cache.backward_data(grad, weight, grad_x), "linear: no bf16 matmul on this CPU");
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = at::empty({N, K}, weight.options());  // dy^T x: (out, M) x (M, in)
      gemm(true, false, N, K, M, 1.0f, grad.data_ptr<at::BFloat16>(), N,
           x_bf16.data_ptr<at::BFloat16>(), K, 0.0f, grad_weight.data_ptr<float>(), K);
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2))
      grad_bias = bf16_column_sums(grad);  // (out)
    return {grad_x, grad_weight, grad_bias, torch::Tensor()};
  }
};

}  // namespace

LinearBf16Cache::LinearBf16Cache() : state(std::make_shared<State>()) {}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     LinearActivation activation, LinearBf16Cache* cache) {
  RECORD_FUNCTION("attnlab::linear", std::vector<c10::IValue>({x}));  // named in profiles
  TORCH_CHECK(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1),
              "linear: input (..., ", weight.dim() == 2 ? weight.size(1) : -1,
              ") expected for weight ", weight.sizes(), ", got ", x.sizes());
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
              "linear: bias must be (", weight.size(0), "), got ", bias.sizes());
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() ||
                                                      (bias.defined() && bias.requires_grad()));
  const bool float_params =
      weight.scalar_type() == at::kFloat && (!bias.defined() || bias.scalar_type() == at::kFloat);
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
      auto out = at::empty({M, N}, x2.options());                  // (M, out)
      if (cache->state->forward(x2, w, b, activation, out)) return out.view(out_sizes);
    } else if (cache->state->supports(M, K, N, b.defined(), LinearActivation::kNone)) {
      auto out = LinearBf16Function::apply(x.reshape({M, K}), w,  // (M, in) -> (M, out)
                                           b.defined() ? b : at::empty({0}, weight.options()),
                                           cache->state);
      return apply_activation(out.view(out_sizes), activation);  // (..., out)
    }
  }
  if (!(cpu_nonempty && float_params && x.scalar_type() == at::kFloat &&
        !at::autocast::is_cpu_enabled()))
    return apply_activation(at::linear(x, weight, bias), activation);

  auto x2 = x.reshape({-1, x.size(-1)}).contiguous();  // (M, in), M = prod of leading dims
  const auto w = weight.contiguous();
  auto out = grad
                 ? LinearFunction::apply(x2, w, bias.defined() ? bias : at::empty({0}, x.options()))
                 : forward_2d(x2, w, bias);
  return apply_activation(out.view(out_sizes), activation);  // (..., out)
}

}  // namespace attnlab
