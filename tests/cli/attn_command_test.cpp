#include "cli/attn_command.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "support/attention_helpers.h"
#include "train/checkpoint.h"

namespace attnlab::cli {
namespace {

using attnlab::test::ScratchDir;

// A run directory with records at steps 0, 100, 200: 3 layers x 2 heads, 2 examples.
class AttnCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int64_t step : {0, 100, 200}) {
      auto r = attnlab::test::make_record(step, /*num_layers=*/3, /*heads=*/2,
                                          static_cast<uint64_t>(step) + 3);
      if (step == 200) {  // layer 1 head 1 of the last step: attend to the previous token
        auto w = torch::zeros({2, 3, 3});
        w[0][0][0] = 1;
        w[0][1][0] = 1;
        w[0][2][1] = 1;
        w[1][0][0] = 1;
        w[1][1][0] = 1;
        r.layers[1].select(1, 1).copy_(w);
      }
      save_record(dir_.file("run/attention/" + record_file_name(step)), r);
    }
    run_ = dir_.file("run");
  }

  std::string run(const std::vector<std::string>& args, bool color = false) {
    std::ostringstream out;
    EXPECT_EQ(run_attn_command(args, out, color), kExitOk);
    return out.str();
  }

  // The UsageError message of `args`.
  std::string usage_error(const std::vector<std::string>& args) {
    std::ostringstream out;
    try {
      run_attn_command(args, out, false);
    } catch (const UsageError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no UsageError";
    return "";
  }

  ScratchDir dir_;
  std::string run_;
};

TEST_F(AttnCommand, ListsStepsExamplesLayersHeads) {
  const auto text = run({run_});
  EXPECT_NE(text.find("(3 records)"), std::string::npos) << text;
  EXPECT_NE(text.find("steps: 0, 100, 200\n"), std::string::npos) << text;
  EXPECT_NE(text.find("step 200 (train): 2 examples, layers 0-2, heads 0, 1, T=3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  0  (3 tokens) the cat sat\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  1  (2 tokens) a dog\n"), std::string::npos) << text;
}

TEST_F(AttnCommand, HeatmapOfTheSelectedHead) {
  const auto text = run({run_, "--layer", "1", "--head", "1", "--example", "0"});
  const std::string expected = run_ +
                               ": step 200, layer 1, head 1, example 0\n"
                               "       0 1 2\n"
                               "0 the │██    │ → 0 the 1.00\n"
                               "1 cat │██    │ → 0 the 1.00\n"
                               "2 sat │  ██  │ → 1 cat 1.00\n"
                               "shade: ' ' <0.05  ░ <0.25  ▒ <0.50  ▓ <0.75  █ >=0.75\n";
  EXPECT_EQ(text, expected);
  // Colour only when allowed and not switched off.
  EXPECT_NE(run({run_, "--layer", "1"}, /*color=*/true).find("\x1b[48;5;"), std::string::npos);
  EXPECT_EQ(run({run_, "--layer", "1", "--no-color"}, /*color=*/true).find("\x1b["),
            std::string::npos);
  // --step alone shows a heatmap of that step; --average-heads the head mean.
  EXPECT_NE(run({run_, "--step", "100"}).find("step 100, layer 0, head 0, example 0"),
            std::string::npos);
  EXPECT_NE(run({run_, "--average-heads", "--example=1"}).find("mean of heads 0, 1, example 1"),
            std::string::npos);
}

