// libtorch_peer: the LibTorch-built-in peer for `attnlab bench`. Trains the same encoder as
// scripts/bench_pytorch.py, but built from torch::nn::TransformerEncoder, and prints the same
// JSON keys.
//
// One difference, forced by LibTorch 1.13: its C++ TransformerEncoderLayer has neither
// norm_first nor batch_first, so the layers here are post-LN and run on (T, B, C). Sizes and
// matmul FLOPs are the same as the pre-LN model (two LayerNorms per layer either way, plus the
// final LayerNorm); the output says "norm": "post-LN (C++ built-in has no norm_first)".
// Its attention also averages the (B, T, T) weights over heads (need_weights is hard-wired to
// true in the C++ layer): a small extra cost that is part of what the built-in does.
//
// Usage: libtorch_peer [--size small|medium] [--threads N] [--precision fp32|bf16] [--json]
//        [--vocab V --seq T --batch B --d-model C --heads H --layers L --d-ff F]
//        [--warmup-steps W --steps S --eval-steps E --seed N]
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

struct BenchOptions {
  std::string size = "small";      // preset: small | medium
  int64_t vocab = 0;               // vocabulary (0: from the preset)
  int64_t seq = 0;                 // tokens per sequence T
  int64_t batch = 0;               // sequences per step B
  int64_t d_model = 0;             // width C
  int64_t heads = 0;               // attention heads H
  int64_t layers = 0;              // encoder layers L
  int64_t d_ff = 0;                // feed-forward width
  int64_t warmup_steps = -1;       // untimed training steps first
  int64_t steps = 0;               // timed training steps
  int64_t eval_steps = 0;          // timed forward-only passes (0: = steps)
  int64_t threads = 0;             // intra-op threads (0: hardware concurrency)
  int64_t seed = 0;                // RNG seed for weights and batches
  std::string precision = "fp32";  // fp32 | bf16 (CPU autocast around forward + loss)
  bool json = false;               // print one JSON object
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "libtorch_peer: %s\n", message.c_str());
  std::exit(2);
}

void apply_preset(BenchOptions& o) {
  // vocab, seq, batch, d_model, heads, layers, d_ff, warmup, steps: as in bench_pytorch.py and
  // attnlab bench (BenchPeers.SameStepsAndRuleOnEverySide checks the three agree).
  static const std::map<std::string, std::vector<int64_t>> kPresets = {
      {"small", {64, 32, 64, 128, 4, 4, 512, 5, 30}},
      {"medium", {1000, 128, 32, 512, 8, 6, 2048, 2, 8}},
  };
  auto it = kPresets.find(o.size);
  if (it == kPresets.end()) usage_error("--size must be small or medium, got '" + o.size + "'");
  const auto& p = it->second;
  auto fill = [](int64_t& field, int64_t preset, int64_t unset) {
    if (field == unset) field = preset;
  };
  fill(o.vocab, p[0], 0);
  fill(o.seq, p[1], 0);
  fill(o.batch, p[2], 0);
  fill(o.d_model, p[3], 0);
  fill(o.heads, p[4], 0);
  fill(o.layers, p[5], 0);
  fill(o.d_ff, p[6], 0);
  fill(o.warmup_steps, p[7], -1);
  fill(o.steps, p[8], 0);
  fill(o.eval_steps, o.steps, 0);
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
}

