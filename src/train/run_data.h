#pragma once
// What a run knows about its data besides the examples: task kind, tokenization, length limit
// and vocabularies. Built from the training split (new run) or from a checkpoint (eval,
// predict, resume), so ids never shift under a trained model.

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/dataset.h"
#include "data/image_set.h"
#include "data/tokenizer.h"
#include "data/vocab.h"
#include "model/encoder_model.h"
#include "tasks/task_spec.h"
#include "train/checkpoint.h"

namespace attnlab {

// Builds the spec from the config's data section (and model.ctc) and the training split
// (throws DataError). With data.tokenization=sentencepiece it reads data.spm.model, or trains a
// model on the training split's sources and targets (on run.threads threads).
TaskSpec build_task_spec(const Config& config, const std::vector<Example>& train);

// Rebuilds the spec from vocabularies (and the serialized SentencePiece model, "" for char and
// word) saved in a checkpoint. Throws std::invalid_argument when they do not fit the config.
TaskSpec task_spec_from_lists(const Config& config, const std::vector<std::string>& source,
                              const std::vector<std::string>& target,
                              const std::vector<std::string>& labels, const std::string& spm_model,
                              const std::vector<int64_t>& image_shape = {});

// The spec a checkpoint stores (its vocabularies, SentencePiece model and image shape);
// std::invalid_argument when they do not fit the config.
TaskSpec task_spec_from_checkpoint(const Config& config, const Checkpoint& checkpoint);

// A run's training images as data.train names them, and with data.image.holdout the last N of
// them, taken out to validate (`held_out_name` names them in messages: "<train> (last N)").
struct TrainingImages {
  ImageSet train;
  std::optional<ImageSet> held_out;
  std::string held_out_name;
};
TrainingImages read_training_images(const Config& config);

// Images: the spec of a new run from its training images (classes, (C, H, W)); throws
// DataError when model.patch_size does not divide the images.
TaskSpec build_image_task_spec(const Config& config, const ImageSet& train);

// Encodes examples / one TSV split with the spec's vocabularies (throws DataError).
Dataset make_dataset(std::vector<Example> examples, const std::string& path_for_errors,
                     const TaskSpec& spec);
// Images: throws DataError naming `path` when they are not the spec's (C, H, W).
Dataset make_image_dataset(ImageSet images, const std::string& path, const TaskSpec& spec);
// One split at `path`: a TSV file, or images in the spec's format (with their labels at
// `labels`, "" = where default_labels_path says).
Dataset load_split(const std::string& path, const TaskSpec& spec, const std::string& labels = "");

// The config's split `name` (train, valid or test), as training saw it: with
// data.image.holdout, valid is the last training images and train the rest. Throws
// std::invalid_argument for an unknown name or a split the config does not have.
Dataset load_config_split(const Config& config, const TaskSpec& spec, const std::string& name);

// Model options from the model section and the vocabulary sizes.
ModelOptions make_model_options(const Config& config, const TaskSpec& spec);

}  // namespace attnlab
