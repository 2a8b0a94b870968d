// attnlab bench: training and inference throughput on synthetic batches.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "bench/bench.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/precision_option.h"
#include "runtime/cpu.h"
#include "runtime/process_group.h"
#include "runtime/threads.h"

namespace attnlab::cli {

int bench_command(const Args& args) {
  std::string size = "small", precision = "fp32";
  int64_t vocab = -1, seq = -1, batch = -1, d_model = -1, heads = -1, layers = -1, d_ff = -1;
  int64_t threads = 0, warmup = -1, steps = -1, eval_steps = -1, profile = 0;
  bool json = false, kernels = false;
  ArgParser parser(
      "bench", "attnlab bench [--size small|medium] [--precision fp32|bf16] [options]",
      "Trains the encoder (pre-LN, GELU, dropout 0.1, token head, AdamW, clipping 1.0)\n"
      "on synthetic batches and reports training tokens/s, ms/step, forward-only\n"
      "tokens/s, achieved GFLOP/s (6N + 12*L*T*d per training token, 2N + 4*L*T*d\n"
      "forward; N = weights of every Linear), MFU against the fp32/bf16 GEMM peaks\n"
      "measured in the same run, and peak RSS. Under torchrun, --batch is the global\n"
      "batch: each rank trains on its share, the gradients are all-reduced, and rank 0\n"
      "prints the global tokens/s and the all-reduce's time and share of the step.");
  parser.option("size", &size, "preset: small (default) or medium; other flags override it");
  parser.option("precision", &precision,
                "fp32 (default), bf16 (bf16 matmuls, fp32 master weights) or auto (bf16 where\n"
                "this CPU does bf16 natively, else fp32)");
  parser.option("vocab", &vocab, "vocabulary size");
  parser.option("seq", &seq, "sequence length T");
  parser.option("batch", &batch, "batch size B");
  parser.option("d-model", &d_model, "model width");
  parser.option("heads", &heads, "attention heads");
  parser.option("layers", &layers, "encoder layers");
  parser.option("d-ff", &d_ff, "feed-forward width");
  parser.option("threads", &threads, "intra-op threads (default: all cores)");
  parser.option("warmup-steps", &warmup,
                "untimed steps first (default 5 small, 2 medium; the peers' defaults too)");
  parser.option("steps", &steps, "timed steps (default 30 small, 8 medium)");
  parser.option("eval-steps", &eval_steps, "timed forward-only steps (default: same as --steps)");
  parser.option("profile", &profile,
                "after timing, profile N more training steps and print the time per op");
  parser.flag("json", &json, "print one JSON object instead of the table");
  parser.flag("kernels", &kernels,
              "instead of training: time attnlab's kernels (GEMM, attention, dropout, bf16\n"
              "inference linear) against the LibTorch operations they replace, medium sizes");
  if (!parser.parse(args)) return kExitOk;

  if (kernels) {
    if (json) throw UsageError("--kernels prints a table; --json does not apply to it");
    if (threads < 0 || (steps == 0 || steps < -1))
      throw UsageError("--threads must be >= 0 and --steps (timed calls per side) > 0");
    KernelBenchOptions k;
    k.threads = threads;
    if (steps > 0) k.repeats = steps;
    const auto r = run_kernel_benchmarks(k);
    std::printf(
        "attnlab bench --kernels: threads=%ld, median of %ld calls per side (after "
        "0.25 s of untimed calls)\n",
        static_cast<long>(r.threads), static_cast<long>(k.repeats));
    std::printf(
        "| kernel | LibTorch baseline | baseline ms | attnlab ms | speed-up | max |diff| |\n"
        "|---|---|---:|---:|---:|---:|\n");
    for (const auto& row : r.rows)
      std::printf("| %s | %s | %.2f | %.2f | %.2fx | %.3g |\n", row.what.c_str(),
                  row.baseline.c_str(), row.baseline_ms, row.attnlab_ms,
                  row.baseline_ms / row.attnlab_ms, row.max_abs_diff);
    std::printf("(dropout: |diff| compares the fractions of zeros; the masks differ)\n");
    return kExitOk;
  }

  BenchOptions o;
  try {
    apply_size_preset(size, o);
    o.precision = precision_from_option(precision);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const bool medium = size == "medium";
  o.warmup_steps = medium ? 2 : 5;
  o.steps = medium ? 8 : 30;
  auto set = [](int64_t flag, int64_t& field) {
    if (flag >= 0) field = flag;
  };
  set(vocab, o.vocab), set(seq, o.seq_len), set(batch, o.batch), set(d_model, o.d_model);
  set(heads, o.num_heads), set(layers, o.num_layers), set(d_ff, o.d_ff);
  set(warmup, o.warmup_steps), set(steps, o.steps), set(eval_steps, o.eval_steps);
  o.threads = threads;
  o.profile_steps = profile;
  if (o.steps <= 0 || o.batch <= 0 || o.seq_len <= 0 || o.vocab < 2 || o.d_model <= 0 ||
      o.num_heads <= 0 || o.d_model % o.num_heads != 0 || o.num_layers <= 0 || o.d_ff <= 0 ||
      threads < 0 || profile < 0)
    throw UsageError("sizes must be positive, --heads must divide --d-model, --steps > 0");

  // Under torchrun: join the group; threads default to this machine's cores over its ranks.
  LaunchEnv launch;
  try {
    launch = launch_env_from_environment();
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("torchrun's environment: ") + e.what());
  }
  if (launch.distributed() && o.batch % launch.world_size != 0)
    throw UsageError(
        "--batch " + std::to_string(o.batch) +
        " (the global batch) is not divisible by WORLD_SIZE=" + std::to_string(launch.world_size));
  std::unique_ptr<ProcessGroup> group;
  if (launch.distributed()) {
    group = std::make_unique<ProcessGroup>(launch, std::chrono::seconds(300));
    if (o.threads == 0)
      o.threads = std::max<int64_t>(1, available_cores() / launch.local_world_size);
    o.group = group.get();
  }

  const auto r = run_benchmark(o);
  if (group && group->rank() != 0) return kExitOk;  // rank 0 reports for the group
  if (json) {
    std::printf("%s\n", r.to_json(o).c_str());
    if (!r.train_profile.empty())
      std::fprintf(stderr, "training step profile (%ld steps):\n%s", static_cast<long>(profile),
                   r.train_profile.c_str());
    if (!r.eval_profile.empty())
      std::fprintf(stderr, "forward-only profile (%ld passes):\n%s", static_cast<long>(profile),
                   r.eval_profile.c_str());
    return kExitOk;
  }
  std::printf(
      "attnlab bench: size=%s precision=%s threads=%ld  (V=%ld T=%ld B=%ld d=%ld H=%ld L=%ld "
      "d_ff=%ld)\n",
      o.size.c_str(), name_of(o.precision), static_cast<long>(r.threads),
      static_cast<long>(o.vocab), static_cast<long>(o.seq_len), static_cast<long>(o.batch),
      static_cast<long>(o.d_model), static_cast<long>(o.num_heads), static_cast<long>(o.num_layers),
      static_cast<long>(o.d_ff));
  std::printf("  cpu                %s, oneDNN ISA %s\n", cpu_info().model.c_str(),
              cpu_info().onednn_isa.c_str());
  std::printf("  GEMMs              fp32: %s; bf16: %s\n", gemm_used(Precision::kFp32).c_str(),
              gemm_used(Precision::kBf16).c_str());
  std::printf("  parameters         %ld (matmul weights N = %ld)\n",
              static_cast<long>(r.parameters), static_cast<long>(r.matmul_parameters));
  std::printf(
      "  timing             %ld untimed steps, then tokens of %ld timed steps / their wall time "
      "(%ld timed forward passes)\n",
      static_cast<long>(o.warmup_steps), static_cast<long>(o.steps),
      static_cast<long>(r.eval_steps));
  std::printf(
      "  train              %.1f ms/step (median %.1f)   %.0f tokens/s   %.1f GFLOP/s   MFU "
      "%.1f%%\n",
      r.step_ms, r.step_ms_median, r.train_tokens_per_s, r.train_gflops, 100.0 * r.mfu);
  std::printf("  forward-only       %.0f tokens/s   %.1f GFLOP/s\n", r.eval_tokens_per_s,
              r.eval_gflops);
  std::printf("  GEMM peaks         fp32 %.1f GFLOP/s   bf16 %.1f GFLOP/s (1024^3, same process)\n",
              r.fp32_peak_gflops, r.bf16_peak_gflops);
  if (r.world_size > 1)
    std::printf(
        "  data parallel      %ld ranks x %ld threads, global batch %ld (%ld per rank); all-reduce "
        "of\n"
        "                     %.1f MB of gradients: %.2f ms/step (%.1f%% of the step), %.2f GB/s\n"
        "                     (forward-only: every rank's share at once, timed on rank 0)\n",
        static_cast<long>(r.world_size), static_cast<long>(r.threads), static_cast<long>(o.batch),
        static_cast<long>(o.batch / r.world_size), static_cast<double>(r.gradient_bytes) / 1e6,
        r.allreduce_ms, 100.0 * r.allreduce_share, r.allreduce_gb_per_s);
  std::printf("  peak RSS           %.1f MiB\n", r.peak_rss_mb);
  std::printf("  final loss         %.4f\n", r.final_loss);
  if (!r.train_profile.empty())
    std::printf("\ntraining step profile (%ld steps, autograd profiler, calling thread):\n%s",
                static_cast<long>(profile), r.train_profile.c_str());
  if (!r.eval_profile.empty())
    std::printf("\nforward-only profile (%ld passes, eval mode, no grad):\n%s",
                static_cast<long>(profile), r.eval_profile.c_str());
  return kExitOk;
}

}  // namespace attnlab::cli
