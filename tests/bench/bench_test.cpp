// `attnlab bench`: FLOP formulas and presets by hand, and a tiny end-to-end run.
#include "bench/bench.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <stdexcept>

#include "runtime/threads.h"
#include "support/torchrun.h"
#include "support/train_helpers.h"

namespace attnlab {
namespace {

TEST(BenchFlops, PerTokenFormulas) {
  // N = 1000, L = 2, T = 16, d = 32: 12 L T d = 12288, 4 L T d = 4096.
  EXPECT_DOUBLE_EQ(train_flops_per_token(1000, 2, 16, 32), 6000.0 + 12288.0);
  EXPECT_DOUBLE_EQ(eval_flops_per_token(1000, 2, 16, 32), 2000.0 + 4096.0);
  EXPECT_DOUBLE_EQ(train_flops_per_token(0, 0, 16, 32), 0.0);
  // Large values do not overflow int64 arithmetic: 6 * 7e9 and 12 * 48 * 4096 * 8192.
  EXPECT_DOUBLE_EQ(train_flops_per_token(7'000'000'000LL, 48, 4096, 8192),
                   42e9 + 12.0 * 48 * 4096 * 8192);
}

TEST(BenchPreset, SmallMediumCustomAndUnknown) {
  BenchOptions o;
  apply_size_preset("medium", o);
  EXPECT_EQ(o.size, "medium");
  EXPECT_EQ(o.vocab, 1000);
  EXPECT_EQ(o.seq_len, 128);
  EXPECT_EQ(o.batch, 32);
  EXPECT_EQ(o.d_model, 512);
  EXPECT_EQ(o.num_heads, 8);
  EXPECT_EQ(o.num_layers, 6);
  EXPECT_EQ(o.d_ff, 2048);

  apply_size_preset("small", o);
  EXPECT_EQ(o.size, "small");
  EXPECT_EQ(o.vocab, 64);
  EXPECT_EQ(o.seq_len, 32);
  EXPECT_EQ(o.batch, 64);
  EXPECT_EQ(o.d_model, 128);
  EXPECT_EQ(o.num_heads, 4);
  EXPECT_EQ(o.num_layers, 4);
  EXPECT_EQ(o.d_ff, 512);

  BenchOptions custom;
  custom.d_model = 48;
  custom.batch = 3;
  apply_size_preset("custom", custom);  // keeps whatever was set
  EXPECT_EQ(custom.size, "custom");
  EXPECT_EQ(custom.d_model, 48);
  EXPECT_EQ(custom.batch, 3);

  EXPECT_THROW(apply_size_preset("large", o), std::invalid_argument);
  EXPECT_THROW(apply_size_preset("", o), std::invalid_argument);
  EXPECT_EQ(o.size, "small");  // unchanged by a failed call
}

BenchOptions tiny() {
  BenchOptions o;
  o.size = "custom";
  o.vocab = 16;
  o.seq_len = 8;
  o.batch = 4;
  o.d_model = 16;
  o.num_heads = 2;
  o.num_layers = 1;
  o.d_ff = 32;
  o.warmup_steps = 1;
  o.steps = 2;
  o.threads = 0;
  return o;
}

TEST(Bench, TinyRunGivesFinitePositiveNumbers) {
  const auto o = tiny();
  const auto r = run_benchmark(o);
  // Weights of every Linear (d=16, d_ff=32, V=16): in_proj 48x16 + out_proj 16x16 +
  // linear1 32x16 + linear2 16x32 + token head 16x16.
  EXPECT_EQ(r.matmul_parameters, 768 + 256 + 512 + 512 + 256);
  // Plus token embedding 16x16, biases 48+16+32+16+16, three LayerNorms of 2x16.
  EXPECT_EQ(r.parameters, 2304 + 256 + 128 + 96);
  EXPECT_GE(r.threads, 1);
  for (const double v :
       {r.step_ms, r.train_tokens_per_s, r.eval_tokens_per_s, r.train_gflops, r.eval_gflops,
        r.fp32_peak_gflops, r.bf16_peak_gflops, r.mfu, r.peak_rss_mb, r.final_loss}) {
    EXPECT_TRUE(std::isfinite(v)) << v;
    EXPECT_GT(v, 0.0);
  }
  EXPECT_EQ(r.eval_steps, 2);  // eval_steps 0: as many as the training steps
  EXPECT_NEAR(r.train_gflops, r.train_tokens_per_s * train_flops_per_token(2304, 1, 8, 16) / 1e9,
              1e-9 * r.train_gflops);
  EXPECT_NEAR(r.eval_gflops, r.eval_tokens_per_s * eval_flops_per_token(2304, 1, 8, 16) / 1e9,
              1e-9 * r.eval_gflops);
  EXPECT_NEAR(r.mfu, r.train_gflops / r.fp32_peak_gflops, 1e-12);
  EXPECT_LT(r.final_loss, 2.0 * std::log(16.0));  // random targets: near log V, not diverged

  const auto json = r.to_json(o);
  test::expect_contains(json, "\"size\": \"custom\"");
  test::expect_contains(json, "\"precision\": \"fp32\"");
  test::expect_contains(json, "\"matmul_parameters\": 2304");
  if (!test::python_has("json")) return;
  test::ScratchDir dir;
  test::write_text(dir.file("b.json"), json);
  test::write_text(dir.file("check.py"), R"(import json, sys
d = json.load(open(sys.argv[1]))
print("keys=" + ",".join(sorted(d)))
)");
  bool ok = false;
  const auto out = test::run_python(dir.file("check.py"), dir.file("b.json"), ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_EQ(test::line_value(out, "keys"),
            "allreduce_gb_per_s,allreduce_ms,allreduce_share,"
            "batch,bf16_peak_gflops,cpu,d_ff,d_model,eval_gflops_per_s,eval_steps,"
            "eval_tokens_per_s,final_loss,fp32_peak_gflops,gemm_bf16,gemm_fp32,gradient_bytes,"
            "heads,impl,layers,matmul_parameters,mfu,native_bf16,onednn_isa,parameters,"
            "peak_rss_mb,precision,seq,size,step_ms,step_ms_median,steps,threads,"
            "train_gflops_per_s,train_seconds,train_tokens_per_s,vocab,warmup_steps,world_size");
  EXPECT_EQ(r.world_size, 1);
  EXPECT_EQ(r.allreduce_ms, 0.0);
}

// Under torchrun (two ranks on loopback): the global batch splits, the gradients are
// all-reduced, and rank 0 alone prints, with the all-reduce's figures.
TEST(Bench, UnderTorchrunRankZeroReportsTheAllReduce) {
  if (!test::has_torchrun()) GTEST_SKIP() << "torchrun missing (python3-torch; scripts/setup.sh)";
  const auto r =
      test::run_shell(test::torchrun_prefix(2, test::free_port()) + ATTNLAB_BINARY +
                      " bench --vocab 16 --seq 8 --batch 4 --d-model 16 --heads 2 "
                      "--layers 1 --d-ff 32 --warmup-steps 1 --steps 3 --json 2>/dev/null");
  ASSERT_EQ(r.rc, 0) << r.out;
  // One JSON line: rank 1 prints nothing.
  size_t lines = 0;
  for (const char c : r.out) lines += c == '\n';
  EXPECT_EQ(lines, 1u) << r.out;
  test::expect_contains(r.out, "\"world_size\": 2");
  // This machine's cores shared by its 2 ranks.
  test::expect_contains(
      r.out, "\"threads\": " + std::to_string(std::max<int64_t>(1, available_cores() / 2)));
  // 2784 float32 parameters (the tiny model of TinyRunGivesFinitePositiveNumbers).
  test::expect_contains(r.out,
                        "\"gradient_bytes\": " + std::to_string(4 * (2304 + 256 + 128 + 96)));
  const std::regex allreduce_ms(R"("allreduce_ms": ([0-9.e+-]+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, allreduce_ms)) << r.out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  const auto odd = test::run_shell(test::torchrun_prefix(2, test::free_port()) + ATTNLAB_BINARY +
                                   " bench --batch 5 --steps 1 2>&1");
  EXPECT_NE(odd.rc, 0);
  test::expect_contains(odd.out, "--batch 5 (the global batch) is not divisible by WORLD_SIZE=2");
}

// The keys of docs/benchmark.md's table "What is measured" (rows "| `key` | ...") are the keys
// attnlab bench --json writes: the docs and the tool cannot drift apart.
TEST(Bench, JsonKeysAreTheDocumentedOnes) {
  const auto docs = test::read_text(std::string(ATTNLAB_SOURCE_DIR) + "/docs/benchmark.md");
  const auto begin = docs.find("## What is measured");
  ASSERT_NE(begin, std::string::npos) << "docs/benchmark.md has no section 'What is measured'";
  const auto end = docs.find("\n## ", begin + 1);
  const std::string section = docs.substr(begin, end - begin);
  std::vector<std::string> documented;
  const std::regex row(R"re(\n\| `([a-z0-9_]+)` \|)re");
  for (auto it = std::sregex_iterator(section.begin(), section.end(), row);
       it != std::sregex_iterator(); ++it)
    documented.push_back((*it)[1]);
  std::sort(documented.begin(), documented.end());
  const auto o = tiny();
  const auto json = run_benchmark(o).to_json(o);
  std::vector<std::string> written;
  const std::regex key(R"re("([a-z0-9_]+)": )re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), key); it != std::sregex_iterator();
       ++it)
    written.push_back((*it)[1]);
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, documented);
}

// Wall time measured here around two runs that differ only in their number of timed steps:
// the extra steps' tokens over the extra seconds must agree with what the tool reports (its
// warm-up, forward passes and GEMM probes cost the same in both runs and cancel).
TEST(Bench, TokensPerSecondIsTokensOverTheTimedStepsWallTime) {
  auto o = tiny();
  o.d_model = 64, o.d_ff = 256, o.seq_len = 32, o.batch = 16, o.num_layers = 2;
  o.warmup_steps = 2;
  o.eval_steps = 1;
  o.threads = 1;
  const int64_t few = 5, many = 45;
  auto timed = [&](int64_t steps, double& reported) {
    o.steps = steps;
    const auto start = std::chrono::steady_clock::now();
    const auto r = run_benchmark(o);
    reported = r.train_tokens_per_s;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // The faster of two tries of each, interleaved: one scheduling hiccup does not decide it.
  double few_s = INFINITY, many_s = INFINITY, tool = 0.0, ignored = 0.0;
  std::vector<double> tool_figures;
  for (int round = 0; round < 2; ++round) {
    few_s = std::min(few_s, timed(few, ignored));
    many_s = std::min(many_s, timed(many, tool));
    tool_figures.push_back(tool);
  }
  const double tokens = static_cast<double>((many - few) * o.batch * o.seq_len);
  const double measured = tokens / (many_s - few_s);
  const double reported = std::max(tool_figures[0], tool_figures[1]);
  EXPECT_NEAR(reported / measured, 1.0, 0.10)
      << "tool " << reported << " tokens/s, measured around the calls " << measured;
}

TEST(Bench, RejectsBadSizes) {
  auto o = tiny();
  o.steps = 0;
  EXPECT_THROW(run_benchmark(o), std::invalid_argument);
  o = tiny();
  o.vocab = 1;
  EXPECT_THROW(run_benchmark(o), std::invalid_argument);
  o = tiny();
  o.batch = 0;
  EXPECT_THROW(run_benchmark(o), std::invalid_argument);
}

}  // namespace
}  // namespace attnlab

namespace attnlab {
namespace {

TEST(KernelBench, EveryRowComparesTheSameComputationOnBothSides) {
  KernelBenchOptions o;
  o.rows = 96, o.d_model = 32, o.d_ff = 64, o.batch = 2, o.seq_len = 16, o.num_heads = 4;
  o.repeats = 2;
  o.threads = 1;
  const auto r = run_kernel_benchmarks(o);
  EXPECT_EQ(r.threads, 1);
  ASSERT_EQ(r.rows.size(), 7u);
  for (const auto& row : r.rows) {
    SCOPED_TRACE(row.what);
    EXPECT_GT(row.baseline_ms, 0.0);
    EXPECT_GT(row.attnlab_ms, 0.0);
    EXPECT_FALSE(row.baseline.empty());
  }
  EXPECT_LT(r.rows[0].max_abs_diff, 1e-3);  // fp32 GEMM, K = 32
  EXPECT_LT(r.rows[1].max_abs_diff, 1e-5);  // attention forward
  EXPECT_LT(r.rows[2].max_abs_diff, 1e-4);  // attention backward
  EXPECT_LT(r.rows[3].max_abs_diff, 0.05);  // dropout: zero fractions, both ~0.1
  EXPECT_LT(r.rows[4].max_abs_diff, 0.05);  // bf16 GELU + dropout: input gradients, ~3 at most
  EXPECT_LT(r.rows[5].max_abs_diff, 0.1);   // bf16 linear + GELU, both rounded to bf16
  EXPECT_LT(r.rows[6].max_abs_diff, 0.5);   // bf16 training: weight gradients, sums of 96
  EXPECT_THROW(run_kernel_benchmarks([] {
                 KernelBenchOptions bad;
                 bad.num_heads = 3;  // does not divide 512
                 return bad;
               }()),
               std::invalid_argument);
}

}  // namespace
}  // namespace attnlab

namespace attnlab {
namespace {

// Every side of scripts/bench_peers.sh times alike by default: the same warm-up and timed step
// counts for each size, and tokens of the timed steps over their wall time (train_seconds).
TEST(BenchPeers, SameStepsAndRuleOnEverySide) {
  if (!test::python_has("torch"))
    GTEST_SKIP() << "python3-torch is not installed (scripts/setup.sh)";
#ifndef LIBTORCH_PEER_BINARY
  GTEST_SKIP() << "built without the libtorch_peer target";
#else
  if (!std::filesystem::exists(LIBTORCH_PEER_BINARY))
    GTEST_SKIP() << LIBTORCH_PEER_BINARY << " is not built (cmake --build build)";
  // The presets' step counts with a tiny model, so that each run takes a second.
  const std::string tiny_sizes =
      " --vocab 16 --seq 8 --batch 4 --d-model 16 --heads 2 --layers 1 --d-ff 32 --threads 1 "
      "--json";
  const std::string source = ATTNLAB_SOURCE_DIR;
  for (const std::string size : {"small", "medium"}) {
    SCOPED_TRACE(size);
    const std::map<std::string, std::string> commands = {
        {"attnlab", std::string(ATTNLAB_BINARY) + " bench --size " + size + tiny_sizes},
        {"pytorch", std::string(test::kPython) + " " + source +
                        "/scripts/bench_pytorch.py --size " + size + tiny_sizes},
        {"libtorch", std::string(LIBTORCH_PEER_BINARY) + " --size " + size + tiny_sizes}};
    std::map<std::string, std::string> counts;
    for (const auto& [peer, command] : commands) {
      const auto r = test::run_shell(command + " 2>/dev/null");
      ASSERT_EQ(r.rc, 0) << peer << ": " << command << "\n" << r.out;
      auto number = [&](const std::string& key) {
        std::smatch m;
        const std::regex pattern("\"" + key + "\": ([0-9.e+-]+)");
        if (!std::regex_search(r.out, m, pattern)) {
          ADD_FAILURE() << peer << " wrote no " << key << ": " << r.out;
          return 0.0;
        }
        return std::stod(m[1]);
      };
      const double steps = number("steps");
      counts[peer] = "warmup " + std::to_string(static_cast<int64_t>(number("warmup_steps"))) +
                     ", steps " + std::to_string(static_cast<int64_t>(steps)) + ", eval " +
                     std::to_string(static_cast<int64_t>(number("eval_steps")));
      // tokens/s = B*T*steps / seconds of the timed steps, on every side (rounded to 0.1).
      EXPECT_NEAR(number("train_tokens_per_s"), 4 * 8 * steps / number("train_seconds"),
                  0.002 * number("train_tokens_per_s") + 0.1)
          << peer;
    }
    EXPECT_EQ(counts["pytorch"], counts["attnlab"]);
    EXPECT_EQ(counts["libtorch"], counts["attnlab"]);
    EXPECT_EQ(counts["attnlab"],
              size == "small" ? "warmup 5, steps 30, eval 30" : "warmup 2, steps 8, eval 8");
  }
#endif
}

}  // namespace
}  // namespace attnlab