BenchOptions parse_args(int argc, char** argv) {
  BenchOptions o;
  std::map<std::string, int64_t*> ints = {
      {"--vocab", &o.vocab},     {"--seq", &o.seq},
      {"--batch", &o.batch},     {"--d-model", &o.d_model},
      {"--heads", &o.heads},     {"--layers", &o.layers},
      {"--d-ff", &o.d_ff},       {"--warmup-steps", &o.warmup_steps},
      {"--steps", &o.steps},     {"--eval-steps", &o.eval_steps},
      {"--threads", &o.threads}, {"--seed", &o.seed},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      std::printf(
          "usage: libtorch_peer [--size small|medium] [--threads N] "
          "[--precision fp32|bf16] [--json] [--vocab V] [--seq T] [--batch B] "
          "[--d-model C] [--heads H] [--layers L] [--d-ff F] [--warmup-steps W] "
          "[--steps S] [--eval-steps E] [--seed N]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error("missing value after " + arg);
    const std::string value = argv[++i];
    if (arg == "--size") {
      o.size = value;
    } else if (arg == "--precision") {
      if (value != "fp32" && value != "bf16") usage_error("--precision must be fp32 or bf16");
      o.precision = value;
    } else if (auto it = ints.find(arg); it != ints.end()) {
      char* end = nullptr;
      *it->second = std::strtoll(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0')
        usage_error(arg + " needs an integer, got " + value);
    } else {
      usage_error("unknown option " + arg);
    }
  }
  apply_preset(o);
  if (o.d_model % o.heads != 0) usage_error("--heads must divide --d-model");
  if (o.steps < 1 || o.warmup_steps < 0 || o.threads < 1) {
    usage_error("need --steps >= 1, --warmup-steps >= 0, --threads >= 1");
  }
  return o;
}

torch::Tensor sinusoidal_positions(int64_t max_len, int64_t d_model) {
  auto position = torch::arange(max_len, torch::kFloat).unsqueeze(1);  // (T, 1)
  auto div = torch::exp(torch::arange(0, d_model, 2, torch::kFloat) *
                        (-std::log(10000.0) / static_cast<double>(d_model)));  // (C/2)
  auto table = torch::zeros({max_len, d_model});                               // (T, C)
  using torch::indexing::None;
  using torch::indexing::Slice;
  table.index_put_({Slice(), Slice(0, None, 2)}, torch::sin(position * div));
  table.index_put_({Slice(), Slice(1, None, 2)},
                   torch::cos(position * div.slice(0, 0, d_model / 2)));
  return table;
}

// Token embedding * sqrt(C) + sinusoidal table, dropout, built-in encoder, final norm, head.
class PeerModelImpl : public torch::nn::Module {
 public:
  explicit PeerModelImpl(const BenchOptions& o) : scale(std::sqrt(static_cast<double>(o.d_model))) {
    token = register_module("token", torch::nn::Embedding(o.vocab, o.d_model));
    {
      torch::NoGradGuard no_grad;
      torch::nn::init::normal_(token->weight, 0.0, 1.0 / scale);
    }
    position_table = register_buffer("position_table", sinusoidal_positions(o.seq, o.d_model));
    dropout = register_module("dropout", torch::nn::Dropout(0.1));
    auto layer = torch::nn::TransformerEncoderLayer(
        torch::nn::TransformerEncoderLayerOptions(o.d_model, o.heads)
            .dim_feedforward(o.d_ff)
            .dropout(0.1)
            .activation(torch::kGELU));
    encoder = register_module("encoder", torch::nn::TransformerEncoder(
                                             torch::nn::TransformerEncoderOptions(layer, o.layers)
                                                 .norm(torch::nn::AnyModule(torch::nn::LayerNorm(
                                                     torch::nn::LayerNormOptions({o.d_model}))))));
    // The layer hands its dropout to its attention too; attnlab's attention dropout is 0.
    for (const auto& child : *encoder->layers) {
      child->as<torch::nn::TransformerEncoderLayer>()->self_attn->options.dropout(0.0);
    }
    head = register_module("head", torch::nn::Linear(o.d_model, o.vocab));
  }

  torch::Tensor forward(const torch::Tensor& tokens) {  // (T, B) int64
    const auto T = tokens.size(0);
    auto x = token(tokens) * scale + position_table.slice(0, 0, T).unsqueeze(1);  // (T, B, C)
    x = encoder(dropout(x));                                                      // (T, B, C)
    return head(x);                                                               // (T, B, V)
  }

  double scale;
  torch::nn::Embedding token{nullptr};
  torch::Tensor position_table;
  torch::nn::Dropout dropout{nullptr};
  torch::nn::TransformerEncoder encoder{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(PeerModel);

// Same switch as Python's torch.autocast("cpu", dtype=torch.bfloat16).
class CpuAutocast {
 public:
  explicit CpuAutocast(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~CpuAutocast() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
  CpuAutocast(const CpuAutocast&) = delete;
  CpuAutocast& operator=(const CpuAutocast&) = delete;

 private:
  bool enabled_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// Weights of the linear maps (no biases, norms, embeddings): N in the FLOP formula.
int64_t matmul_params(const BenchOptions& o) {
  const int64_t per_layer = 4 * o.d_model * o.d_model + 2 * o.d_model * o.d_ff;
  return o.layers * per_layer + o.d_model * o.vocab;
}

// Training: 6N + 12*L*T*C per token (forward 2N + 4LTC, backward twice the forward).
int64_t train_flops_per_token(const BenchOptions& o) {
  return 3 * (2 * matmul_params(o) + 4 * o.layers * o.seq * o.d_model);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const BenchOptions o = parse_args(argc, argv);
  at::set_num_threads(static_cast<int>(o.threads));  // LibTorch defaults to 1 thread here
  torch::manual_seed(o.seed);
  const bool bf16 = o.precision == "bf16";

  PeerModel model(o);
  torch::optim::AdamW optimizer(
      model->parameters(),
      torch::optim::AdamWOptions(1e-3).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.01));
  // A few fixed random batches, cycled: data generation stays out of the timing.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> batches;
  for (int i = 0; i < 4; ++i) {
    batches.emplace_back(torch::randint(o.vocab, {o.seq, o.batch}, torch::kLong),   // (T, B)
                         torch::randint(o.vocab, {o.seq, o.batch}, torch::kLong));  // (T, B)
  }

  auto train_step = [&](int64_t i) {
    const auto& [tokens, targets] = batches[i % batches.size()];
    torch::Tensor loss;
    {
      CpuAutocast autocast(bf16);
      auto logits = model(tokens);  // (T, B, V)
      loss = torch::nn::functional::cross_entropy(logits.reshape({-1, o.vocab}).to(torch::kFloat),
                                                  targets.reshape({-1}));  // (T*B, V) vs (T*B)
    }
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    return loss;
  };

  model->train();
  for (int64_t i = 0; i < o.warmup_steps; ++i) train_step(i);
  auto start = std::chrono::steady_clock::now();
  torch::Tensor loss;
  for (int64_t i = 0; i < o.steps; ++i) loss = train_step(i);
  const double final_loss = loss.item<double>();
  const double train_s = seconds_since(start);

  model->eval();
  double eval_s = 0.0;
  {
    torch::NoGradGuard no_grad;
    CpuAutocast autocast(bf16);
    for (int64_t i = 0; i < std::max<int64_t>(1, o.warmup_steps); ++i)  // warm-up, as attnlab's
      model(batches[static_cast<size_t>(i) % batches.size()].first);
    start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.eval_steps; ++i) model(batches[i % batches.size()].first);
    eval_s = seconds_since(start);
  }

  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const double tokens_per_step = static_cast<double>(o.batch * o.seq);
  const double train_tps = tokens_per_step * static_cast<double>(o.steps) / train_s;
  const double eval_tps = tokens_per_step * static_cast<double>(o.eval_steps) / eval_s;
  const double step_ms = 1000.0 * train_s / static_cast<double>(o.steps);
  const double peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB
  const double gflops = train_tps * static_cast<double>(train_flops_per_token(o)) / 1e9;
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");

  if (o.json) {
    std::printf(
        "{\"peer\": \"libtorch\", \"size\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
        "\"train_tokens_per_s\": %.1f, \"step_ms\": %.3f, \"eval_tokens_per_s\": %.1f, "
        "\"peak_rss_mb\": %.1f, \"train_gflops_per_s\": %.2f, \"flops_per_token_train\": %lld, "
        "\"params\": %lld, \"steps\": %lld, \"warmup_steps\": %lld, \"eval_steps\": %lld, "
        "\"train_seconds\": %.6f, \"final_loss\": %.4f, "
        "\"norm\": \"post-LN (C++ built-in has no norm_first)\", \"openblas_coretype\": \"%s\", "
        "\"torch_version\": \"%s\", \"config\": {\"vocab\": %lld, \"seq\": %lld, \"batch\": %lld, "
        "\"d_model\": %lld, \"heads\": %lld, \"layers\": %lld, \"d_ff\": %lld}}\n",
        o.size.c_str(), o.precision.c_str(), at::get_num_threads(), train_tps, step_ms, eval_tps,
        peak_rss_mb, gflops, static_cast<long long>(train_flops_per_token(o)),
        static_cast<long long>(params), static_cast<long long>(o.steps),
        static_cast<long long>(o.warmup_steps), static_cast<long long>(o.eval_steps), train_s,
        final_loss, coretype ? coretype : "", TORCH_VERSION, static_cast<long long>(o.vocab),
        static_cast<long long>(o.seq), static_cast<long long>(o.batch),
        static_cast<long long>(o.d_model), static_cast<long long>(o.heads),
        static_cast<long long>(o.layers), static_cast<long long>(o.d_ff));
  } else {
    std::printf(
        "libtorch_peer size=%s precision=%s threads=%d (post-LN: C++ built-in has no "
        "norm_first)\n",
        o.size.c_str(), o.precision.c_str(), at::get_num_threads());
    std::printf("  train: %.1f tok/s, %.1f ms/step, %.2f GFLOP/s, final loss %.4f\n", train_tps,
                step_ms, gflops, final_loss);
    std::printf("  eval:  %.1f tok/s\n  peak RSS %.1f MB, %lld parameters\n", eval_tps, peak_rss_mb,
                static_cast<long long>(params));
  }
  return 0;
}
