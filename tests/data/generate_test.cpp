#include "data/generate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/vocab.h"
#include "support/common.h"
#include "tasks/translation_metrics.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;
using Words = std::vector<std::string>;

Words words_of(const std::string& text) { return tokenize(text, Tokenization::kWord); }

// Shared across tests: generating the default sizes takes a moment.
const TaskSplits& shipped(const std::string& task) {
  static std::map<std::string, TaskSplits> cache;
  auto it = cache.find(task);
  if (it == cache.end())
    it = cache.emplace(task, generate_task(task, /*seed=*/1, default_sizes(task))).first;
  return it->second;
}

bool same_examples(const std::vector<Example>& a, const std::vector<Example>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].source != b[i].source || a[i].target != b[i].target || a[i].line != b[i].line)
      return false;
  }
  return true;
}

TEST(GenerateTest, TaskNamesAndUnknownTask) {
  EXPECT_EQ(task_names(), (Words{"classify", "reverse", "translate"}));
  try {
    generate_task("sort", 1, GenerateSizes{1, 1, 1});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown task 'sort'; known tasks: classify, reverse, translate");
  }
  EXPECT_THROW(default_sizes("sort"), std::invalid_argument);
  EXPECT_THROW(generate_task("reverse", 1, GenerateSizes{-1, 1, 1}), std::invalid_argument);
}

TEST(GenerateTest, DeterministicPerSeedAndSized) {
  const GenerateSizes sizes{30, 5, 7};
  for (const auto& task : task_names()) {
    const auto a = generate_task(task, 3, sizes);
    const auto b = generate_task(task, 3, sizes);
    const auto c = generate_task(task, 4, sizes);
    EXPECT_EQ(a.task, task);
    ASSERT_EQ(a.train.size(), 30u) << task;
    ASSERT_EQ(a.valid.size(), 5u) << task;
    ASSERT_EQ(a.test.size(), 7u) << task;
    EXPECT_TRUE(same_examples(a.train, b.train) && same_examples(a.test, b.test)) << task;
    EXPECT_FALSE(same_examples(a.train, c.train)) << task;
    for (size_t i = 0; i < a.train.size(); ++i)
      EXPECT_EQ(a.train[i].line, static_cast<int64_t>(i) + 1);
  }
}

TEST(GenerateTest, TestSplitDoesNotDependOnTrainSize) {
  for (const auto& task : task_names()) {
    const auto small = generate_task(task, 1, GenerateSizes{10, 5, 20});
    const auto large = generate_task(task, 1, GenerateSizes{200, 5, 20});
    EXPECT_TRUE(same_examples(small.test, large.test)) << task;
    EXPECT_TRUE(same_examples(small.valid, large.valid)) << task;
  }
}

TEST(GenerateTest, NoSourceSharedBetweenSplits) {
  for (const auto& task : task_names()) {
    const auto& splits = shipped(task);
    EXPECT_EQ(count_overlap(splits.train, splits.test), 0) << task;
    EXPECT_EQ(count_overlap(splits.train, splits.valid), 0) << task;
    EXPECT_EQ(count_overlap(splits.valid, splits.test), 0) << task;
    std::set<std::string> train_sources;
    for (const auto& e : splits.train) train_sources.insert(e.source);
    EXPECT_EQ(train_sources.size(), splits.train.size()) << task;
  }
  EXPECT_EQ(
      count_overlap({{"a", "x", 1}, {"b", "y", 2}}, {{"b", "z", 1}, {"c", "z", 2}, {"a", "q", 3}}),
      2);
}

TEST(GenerateTest, ReverseTargetsAreReversedSources) {
  const auto& splits = shipped("reverse");
  std::set<size_t> lengths;
  for (const auto* split : {&splits.train, &splits.valid, &splits.test}) {
    for (const auto& e : *split) {
      Words source = words_of(e.source);
      lengths.insert(source.size());
      for (const auto& w : source) {
        ASSERT_EQ(w.size(), 1u);
        ASSERT_TRUE(w[0] >= 'a' && w[0] <= 't') << e.source;
      }
      std::reverse(source.begin(), source.end());
      ASSERT_EQ(words_of(e.target), source) << e.source;
      // Single spaces, so char tokenization is length-preserving too.
      ASSERT_EQ(e.source.size(), e.target.size());
    }
  }
  EXPECT_EQ(*lengths.begin(), 4u);
  EXPECT_EQ(*lengths.rbegin(), 24u);
  EXPECT_EQ(lengths.size(), 21u);
}

