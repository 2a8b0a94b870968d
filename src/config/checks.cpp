#include "config/checks.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace attnlab::config_detail {
namespace {

class Checker {
 public:
  Checker(Reader& reader, const Config& config) : r_(reader), c_(config) {}

  void run() {
    check_run();
    check_data();
    check_model();
    check_train();
    check_log();
  }

 private:
  template <typename T>
  static std::string str(T value) {
    if constexpr (std::is_floating_point_v<T>) {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "%g", value);
      return buffer;
    } else {
      return std::to_string(value);
    }
  }

  void positive(const char* path, int64_t value) {
    if (r_.usable({path}) && value <= 0) r_.key_error(path, "must be > 0, got " + str(value));
  }
  void non_negative(const char* path, int64_t value) {
    if (r_.usable({path}) && value < 0) r_.key_error(path, "must be >= 0, got " + str(value));
  }
  void positive(const char* path, double value) {
    if (r_.usable({path}) && !(value > 0)) r_.key_error(path, "must be > 0, got " + str(value));
  }
  void non_negative(const char* path, double value) {
    if (r_.usable({path}) && value < 0) r_.key_error(path, "must be >= 0, got " + str(value));
  }
  // value in [0, 1) or, with closed_top, [0, 1].
  void unit(const char* path, double value, bool closed_top = false) {
    if (!r_.usable({path})) return;
    const bool ok = value >= 0 && (closed_top ? value <= 1 : value < 1);
    if (!ok)
      r_.key_error(
          path, std::string("must be in [0, 1") + (closed_top ? "]" : ")") + ", got " + str(value));
  }
  // An enum-valued key given a name outside its table (config/enums.h).
  template <typename E>
  void one_of(const char* path) {
    const auto value = r_.rejected_name(path);
    if (!value) return;
    const std::vector<std::string> allowed = enum_names<E>();
    std::string message = quoted(*value) + " is not one of " + joined(allowed, "|");
    // One edit only: "fp16" is not a typo of "fp32".
    const std::string near = closest(*value, allowed, /*max_distance=*/1);
    if (!near.empty()) message += "; did you mean " + quoted(near) + "?";
    r_.key_error(path, message);
  }
  void not_empty(const char* path, const std::string& value, const char* what) {
    if (r_.usable({path}) && value.empty()) r_.key_error(path, what);
  }

  void check_run() {
    not_empty("run.name", c_.run.name, "must not be empty");
    if (r_.usable({"run.name"}) &&
        (c_.run.name.find('/') != std::string::npos || c_.run.name == "." || c_.run.name == ".."))
      r_.key_error("run.name", quoted(c_.run.name) + " must be a plain directory name");
    not_empty("run.out_dir", c_.run.out_dir, "must not be empty");
    non_negative("run.threads", c_.run.threads);
    positive("run.dist_timeout_s", c_.run.dist_timeout_s);
  }

