#include "bench/bench.h"

#include <ATen/ATen.h>
#include <sys/resource.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <vector>

#include "bench/op_profile.h"
#include "io/json.h"
#include "kernels/dropout.h"
#include "kernels/fused_attention.h"
#include "kernels/gelu_dropout.h"
#include "kernels/gemm.h"
#include "kernels/linear_functions.h"
#include "model/attention.h"
#include "model/encoder_model.h"
#include "model/linear.h"
#include "runtime/clock.h"
#include "runtime/cpu.h"
#include "runtime/process_group.h"
#include "runtime/threads.h"
#include "tasks/registry.h"
#include "train/optimizer.h"
#include "train/train_step.h"

namespace attnlab {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Untimed calls of f for at least a quarter of a second: a kernel's first calls in a process run
// slower than its steady state for longer than one untimed call covers (docs/benchmark.md).
template <typename F>
void warm_up(F&& f) {
  for (const double start = now_s(); now_s() - start < 0.25;) f();
}

// Median milliseconds of `repeats` calls of f, after warm_up(f).
template <typename F>
double median_ms(int64_t repeats, F&& f) {
  warm_up(f);
  std::vector<double> times;
  for (int64_t i = 0; i < repeats; ++i) {
    const double t0 = now_s();
    f();
    times.push_back(now_s() - t0);
  }
  return median(times) * 1e3;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

void apply_size_preset(const std::string& size, BenchOptions& o) {
  if (size == "small") {
    o.vocab = 64, o.seq_len = 32, o.batch = 64, o.d_model = 128, o.num_heads = 4, o.num_layers = 4,
    o.d_ff = 512;
  } else if (size == "medium") {
    o.vocab = 1000, o.seq_len = 128, o.batch = 32, o.d_model = 512, o.num_heads = 8,
    o.num_layers = 6, o.d_ff = 2048;
  } else if (size != "custom") {
    throw std::invalid_argument("unknown size '" + size + "' (expected small, medium or custom)");
  }
  o.size = size;
}

double train_flops_per_token(int64_t n, int64_t layers, int64_t seq_len, int64_t d_model) {
  return 6.0 * static_cast<double>(n) + 12.0 * static_cast<double>(layers) *
                                            static_cast<double>(seq_len) *
                                            static_cast<double>(d_model);
}

double eval_flops_per_token(int64_t n, int64_t layers, int64_t seq_len, int64_t d_model) {
  return 2.0 * static_cast<double>(n) + 4.0 * static_cast<double>(layers) *
                                            static_cast<double>(seq_len) *
                                            static_cast<double>(d_model);
}

// The GEMMs the model runs: float32 through attnlab::linear's oneDNN sgemm (kernels/gemm.h),
// bfloat16 through LibTorch's mm (oneDNN's bf16 matmul, what autocast's linear calls).
double measure_gemm_gflops(int64_t n, bool bf16) {
  torch::NoGradGuard no_grad;
  const auto dtype = bf16 ? at::kBFloat16 : at::kFloat;
  auto a = at::randn({n, n}).to(dtype), b = at::randn({n, n}).to(dtype);
  auto c = at::empty({n, n}, dtype);
  auto multiply = [&] {
    if (bf16) {
      at::mm_out(c, a, b);
    } else {
      gemm(false, false, n, n, n, 1.0f, a.data_ptr<float>(), n, b.data_ptr<float>(), n, 0.0f,
           c.data_ptr<float>(), n);
    }
  };
  for (int i = 0; i < 2; ++i) multiply();  // warm up
  std::vector<double> times;
  for (int i = 0; i < 5; ++i) {
    const double t0 = now_s();
    multiply();
    times.push_back(now_s() - t0);
  }
  return 2.0 * static_cast<double>(n * n * n) / median(times) / 1e9;
}

BenchResult run_benchmark(const BenchOptions& o) {
  if (o.steps <= 0 || o.warmup_steps < 0 || o.batch <= 0 || o.seq_len <= 0 || o.vocab < 2)
    throw std::invalid_argument("bench: steps, batch, seq and vocab must be positive");
  BenchResult r;
  r.threads = configure_threads(o.threads);
  torch::manual_seed(o.seed);
  // Data parallel: every rank draws the same global batches and trains on its rows of them.
  const bool distributed = o.group != nullptr && o.group->world_size() > 1;
  r.world_size = distributed ? o.group->world_size() : 1;
  const int64_t rank = distributed ? o.group->rank() : 0;
  if (o.batch % r.world_size != 0)
    throw std::invalid_argument(
        "bench: --batch " + std::to_string(o.batch) +
        " (the global batch) is not divisible by WORLD_SIZE=" + std::to_string(r.world_size));
  const int64_t share = o.batch / r.world_size;

  ModelOptions m;
  m.embedding.vocab_size = o.vocab;
  m.embedding.d_model = o.d_model;
  m.embedding.max_len = o.seq_len;
  m.embedding.dropout = o.dropout;
  m.encoder.num_layers = o.num_layers;
  m.encoder.layer.d_model = o.d_model;
  m.encoder.layer.num_heads = o.num_heads;
  m.encoder.layer.d_ff = o.d_ff;
  m.encoder.layer.dropout = o.dropout;
  m.encoder.layer.activation = Activation::kGelu;
  m.encoder.layer.norm_first = true;
  m.task = TaskKind::kTransduction;
  m.num_outputs = o.vocab;
  EncoderModel model(m);
  r.parameters = count_parameters(*model);
  for (const auto& module : model->modules(/*include_self=*/false))
    if (auto* linear = module->as<LinearImpl>()) r.matmul_parameters += linear->weight.numel();

  AdamWOptions adamw;
  adamw.lr = 1e-3;
  FlatAdamW optimizer(*model, adamw);
  const auto objective = make_objective(TaskSpec{});  // per-token labels, as m.task says
  StepOptions step;
  step.objective = objective.get();
  step.precision = o.precision;
  step.grad_clip = 1.0;
  step.group = o.group;

  // Synthetic batches: ids in [1, V) so nothing is padding; a few distinct batches cycled.
  std::vector<at::Tensor> sources, targets;
  for (int i = 0; i < 4; ++i) {
    // (B, T), then this rank's rows: (B / world, T)
    sources.push_back(at::randint(1, o.vocab, {o.batch, o.seq_len}, at::kLong)
                          .narrow(0, rank * share, share)
                          .contiguous());
    targets.push_back(at::randint(1, o.vocab, {o.batch, o.seq_len}, at::kLong)
                          .narrow(0, rank * share, share)
                          .contiguous());
  }
  const int64_t units = share * o.seq_len;  // no padding: every target token counts
  model->train();
  // The one rule of every side (docs/benchmark.md, "What is measured"): warm-up steps untimed,
  // then tokens of the timed steps / wall time from the first timed step's start to the last's
  // end. Per-step times are kept for the median printed beside it, never for the ratio.
  std::vector<double> step_times, allreduce_times;
  double timed_start = 0.0;
  for (int64_t i = 0; i < o.warmup_steps + o.steps; ++i) {
    if (i == o.warmup_steps) timed_start = now_s();
    const double t0 = now_s();
    const auto out =
        train_step(model, optimizer, sources[i % 4], targets[i % 4], 1e-3, step, units);
    if (i >= o.warmup_steps) {
      step_times.push_back(now_s() - t0);
      allreduce_times.push_back(out.allreduce_s);
    }
    r.final_loss = out.loss;
  }
  const double train_s = now_s() - timed_start;
  const double tokens = static_cast<double>(o.batch * o.seq_len);
  r.train_seconds = train_s;
  r.step_ms = train_s / static_cast<double>(o.steps) * 1e3;
  r.step_ms_median = median(step_times) * 1e3;
  r.train_tokens_per_s = tokens * static_cast<double>(o.steps) / train_s;
  if (distributed) {
    r.gradient_bytes = static_cast<int64_t>(optimizer.flat_grads().nbytes());
    double allreduce_s = 0.0;
    for (const double t : allreduce_times) allreduce_s += t;
    r.allreduce_ms = allreduce_s / static_cast<double>(o.steps) * 1e3;
    r.allreduce_share = allreduce_s / train_s;
    r.allreduce_gb_per_s = static_cast<double>(r.gradient_bytes) / (r.allreduce_ms * 1e-3) / 1e9;
  }
  if (o.profile_steps > 0) {
    const auto rows = profile_ops([&] {
      for (int64_t i = 0; i < o.profile_steps; ++i)
        train_step(model, optimizer, sources[i % 4], targets[i % 4], 1e-3, step, units);
    });
    r.train_profile = format_op_profile(rows, 30);
  }

  model->eval();
  const int64_t eval_steps = o.eval_steps > 0 ? o.eval_steps : o.steps;
  double eval_s = 0.0;
  {
    torch::NoGradGuard no_grad;
    auto forward = [&](int64_t i) {
      AutocastGuard autocast(o.precision);
      auto logits = model->forward(sources[i % 4]).logits;
    };
    // The same rule: as many untimed passes as warm-up steps (at least one), then the timed ones.
    const int64_t eval_warmup = std::max<int64_t>(1, o.warmup_steps);
    for (int64_t i = 0; i < eval_warmup; ++i) forward(i);
    const double eval_start = now_s();
    for (int64_t i = 0; i < eval_steps; ++i) forward(eval_warmup + i);
    eval_s = now_s() - eval_start;
    if (o.profile_steps > 0) {
      const auto rows = profile_ops([&] {
        for (int64_t i = 0; i < o.profile_steps; ++i) forward(i);
      });
      r.eval_profile = format_op_profile(rows, 20);
    }
  }
  r.eval_steps = eval_steps;
  r.eval_tokens_per_s = tokens * static_cast<double>(eval_steps) / eval_s;
  r.peak_rss_mb = peak_rss_mb();  // before the GEMM probe allocates anything

  r.train_gflops = r.train_tokens_per_s *
                   train_flops_per_token(r.matmul_parameters, o.num_layers, o.seq_len, o.d_model) /
                   1e9;
  r.eval_gflops = r.eval_tokens_per_s *
                  eval_flops_per_token(r.matmul_parameters, o.num_layers, o.seq_len, o.d_model) /
                  1e9;
  r.fp32_peak_gflops = measure_gemm_gflops(1024, /*bf16=*/false);
  r.bf16_peak_gflops = measure_gemm_gflops(1024, /*bf16=*/true);
  // Each rank measured its own peak (all at once, as they train): the group's is world times it.
  r.mfu = r.train_gflops / static_cast<double>(r.world_size) /
          (o.precision == Precision::kBf16 ? r.bf16_peak_gflops : r.fp32_peak_gflops);
  return r;
}

KernelBenchResult run_kernel_benchmarks(const KernelBenchOptions& o) {
  if (o.rows <= 0 || o.d_model <= 0 || o.d_ff <= 0 || o.batch <= 0 || o.seq_len <= 0 ||
      o.num_heads <= 0 || o.d_model % o.num_heads != 0 || o.repeats <= 0)
    throw std::invalid_argument("bench --kernels: sizes must be positive, heads must divide d");
  KernelBenchResult result;
  result.threads = configure_threads(o.threads);
  torch::manual_seed(5);
  torch::NoGradGuard no_grad;
  const std::string mk = std::to_string(o.rows) + " x " + std::to_string(o.d_model);
  auto add = [&](std::string what, std::string baseline, double base_ms, double ours_ms,
                 double diff) {
    result.rows.push_back({std::move(what), std::move(baseline), base_ms, ours_ms, diff});
  };

  {  // float32 GEMM: (M, K) x (K, 3K), the fused QKV projection's shape
    const int64_t M = o.rows, K = o.d_model, N = 3 * o.d_model;
    auto a = at::randn({M, K}), b = at::randn({K, N});
    auto ref = at::empty({M, N}), ours = at::empty({M, N});
    const double base = median_ms(o.repeats, [&] { at::mm_out(ref, a, b); });
    const double mine = median_ms(o.repeats, [&] {
      gemm(false, false, M, N, K, 1.0f, a.data_ptr<float>(), K, b.data_ptr<float>(), N, 0.0f,
           ours.data_ptr<float>(), N);
    });
    add("fp32 GEMM " + mk + " . " + std::to_string(K) + " x " + std::to_string(N),
        "at::mm (libblas.so.3)", base, mine, max_abs_diff(ref, ours));
  }
  {  // attention core, float32, no mask: the ATen composition vs the fused kernel
    const int64_t B = o.batch, T = o.seq_len, C = o.d_model, H = o.num_heads, D = C / H;
    auto qkv = at::randn({B, T, 3 * C}).requires_grad_();
    auto upstream = at::randn({B, T, C});
    auto composed = [&] {
      // Heads split into contiguous (B, H, T, D) tensors, as PyTorch's multi-head attention
      // does (a strided k makes LibTorch's batched matmul several times slower still).
      auto heads =
          qkv.view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4}).contiguous();  // (3, B, H, T, D)
      auto out = scaled_dot_product_attention(heads[0], heads[1], heads[2], {}, 0.0, false, false)
                     .output;                         // (B, H, T, D)
      return out.transpose(1, 2).reshape({B, T, C});  // (B, T, C)
    };
    auto fused = [&] { return fused_self_attention(qkv, H, {}, 0.0, false, false).output; };
    torch::AutoGradMode grad(true);
    at::Tensor ref_out, our_out;
    const double fwd_base = median_ms(o.repeats, [&] { ref_out = composed(); });
    const double fwd_ours = median_ms(o.repeats, [&] { our_out = fused(); });
    const std::string shape = "B " + std::to_string(B) + ", T " + std::to_string(T) + ", " +
                              std::to_string(H) + " heads of " + std::to_string(D);
    add("attention forward (" + shape + ")", "matmul/softmax composition", fwd_base, fwd_ours,
        max_abs_diff(ref_out, our_out));
    at::Tensor ref_grad, our_grad;
    auto backward = [&](const std::function<at::Tensor()>& f, at::Tensor& grad_out) {
      auto out = f();
      const double t0 = now_s();
      grad_out = torch::autograd::grad({out}, {qkv}, {upstream})[0];
      return now_s() - t0;
    };
    warm_up([&] { backward(composed, ref_grad), backward(fused, our_grad); });
    std::vector<double> base_times, our_times;
    for (int64_t i = 0; i < o.repeats; ++i) {
      base_times.push_back(backward(composed, ref_grad));
      our_times.push_back(backward(fused, our_grad));
    }
    add("attention backward (" + shape + ")", "autograd of the composition",
        median(base_times) * 1e3, median(our_times) * 1e3, max_abs_diff(ref_grad, our_grad));
  }
  {  // dropout on the feed-forward activation; the same keep rate, different masks
    auto x = at::randn({o.rows, o.d_ff});
    at::Tensor ref, ours;
    const double base = median_ms(o.repeats, [&] { ref = torch::dropout(x, 0.1, true); });
    const double mine = median_ms(o.repeats, [&] { ours = attnlab::dropout(x, 0.1, true); });
    // Not the same mask: compare the fraction of zeros instead (both ~0.1).
    const double zeros_ref = (ref == 0).to(at::kDouble).mean().item<double>();
    const double zeros_ours = (ours == 0).to(at::kDouble).mean().item<double>();
    add("dropout p=0.1 on " + std::to_string(o.rows) + " x " + std::to_string(o.d_ff),
        "torch::dropout", base, mine, std::abs(zeros_ref - zeros_ours));
  }
  {  // the feed-forward hidden activation while training, bf16: GELU + dropout, both ways
    auto h = (at::randn({o.rows, o.d_ff}) * 2).to(at::kBFloat16).requires_grad_();
    auto upstream = at::randn({o.rows, o.d_ff}).to(at::kBFloat16);
    torch::AutoGradMode grad(true);
    auto both_ways = [&](auto&& f, at::Tensor& grad_out) {
      auto out = f();
      grad_out = torch::autograd::grad({out}, {h}, {upstream})[0];
    };
    at::Tensor ref, ours;
    const double base = median_ms(o.repeats, [&] {
      both_ways([&] { return attnlab::dropout_with_seed(at::gelu(h), 0.1, 42); }, ref);
    });
    const double mine = median_ms(
        o.repeats, [&] { both_ways([&] { return gelu_dropout_with_seed(h, 0.1, 42); }, ours); });
    add("bf16 GELU + dropout p=0.1 on " + std::to_string(o.rows) + " x " + std::to_string(o.d_ff) +
            ", forward + backward",
        "at::gelu + dropout, at::gelu_backward", base, mine, max_abs_diff(ref, ours));
  }
  {  // bf16 inference of linear1 + GELU: autocast vs the cached oneDNN primitive
    auto x = at::randn({o.rows, o.d_model});
    auto w = at::randn({o.d_ff, o.d_model}) * 0.05, b = at::randn({o.d_ff});
    LinearBf16Cache cache;
    AutocastGuard autocast(Precision::kBf16);
    at::Tensor ref, ours;
    const double base = median_ms(o.repeats, [&] { ref = at::gelu(at::linear(x, w, b)); });
    const double mine = median_ms(
        o.repeats, [&] { ours = attnlab::linear(x, w, b, LinearActivation::kGelu, &cache); });
    add("bf16 inference linear + GELU " + mk + " -> " + std::to_string(o.d_ff),
        "autocast at::linear + at::gelu", base, mine, max_abs_diff(ref, ours));
  }
  {  // bf16 training of linear1, forward + backward, with the weight changed before each call
    auto x = at::randn({o.rows, o.d_model}).requires_grad_();
    auto w = (at::randn({o.d_ff, o.d_model}) * 0.05).requires_grad_();
    auto b = at::randn({o.d_ff}).requires_grad_();
    auto upstream = at::randn({o.rows, o.d_ff}).to(at::kBFloat16);
    LinearBf16Cache cache;
    torch::AutoGradMode grad(true);
    AutocastGuard autocast(Precision::kBf16);
    auto step = [&](auto&& forward) {
      x.mutable_grad() = at::Tensor();
      w.mutable_grad() = at::Tensor();
      b.mutable_grad() = at::Tensor();
      {
        at::NoGradGuard no_grad;
        w.mul_(1.0);  // a new weight version, as after an optimizer step: copies are remade
      }
      forward().backward(upstream);
    };
    const double base = median_ms(o.repeats, [&] { step([&] { return at::linear(x, w, b); }); });
    const auto ref_grad = w.grad().clone();
    const double mine = median_ms(o.repeats, [&] {
      step([&] { return attnlab::linear(x, w, b, LinearActivation::kNone, &cache); });
    });
    add("bf16 training linear " + mk + " -> " + std::to_string(o.d_ff) + ", forward + backward",
        "autocast at::linear", base, mine, max_abs_diff(ref_grad, w.grad()));
  }
  return result;
}