TEST(GenerateTest, TranslateRuleByHand) {
  // Worked out by hand from the rules in generate.cpp: definite article -> gendered noun suffix,
  // indefinite -> un/una (animate) or nothing, "al" before an animate object, "very" + adjective ->
  // one word, SOV, adjectives after their noun.
  EXPECT_EQ(translate_sentence("the big dog sees a small cat"),
            "kanolo grando al una felia pikola vidas");
  EXPECT_EQ(translate_sentence("a cat likes the red ball today"),
            "una felia balolo ruxo satas hodie");
  EXPECT_EQ(translate_sentence("the very old green house holds a happy queen"),
            "domala vetulega verda al una rega bon humora tenas");
  EXPECT_EQ(translate_sentence("a girl follows a box every day"), "una pika kesta persas cotidie");
  EXPECT_EQ(translate_sentence("an old farmer follows the bird in the morning"),
            "un agro vetulo al aviolo iras post matene");
  EXPECT_EQ(translate_sentence("a very happy boy wants an apple again"),
            "un puero bon humorego pomo dezir havi ree fojo");
  EXPECT_THROW(translate_sentence("the dog sees"), std::invalid_argument);
  EXPECT_THROW(translate_sentence("dog sees the cat"), std::invalid_argument);
  EXPECT_THROW(translate_sentence("the dog sees the cat today again"), std::invalid_argument);
  EXPECT_THROW(translate_sentence("the very dog sees a cat"), std::invalid_argument);
  EXPECT_THROW(translate_sentence("the dog sees a cat every"), std::invalid_argument);
}

TEST(GenerateTest, TranslateExamplesFollowTheRuleAndLengthsDifferBothWays) {
  const auto& splits = shipped("translate");
  std::set<std::string> source_words;
  int64_t longer = 0, shorter = 0, equal = 0;
  for (const auto* split : {&splits.train, &splits.valid, &splits.test}) {
    for (const auto& e : *split) {
      ASSERT_EQ(translate_sentence(e.source), e.target) << e.source;
      const auto s = words_of(e.source).size(), t = words_of(e.target).size();
      longer += t > s ? 1 : 0;
      shorter += t < s ? 1 : 0;
      equal += t == s ? 1 : 0;
      // model.ctc.upsample = 1 would not do for every pair, 2 does (the shipped config's k).
      ASSERT_LE(t, 2 * s) << e.source;
      for (const auto& w : words_of(e.source)) source_words.insert(w);
    }
  }
  const auto total = static_cast<double>(longer + shorter + equal);
  EXPECT_GT(longer / total, 0.02) << longer;
  EXPECT_GT(shorter / total, 0.5) << shorter;
  EXPECT_GE(source_words.size(), 30u);
  EXPECT_LE(source_words.size(), 60u);
}

// Two baselines that need no attention, scored with TranslationMetrics (itself tested against
// NLTK): copying the source, and a monotonic word-by-word lookup with the task's own lexicon
// (every source word replaced by its target word in base form, articles and "very" dropped,
// source order kept). Both must stay far below what the shipped config reaches (exact >= 98%,
// BLEU >= 97); README.md quotes these figures.
TEST(GenerateTest, TranslateDefeatsCopyAndWordByWordBaselines) {
  const std::map<std::string, std::string> lexicon = {
      {"dog", "kano"},     {"cat", "felia"},         {"bird", "avio"},   {"horse", "kaba"},
      {"boy", "puero"},    {"girl", "pika"},         {"farmer", "agro"}, {"queen", "rega"},
      {"ball", "balo"},    {"book", "libra"},        {"tree", "arbo"},   {"house", "doma"},
      {"apple", "pomo"},   {"cup", "taza"},          {"stone", "petro"}, {"box", "kesta"},
      {"big", "grando"},   {"small", "pikolo"},      {"red", "ruxo"},    {"old", "vetulo"},
      {"green", "verdo"},  {"happy", "bon humoro"},  {"sees", "vidas"},  {"likes", "amas"},
      {"finds", "trovas"}, {"follows", "iras post"}, {"holds", "tenas"}, {"wants", "volas"},
      {"today", "hodie"},  {"again", "ree fojo"},    {"often", "ofte"},  {"now", "nun"},
      {"day", "cotidie"},  {"morning", "matene"}};
  TranslationMetrics copy, word_by_word;
  for (const auto& e : shipped("translate").test) {
    copy.add(e.source, e.target);
    Words out;
    for (const auto& w : words_of(e.source)) {
      const auto it = lexicon.find(w);
      if (it != lexicon.end())
        for (const auto& piece : words_of(it->second)) out.push_back(piece);
    }
    word_by_word.add(detokenize(out, Tokenization::kWord), e.target);
  }
  RecordProperty("copy_bleu", std::to_string(copy.bleu()));
  RecordProperty("word_by_word_bleu", std::to_string(word_by_word.bleu()));
  RecordProperty("word_by_word_exact_match", std::to_string(word_by_word.exact_match()));
  std::printf(
      "baselines on data/translate/test.tsv: copy BLEU %.2f chrF %.2f exact %.4f; "
      "word-by-word BLEU %.2f chrF %.2f exact %.4f\n",
      copy.bleu(), copy.chrf(), copy.exact_match(), word_by_word.bleu(), word_by_word.chrf(),
      word_by_word.exact_match());
  EXPECT_LT(copy.bleu(), 5.0);
  EXPECT_LT(copy.exact_match(), 0.01);
  EXPECT_LT(word_by_word.bleu(), 40.0);
  EXPECT_LT(word_by_word.exact_match(), 0.10);
}

