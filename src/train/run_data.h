#pragma once
// Everything a run needs besides the model: vocabularies and encoded splits, built from the
// config's TSV files (training) or from a checkpoint's vocabularies (eval, predict).

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/dataset.h"
#include "data/vocab.h"
#include "model/encoder_model.h"

namespace attnlab {

struct Vocabularies {
  TaskKind task = TaskKind::kTransduction;
  Tokenization tokenization = Tokenization::kChar;
  Vocab source;                // input tokens
  Vocab target;                // output tokens (transduction only)
  LabelSet labels;             // classes (classification only)
  int64_t num_outputs() const;  // size of the output layer
};

TaskKind parse_task(const std::string& name);

// Builds vocabularies from the training split named in `data` (throws DataError).
Vocabularies build_vocabularies(const DataConfig& data, const std::vector<Example>& train);

// Rebuilds vocabularies saved in a checkpoint.
Vocabularies vocabularies_from_lists(const DataConfig& data,
                                     const std::vector<std::string>& source,
                                     const std::vector<std::string>& target,
                                     const std::vector<std::string>& labels);

// Reads and encodes one TSV split with the given vocabularies (throws DataError).
Dataset load_split(const std::string& path, const DataConfig& data, const Vocabularies& vocabs);
Dataset make_dataset(std::vector<Example> examples, const std::string& path_for_errors,
                     const DataConfig& data, const Vocabularies& vocabs);

// Model options from the model section and the vocabulary sizes.
ModelOptions make_model_options(const Config& config, const Vocabularies& vocabs);

}  // namespace attnlab