TEST_F(AttnCommand, OutOfRangeSelectionsNameWhatExists) {
  EXPECT_EQ(usage_error({run_, "--layer", "7"}), "layer 7 out of range: the log has layers 0-2");
  EXPECT_EQ(usage_error({run_, "--head", "2"}), "head 2 out of range: the log has heads 0, 1");
  EXPECT_EQ(usage_error({run_, "--example", "2"}),
            "example 2 out of range: the log has examples 0-1");
  EXPECT_EQ(usage_error({run_, "--step", "150"}),
            "step 150 not in the log: it has 3 steps (0, 100, 200); nearest: 100 or 200");
  EXPECT_EQ(usage_error({run_, "--step", "abc"}), "--step expects an integer, got 'abc'");
  EXPECT_EQ(usage_error({run_, "--frobnicate"}), "unknown option --frobnicate");
  EXPECT_EQ(usage_error({run_, "--head", "0", "--average-heads"}),
            "--head and --average-heads exclude each other");
  EXPECT_EQ(usage_error({}), "missing RUN_DIR (a run directory or a record file)");
  EXPECT_EQ(usage_error({run_, "--html"}), "--html needs a value");
  try {
    run_attn_command({"--checkpoint", dir_.file("missing.pt"), "a b c"}, std::cout, false);
    ADD_FAILURE() << "a missing checkpoint must throw";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.pt: no such file"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(run_attn_command({dir_.file("nothing")}, std::cout, false), AttentionLogError);
}

TEST_F(AttnCommand, SummaryOverFirstMiddleLastOrOneStep) {
  const auto text = run({run_, "--summary"});
  EXPECT_NE(text.find("layer  head  step  entropy"), std::string::npos) << text;
  // Layer 1 head 1 at step 200 (previous-token head): 5 queries, first token weight 4/5.
  EXPECT_NE(text.find("  200    0.000  1.000    0.60  0.400  0.200  0.800  first token\n"),
            std::string::npos)
      << text;
  size_t rows = 0;
  for (size_t p = text.find("\n"); p != std::string::npos; p = text.find("\n", p + 1)) ++rows;
  EXPECT_EQ(rows, 2 + 3 * 2 * 3u);  // heading, header, 6 heads x 3 steps
  const auto one = run({run_, "--summary", "--step", "100"});
  EXPECT_EQ(one.find("  200 "), std::string::npos);
  EXPECT_NE(one.find("  100 "), std::string::npos);
}

TEST_F(AttnCommand, SingleRecordFileAndSourceFromRecord) {
  const auto file = dir_.file("run/attention/" + record_file_name(100));
  EXPECT_NE(run({file}).find("steps: 100\n"), std::string::npos);
  // The path the lead's --checkpoint will take: a record in memory.
  AttnArgs args;
  args.layer = 0;
  std::ostringstream out;
  show_attention(source_from_record(attnlab::test::make_record(9), "ckpt.pt"), args, out, false);
  EXPECT_NE(out.str().find("ckpt.pt: step 9, layer 0, head 0, example 0\n"), std::string::npos)
      << out.str();
}

TEST_F(AttnCommand, WritesHtmlSvgPng) {
  const auto html = dir_.file("a.html"), svg = dir_.file("a.svg"), png = dir_.file("a.png");
  const auto text =
      run({run_, "--step", "100", "--layer", "2", "--html", html, "--svg", svg, "--png=" + png});
  EXPECT_NE(text.find("wrote " + html + " (3 of 3 steps)"), std::string::npos) << text;
  EXPECT_EQ(text.find("│"), std::string::npos) << "no heatmap when only writing files";
  const auto page = attnlab::test::read_text(html);
  EXPECT_NE(page.find("\"initial\":{\"step\":1,\"layer\":2,\"head\":0,\"example\":0,\"avg\":false,"
                      "\"query\":0,\"rollout\":false}"),
            std::string::npos);
  EXPECT_NE(attnlab::test::read_text(svg).find("step 100, layer 2, head 0, example 0"),
            std::string::npos);
  EXPECT_EQ(attnlab::test::read_text(png).substr(1, 3), "PNG");
}

TEST_F(AttnCommand, Help) {
  const auto text = run({"--help"});
  EXPECT_EQ(text.rfind("usage: attnlab attn RUN_DIR", 0), 0u);
  for (const char* flag : {"--step", "--layer", "--head", "--average-heads", "--example",
                           "--summary", "--html", "--svg", "--png", "--no-color", "--checkpoint"})
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace attnlab::cli