  void check_data() {
    one_of<TaskKind>("data.task");
    one_of<DataFormat>("data.format");
    const auto& image = c_.data.image;
    non_negative("data.image.holdout", image.holdout);
    non_negative("data.image.augment.crop_padding", image.augment.crop_padding);
    if (r_.usable({"data.image.augment.crop_padding"}) && image.augment.crop_padding > 4096)
      r_.key_error("data.image.augment.crop_padding",
                   "must be <= 4096 (and less than the images' sides), got " +
                       str(image.augment.crop_padding));
    if (r_.usable({"data.image.classes"})) {
      for (size_t i = 0; i < image.classes.size(); ++i) {
        const std::string element = "data.image.classes[" + std::to_string(i) + "]";
        if (image.classes[i].empty()) {
          r_.key_error(element, r_.element_where("data.image.classes", i), "must not be empty");
        } else {
          for (size_t j = 0; j < i; ++j)
            if (image.classes[j] == image.classes[i])
              r_.key_error(element, r_.element_where("data.image.classes", i),
                           quoted(image.classes[i]) + " is also data.image.classes[" +
                               std::to_string(j) + "]; each class needs its own name");
        }
      }
    }
    not_empty("data.train", c_.data.train, "is required (path of the training data)");
    if (r_.usable({"data.image.holdout"}) && image.holdout == 0)
      not_empty("data.valid", c_.data.valid,
                "is required (path of the validation data; for images, or data.image.holdout)");
    if (r_.usable({"data.valid", "data.image.holdout"}) && image.holdout > 0 &&
        !c_.data.valid.empty())
      r_.key_error("data.image.holdout", r_.where_any({"data.image.holdout", "data.valid"}),
                   "validates on held-out training images, but data.valid is set too; keep one");
    if (r_.usable({"data.task", "data.format"})) {
      const bool images = c_.data.task == TaskKind::kImageClassification;
      const bool image_format = c_.data.format != DataFormat::kTsv;
      if (images != image_format)
        r_.key_error("data.format", r_.where_any({"data.format", "data.task"}),
                     std::string(name_of(c_.data.format)) +
                         " does not fit data.task=" + name_of(c_.data.task) + " (" +
                         (images ? "images come as idx or png" : "text comes as tsv") + ")");
      const bool image_keys_set = image.holdout > 0 || !image.classes.empty() ||
                                  !image.train_labels.empty() || !image.valid_labels.empty() ||
                                  !image.test_labels.empty() || image.augment.crop_padding > 0 ||
                                  image.augment.flip;
      if (!images && image_keys_set)
        r_.key_error("data.image", r_.where_any({"data.task"}),
                     "data.image.* applies to data.task=image_classification only, got "
                     "data.task=" +
                         std::string(name_of(c_.data.task)));
      if (c_.data.format == DataFormat::kPng && !image.classes.empty())
        r_.key_error("data.image.classes", r_.where_any({"data.image.classes", "data.format"}),
                     "names the labels of IDX files; a PNG folder's labels TSV names its classes");
    }
    one_of<Tokenization>("data.tokenization");
    positive("data.max_len", c_.data.max_len);
    if (r_.usable({"data.tokenization", "data.task"}) &&
        c_.data.tokenization == Tokenization::kSentencepiece &&
        c_.data.task == TaskKind::kTransduction) {
      r_.key_error("data.tokenization", r_.where_any({"data.tokenization", "data.task"}),
                   "sentencepiece segments source and target independently, so their lengths "
                   "differ; data.task=transduction needs one target token per source token (use "
                   "data.task=translation, or char|word)");
    }
    const auto& spm = c_.data.spm;
    if (r_.usable({"data.spm.vocab_size"}) && spm.vocab_size < 2)
      r_.key_error("data.spm.vocab_size", "must be >= 2, got " + str(spm.vocab_size));
    one_of<SpmModelType>("data.spm.model_type");
    if (r_.usable({"data.spm.character_coverage"}) &&
        !(spm.character_coverage > 0.0 && spm.character_coverage <= 1.0))
      r_.key_error("data.spm.character_coverage",
                   "must be in (0, 1], got " + str(spm.character_coverage));
  }

  void check_model() {
    const auto& m = c_.model;
    positive("model.d_model", m.d_model);
    positive("model.num_heads", m.num_heads);
    positive("model.num_layers", m.num_layers);
    positive("model.d_ff", m.d_ff);
    unit("model.dropout", m.dropout);
    unit("model.attention_dropout", m.attention_dropout);
    one_of<NormPlacement>("model.norm");
    one_of<Activation>("model.activation");
    one_of<PositionKind>("model.positions");
    one_of<Pooling>("model.pooling");
    positive("model.ctc.upsample", m.ctc.upsample);
    positive("model.patch_size", m.patch_size);
    if (r_.usable({"model.d_model", "model.positions", "data.task"}) &&
        c_.data.task == TaskKind::kImageClassification &&
        m.positions == PositionKind::kSinusoidal && m.d_model % 2 != 0)
      r_.key_error("model.d_model", r_.where_any({"model.d_model", "model.positions"}),
                   "2-D sinusoidal positions give half the channels to rows and half to columns: "
                   "model.d_model must be even, got " +
                       str(m.d_model) + " (or set model.positions=learned)");
    one_of<CtcSplitAt>("model.ctc.split_at");
    if (r_.usable({"model.d_model", "model.num_heads"}) && m.d_model > 0 && m.num_heads > 0 &&
        m.d_model % m.num_heads != 0) {
      r_.key_error("model.num_heads", r_.where_any({"model.num_heads", "model.d_model"}),
                   str(m.num_heads) + " does not divide model.d_model=" + str(m.d_model));
    }
  }

