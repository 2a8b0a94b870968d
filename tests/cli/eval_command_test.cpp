// attnlab eval end to end: eval of best.pt repeats, to the printed digit, what validation
// logged for that step in metrics.jsonl, for every task; it runs the precision the checkpoint
// was trained in unless told otherwise; and it says what its metrics are over when
// data.skip_unfit dropped pairs (--score-skipped scores them as empty outputs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "data/tsv.h"
#include "support/common.h"
#include "support/image_task.h"
#include "support/tiny_task.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

test::CommandResult attnlab(const std::string& args) {
  return test::run_shell(std::string(ATTNLAB_BINARY) + " " + args + " 2>&1");
}

// The number after "key": in a JSON line; NaN (and a test failure) when it is not there.
double json_number(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\": (-?[0-9.e+-]+|true|false)"))) {
    ADD_FAILURE() << "no \"" << key << "\" in " << json;
    return NAN;
  }
  if (m[1] == "true") return 1.0;
  if (m[1] == "false") return 0.0;
  return std::stod(m[1]);
}

// The first line of `text` that starts with `prefix`.
std::string line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line;
  ADD_FAILURE() << "no line starting with " << prefix << " in:\n" << text;
  return "";
}

// metrics.jsonl's validation line of `step`.
std::string valid_line(const std::string& metrics_path, int64_t step) {
  std::ifstream in(metrics_path);
  const std::string wanted = "\"step\": " + std::to_string(step) + ",";
  for (std::string line; std::getline(in, line);)
    if (line.find("\"kind\": \"valid\"") != std::string::npos &&
        line.find(wanted) != std::string::npos)
      return line;
  ADD_FAILURE() << "no validation line of step " << step << " in " << metrics_path;
  return "";
}

std::string printed(double value, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

std::string words(int n, const std::string& word) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " " : "") + word;
  return out;
}

class EvalCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new test::ScratchDir; }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }

  // Trains `yaml` (run name `name`), then evaluates its best.pt on the valid split with every
  // default and checks each (key, printf format) against metrics.jsonl's line of that step.
  // Returns eval's output.
  static std::string train_then_check(
      const std::string& name, const std::string& yaml,
      const std::vector<std::pair<std::string, const char*>>& keys) {
    test::write_text(file(name + ".yaml"), yaml);
    const auto trained = attnlab("train --config " + file(name + ".yaml"));
    EXPECT_EQ(trained.rc, 0) << trained.out;
    const std::string run = file("runs/" + name);
    const auto eval =
        attnlab("eval --checkpoint " + run + "/best.pt --split valid --samples 0 --json -");
    EXPECT_EQ(eval.rc, 0) << eval.out;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(eval.out, m, std::regex(R"(\(step ([0-9]+)\))"))) << eval.out;
    if (m.empty()) return eval.out;
    const int64_t step = std::stoll(m[1]);
    const auto logged = valid_line(run + "/metrics.jsonl", step);
    const auto json = line_starting(eval.out, "{\"examples\"");
    for (const auto& [key, format] : keys)
      EXPECT_EQ(printed(json_number(json, key), format), printed(json_number(logged, key), format))
          << name << ": " << key << " of best.pt (step " << step << ")\nvalidation: " << logged
          << "\neval: " << json;
    for (const char* count : {"examples", "skipped", "split_examples"})
      EXPECT_EQ(json_number(json, count), json_number(logged, count)) << name << ": " << count;
    test::expect_contains(eval.out, "precision fp32 (as trained)");
    return eval.out;
  }

  // The config of a text run `name` of `task` on NAME_train.tsv and NAME_valid.tsv.
  static std::string text_run_yaml(const std::string& name, const std::string& task,
                                   const std::string& data_extra = "") {
    return "run: {name: " + name + ", out_dir: " + file("runs") + ", threads: 1}\n" +
           "data: {task: " + task + ", train: " + file(name + "_train.tsv") +
           ", valid: " + file(name + "_valid.tsv") + ",\n       tokenization: word, max_len: 16" +
           data_extra + "}\n" + kModel + kTrain;
  }

  // eval --score-skipped of run `name`'s best.pt on valid: its JSON line.
  static std::string eval_scoring_skipped(const std::string& name, const std::string& headline) {
    const auto all = attnlab("eval --checkpoint " + file("runs/" + name + "/best.pt") +
                             " --split valid --samples 0 --score-skipped --json -");
    EXPECT_EQ(all.rc, 0) << all.out;
    if (!headline.empty()) test::expect_contains(all.out, headline);
    return line_starting(all.out, "{\"examples\"");
  }

  static constexpr const char* kModel =
      "model: {d_model: 32, num_heads: 2, num_layers: 1, d_ff: 64, dropout: 0.0}\n";
  // The runs train in fp32 with one thread; eval runs with its defaults (all cores, and on a CPU
  // with native bf16 `auto` would pick bf16: the default must be the checkpoint's precision).
  // The validation splits are larger than the validation batch (64), so eval's batches must be
  // validation's too for the padding, and so the rounding, to be the same.
  static constexpr const char* kTrain =
      "train: {batch_size: 16, max_steps: 80, warmup_steps: 10, lr: 3.0e-3, precision: fp32,\n"
      "        eval_interval: 40, checkpoint_interval: 40}\n"
      "log: {interval: 40, progress: false, attention: {enabled: false}}\n";

  static test::ScratchDir* dir_;
};
test::ScratchDir* EvalCommand::dir_ = nullptr;

