// The translation task end to end: a tiny CTC translation overfits, validation reports BLEU
// and chrF, a checkpoint rebuilds the model alone, and a resumed run repeats the loss curve.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "attention_log/alignment.h"
#include "attention_log/probe.h"
#include "attention_log/record.h"
#include "data/tsv.h"
#include "support/tiny_task.h"
#include "support/train_helpers.h"
#include "tasks/ctc.h"
#include "tasks/translation_metrics.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/trained_model.h"
#include "train/trainer.h"
#include "train/validator.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

class TranslationTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("attnlab_translation_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    const auto examples = fixtures::tiny_translation_examples(64);
    write_tsv((root_ / "train.tsv").string(), examples);
    write_tsv((root_ / "valid.tsv").string(), {examples.begin(), examples.begin() + 16});
  }
  void TearDown() override { fs::remove_all(root_); }

  Config config(const std::string& name, std::vector<std::string> overrides = {}) {
    std::vector<std::string> base = {"run.name=" + name,
                                     "run.out_dir=" + root_.string(),
                                     "run.threads=1",
                                     "data.task=translation",
                                     "data.train=" + (root_ / "train.tsv").string(),
                                     "data.valid=" + (root_ / "valid.tsv").string(),
                                     "data.tokenization=word",
                                     "data.max_len=16",
                                     "model.d_model=32",
                                     "model.num_heads=2",
                                     "model.num_layers=2",
                                     "model.d_ff=64",
                                     "model.dropout=0.0",
                                     "model.ctc.upsample=2",
                                     "train.batch_size=16",
                                     "train.max_steps=400",
                                     "train.warmup_steps=20",
                                     "train.lr=3e-3",
                                     "train.eval_interval=100",
                                     "train.checkpoint_interval=100",
                                     "train.keep_last=1",
                                     "log.interval=50",
                                     "log.progress=false"};
    base.insert(base.end(), overrides.begin(), overrides.end());
    return parse_config("{}", "test", base);
  }

  fs::path root_;
};

