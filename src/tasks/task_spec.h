#pragma once
// What a run knows about its data besides the examples: task kind, tokenization, length limit
// and vocabularies. Built from the training split (new run) or from a checkpoint (eval,
// predict, resume: train/run_data.h), so ids never shift under a trained model.

#include <cstdint>
#include <string>
#include <vector>

#include "config/enums.h"
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

namespace attnlab {

struct TaskSpec {
  TaskKind task = TaskKind::kTransduction;
  Tokenizer tokenizer;       // char | word | a SentencePiece model
  int64_t max_len = 64;      // longest encoded input (incl. <cls>)
  int64_t ctc_upsample = 2;  // output positions per source token (translation only)
  bool skip_unfit = false;   // data.skip_unfit
  Vocab source;              // input tokens
  Vocab target;              // output tokens (transduction, translation); in translation id 0
                             // (<pad>, never a target token) is also CTC's blank
  LabelSet labels;           // classes (classification only)
  DataFormat format = DataFormat::kTsv;  // how splits are stored (data.format)
  std::vector<std::string> idx_classes;  // names of IDX labels 0, 1, ... (data.image.classes)
  std::vector<int64_t> image_shape;      // images: (C, H, W) of every image; else empty

  int64_t num_outputs() const;  // width of the output layer
  DatasetOptions dataset_options() const;
  Vocabularies vocabularies() const;  // in the form Dataset takes
};

}  // namespace attnlab