TEST(GenerateTest, ClassifyRuleByHand) {
  EXPECT_EQ(classify_sentence("the food was not bad at all"), "positive");
  EXPECT_EQ(classify_sentence("the service was not good"), "negative");
  EXPECT_EQ(classify_sentence("the food was served at noon"), "neutral");
  EXPECT_EQ(classify_sentence("the food was okay"), "neutral");
  EXPECT_EQ(classify_sentence("our coffee was extremely awful"), "negative");
  // Same bag of words, opposite labels: the clause after "but" decides.
  EXPECT_EQ(classify_sentence("the food was not good but the staff was friendly"), "positive");
  EXPECT_EQ(classify_sentence("the food was good but the staff was not friendly"), "negative");
  EXPECT_EQ(classify_sentence("the room was bad but the view was okay"), "neutral");
  // "and": the sign of the sum of the two polarities.
  EXPECT_EQ(classify_sentence("the food was great and the room was awful"), "neutral");
  EXPECT_EQ(classify_sentence("the food was great and the room was okay"), "positive");
  EXPECT_EQ(classify_sentence("our soup was okay and the view was the same as before"), "neutral");
  EXPECT_THROW(classify_sentence("the food was not okay"), std::invalid_argument);
  EXPECT_THROW(classify_sentence("the food was good or the room was bad"), std::invalid_argument);
  EXPECT_THROW(classify_sentence("the food was good and"), std::invalid_argument);
}

TEST(GenerateTest, ClassifyLabelsFollowTheRuleAndAreBalanced) {
  const auto& splits = shipped("classify");
  int64_t negated = 0, total = 0;
  for (const auto* split : {&splits.train, &splits.valid, &splits.test}) {
    std::map<std::string, int64_t> counts;
    for (const auto& e : *split) {
      ASSERT_EQ(classify_sentence(e.source), e.target) << e.source;
      ++counts[e.target];
      const auto words = words_of(e.source);
      negated += std::count(words.begin(), words.end(), "not") > 0 ? 1 : 0;
      ++total;
    }
    ASSERT_EQ(counts.size(), 3u);
    int64_t lo = INT64_MAX, hi = 0;
    for (const auto& [label, n] : counts) {
      lo = std::min(lo, n);
      hi = std::max(hi, n);
    }
    EXPECT_LE(hi - lo, 1) << "unbalanced split of " << split->size();
  }
  EXPECT_GT(static_cast<double>(negated) / static_cast<double>(total), 0.3);
}

// Multinomial Naive Bayes over word counts (add-one smoothing), trained on train.
double naive_bayes_accuracy(const TaskSplits& splits) {
  std::map<std::string, std::map<std::string, double>> word_counts;  // label -> word -> count
  std::map<std::string, double> label_counts, label_words;
  std::set<std::string> vocabulary;
  for (const auto& e : splits.train) {
    label_counts[e.target] += 1;
    for (const auto& w : words_of(e.source)) {
      word_counts[e.target][w] += 1;
      label_words[e.target] += 1;
      vocabulary.insert(w);
    }
  }
  int64_t correct = 0;
  for (const auto& e : splits.test) {
    std::string best;
    double best_score = -INFINITY;
    for (const auto& [label, n] : label_counts) {
      double score = std::log(n);
      for (const auto& w : words_of(e.source)) {
        const auto it = word_counts[label].find(w);
        const double c = it == word_counts[label].end() ? 0.0 : it->second;
        score +=
            std::log((c + 1.0) / (label_words[label] + static_cast<double>(vocabulary.size())));
      }
      if (score > best_score) {
        best_score = score;
        best = label;
      }
    }
    correct += best == e.target ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(splits.test.size());
}

TEST(GenerateTest, ClassifyDefeatsBagOfWords) {
  const double accuracy = naive_bayes_accuracy(shipped("classify"));
  RecordProperty("naive_bayes_accuracy", std::to_string(accuracy));
  EXPECT_LT(accuracy, 0.6);
}

TEST(GenerateTest, ShippedFilesAreReproducedByteForByte) {
  const fs::path data_dir = fs::path(ATTNLAB_SOURCE_DIR) / "data";
  const fs::path out =
      fs::temp_directory_path() / ("attnlab_generate_" + std::to_string(::getpid()));
  for (const auto& task : task_names()) {
    write_task(shipped(task), (out / task).string());
    std::uintmax_t folder_bytes = 0;
    for (const char* name : {"train.tsv", "valid.tsv", "test.tsv"}) {
      const fs::path committed = data_dir / task / name;
      ASSERT_TRUE(fs::exists(committed)) << committed;
      EXPECT_TRUE(test::read_text(committed) == test::read_text(out / task / name))
          << committed << " differs from a fresh `attnlab data --dataset " << task << " --seed 1`";
      folder_bytes += fs::file_size(committed);
    }
    EXPECT_LT(folder_bytes, 1024u * 1024u) << task;
  }
  fs::remove_all(out);
}

}  // namespace
}  // namespace attnlab
