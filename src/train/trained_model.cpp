#include "train/trained_model.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

namespace attnlab {

TrainedModel load_trained_model(const std::string& path) {
  auto checkpoint = load_checkpoint(path);
  TrainedModel t;
  t.path = path;
  t.step = checkpoint.state.step;
  try {
    t.config = parse_config(checkpoint.config_yaml, path + " (stored config)");
    t.vocabs = task_spec_from_checkpoint(t.config, checkpoint);
    t.model = EncoderModel(make_model_options(t.config, t.vocabs));
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError("checkpoint " + path + ": cannot rebuild the model: " + e.what());
  }
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, at::Tensor& target) {
    auto it = checkpoint.model.find(name);
    if (it == checkpoint.model.end())
      throw CheckpointError("checkpoint " + path + ": missing weight '" + name + "'");
    if (!it->second.sizes().equals(target.sizes()))
      throw CheckpointError("checkpoint " + path + ": weight '" + name + "' has shape " +
                            c10::str(it->second.sizes()) + ", the model expects " +
                            c10::str(target.sizes()));
    target.copy_(it->second);
  };
  for (auto& item : t.model->named_parameters()) load(item.key(), item.value());
  for (auto& item : t.model->named_buffers()) load(item.key(), item.value());
  t.model->eval();
  return t;
}

at::Tensor encode_inputs(const TrainedModel& trained, const std::vector<std::string>& texts) {
  std::vector<Example> examples;
  for (const auto& text : texts) {
    Example e;
    e.source = text;
    // Targets are unknown: a placeholder of the right shape (same length, one token that any
    // source has room for, or a known label).
    if (trained.vocabs.task == TaskKind::kTransduction)
      e.target = text;
    else if (trained.vocabs.task == TaskKind::kTranslation)
      e.target = "x";
    else
      e.target = trained.vocabs.labels.label(0);
    e.line = static_cast<int64_t>(examples.size()) + 1;
    examples.push_back(std::move(e));
  }
  Dataset data = make_dataset(std::move(examples), "<input>", trained.vocabs);
  std::vector<int64_t> indices(static_cast<size_t>(data.size()));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
  return data.batch(indices).src;
}

}  // namespace attnlab