  void check_train() {
    const auto& t = c_.train;
    positive("train.batch_size", t.batch_size);
    positive("train.grad_accum_steps", t.grad_accum_steps);
    non_negative("train.max_steps", t.max_steps);
    non_negative("train.max_epochs", t.max_epochs);
    if (r_.usable({"train.max_steps", "train.max_epochs"})) {
      if (t.max_steps == 0 && t.max_epochs == 0) {
        r_.key_error("train.max_steps", r_.where_any({"train.max_steps", "train.max_epochs"}),
                     "neither train.max_steps nor train.max_epochs is set; set exactly one of "
                     "them to a positive value");
      } else if (t.max_steps > 0 && t.max_epochs > 0) {
        r_.key_error("train.max_epochs", r_.where_any({"train.max_epochs", "train.max_steps"}),
                     "both train.max_steps=" + str(t.max_steps) + " and train.max_epochs=" +
                         str(t.max_epochs) + " are set; set exactly one (the other to 0)");
      }
    }
    positive("train.lr", t.lr);
    unit("train.beta1", t.beta1);
    unit("train.beta2", t.beta2);
    positive("train.eps", t.eps);
    non_negative("train.weight_decay", t.weight_decay);
    one_of<ScheduleKind>("train.schedule");
    non_negative("train.warmup_steps", t.warmup_steps);
    if (r_.usable({"train.warmup_steps", "train.max_steps"}) && t.max_steps > 0 &&
        t.warmup_steps >= t.max_steps) {
      r_.key_error("train.warmup_steps", r_.where_any({"train.warmup_steps", "train.max_steps"}),
                   str(t.warmup_steps) + " must be < train.max_steps=" + str(t.max_steps));
    }
    unit("train.min_lr_ratio", t.min_lr_ratio, /*closed_top=*/true);
    non_negative("train.grad_clip", t.grad_clip);
    unit("train.label_smoothing", t.label_smoothing);
    one_of<Precision>("train.precision");
    non_negative("train.bucket_batches", t.bucket_batches);
    positive("train.eval_interval", t.eval_interval);
    positive("train.checkpoint_interval", t.checkpoint_interval);
    non_negative("train.keep_last", t.keep_last);
    one_of<BestMetric>("train.best_metric");
    if (r_.usable({"train.best_metric", "data.task"})) {
      const auto task = c_.data.task;
      const char* needs = nullptr;
      if (t.best_metric == BestMetric::kExactMatch && is_classification(task))
        needs = "data.task=transduction or translation";
      if ((t.best_metric == BestMetric::kBleu || t.best_metric == BestMetric::kChrf) &&
          task != TaskKind::kTranslation)
        needs = "data.task=translation";
      if (needs != nullptr)
        r_.key_error("train.best_metric", r_.where_any({"train.best_metric", "data.task"}),
                     std::string(name_of(t.best_metric)) + " needs " + needs +
                         ", got data.task=" + name_of(task));
    }
    non_negative("train.early_stopping_patience", t.early_stopping_patience);
    non_negative("train.stop_at", t.stop_at);
    positive("train.max_nonfinite_steps", t.max_nonfinite_steps);
    one_of<ResumeMode>("train.resume");
  }

  void check_indices(const char* path, const std::vector<int64_t>& values, int64_t bound,
                     const char* bound_name) {
    if (!r_.usable({path})) return;
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string element = std::string(path) + "[" + std::to_string(i) + "]";
      if (values[i] < 0) {
        r_.key_error(element, r_.element_where(path, i), "must be >= 0, got " + str(values[i]));
      } else if (bound > 0 && values[i] >= bound) {
        r_.key_error(element, r_.element_where(path, i),
                     str(values[i]) + " is out of range for " + bound_name + "=" + str(bound));
      }
    }
  }

  void check_log() {
    const auto& a = c_.log.attention;
    positive("log.interval", c_.log.interval);
    non_negative("log.attention.num_examples", a.num_examples);
    if (r_.usable(
            {"log.attention.enabled", "log.attention.num_examples", "log.attention.examples"}) &&
        a.enabled && a.num_examples == 0 && a.examples.empty()) {
      r_.key_error("log.attention.num_examples",
                   r_.where_any({"log.attention.num_examples", "log.attention.enabled"}),
                   "attention logging is enabled but has no probe examples; set "
                   "log.attention.num_examples > 0 or list log.attention.examples");
    }
    positive("log.attention.every", a.every);
    if (r_.usable({"log.attention.examples", "data.task"}) && !a.examples.empty() &&
        c_.data.task == TaskKind::kImageClassification)
      r_.key_error("log.attention.examples", r_.where_any({"log.attention.examples", "data.task"}),
                   "probe images are drawn from the validation images (data.valid or "
                   "data.image.holdout); for data.task=image_classification set "
                   "log.attention.num_examples instead of listing texts");
    check_indices("log.attention.layers", a.layers,
                  r_.usable({"model.num_layers"}) ? c_.model.num_layers : 0, "model.num_layers");
    check_indices("log.attention.heads", a.heads,
                  r_.usable({"model.num_heads"}) ? c_.model.num_heads : 0, "model.num_heads");
  }

  Reader& r_;
  const Config& c_;
};

}  // namespace

void check_values(Reader& reader, const Config& config) { Checker(reader, config).run(); }

}  // namespace attnlab::config_detail
