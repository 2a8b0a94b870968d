#pragma once
// Encoded examples and the batches the trainer consumes.
//
// Transduction: source ids and target ids of exactly the same length (the encoder predicts
//   one target token per source position), no <cls>.
// Classification: <cls> followed by the text ids, and one label id.
// Image classification: (C, H, W) uint8 pixels as read, and one label id.
// Translation: source ids and target ids of any lengths (CTC: the model emits
//   ctc_upsample positions per source token, and the target must fit in them).

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/enums.h"
#include "data/image_set.h"
#include "data/tokenizer.h"
#include "data/tsv.h"
#include "data/vocab.h"

namespace attnlab {

struct DatasetOptions {
  TaskKind task = TaskKind::kTransduction;    // per-token targets, or one label per example
  Tokenizer tokenizer = Tokenization::kChar;  // how source (and target) text is split
  int64_t max_len = 64;                       // longest encoded source accepted (<cls> counts)
  int64_t ctc_upsample = 2;                   // translation: output positions per source token
  bool skip_unfit = false;  // drop (and count) pairs that do not fit: a source longer than
                            // max_len, a translation target CTC cannot emit; else a DataError
};

// The fewest CTC positions that can emit `target`: one per token, plus one blank between
// each pair of equal neighbours (CTC merges repeats that no blank separates).
int64_t ctc_min_positions(const std::vector<int64_t>& target);

// What a run learns from its training split and keeps in its checkpoint.
struct Vocabularies {
  Vocab source;                    // input tokens
  std::optional<Vocab> target;     // output tokens; transduction and translation
  std::optional<LabelSet> labels;  // classes; classification only
};

// Builds the vocabularies from the training examples (Vocab::build, LabelSet::from_labels).
// Throws DataError "path: no examples" for an empty list.
Vocabularies build_vocabularies(const std::vector<Example>& train, const DatasetOptions& options,
                                const std::string& path);

struct Batch {
  torch::Tensor src;   // (B, T) int64, T = longest source in the batch, padded with kPadId;
                       // images: (B, C, H, W) uint8
  torch::Tensor tgt;   // (B, T) int64 padded with kPadId (transduction), (B, S) padded,
                       // S = longest target (translation), or (B) int64 labels
  int64_t num_tokens;  // non-pad target tokens (transduction, translation) or B (classification)
};

class Dataset {
 public:
  // Tokenizes and encodes every example. Throws DataError naming path:line for a field with
  // no tokens, a transduction target whose length differs from its source, a translation
  // target that needs more CTC positions than ctc_upsample x its source length gives, a source
  // longer than options.max_len, or a label missing from vocabs.labels; "path: no examples" if
  // examples is empty. With options.skip_unfit the too-long and CTC-infeasible pairs are dropped
  // instead (skipped()); a file of which none fits is still a DataError. Tokens unseen in the
  // vocabularies become <unk>.
  Dataset(std::vector<Example> examples, const DatasetOptions& options, const Vocabularies& vocabs,
          std::string path);
  // Images (options.task = image_classification): the pixels stay as read. Throws DataError
  // "path: no examples" for an empty set and "path: image 'name' has label 'x', which the
  // model does not know (it knows a, b, ...)" for a label outside `labels`.
  Dataset(ImageSet images, const DatasetOptions& options, const LabelSet& labels, std::string path);

  int64_t size() const { return static_cast<int64_t>(examples_.size()); }
  TaskKind task() const { return options_.task; }
  const DatasetOptions& options() const { return options_; }
  const std::string& path() const { return path_; }

  bool has_images() const { return images_.defined(); }
  const torch::Tensor& images() const { return images_; }  // (N, C, H, W) uint8; images only
  const Example& example(int64_t i) const;                 // the text as read (images: the image's
                                                           // name as source, its label as target)
  const std::vector<int64_t>& source(
      int64_t i) const;  // encoded source (<cls> first for classification)
  const std::vector<int64_t>& target(int64_t i) const;  // encoded target; token-sequence tasks
  int64_t label(int64_t i) const;                       // label id; classification only
  const std::vector<int64_t>& lengths() const {
    return lengths_;
  }  // encoded source lengths
     // (images: all 1, unpadded)
  // Pairs dropped by DatasetOptions::skip_unfit (not in size()), and the first one's reason
  // ("line 17: source longer than max_len"; "" when none).
  int64_t skipped() const { return static_cast<int64_t>(skipped_.size()); }
  const std::string& first_skipped() const { return first_skipped_; }
  // The dropped pairs as read (eval --score-skipped scores them as empty outputs).
  const std::vector<Example>& skipped_examples() const { return skipped_; }
  // Examples in the file: size() + skipped().
  int64_t split_size() const { return size() + skipped(); }

  // Stacks the given examples (in that order) into padded tensors on the CPU: sources to their
  // longest or to `pad_to` if that is more (a transduction target too, whose length is its
  // source's), so that the parts of a larger batch can be padded as the whole would be.
  Batch batch(const std::vector<int64_t>& indices, int64_t pad_to = 0) const;

 private:
  DatasetOptions options_;
  std::string path_;
  std::vector<Example> examples_;
  std::vector<std::vector<int64_t>> sources_;
  std::vector<std::vector<int64_t>> targets_;  // transduction, translation
  std::vector<int64_t> labels_;                // classification
  torch::Tensor images_;                       // image classification: (N, C, H, W) uint8
  std::vector<int64_t> lengths_;
  std::vector<Example> skipped_;
  std::string first_skipped_;
};

// A permutation of 0..n-1 that depends only on (seed, epoch): std::mt19937_64 and a portable
// Fisher-Yates, never torch's RNG, so the data order is reproducible and a resumed run can
// recompute where it was.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

struct BatchingOptions {
  int64_t batch_size = 64;     // examples per batch; the last batch may be smaller
  int64_t bucket_batches = 0;  // > 0: sort each run of this many batches by length (less padding)
  bool drop_last = false;      // drop a final batch smaller than batch_size
};

// Cuts an order (e.g. from epoch_order) into batches of indices. With bucketing, each chunk
// of bucket_batches * batch_size consecutive indices is stably sorted by lengths[index]
// before it is cut, so the result is still a pure function of its arguments.
std::vector<std::vector<int64_t>> make_batches(const std::vector<int64_t>& order,
                                               const std::vector<int64_t>& lengths,
                                               const BatchingOptions& options);

}  // namespace attnlab