TEST_F(TranslationTaskTest, TinyTaskOverfitsAndTheCheckpointRebuildsTheModel) {
  Trainer trainer(config("overfit"));
  const auto result = trainer.run();
  EXPECT_EQ(trainer.best_metric_name(), "bleu");  // auto for translation
  const auto trained = load_trained_model((root_ / "overfit" / "best.pt").string());
  EXPECT_EQ(trained.vocabs.task, TaskKind::kTranslation);
  EXPECT_EQ(trained.model->options.ctc_upsample, 2);
  auto model = trained.model;
  const Dataset train = load_split((root_ / "train.tsv").string(), trained.vocabs);
  const auto eval = evaluate(model, train, trained.vocabs, 32, Precision::kFp32, 3);
  EXPECT_GE(eval.metric(BestMetric::kExactMatch), 0.95) << "best bleu " << result.best_metric;
  EXPECT_GE(eval.counts<TranslationMetrics>().bleu(), 95.0);
  // Corpus chrF of near-exact outputs is near 100; the sentence mean (NLTK's) gives an order a
  // short sentence lacks a 0, so these 1-8 character targets stay well below (docs/training.md).
  EXPECT_GE(eval.counts<TranslationMetrics>().chrf(), 95.0);
  EXPECT_GE(eval.counts<TranslationMetrics>().chrf_sentence_mean(), 60.0);
  EXPECT_LT(eval.counts<TranslationMetrics>().chrf_sentence_mean(), 90.0);
  ASSERT_EQ(eval.samples.size(), 3u);
  EXPECT_EQ(eval.samples[0].target, train.example(0).target);
  // Attention records: split after the encoder, the layers attend over the source tokens;
  // split before it, over k states per token, shown as "token:j".
  const auto record = record_attention(model, trained.vocabs, {"a b c", "d e"}, 400, "predict");
  validate_record(record, "after the encoder");
  // Translation records carry each probe's alignment: the decode of that same forward pass.
  ASSERT_EQ(record.alignments.size(), 2u);
  EXPECT_EQ(record.alignments[0].source, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(record.alignments[0].outputs,
            align_translation(model, trained.vocabs, "a b c").output_tokens);
  EXPECT_EQ(record.lengths, (std::vector<int64_t>{3, 2}));
  auto split_first = config("split_first", {"model.ctc.split_at=embedding"});
  EncoderModel before(make_model_options(split_first, trained.vocabs));
  const auto stretched = record_attention(before, trained.vocabs, {"a b c", "d e"}, 0, "predict");
  validate_record(stretched, "before the encoder");
  EXPECT_EQ(stretched.lengths, (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(stretched.tokens[1], (std::vector<std::string>{"d:1", "d:2", "e:1", "e:2"}));
  EXPECT_EQ(stretched.layers[0].size(2), 6);
  // A model that has not trained is far from it: the metric measures something.
  Trainer fresh(config("fresh", {"train.max_steps=2", "train.warmup_steps=1"}));
  auto untrained = fresh.model();
  EXPECT_LT(evaluate(untrained, train, trained.vocabs, 32, Precision::kFp32, 0)
                .counts<TranslationMetrics>()
                .bleu(),
            20.0);
}

// evaluate with beam > 1 decodes each row with the prefix beam search (tested against brute
// force in ctc_test) over that row's valid positions, and the search changes outputs: an
// untrained model's flat distributions make it differ from greedy decoding on some rows.
TEST_F(TranslationTaskTest, EvaluateWithABeamDecodesEachRowWithTheBeamSearch) {
  Trainer fresh(config("fresh_beam"));  // never run: its initial weights
  auto model = fresh.model();
  const auto& vocabs = fresh.task_spec();
  const Dataset train = load_split((root_ / "train.tsv").string(), vocabs);
  const auto greedy = evaluate(model, train, vocabs, 16, Precision::kFp32, train.size());
  const auto beam = evaluate(model, train, vocabs, 16, Precision::kFp32, train.size(), 4);
  ASSERT_EQ(beam.samples.size(), static_cast<size_t>(train.size()));
  model->eval();
  torch::NoGradGuard no_grad;
  int differ = 0;
  for (int64_t i = 0; i < train.size(); ++i) {
    const auto one = train.batch({i});
    const auto output = model->forward(one.src);
    const auto tokens =
        ctc_prefix_beam_search(output.logits[0].slice(0, 0, output.lengths[0].item<int64_t>()), 4);
    const auto i_ = static_cast<size_t>(i);
    EXPECT_EQ(beam.samples[i_].predicted, vocabs.tokenizer.detokenize(vocabs.target.decode(tokens)))
        << "example " << i;
    differ += beam.samples[i_].predicted != greedy.samples[i_].predicted ? 1 : 0;
  }
  EXPECT_GT(differ, 0) << "the beam should change some outputs of an untrained model";
}

// char tokenization: every character (spaces too) is a CTC output, so targets are ~2x longer
// than in words and need k = 4; the decode concatenates characters back to the text.
TEST_F(TranslationTaskTest, CharTokenizationOverfitsToo) {
  Trainer trainer(
      config("chars", {"data.tokenization=char", "data.max_len=16", "model.ctc.upsample=4",
                       "train.max_steps=500", "train.precision=fp32"}));
  trainer.run();
  const auto trained = load_trained_model((root_ / "chars" / "best.pt").string());
  EXPECT_EQ(trained.vocabs.tokenizer.kind(), Tokenization::kChar);
  EXPECT_TRUE(trained.vocabs.target.contains(" "));  // the space is a token
  auto model = trained.model;
  const Dataset train = load_split((root_ / "train.tsv").string(), trained.vocabs);
  const auto eval = evaluate(model, train, trained.vocabs, 32, Precision::kFp32, 2);
  EXPECT_GE(eval.metric(BestMetric::kExactMatch), 0.9);
  EXPECT_GE(eval.counts<TranslationMetrics>().bleu(), 85.0);
  EXPECT_EQ(eval.samples[0].target, train.example(0).target);  // "B1 B2 C": spaces kept as written
}

// The validation line of the last step carries the BLEU, chrF and exact match that an
// evaluation of that step's checkpoint on the validation split computes.
TEST_F(TranslationTaskTest, ValidationLinesCarryBleuAndChrf) {
  Trainer trainer(
      config("metrics", {"train.max_steps=100", "train.eval_interval=50", "train.precision=fp32"}));
  trainer.run();
  std::ifstream in(root_ / "metrics" / "metrics.jsonl");
  std::string line, last_valid;
  while (std::getline(in, line))
    if (line.find("\"kind\": \"valid\"") != std::string::npos) last_valid = line;
  test::expect_contains(last_valid, "\"step\": 100,");
  const auto trained = load_trained_model((root_ / "metrics" / "last.pt").string());
  ASSERT_EQ(trained.step, 100);
  auto model = trained.model;
  const Dataset valid = load_split((root_ / "valid.tsv").string(), trained.vocabs);
  const auto eval =
      evaluate(model, valid, trained.vocabs, validation_batch_size(16), Precision::kFp32, 0);
  EXPECT_GT(eval.counts<TranslationMetrics>().bleu(), 0.0)
      << "100 steps should score above nothing";
  auto logged = [&](const std::string& key) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(last_valid, m, std::regex("\"" + key + "\": ([-0-9.e+]+)")))
        << key << " not in " << last_valid;
    return m.empty() ? NAN : std::stod(m[1]);
  };
  // metrics.jsonl prints 10 significant digits.
  EXPECT_NEAR(logged("bleu"), eval.counts<TranslationMetrics>().bleu(), 1e-7);
  EXPECT_NEAR(logged("chrf"), eval.counts<TranslationMetrics>().chrf(), 1e-7);
  EXPECT_NEAR(logged("exact_match"), eval.metric(BestMetric::kExactMatch), 1e-9);
  EXPECT_EQ(logged("examples"), 16);
}

TEST_F(TranslationTaskTest, ResumedRunRepeatsTheLossCurveInBothPrecisions) {
  for (const std::string precision : {"fp32", "bf16"}) {
    const std::vector<std::string> o = {"train.precision=" + precision,
                                        "train.max_steps=20",
                                        "train.warmup_steps=4",
                                        "train.checkpoint_interval=10",
                                        "train.keep_last=2",
                                        "log.interval=1",
                                        "model.dropout=0.1"};
    Trainer(config("full_" + precision, o)).run();
    const auto full = test::logged_losses(root_ / ("full_" + precision));
    ASSERT_EQ(full.size(), 20u);
    const auto resumed_dir = root_ / ("resumed_" + precision);
    fs::create_directories(resumed_dir);
    fs::copy_file(root_ / ("full_" + precision) / "step_00000010.pt",
                  resumed_dir / "step_00000010.pt");
    auto checkpoint = load_checkpoint((resumed_dir / "step_00000010.pt").string());
    Trainer(config("resumed_" + precision, o), checkpoint).run();
    const auto tail = test::logged_losses(resumed_dir);
    ASSERT_EQ(tail.size(), 10u);
    for (const auto& [step, loss] : tail)
      EXPECT_EQ(loss, full.at(step)) << precision << " step " << step;
    EXPECT_NE(full.at(11), full.at(12));
  }
}

TEST_F(TranslationTaskTest, AnInfeasiblePairStopsTheRunBeforeTrainingNamingTheLine) {
  std::ofstream(root_ / "valid.tsv", std::ios::app) << "c\tC D E\n";  // 3 tokens, 2 positions
  try {
    Trainer trainer(config("infeasible"));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()),
              (root_ / "valid.tsv").string() +
                  ":17: target needs 3 CTC positions (3 tokens) but the source gives 2 x 1 = 2 "
                  "(model.ctc.upsample=2); raise model.ctc.upsample or drop the pair");
  }
}

}  // namespace
}  // namespace attnlab