TEST_F(EvalCommand, TransductionRepeatsValidationAndScoresSkippedPairsAsEmpty) {
  auto examples = fixtures::tiny_reverse_examples(220, "abcdefgh");
  const std::vector<Example> train(examples.begin(), examples.begin() + 120);
  std::vector<Example> valid(examples.begin() + 120, examples.end());
  valid.push_back({words(20, "a"), words(20, "a"), 0});  // longer than max_len 16: skipped
  valid.push_back({words(18, "b"), words(18, "b"), 0});
  write_tsv(file("rev_train.tsv"), train);
  write_tsv(file("rev_valid.tsv"), valid);
  const auto out =
      train_then_check("rev", text_run_yaml("rev", "transduction", ", skip_unfit: true"),
                       {{"loss", "%.4f"}, {"accuracy", "%.4f"}, {"exact_match", "%.4f"}});
  test::expect_contains(out, "(on 100 of 102 pairs (2 skipped by data.skip_unfit)");
  test::expect_contains(out, "skipped 2 of the 102 pairs of");
  const auto kept = line_starting(out, "{\"examples\"");
  EXPECT_EQ(json_number(kept, "examples"), 100);
  EXPECT_EQ(json_number(kept, "skipped"), 2);
  EXPECT_EQ(json_number(kept, "split_examples"), 102);
  EXPECT_EQ(json_number(kept, "scored_skipped"), 0);

  // Empty outputs for the two skipped pairs: their 38 target tokens and 2 sequences are wrong.
  const auto scored = eval_scoring_skipped(
      "rev", "(on 102 pairs (2 skipped by data.skip_unfit, scored as empty output)");
  EXPECT_EQ(json_number(scored, "examples"), 102);
  EXPECT_EQ(json_number(scored, "scored_skipped"), 1);
  const double kept_tokens = json_number(kept, "tokens");
  EXPECT_EQ(json_number(scored, "tokens"), kept_tokens + 38);
  EXPECT_NEAR(json_number(scored, "token_accuracy"),
              json_number(kept, "token_accuracy") * kept_tokens / (kept_tokens + 38), 1e-9);
  EXPECT_NEAR(json_number(scored, "exact_match"), json_number(kept, "exact_match") * 100 / 102,
              1e-9);
  EXPECT_DOUBLE_EQ(json_number(scored, "loss"),
                   json_number(kept, "loss"));  // over the scored pairs
}

TEST_F(EvalCommand, TranslationRepeatsValidationAndScoresSkippedPairsAsEmpty) {
  const auto examples = fixtures::tiny_translation_examples(200);
  const std::vector<Example> train(examples.begin(), examples.begin() + 120);
  std::vector<Example> valid(examples.begin() + 120, examples.end());
  valid.push_back({words(20, "c"), "C", 0});  // longer than max_len 16: skipped
  write_tsv(file("tr_train.tsv"), train);
  write_tsv(file("tr_valid.tsv"), valid);
  const auto out = train_then_check(
      "tr", text_run_yaml("tr", "translation", ", skip_unfit: true"),
      {{"loss", "%.4f"}, {"exact_match", "%.4f"}, {"bleu", "%.2f"}, {"chrf", "%.2f"}});
  test::expect_contains(out, "(on 80 of 81 pairs (1 skipped by data.skip_unfit); greedy CTC)");
  test::expect_contains(out, "corpus statistics (sacreBLEU 2)");
  const auto kept = line_starting(out, "{\"examples\"");
  const auto scored = eval_scoring_skipped("tr", "(on 81 pairs (1 skipped by data.skip_unfit");
  EXPECT_EQ(json_number(scored, "examples"), 81);
  EXPECT_NEAR(json_number(scored, "exact_match"), json_number(kept, "exact_match") * 80 / 81, 1e-9);
  // The empty hypothesis adds its reference's token and nothing to the hypotheses.
  EXPECT_EQ(json_number(scored, "reference_tokens"), json_number(kept, "reference_tokens") + 1);
  EXPECT_EQ(json_number(scored, "hypothesis_tokens"), json_number(kept, "hypothesis_tokens"));
  EXPECT_LE(json_number(scored, "bleu"), json_number(kept, "bleu"));
}

