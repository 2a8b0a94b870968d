#pragma once
// `attnlab bench`: trains the encoder on synthetic batches and measures throughput, FLOP/s,
// MFU against GEMM peaks measured in the same process, and peak memory.

#include <cstdint>
#include <string>
#include <vector>

#include "train/precision.h"

namespace attnlab {

class ProcessGroup;

struct BenchOptions {
  std::string size = "small";  // preset name: small | medium | custom
  int64_t vocab = 64;          // vocabulary (and output) size
  int64_t seq_len = 32;        // T
  int64_t batch = 64;          // B
  int64_t d_model = 128;       // C
  int64_t num_heads = 4;       // H
  int64_t num_layers = 4;      // L
  int64_t d_ff = 512;          // feed-forward width
  double dropout = 0.1;        // residual / feed-forward / embedding dropout
  Precision precision = Precision::kFp32;
  int64_t threads = 0;        // 0 = all cores
  int64_t warmup_steps = 5;   // untimed steps first (and untimed forward passes, at least 1)
  int64_t steps = 30;         // timed training steps
  int64_t eval_steps = 0;     // timed forward-only steps (0 = same as steps)
  int64_t profile_steps = 0;  // > 0: profile this many extra training steps per op
  uint64_t seed = 1;
  ProcessGroup* group = nullptr;  // under torchrun: `batch` is the global batch, each rank trains
                                  // on its share and the gradients are all-reduced
};

// Fills sizes from a preset: small (V 64, T 32, B 64, d 128, 4 heads, 4 layers, d_ff 512) or
// medium (V 1000, T 128, B 32, d 512, 8 heads, 6 layers, d_ff 2048). Throws on unknown names.
void apply_size_preset(const std::string& size, BenchOptions& options);

struct BenchResult {
  int64_t threads = 0;
  int64_t parameters = 0;         // all trainable parameters
  int64_t matmul_parameters = 0;  // N in the FLOP formula: weights of every Linear
  // Every side of a comparison times alike (docs/benchmark.md, "What is measured"): warm-up steps
  // untimed, then tokens of the timed steps / their total wall time.
  double train_seconds = 0.0;       // wall time of the timed training steps
  double step_ms = 0.0;             // train_seconds / steps
  double step_ms_median = 0.0;      // median step time: printed beside, never in a ratio
  double train_tokens_per_s = 0.0;  // B*T*steps / train_seconds
  int64_t eval_steps = 0;           // timed forward-only passes
  double eval_tokens_per_s = 0.0;   // B*T*eval_steps / their wall time (eval mode, no grad)
  double train_gflops = 0.0;        // achieved: tokens/s * (6N + 12 L T d) / 1e9
  double eval_gflops = 0.0;         // achieved: tokens/s * (2N + 4 L T d) / 1e9
  double fp32_peak_gflops = 0.0;    // measured 1024^3 float32 GEMM (oneDNN sgemm, as linear)
  double bf16_peak_gflops = 0.0;    // measured 1024^3 bfloat16 GEMM (at::mm, as autocast)
  double mfu = 0.0;                 // train_gflops / peak of the precision used
  double peak_rss_mb = 0.0;         // process peak resident set size
  double final_loss = 0.0;          // last training loss (sanity: finite, decreasing)
  // Data parallel (torchrun): tokens/s above count the global batch.
  int64_t world_size = 1;
  int64_t gradient_bytes = 0;       // the flat gradient buffer every step all-reduces
  double allreduce_ms = 0.0;        // mean time in the all-reduces of a timed step
  double allreduce_share = 0.0;     // all-reduce time / train_seconds
  double allreduce_gb_per_s = 0.0;  // gradient_bytes / allreduce time (algorithm bandwidth)
  std::string train_profile;        // per-op table of the profiled steps (profile_steps > 0)
  std::string eval_profile;         // the same for as many forward-only passes
  std::string to_json(const BenchOptions& options) const;
};

// `attnlab bench --kernels`: attnlab's kernels against the LibTorch operations they replace, on
// the same data in the same process (medium sizes by default).
struct KernelBenchOptions {
  int64_t rows = 4096;    // GEMM/linear rows M (= B*T of the medium benchmark)
  int64_t d_model = 512;  // GEMM inner size K, linear input width
  int64_t d_ff = 2048;    // linear output width; dropout tensor is (rows, d_ff)
  int64_t batch = 32, seq_len = 128, num_heads = 8;  // attention: (B, T, 3C), C = d_model
  int64_t repeats = 5;  // timed calls per side (after one untimed call); the median counts
  int64_t threads = 0;  // 0 = all cores
};

struct KernelRow {
  std::string what;      // the operation, with its sizes
  std::string baseline;  // the LibTorch operation it is compared with
  double baseline_ms = 0.0;
  double attnlab_ms = 0.0;
  double max_abs_diff = 0.0;  // between the two results: both sides computed the same thing
};

struct KernelBenchResult {
  int64_t threads = 0;
  std::vector<KernelRow> rows;
};

KernelBenchResult run_kernel_benchmarks(const KernelBenchOptions& options);

// Training FLOPs per token: 6N (forward + backward of every weight matmul) plus 12 L T d
// (QK^T and attention-times-V, forward and backward). Forward-only: 2N + 4 L T d.
double train_flops_per_token(int64_t matmul_parameters, int64_t layers, int64_t seq_len,
                             int64_t d_model);
double eval_flops_per_token(int64_t matmul_parameters, int64_t layers, int64_t seq_len,
                            int64_t d_model);

BenchResult run_benchmark(const BenchOptions& options);

// Peak GEMM throughput (GFLOP/s) of an n x n x n matmul in the given dtype.
double measure_gemm_gflops(int64_t n, bool bf16);

// Which GEMM a training linear of `precision` runs on this CPU, in words (bench output, JSON).
std::string gemm_used(Precision precision);

}  // namespace attnlab
