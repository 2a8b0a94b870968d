#pragma once
// Deterministic generators for the three toy tasks shipped in data/ (see docs/data.md).
//
//   reverse    transduction  "c a t" -> "t a c"; letters a-t, 4..24 of them
//   translate  translation   SVO English-like words -> SOV toy language whose lengths differ:
//                            definite articles fused onto the noun, indefinite ones dropped,
//                            "very big" -> one word, "happy" -> two, multi-word adverbs -> one;
//                            adjectives after the noun and agreeing with its gender, "al" and
//                            the verb form chosen by the object's animacy
//   classify   classification  3-way sentiment with negation, intensifiers, "but" and "and"
//
// Every task draws from std::mt19937_64 through the portable helpers in data/random.h, so a
// seed gives the same files everywhere. Splits are drawn test first, then valid, then train,
// each example with a source never drawn before: no source is shared between splits, and the
// test split does not change when only the train size does.

#include <cstdint>
#include <string>
#include <vector>

#include "data/tsv.h"

namespace attnlab {

struct GenerateSizes {
  int64_t train = 0;  // examples in train.tsv
  int64_t valid = 0;  // examples in valid.tsv
  int64_t test = 0;   // examples in test.tsv
};

struct TaskSplits {
  std::string task;            // one of task_names()
  std::vector<Example> train;  // line = position in the file to be written
  std::vector<Example> valid;
  std::vector<Example> test;
};

// {"classify", "reverse", "translate"}.
std::vector<std::string> task_names();

// Sizes of the shipped datasets (each task's folder stays well under 1 MiB).
// Throws std::invalid_argument for an unknown task.
GenerateSizes default_sizes(const std::string& task);

// Throws std::invalid_argument for an unknown task (the message lists the tasks), for a
// negative size, or when the task cannot produce that many distinct sources.
TaskSplits generate_task(const std::string& task, uint64_t seed, const GenerateSizes& sizes);

// Writes out_dir/train.tsv, valid.tsv and test.tsv, creating out_dir if needed.
// Throws DataError when a file cannot be written.
void write_task(const TaskSplits& splits, const std::string& out_dir);

// How many examples of `split` have a source that also occurs in `reference`.
int64_t count_overlap(const std::vector<Example>& reference, const std::vector<Example>& split);

// The translate task's rule applied to one source sentence (words separated by single
// spaces). Throws std::invalid_argument for a sentence outside the task's grammar.
std::string translate_sentence(const std::string& source);

// The classify task's rule applied to one sentence: "positive", "negative" or "neutral".
// Throws std::invalid_argument for a sentence outside the task's grammar.
std::string classify_sentence(const std::string& text);

}  // namespace attnlab
