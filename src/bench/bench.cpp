#include "bench/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "bench/op_profile.h"
#include "model/gemm.h"
#include "model/encoder_model.h"
#include "train/json.h"
#include "train/optimizer.h"
#include "train/train_step.h"
#include "train/runtime.h"

namespace attnlab {
namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

void apply_size_preset(const std::string& size, BenchOptions& o) {
  if (size == "small") {
    o.vocab = 64, o.seq_len = 32, o.batch = 64, o.d_model = 128, o.num_heads = 4,
    o.num_layers = 4, o.d_ff = 512;
  } else if (size == "medium") {
    o.vocab = 1000, o.seq_len = 128, o.batch = 32, o.d_model = 512, o.num_heads = 8,
    o.num_layers = 6, o.d_ff = 2048;
  } else if (size != "custom") {
    throw std::invalid_argument("unknown size '" + size + "' (expected small, medium or custom)");
  }
  o.size = size;
}

double train_flops_per_token(int64_t n, int64_t layers, int64_t seq_len, int64_t d_model) {
  return 6.0 * static_cast<double>(n) +
         12.0 * static_cast<double>(layers) * static_cast<double>(seq_len) * static_cast<double>(d_model);
}

double eval_flops_per_token(int64_t n, int64_t layers, int64_t seq_len, int64_t d_model) {
  return 2.0 * static_cast<double>(n) +
         4.0 * static_cast<double>(layers) * static_cast<double>(seq_len) * static_cast<double>(d_model);
}

// The GEMMs the model runs: float32 through attnlab::linear's oneDNN sgemm (model/gemm.h),
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
    if (auto* linear = module->as<torch::nn::LinearImpl>()) r.matmul_parameters += linear->weight.numel();

  AdamWOptions adamw;
  adamw.lr = 1e-3;
  FlatAdamW optimizer(*model, adamw);
  StepOptions step;
  step.precision = o.precision;
  step.grad_clip = 1.0;

  // Synthetic batches: ids in [1, V) so nothing is padding; a few distinct batches cycled.
  std::vector<at::Tensor> sources, targets;
  for (int i = 0; i < 4; ++i) {
    sources.push_back(at::randint(1, o.vocab, {o.batch, o.seq_len}, at::kLong));
    targets.push_back(at::randint(1, o.vocab, {o.batch, o.seq_len}, at::kLong));
  }
  model->train();
  std::vector<double> step_times;
  for (int64_t i = 0; i < o.warmup_steps + o.steps; ++i) {
    const double t0 = now_s();
    const auto out = train_step(model, optimizer, sources[i % 4], targets[i % 4], 1e-3, step);
    if (i >= o.warmup_steps) step_times.push_back(now_s() - t0);
    r.final_loss = out.loss;
  }
  const double tokens = static_cast<double>(o.batch * o.seq_len);
  r.step_ms = median(step_times) * 1e3;
  r.train_tokens_per_s = tokens / median(step_times);
  if (o.profile_steps > 0) {
    const auto rows = profile_ops([&] {
      for (int64_t i = 0; i < o.profile_steps; ++i)
        train_step(model, optimizer, sources[i % 4], targets[i % 4], 1e-3, step);
    });
    r.train_profile = format_op_profile(rows, 30);
  }

  model->eval();
  std::vector<double> eval_times;
  {
    torch::NoGradGuard no_grad;
    auto forward = [&](int64_t i) {
      AutocastGuard autocast(o.precision);
      auto logits = model->forward(sources[i % 4]).logits;
    };
    const int64_t eval_steps = o.eval_steps > 0 ? o.eval_steps : o.steps;
    for (int64_t i = 0; i < std::max<int64_t>(1, o.warmup_steps) + eval_steps; ++i) {
      const double t0 = now_s();
      forward(i);
      if (i >= std::max<int64_t>(1, o.warmup_steps)) eval_times.push_back(now_s() - t0);
    }
    if (o.profile_steps > 0) {
      const auto rows = profile_ops([&] {
        for (int64_t i = 0; i < o.profile_steps; ++i) forward(i);
      });
      r.eval_profile = format_op_profile(rows, 20);
    }
  }
  r.eval_tokens_per_s = tokens / median(eval_times);
  r.peak_rss_mb = peak_rss_mb();  // before the GEMM probe allocates anything

  r.train_gflops = r.train_tokens_per_s *
                   train_flops_per_token(r.matmul_parameters, o.num_layers, o.seq_len, o.d_model) / 1e9;
  r.eval_gflops = r.eval_tokens_per_s *
                  eval_flops_per_token(r.matmul_parameters, o.num_layers, o.seq_len, o.d_model) / 1e9;
  r.fp32_peak_gflops = measure_gemm_gflops(1024, /*bf16=*/false);
  r.bf16_peak_gflops = measure_gemm_gflops(1024, /*bf16=*/true);
  r.mfu = r.train_gflops /
          (o.precision == Precision::kBf16 ? r.bf16_peak_gflops : r.fp32_peak_gflops);
  return r;
}

std::string BenchResult::to_json(const BenchOptions& o) const {
  return JsonWriter()
      .field("impl", "attnlab")
      .field("size", o.size)
      .field("precision", o.precision == Precision::kBf16 ? "bf16" : "fp32")
      .field("threads", threads)
      .field("vocab", o.vocab).field("seq", o.seq_len).field("batch", o.batch)
      .field("d_model", o.d_model).field("heads", o.num_heads).field("layers", o.num_layers)
      .field("d_ff", o.d_ff)
      .field("parameters", parameters).field("matmul_parameters", matmul_parameters)
      .field("steps", o.steps)
      .field("step_ms", step_ms)
      .field("train_tokens_per_s", train_tokens_per_s)
      .field("eval_tokens_per_s", eval_tokens_per_s)
      .field("train_gflops", train_gflops).field("eval_gflops", eval_gflops)
      .field("fp32_peak_gflops", fp32_peak_gflops).field("bf16_peak_gflops", bf16_peak_gflops)
      .field("mfu", mfu)
      .field("peak_rss_mb", peak_rss_mb)
      .field("final_loss", final_loss)
      .str();
}

}  // namespace attnlab
