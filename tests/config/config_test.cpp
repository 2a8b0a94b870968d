// Config loading: defaults, every kind of error message, --set overrides, path resolution and
// the to_yaml round trip. Expected values are written out by hand from config.h.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace attnlab {
namespace {

namespace fs = std::filesystem;

// The smallest valid config; line numbers below count from here.
constexpr const char* kMinimal =
    "data:\n"               // 1
    "  train: train.tsv\n"  // 2
    "  valid: valid.tsv\n"  // 3
    "train:\n"              // 4
    "  max_steps: 1000\n";  // 5

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("attnlab_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to dir_/name and returns the full path.
  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  // The ConfigError message of loading `text` (with `overrides`), or "" if it loaded.
  std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
    path_ = write("x.yaml", text);
    try {
      load_config(path_, overrides);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
  std::string path_;  // the file error_of wrote
};

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

TEST_F(ConfigTest, DefaultsForEveryUnsetKey) {
  const Config c = parse_config(kMinimal, "mem.yaml");
  EXPECT_EQ(c.source, "mem.yaml");
  EXPECT_EQ(c.run.name, "run");
  EXPECT_EQ(c.run.out_dir, "runs");
  EXPECT_EQ(c.run.seed, 1234u);
  EXPECT_EQ(c.run.threads, 0);
  EXPECT_EQ(c.data.task, TaskKind::kTransduction);
  EXPECT_EQ(c.data.train, "train.tsv");
  EXPECT_EQ(c.data.valid, "valid.tsv");
  EXPECT_EQ(c.data.test, "");
  EXPECT_EQ(c.data.tokenization, Tokenization::kChar);
  EXPECT_EQ(c.data.max_len, 64);
  EXPECT_EQ(c.model.d_model, 128);
  EXPECT_EQ(c.model.num_heads, 4);
  EXPECT_EQ(c.model.num_layers, 3);
  EXPECT_EQ(c.model.d_ff, 512);
  EXPECT_DOUBLE_EQ(c.model.dropout, 0.1);
  EXPECT_DOUBLE_EQ(c.model.attention_dropout, 0.0);
  EXPECT_EQ(c.model.norm, NormPlacement::kPre);
  EXPECT_EQ(c.model.activation, Activation::kGelu);
  EXPECT_EQ(c.model.positions, PositionKind::kSinusoidal);
  EXPECT_EQ(c.model.pooling, Pooling::kCls);
  EXPECT_EQ(c.train.batch_size, 64);
  EXPECT_EQ(c.train.max_steps, 1000);
  EXPECT_EQ(c.train.max_epochs, 0);
  EXPECT_DOUBLE_EQ(c.train.lr, 1e-3);
  EXPECT_DOUBLE_EQ(c.train.beta1, 0.9);
  EXPECT_DOUBLE_EQ(c.train.beta2, 0.98);
  EXPECT_DOUBLE_EQ(c.train.eps, 1e-8);
  EXPECT_DOUBLE_EQ(c.train.weight_decay, 0.01);
  EXPECT_EQ(c.train.schedule, ScheduleKind::kCosine);
  EXPECT_EQ(c.train.warmup_steps, 100);
  EXPECT_DOUBLE_EQ(c.train.min_lr_ratio, 0.0);
  EXPECT_DOUBLE_EQ(c.train.grad_clip, 1.0);
  EXPECT_DOUBLE_EQ(c.train.label_smoothing, 0.0);
  EXPECT_EQ(c.train.precision, Precision::kAuto);
  EXPECT_EQ(c.train.eval_interval, 200);
  EXPECT_EQ(c.train.checkpoint_interval, 500);
  EXPECT_EQ(c.train.keep_last, 3);
  EXPECT_EQ(c.train.best_metric, BestMetric::kAuto);
  EXPECT_EQ(c.train.early_stopping_patience, 0);
  EXPECT_DOUBLE_EQ(c.train.stop_at, 0.0);
  EXPECT_EQ(c.train.max_nonfinite_steps, 5);
  EXPECT_EQ(c.log.interval, 50);
  EXPECT_TRUE(c.log.progress);
  EXPECT_FALSE(c.log.attention.enabled);
  EXPECT_EQ(c.log.attention.num_examples, 4);
  EXPECT_TRUE(c.log.attention.examples.empty());
  EXPECT_EQ(c.log.attention.every, 100);
  EXPECT_TRUE(c.log.attention.layers.empty());
  EXPECT_TRUE(c.log.attention.heads.empty());
}

TEST_F(ConfigTest, ReadsEveryKindOfValue) {
  const Config c = parse_config(
      "run: {name: exp1, seed: 18446744073709551615, threads: 2}\n"
      "data:\n"
      "  task: classification\n"
      "  train: a.tsv\n"
      "  valid: b.tsv\n"
      "  test:\n"  // no value: empty
      "  tokenization: word\n"
      "model: {d_model: 96, num_heads: 3, dropout: 0, norm: post, activation: relu}\n"
      "train: {max_epochs: 7, lr: 3e-4, beta2: .999, best_metric: accuracy, warmup_steps: 0}\n"
      "log:\n"
      "  progress: no\n"
      "  attention:\n"
      "    enabled: true\n"
      "    examples: [\"a b\", c]\n"
      "    layers:\n"
      "      - 0\n"
      "      - 2\n"
      "    heads: []\n",
      "mem.yaml");
  EXPECT_EQ(c.run.name, "exp1");
  EXPECT_EQ(c.run.seed, 18446744073709551615ull);
  EXPECT_EQ(c.run.threads, 2);
  EXPECT_EQ(c.data.task, TaskKind::kClassification);
  EXPECT_EQ(c.data.test, "");
  EXPECT_EQ(c.data.tokenization, Tokenization::kWord);
  EXPECT_EQ(c.model.d_model, 96);
  EXPECT_EQ(c.model.num_heads, 3);
  EXPECT_DOUBLE_EQ(c.model.dropout, 0.0);
  EXPECT_EQ(c.model.norm, NormPlacement::kPost);
  EXPECT_EQ(c.model.activation, Activation::kRelu);
  EXPECT_EQ(c.train.max_steps, 0);
  EXPECT_EQ(c.train.max_epochs, 7);
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);
  EXPECT_DOUBLE_EQ(c.train.beta2, 0.999);
  EXPECT_EQ(c.train.best_metric, BestMetric::kAccuracy);
  EXPECT_FALSE(c.log.progress);
  EXPECT_TRUE(c.log.attention.enabled);
  EXPECT_EQ(c.log.attention.examples, (std::vector<std::string>{"a b", "c"}));
  EXPECT_EQ(c.log.attention.layers, (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(c.log.attention.heads.empty());
}

TEST_F(ConfigTest, MissingFileNamesFileAndReason) {
  const std::string missing = (dir_ / "nope.yaml").string();
  try {
    load_config(missing);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_HAS(e.what(), "cannot read config file " + missing + ": ");
    EXPECT_HAS(e.what(), "No such file");
  }
  try {
    load_config(dir_.string());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_HAS(e.what(), "is a directory");
  }
}

TEST_F(ConfigTest, YamlSyntaxErrorHasFileLineColumn) {
  const std::string message = error_of(
      "data:\n"
      "  train: a.tsv\n"
      "  valid: [b.tsv\n"
      "train:\n");
  EXPECT_HAS(message, path_ + ":");
  // yaml-cpp reports the unclosed flow sequence where it notices it; the line must be real.
  const auto after = message.substr(path_.size() + 1);
  const int line = std::stoi(after);
  EXPECT_GE(line, 3);
  EXPECT_LE(line, 5);
  EXPECT_NE(after.find(':'), std::string::npos);  // line:col: message
}

TEST_F(ConfigTest, EmptyFileIsAllDefaultsAndMissingRequiredKeys) {
  const std::string message = error_of("");
  EXPECT_HAS(message, "data.train (" + path_ + "): is required");
  EXPECT_HAS(message, "data.valid (" + path_ + "): is required");
  EXPECT_HAS(message, "neither train.max_steps nor train.max_epochs is set");
  EXPECT_HAS(message, "3 config errors:");
}

TEST_F(ConfigTest, UnknownKeySuggestsNearMiss) {
  const std::string message = error_of(std::string(kMinimal) +
                                       "model:\n"         // 6
                                       "  d_modle: 64\n"  // 7
  );
  EXPECT_EQ(message, "model.d_modle (" + path_ + ":7): unknown key; did you mean 'model.d_model'?");
}

TEST_F(ConfigTest, UnknownSectionSuggestsNearMiss) {
  const std::string message = error_of(
      "data: {train: a, valid: b}\n"
      "trian:\n"
      "  max_steps: 10\n");
  // Only the root cause: train.max_steps is unset because of the typo, so no follow-on error.
  EXPECT_EQ(message, "trian (" + path_ + ":2): unknown section; did you mean 'train'?");
  EXPECT_EQ(error_of("data: {train: a, valid: b}\ntrain: {max_step: 10}\n"),
            "train.max_step (" + path_ + ":2): unknown key; did you mean 'train.max_steps'?");
  // A document that is not a mapping gets one error, not one per missing key.
  EXPECT_EQ(
      error_of("- a\n- b\n"),
      path_ + ":1: expected a mapping of sections (run, data, model, train, log), got a list");
}

TEST_F(ConfigTest, UnknownNestedKeySuggestsNearMiss) {
  const std::string message = error_of(std::string(kMinimal) +
                                       "log:\n"
                                       "  attention:\n"
                                       "    layer: [0]\n");  // 8
  EXPECT_EQ(message, "log.attention.layer (" + path_ +
                         ":8): unknown key; did you mean 'log.attention.layers'?");
}

TEST_F(ConfigTest, KeyInWrongSectionPointsToRightOne) {
  const std::string message = error_of(std::string(kMinimal) + "model:\n  lr: 0.1\n");
  EXPECT_HAS(message, "model.lr (" + path_ + ":7): unknown key; did you mean 'train.lr'?");
}

TEST_F(ConfigTest, UnknownKeyWithoutNearMissListsKnownKeys) {
  const std::string message = error_of(std::string(kMinimal) + "run:\n  colour: red\n");
  EXPECT_HAS(message, "run.colour (" + path_ +
                          ":7): unknown key (keys in run are name, out_dir, "
                          "seed, threads, dist_timeout_s)");
}

TEST_F(ConfigTest, DuplicateKeyIsAnError) {
  const std::string message = error_of(std::string(kMinimal) + "  max_steps: 20\n");
  EXPECT_HAS(message,
             "train.max_steps (" + path_ + ":6): duplicate key (first given at " + path_ + ":5)");
}

TEST_F(ConfigTest, SectionMustBeAMapping) {
  const std::string message = error_of(std::string(kMinimal) + "model: 3\n");
  EXPECT_HAS(message, "model (" + path_ + ":6): expected a mapping of keys (d_model,");
}

TEST_F(ConfigTest, WrongTypesNameKeyLineAndValue) {
  const std::string message = error_of(std::string(kMinimal) +
                                       "  lr: fast\n"         // 6
                                       "model:\n"             // 7
                                       "  d_model: abc\n"     // 8
                                       "  num_layers: 2.5\n"  // 9
                                       "log:\n"               // 10
                                       "  progress: maybe\n"  // 11
                                       "  attention:\n"       // 12
                                       "    layers: 3\n"      // 13
                                       "    heads: [0, x]\n"  // 14
                                       "run:\n"               // 15
                                       "  seed: -1\n"         // 16
                                       "  name: {a: 1}\n");   // 17
  EXPECT_HAS(message, "train.lr (" + path_ + ":6): expected a number, got 'fast'");
  EXPECT_HAS(message, "model.d_model (" + path_ + ":8): expected an integer, got 'abc'");
  EXPECT_HAS(message, "model.num_layers (" + path_ + ":9): expected an integer, got '2.5'");
  EXPECT_HAS(message, "log.progress (" + path_ + ":11): expected true or false, got 'maybe'");
  EXPECT_HAS(message, "log.attention.layers (" + path_ + ":13): expected a list of integers");
  EXPECT_HAS(message, "log.attention.heads[1] (" + path_ + ":14): expected an integer, got 'x'");
  EXPECT_HAS(message, "run.seed (" + path_ + ":16): expected a non-negative integer");
  EXPECT_HAS(message, "run.name (" + path_ + ":17): expected a string, got a mapping");
  EXPECT_HAS(message, "8 config errors:");  // a bad d_model does not also fail the divide check
}

TEST_F(ConfigTest, OutOfRangeValues) {
  struct Case {
    std::string yaml;  // appended to kMinimal (which ends inside `train:`)
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"  lr: 0\n", "train.lr (@:6): must be > 0, got 0"},
      {"  lr: -1e-3\n", "train.lr (@:6): must be > 0, got -0.001"},
      {"  beta1: 1.0\n", "train.beta1 (@:6): must be in [0, 1), got 1"},
      {"  beta2: -0.1\n", "train.beta2 (@:6): must be in [0, 1), got -0.1"},
      {"  eps: 0\n", "train.eps (@:6): must be > 0, got 0"},
      {"  batch_size: 0\n", "train.batch_size (@:6): must be > 0, got 0"},
      {"  label_smoothing: 1\n", "train.label_smoothing (@:6): must be in [0, 1), got 1"},
      {"  min_lr_ratio: 1.5\n", "train.min_lr_ratio (@:6): must be in [0, 1], got 1.5"},
      {"  grad_clip: -1\n", "train.grad_clip (@:6): must be >= 0, got -1"},
      {"  eval_interval: 0\n", "train.eval_interval (@:6): must be > 0, got 0"},
      {"  max_nonfinite_steps: 0\n", "train.max_nonfinite_steps (@:6): must be > 0, got 0"},
      {"model:\n  dropout: 1.0\n", "model.dropout (@:7): must be in [0, 1), got 1"},
      {"model:\n  attention_dropout: -0.5\n",
       "model.attention_dropout (@:7): must be in [0, 1), got -0.5"},
      {"model:\n  d_model: -8\n", "model.d_model (@:7): must be > 0, got -8"},
      {"model:\n  d_ff: 0\n", "model.d_ff (@:7): must be > 0, got 0"},
      {"data: {train: a, valid: b}\ntrain: {max_steps: 1000}\ndata:\n  max_len: 0\n",
       "data (@:3): duplicate section (first given at @:1)"},
      {"data:\n  train: a\n  valid: b\n  max_len: 0\ntrain: {max_steps: 1000}\n",
       "data.max_len (@:4): must be > 0, got 0"},
      {"run:\n  threads: -2\n", "run.threads (@:7): must be >= 0, got -2"},
      {"log:\n  interval: 0\n", "log.interval (@:7): must be > 0, got 0"},
  };
  for (const auto& c : cases) {
    // A case that starts with `data:` is a whole document (kMinimal has a data section).
    const std::string yaml = c.yaml.rfind("data:", 0) == 0 ? c.yaml : kMinimal + c.yaml;
    std::string expected = c.expected;
    const std::string message = error_of(yaml);
    for (auto at = expected.find('@'); at != std::string::npos; at = expected.find('@'))
      expected.replace(at, 1, path_);
    EXPECT_EQ(message, expected) << "yaml:\n" << yaml;
  }
}

TEST_F(ConfigTest, EnumsListAllowedValues) {
  struct Case {
    std::string section, key, bad, allowed;
  };
  const std::vector<Case> cases = {
      {"data", "task", "regression",
       "transduction|classification|translation|image_classification"},
      {"data", "tokenization", "bpe", "char|word|sentencepiece"},
      {"model", "norm", "sandwich", "pre|post"},
      {"model", "activation", "swish", "gelu|relu"},
      {"model", "positions", "rotary", "sinusoidal|learned"},
      {"model", "pooling", "max", "cls|mean"},
      {"train", "schedule", "step", "cosine|linear|inverse_sqrt|constant"},
      {"train", "precision", "fp16", "auto|fp32|bf16"},
      {"train", "best_metric", "f1", "auto|loss|accuracy|exact_match|bleu|chrf"},
      {"model.ctc", "split_at", "middle", "embedding|encoder"},
  };
  for (const auto& c : cases) {
    const std::string message = error_of(kMinimal, {c.section + "." + c.key + "=" + c.bad});
    EXPECT_EQ(message, c.section + "." + c.key + " (--set " + c.section + "." + c.key + "=" +
                           c.bad + "): '" + c.bad + "' is not one of " + c.allowed);
  }
  // Inside a file, with a near miss.
  const std::string message = error_of(std::string(kMinimal) + "model:\n  activation: rleu\n");
  EXPECT_EQ(message, "model.activation (" + path_ +
                         ":7): 'rleu' is not one of gelu|relu; did you mean 'relu'?");
}

TEST_F(ConfigTest, NumHeadsMustDivideDModel) {
  const std::string message = error_of(std::string(kMinimal) +
                                       "model:\n"            // 6
                                       "  d_model: 128\n"    // 7
                                       "  num_heads: 6\n");  // 8
  EXPECT_EQ(message, "model.num_heads (" + path_ + ":8): 6 does not divide model.d_model=128");
  // With num_heads left at its default (4), the error points at d_model's line.
  const std::string at_d_model = error_of(std::string(kMinimal) + "model:\n  d_model: 130\n");
  EXPECT_EQ(at_d_model, "model.num_heads (" + path_ + ":7): 4 does not divide model.d_model=130");
}

TEST_F(ConfigTest, ExactlyOneOfMaxStepsAndMaxEpochs) {
  const std::string neither = error_of("data: {train: a, valid: b}\ntrain:\n  max_steps: 0\n");
  EXPECT_EQ(neither, "train.max_steps (" + path_ +
                         ":3): neither train.max_steps nor train.max_epochs is set; set exactly "
                         "one of them to a positive value");
  const std::string both = error_of(std::string(kMinimal) + "  max_epochs: 2\n");
  EXPECT_EQ(both, "train.max_epochs (" + path_ +
                      ":6): both train.max_steps=1000 and train.max_epochs=2 are set; set "
                      "exactly one (the other to 0)");
  EXPECT_EQ(error_of("data: {train: a, valid: b}\ntrain: {max_epochs: 3}\n"), "");
}

TEST_F(ConfigTest, WarmupMustBeShorterThanMaxSteps) {
  const std::string message = error_of("data: {train: a, valid: b}\ntrain:\n  max_steps: 100\n");
  EXPECT_EQ(message, "train.warmup_steps (" + path_ + ":3): 100 must be < train.max_steps=100");
  // With max_epochs the step count is unknown here: no check.
  EXPECT_EQ(error_of("data: {train: a, valid: b}\ntrain: {max_epochs: 1, warmup_steps: 5000}\n"),
            "");
}

TEST_F(ConfigTest, ExactMatchOnlyForTransduction) {
  const std::string message = error_of(
      "data: {task: classification, train: a, valid: b}\n"
      "train:\n"
      "  max_steps: 1000\n"
      "  best_metric: exact_match\n");
  EXPECT_EQ(message, "train.best_metric (" + path_ +
                         ":4): exact_match needs data.task=transduction or translation, got "
                         "data.task=classification");
}

TEST_F(ConfigTest, BleuAndChrfOnlyForTranslation) {
  const std::string bleu_message = error_of(
      "data: {task: transduction, train: a, valid: b}\n"
      "train:\n"
      "  max_steps: 1000\n"
      "  best_metric: bleu\n");
  EXPECT_EQ(bleu_message, "train.best_metric (" + path_ +
                              ":4): bleu needs data.task=translation, got data.task=transduction");
  EXPECT_EQ(error_of("data: {task: translation, train: a, valid: b}\n"
                     "train: {max_steps: 1000, best_metric: chrf}\n"),
            "");
  const std::string upsample_message = error_of(
      "data: {task: translation, train: a, valid: b}\n"
      "model: {ctc: {upsample: 0}}\n"
      "train: {max_steps: 1000}\n");
  EXPECT_EQ(upsample_message, "model.ctc.upsample (" + path_ + ":2): must be > 0, got 0");
}

TEST_F(ConfigTest, SentencePieceKeys) {
  const std::string yaml =
      "data:\n"
      "  task: translation\n"
      "  train: a\n"
      "  valid: b\n"
      "  tokenization: sentencepiece\n"
      "  spm: {vocab_size: 800, model_type: bpe, character_coverage: 0.9995, "
      "model: sub/m.model}\n"
      "train: {max_steps: 1000}\n";
  const Config c = load_config(write("s.yaml", yaml));
  EXPECT_EQ(c.data.tokenization, Tokenization::kSentencepiece);
  EXPECT_EQ(c.data.spm.vocab_size, 800);
  EXPECT_EQ(c.data.spm.model_type, SpmModelType::kBpe);
  EXPECT_DOUBLE_EQ(c.data.spm.character_coverage, 0.9995);
  EXPECT_EQ(c.data.spm.model, (dir_ / "sub/m.model").string());  // relative to the config file
  const Config defaults = load_config(write("d.yaml", kMinimal));
  EXPECT_EQ(defaults.data.spm.vocab_size, 1000);
  EXPECT_EQ(defaults.data.spm.model_type, SpmModelType::kUnigram);
  EXPECT_DOUBLE_EQ(defaults.data.spm.character_coverage, 1.0);
  EXPECT_EQ(defaults.data.spm.model, "");

  EXPECT_EQ(error_of(yaml, {"data.spm.vocab_size=1"}),
            "data.spm.vocab_size (--set data.spm.vocab_size=1): must be >= 2, got 1");
  EXPECT_EQ(error_of(yaml, {"data.spm.character_coverage=0"}),
            "data.spm.character_coverage (--set data.spm.character_coverage=0): must be in (0, 1], "
            "got 0");
  EXPECT_HAS(error_of(yaml, {"data.spm.model_type=wordpiece"}),
             "'wordpiece' is not one of unigram|bpe");
  const std::string transduction = error_of(yaml, {"data.task=transduction"});
  EXPECT_HAS(transduction, "data.tokenization (" + path_ +
                               ":5): sentencepiece segments source and target independently");
  EXPECT_HAS(transduction, "use data.task=translation");
}

TEST_F(ConfigTest, AttentionIndicesChecked) {
  const std::string message = error_of(std::string(kMinimal) +
                                       "log:\n"               // 6
                                       "  attention:\n"       // 7
                                       "    layers:\n"        // 8
                                       "      - 0\n"          // 9
                                       "      - -1\n"         // 10
                                       "      - 3\n"          // 11
                                       "    heads: [-2]\n");  // 12
  EXPECT_HAS(message, "log.attention.layers[1] (" + path_ + ":10): must be >= 0, got -1");
  EXPECT_HAS(message, "log.attention.layers[2] (" + path_ +
                          ":11): 3 is out of range for model.num_layers=3");
  EXPECT_HAS(message, "log.attention.heads[0] (" + path_ + ":12): must be >= 0, got -2");
  EXPECT_HAS(message, "3 config errors:");
}

TEST_F(ConfigTest, EnabledAttentionLoggingNeedsExamples) {
  const std::string message =
      error_of(std::string(kMinimal) + "log:\n  attention: {enabled: true, num_examples: 0}\n");
  EXPECT_HAS(message, "log.attention.num_examples (" + path_ + ":7): attention logging is enabled");
  EXPECT_EQ(error_of(std::string(kMinimal) +
                     "log:\n  attention: {enabled: true, num_examples: 0, examples: [abc]}\n"),
            "");
}

TEST_F(ConfigTest, OverridesApplyBeforeValidation) {
  const std::string path = write("x.yaml", kMinimal);
  const Config c =
      load_config(path, {"model.d_model=256", "model.num_heads = 8", "train.lr=3e-4",
                         "log.attention.layers=[0, 2]", "log.attention.examples=[ab c, \"d,e\"]",
                         "run.name=sweep-1", "data.test=", "log.progress=false"});
  EXPECT_EQ(c.model.d_model, 256);
  EXPECT_EQ(c.model.num_heads, 8);
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);
  EXPECT_EQ(c.log.attention.layers, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(c.log.attention.examples, (std::vector<std::string>{"ab c", "d,e"}));
  EXPECT_EQ(c.run.name, "sweep-1");
  EXPECT_EQ(c.data.test, "");
  EXPECT_FALSE(c.log.progress);
  // An override replaces the file's value, also for the warmup check, and the last one wins.
  const Config later =
      load_config(path, {"train.max_steps=50", "train.warmup_steps=10", "train.max_steps=60"});
  EXPECT_EQ(later.train.max_steps, 60);
  // An override can fix an invalid file.
  const std::string bad = write("bad.yaml", std::string(kMinimal) + "model:\n  num_heads: 6\n");
  EXPECT_EQ(load_config(bad, {"model.num_heads=8"}).model.num_heads, 8);
}

TEST_F(ConfigTest, OverrideErrorsNameTheOverride) {
  EXPECT_EQ(error_of(kMinimal, {"train.lr=abc"}),
            "train.lr (--set train.lr=abc): expected a number, got 'abc'");
  EXPECT_EQ(error_of(kMinimal, {"train.lrr=0.1"}),
            "train.lrr (--set train.lrr=0.1): unknown key; did you mean 'train.lr'?");
  EXPECT_EQ(error_of(kMinimal, {"modle.d_model=64"}),
            "modle (--set modle.d_model=64): unknown section; did you mean 'model'?");
  EXPECT_EQ(error_of(kMinimal, {"log.attention.layer=[1]"}),
            "log.attention.layer (--set log.attention.layer=[1]): unknown key; did you mean "
            "'log.attention.layers'?");
  EXPECT_EQ(error_of(kMinimal, {"model.num_heads=6"}),
            "model.num_heads (--set model.num_heads=6): 6 does not divide model.d_model=128");
  EXPECT_EQ(error_of(kMinimal, {"train.max_steps"}),
            "--set train.max_steps: expected section.key=value");
  EXPECT_EQ(error_of(kMinimal, {"=3"}), "--set =3: expected section.key=value");
  EXPECT_HAS(error_of(kMinimal, {"model=3"}), "model (--set model=3): is a section");
  EXPECT_HAS(error_of(kMinimal, {"train.lr.x=3"}),
             "train.lr.x (--set train.lr.x=3): 'train.lr' "
             "is a key, not a section");
  EXPECT_HAS(error_of(kMinimal, {"log.attention.layers=[0, 1"}),
             "log.attention.layers (--set log.attention.layers=[0, 1): cannot parse value");
  EXPECT_EQ(error_of(kMinimal, {"log.attention.layers=[0, -1]"}),
            "log.attention.layers[1] (--set log.attention.layers=[0, -1]): must be >= 0, got -1");
  // parse_config takes overrides too.
  EXPECT_THROW(parse_config(kMinimal, "mem", {"train.lr=0"}), ConfigError);
}

TEST_F(ConfigTest, RelativePathsResolveAgainstConfigDirectory) {
  write("cfg/sub/x.yaml",
        "run: {out_dir: ../runs}\n"
        "data:\n"
        "  train: data/train.tsv\n"
        "  valid: /abs/valid.tsv\n"
        "  test: test.tsv\n"
        "train: {max_steps: 1000}\n");
  const fs::path elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  const fs::path old_cwd = fs::current_path();
  fs::current_path(elsewhere);
  Config c;
  try {
    c = load_config("../cfg/sub/x.yaml");  // relative to the cwd, which is not the config's dir
  } catch (...) {
    fs::current_path(old_cwd);
    throw;
  }
  fs::current_path(old_cwd);
  const fs::path config_dir = fs::weakly_canonical(dir_ / "cfg" / "sub");
  EXPECT_EQ(c.source, "../cfg/sub/x.yaml");
  EXPECT_EQ(fs::path(c.data.train), config_dir / "data" / "train.tsv");
  EXPECT_EQ(c.data.valid, "/abs/valid.tsv");
  EXPECT_EQ(fs::path(c.data.test), config_dir / "test.tsv");
  EXPECT_EQ(fs::path(c.run.out_dir), config_dir.parent_path() / "runs");
  EXPECT_TRUE(fs::path(c.data.train).is_absolute());

  // parse_config keeps paths as written.
  const Config parsed = parse_config(kMinimal, "mem.yaml");
  EXPECT_EQ(parsed.data.train, "train.tsv");
  EXPECT_EQ(parsed.run.out_dir, "runs");
}

TEST_F(ConfigTest, ToYamlWritesEveryKeyInOrder) {
  Config c;
  c.data.train = "/d/train.tsv";
  c.data.valid = "/d/valid.tsv";
  c.train.max_steps = 1000;
  const std::string expected =
      "run:\n"
      "  name: run\n"
      "  out_dir: runs\n"
      "  seed: 1234\n"
      "  threads: 0\n"
      "  dist_timeout_s: 300\n"
      "data:\n"
      "  task: transduction\n"
      "  format: tsv\n"
      "  train: /d/train.tsv\n"
      "  valid: /d/valid.tsv\n"
      "  test: \"\"\n"
      "  tokenization: char\n"
      "  max_len: 64\n"
      "  skip_unfit: false\n"
      "  spm:\n"
      "    vocab_size: 1000\n"
      "    model_type: unigram\n"
      "    character_coverage: 1.0\n"
      "    model: \"\"\n"
      "  image:\n"
      "    train_labels: \"\"\n"
      "    valid_labels: \"\"\n"
      "    test_labels: \"\"\n"
      "    holdout: 0\n"
      "    classes: []\n"
      "    augment:\n"
      "      crop_padding: 0\n"
      "      flip: false\n"
      "model:\n"
      "  d_model: 128\n"
      "  num_heads: 4\n"
      "  num_layers: 3\n"
      "  d_ff: 512\n"
      "  dropout: 0.1\n"
      "  attention_dropout: 0.0\n"
      "  norm: pre\n"
      "  activation: gelu\n"
      "  positions: sinusoidal\n"
      "  pooling: cls\n"
      "  patch_size: 4\n"
      "  ctc:\n"
      "    upsample: 2\n"
      "    split_at: encoder\n"
      "train:\n"
      "  batch_size: 64\n"
      "  grad_accum_steps: 1\n"
      "  bucket_batches: 0\n"
      "  max_steps: 1000\n"
      "  max_epochs: 0\n"
      "  lr: 0.001\n"
      "  beta1: 0.9\n"
      "  beta2: 0.98\n"
      "  eps: 1e-08\n"
      "  weight_decay: 0.01\n"
      "  schedule: cosine\n"
      "  warmup_steps: 100\n"
      "  min_lr_ratio: 0.0\n"
      "  grad_clip: 1.0\n"
      "  label_smoothing: 0.0\n"
      "  precision: auto\n"
      "  eval_interval: 200\n"
      "  checkpoint_interval: 500\n"
      "  keep_last: 3\n"
      "  best_metric: auto\n"
      "  early_stopping_patience: 0\n"
      "  stop_at: 0.0\n"
      "  max_nonfinite_steps: 5\n"
      "  resume: never\n"
      "log:\n"
      "  interval: 50\n"
      "  progress: true\n"
      "  attention:\n"
      "    enabled: false\n"
      "    num_examples: 4\n"
      "    examples: []\n"
      "    every: 100\n"
      "    layers: []\n"
      "    heads: []\n";
  EXPECT_EQ(to_yaml(c), expected);
}

TEST_F(ConfigTest, ToYamlRoundTrips) {
  Config c;
  c.run.name = "null";  // would read back as nothing if written plain
  c.run.out_dir = "/tmp/out dir: \"x\"";
  c.run.seed = 18446744073709551615ull;
  c.data.task = TaskKind::kClassification;
  c.data.train = "tr #1.tsv";
  c.data.valid = "- v.tsv";
  c.data.test = "123";
  c.model.d_model = 96;
  c.model.num_heads = 3;
  c.model.dropout = 0.1 + 0.2;  // 0.30000000000000004
  c.model.attention_dropout = 1.0 / 3.0;
  c.train.max_epochs = 4;
  c.train.lr = 3e-4;
  c.train.eps = 1e-12;
  c.train.stop_at = 0.95;
  c.train.best_metric = BestMetric::kAccuracy;
  c.log.progress = false;
  c.log.attention.enabled = true;
  c.log.attention.examples = {"a, b", "[x]", "it's \"q\"\\", "tab\there", ""};
  c.log.attention.layers = {0, 2};
  c.log.attention.heads = {1};
  const std::string yaml = to_yaml(c);
  const Config back = parse_config(yaml, "stored");
  EXPECT_EQ(to_yaml(back), yaml);
  EXPECT_EQ(back.run.name, c.run.name);
  EXPECT_EQ(back.run.out_dir, c.run.out_dir);
  EXPECT_EQ(back.run.seed, c.run.seed);
  EXPECT_EQ(back.data.train, c.data.train);
  EXPECT_EQ(back.data.valid, c.data.valid);
  EXPECT_EQ(back.data.test, c.data.test);
  EXPECT_EQ(back.model.dropout, c.model.dropout);  // bit-exact
  EXPECT_EQ(back.model.attention_dropout, c.model.attention_dropout);
  EXPECT_EQ(back.train.lr, c.train.lr);
  EXPECT_EQ(back.train.eps, c.train.eps);
  EXPECT_EQ(back.train.max_epochs, 4);
  EXPECT_EQ(back.train.max_steps, 0);
  EXPECT_EQ(back.log.attention.examples, c.log.attention.examples);
  EXPECT_EQ(back.log.attention.layers, c.log.attention.layers);
  EXPECT_EQ(back.log.attention.heads, c.log.attention.heads);
  EXPECT_FALSE(back.log.progress);
}

// data.task=image_classification: its keys, paths resolved, and what does not fit together.
constexpr const char* kImages =
    "data:\n"                                       // 1
    "  task: image_classification\n"                // 2
    "  format: idx\n"                               // 3
    "  train: img/train-images-idx3-ubyte.gz\n"     // 4
    "  image:\n"                                    // 5
    "    holdout: 500\n"                            // 6
    "    test_labels: img/t10k-labels\n"            // 7
    "    classes: [shirt, shoe]\n"                  // 8
    "    augment: {crop_padding: 2, flip: true}\n"  // 9
    "model:\n"                                      // 10
    "  patch_size: 7\n"                             // 11
    "train:\n"                                      // 12
    "  max_steps: 1000\n";                          // 13

TEST_F(ConfigTest, ImageKeysAreReadAndTheirPathsResolved) {
  const auto c = load_config(write("cfg/x.yaml", kImages));
  EXPECT_EQ(c.data.task, TaskKind::kImageClassification);
  EXPECT_EQ(c.data.format, DataFormat::kIdx);
  EXPECT_EQ(c.data.train, (dir_ / "cfg/img/train-images-idx3-ubyte.gz").string());
  EXPECT_EQ(c.data.image.test_labels, (dir_ / "cfg/img/t10k-labels").string());
  EXPECT_EQ(c.data.image.train_labels, "");
  EXPECT_EQ(c.data.image.holdout, 500);
  EXPECT_EQ(c.data.image.classes, (std::vector<std::string>{"shirt", "shoe"}));
  EXPECT_EQ(c.data.image.augment.crop_padding, 2);
  EXPECT_TRUE(c.data.image.augment.flip);
  EXPECT_EQ(c.model.patch_size, 7);
  // And they survive the YAML round trip a checkpoint makes.
  const auto back = parse_config(to_yaml(c), "back");
  EXPECT_EQ(back.data.image.classes, c.data.image.classes);
  EXPECT_EQ(back.data.image.augment.crop_padding, 2);
  EXPECT_EQ(back.model.patch_size, 7);
  EXPECT_EQ(back.data.format, DataFormat::kIdx);
}

TEST_F(ConfigTest, ImageKeysThatDoNotFitAreErrors) {
  EXPECT_HAS(
      error_of(kImages, {"data.format=tsv"}),
      "data.format (--set data.format=tsv): tsv does not fit data.task=image_classification");
  EXPECT_HAS(error_of(kMinimal, {"data.format=png"}), "text comes as tsv");
  EXPECT_HAS(error_of(kImages, {"data.valid=v.gz"}),
             "x.yaml:6): validates on held-out training images, but data.valid is set too");
  EXPECT_HAS(error_of(kImages, {"data.image.holdout=0"}), "data.valid");
  EXPECT_HAS(error_of(kMinimal, {"data.image.augment.flip=true"}),
             "data.image.* applies to data.task=image_classification only");
  EXPECT_HAS(error_of(kImages, {"data.format=png"}), "x.yaml:8): names the labels of IDX files");
  EXPECT_HAS(error_of(kImages, {"model.patch_size=0"}),
             "model.patch_size (--set model.patch_size=0): must be > 0");
  EXPECT_HAS(error_of(kImages, {"data.image.augment.crop_padding=-1"}), "must be >= 0");
  EXPECT_HAS(error_of(kImages, {"data.format=jpeg"}), "'jpeg' is not one of tsv|idx|png");
  EXPECT_HAS(error_of(kImages, {"data.image.classes=[a, b, a]"}),
             "data.image.classes[2] (--set data.image.classes=[a, b, a]): 'a' is also "
             "data.image.classes[0]");
  EXPECT_HAS(error_of(kImages, {"data.image.classes=[a, '']"}), "data.image.classes[1]");
  EXPECT_HAS(error_of(kImages, {"model.d_model=63", "model.num_heads=3"}),
             "model.d_model must be even, got 63");
  EXPECT_EQ(error_of(kImages, {"model.d_model=63", "model.num_heads=3", "model.positions=learned"}),
            "");
  EXPECT_HAS(error_of(kImages, {"data.image.augment.crop_padding=5000"}), "must be <= 4096");
  EXPECT_EQ(error_of(kImages, {"log.attention.enabled=true"}), "");
  EXPECT_HAS(error_of(kImages, {"log.attention.enabled=true", "log.attention.examples=[a b]"}),
             "log.attention.examples (--set log.attention.examples=[a b]): probe images are drawn "
             "from the validation images");
}

TEST_F(ConfigTest, OnlyConfigErrorEscapes) {
  // Odd YAML shapes that make yaml-cpp itself unhappy must still come out as ConfigError.
  for (const std::string text : {"[1, 2]", "? [a]\n: b\n", "data: !!binary abc\n", "&a [*a]",
                                 "\t- x\n", "%YAML 9.9\n---\na: 1\n"}) {
    try {
      parse_config(text, "odd.yaml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_HAS(e.what(), "odd.yaml");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "leaked " << e.what() << " for: " << text;
    }
  }
}

}  // namespace
}  // namespace attnlab