std::string gemm_used(Precision precision) {
  if (precision == Precision::kFp32) return "oneDNN sgemm (fp32)";
  return cpu_info().native_bf16 ? "oneDNN bf16 matmul (native bf16 instructions)"
                                : "oneDNN bf16 matmul (emulated: no native bf16 on this CPU)";
}

std::string BenchResult::to_json(const BenchOptions& o) const {
  return JsonWriter()
      .field("impl", "attnlab")
      .field("size", o.size)
      .field("precision", name_of(o.precision))
      .field("threads", threads)
      .field("cpu", cpu_info().model)
      .field("onednn_isa", cpu_info().onednn_isa)
      .field("native_bf16", cpu_info().native_bf16)
      .field("gemm_fp32", gemm_used(Precision::kFp32))
      .field("gemm_bf16", gemm_used(Precision::kBf16))
      .field("vocab", o.vocab)
      .field("seq", o.seq_len)
      .field("batch", o.batch)
      .field("d_model", o.d_model)
      .field("heads", o.num_heads)
      .field("layers", o.num_layers)
      .field("d_ff", o.d_ff)
      .field("parameters", parameters)
      .field("matmul_parameters", matmul_parameters)
      .field("warmup_steps", o.warmup_steps)
      .field("steps", o.steps)
      .field("eval_steps", eval_steps)
      .field("train_seconds", train_seconds)
      .field("step_ms", step_ms)
      .field("step_ms_median", step_ms_median)
      .field("train_tokens_per_s", train_tokens_per_s)
      .field("eval_tokens_per_s", eval_tokens_per_s)
      .field("train_gflops_per_s", train_gflops)
      .field("eval_gflops_per_s", eval_gflops)
      .field("fp32_peak_gflops", fp32_peak_gflops)
      .field("bf16_peak_gflops", bf16_peak_gflops)
      .field("mfu", mfu)
      .field("peak_rss_mb", peak_rss_mb)
      .field("final_loss", final_loss)
      .field("world_size", world_size)
      .field("gradient_bytes", gradient_bytes)
      .field("allreduce_ms", allreduce_ms)
      .field("allreduce_share", allreduce_share)
      .field("allreduce_gb_per_s", allreduce_gb_per_s)
      .str();
}

}  // namespace attnlab
