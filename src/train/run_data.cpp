#include "train/run_data.h"

#include <stdexcept>

namespace attnlab {

int64_t Vocabularies::num_outputs() const {
  return task == TaskKind::kTransduction ? target.size() : labels.size();
}

TaskKind parse_task(const std::string& name) {
  if (name == "transduction") return TaskKind::kTransduction;
  if (name == "classification") return TaskKind::kClassification;
  throw std::invalid_argument("unknown task '" + name +
                              "' (expected transduction or classification)");
}

Vocabularies build_vocabularies(const DataConfig& data, const std::vector<Example>& train) {
  Vocabularies v;
  v.task = parse_task(data.task);
  v.tokenization = parse_tokenization(data.tokenization);
  std::vector<std::vector<std::string>> sources, targets;
  std::vector<std::string> labels;
  for (const auto& e : train) {
    sources.push_back(tokenize(e.source, v.tokenization));
    if (v.task == TaskKind::kTransduction)
      targets.push_back(tokenize(e.target, v.tokenization));
    else
      labels.push_back(e.target);
  }
  v.source = Vocab::build(sources);
  if (v.task == TaskKind::kTransduction)
    v.target = Vocab::build(targets);
  else
    v.labels = LabelSet::build(labels);
  return v;
}

Vocabularies vocabularies_from_lists(const DataConfig& data,
                                     const std::vector<std::string>& source,
                                     const std::vector<std::string>& target,
                                     const std::vector<std::string>& labels) {
  Vocabularies v;
  v.task = parse_task(data.task);
  v.tokenization = parse_tokenization(data.tokenization);
  v.source = Vocab::from_tokens(source);
  if (v.task == TaskKind::kTransduction)
    v.target = Vocab::from_tokens(target);
  else
    v.labels = LabelSet::from_labels(labels);
  return v;
}

Dataset make_dataset(std::vector<Example> examples, const std::string& path_for_errors,
                     const DataConfig& data, const Vocabularies& vocabs) {
  const bool transduction = vocabs.task == TaskKind::kTransduction;
  return Dataset(std::move(examples), vocabs.task, vocabs.tokenization, vocabs.source,
                 transduction ? &vocabs.target : nullptr, transduction ? nullptr : &vocabs.labels,
                 data.max_len, path_for_errors);
}

Dataset load_split(const std::string& path, const DataConfig& data, const Vocabularies& vocabs) {
  return make_dataset(read_tsv(path), path, data, vocabs);
}

ModelOptions make_model_options(const Config& config, const Vocabularies& vocabs) {
  const auto& m = config.model;
  ModelOptions o;
  o.embedding.vocab_size = vocabs.source.size();
  o.embedding.d_model = m.d_model;
  o.embedding.max_len = config.data.max_len;
  o.embedding.positions = parse_position_kind(m.positions);
  o.embedding.dropout = m.dropout;
  o.encoder.num_layers = m.num_layers;
  o.encoder.layer.d_model = m.d_model;
  o.encoder.layer.num_heads = m.num_heads;
  o.encoder.layer.d_ff = m.d_ff;
  o.encoder.layer.dropout = m.dropout;
  o.encoder.layer.attention_dropout = m.attention_dropout;
  o.encoder.layer.activation = parse_activation(m.activation);
  o.encoder.layer.norm_first = m.norm == "pre";
  o.task = vocabs.task;
  o.num_outputs = vocabs.num_outputs();
  o.pooling = parse_pooling(m.pooling);
  o.pad_id = Vocab::kPadId;
  return o;
}

}  // namespace attnlab