TEST_F(EvalCommand, ClassificationRepeatsValidation) {
  auto examples = fixtures::tiny_reverse_examples(220, "abcdefgh");
  for (auto& e : examples)
    e.target = std::string("abcd").find(e.source[0]) != std::string::npos ? "early" : "late";
  write_tsv(file("cls_train.tsv"), {examples.begin(), examples.begin() + 120});
  write_tsv(file("cls_valid.tsv"), {examples.begin() + 120, examples.end()});
  train_then_check("cls", text_run_yaml("cls", "classification"),
                   {{"loss", "%.4f"}, {"accuracy", "%.4f"}, {"macro_f1", "%.4f"}});
}

TEST_F(EvalCommand, ImageClassificationRepeatsValidation) {
  test::write_quadrant_split(dir_->path().string(), "train", 96, /*seed=*/1);
  test::write_quadrant_split(dir_->path().string(), "valid", 80, /*seed=*/2);
  train_then_check("vit",
                   "run: {name: vit, out_dir: " + file("runs") +
                       ", threads: 1}\n"
                       "data: {task: image_classification, format: idx, train: " +
                       file("train-images-idx3-ubyte") +
                       ",\n       valid: " + file("valid-images-idx3-ubyte") +
                       "}\n"
                       "model: {patch_size: 4, d_model: 16, num_heads: 2, num_layers: 1, d_ff: 32, "
                       "dropout: 0.0}\n" +
                       kTrain,
                   {{"loss", "%.4f"}, {"accuracy", "%.4f"}, {"macro_f1", "%.4f"}});
}

// predict, like eval, runs the checkpoint's precision by default: the same logits as
// --precision fp32 for an fp32 run, on any CPU; a misspelt --precision is exit 2.
TEST_F(EvalCommand, PredictDefaultsToTheCheckpointsPrecision) {
  const std::string checkpoint = file("runs/rev/best.pt");
  if (!fs::exists(checkpoint)) GTEST_SKIP() << "needs the transduction run of this suite";
  const auto by_default =
      attnlab("predict --logits --checkpoint " + checkpoint + " 'a b c d' 'e f'");
  const auto fp32 =
      attnlab("predict --logits --precision fp32 --checkpoint " + checkpoint + " 'a b c d' 'e f'");
  ASSERT_EQ(by_default.rc, 0) << by_default.out;
  ASSERT_EQ(fp32.rc, 0) << fp32.out;
  EXPECT_EQ(by_default.out, fp32.out);

  // A bf16 run: by default predict and eval run bf16 (as trained), on a CPU without native bf16
  // too, and bf16 logits are not fp32's.
  std::string yaml = text_run_yaml("rev", "transduction", ", skip_unfit: true");
  yaml = std::regex_replace(yaml, std::regex("name: rev"), "name: rev_bf16");
  yaml = std::regex_replace(yaml, std::regex("max_steps: 80"), "max_steps: 20");
  yaml = std::regex_replace(yaml, std::regex("precision: fp32"), "precision: bf16");
  test::write_text(file("rev_bf16.yaml"), yaml);
  const auto trained = attnlab("train --config " + file("rev_bf16.yaml"));
  ASSERT_EQ(trained.rc, 0) << trained.out;
  const std::string bf16_checkpoint = file("runs/rev_bf16/last.pt");
  const auto bf16_default =
      attnlab("predict --logits --checkpoint " + bf16_checkpoint + " 'a b c d' 'e f'");
  const auto bf16 = attnlab("predict --logits --precision bf16 --checkpoint " + bf16_checkpoint +
                            " 'a b c d' 'e f'");
  const auto bf16_as_fp32 = attnlab("predict --logits --precision fp32 --checkpoint " +
                                    bf16_checkpoint + " 'a b c d' 'e f'");
  ASSERT_EQ(bf16_default.rc, 0) << bf16_default.out;
  EXPECT_EQ(bf16_default.out, bf16.out);
  EXPECT_NE(bf16_default.out, bf16_as_fp32.out);
  const auto eval_bf16 = attnlab("eval --checkpoint " + bf16_checkpoint + " --split valid");
  ASSERT_EQ(eval_bf16.rc, 0) << eval_bf16.out;
  test::expect_contains(eval_bf16.out, "precision bf16 (as trained)");

  const auto typo = attnlab("eval --precision bf61 --checkpoint " + checkpoint);
  EXPECT_EQ(typo.rc, 2) << typo.out;
  test::expect_contains(typo.out, "--precision must be checkpoint, auto, fp32 or bf16, got 'bf61'");
  EXPECT_EQ(attnlab("predict --precision x --checkpoint " + checkpoint + " 'a'").rc, 2);
}

}  // namespace
}  // namespace attnlab
