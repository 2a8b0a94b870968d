#include "config/schema.h"

#include <algorithm>

namespace attnlab::config_detail {

std::vector<Field> fields_of(Config& c) {
  return {
      {"run.name", &c.run.name},
      {"run.out_dir", &c.run.out_dir},
      {"run.seed", &c.run.seed},
      {"run.threads", &c.run.threads},
      {"run.dist_timeout_s", &c.run.dist_timeout_s},
      {"data.task", &c.data.task},
      {"data.format", &c.data.format},
      {"data.train", &c.data.train},
      {"data.valid", &c.data.valid},
      {"data.test", &c.data.test},
      {"data.tokenization", &c.data.tokenization},
      {"data.max_len", &c.data.max_len},
      {"data.skip_unfit", &c.data.skip_unfit},
      {"data.spm.vocab_size", &c.data.spm.vocab_size},
      {"data.spm.model_type", &c.data.spm.model_type},
      {"data.spm.character_coverage", &c.data.spm.character_coverage},
      {"data.spm.model", &c.data.spm.model},
      {"data.image.train_labels", &c.data.image.train_labels},
      {"data.image.valid_labels", &c.data.image.valid_labels},
      {"data.image.test_labels", &c.data.image.test_labels},
      {"data.image.holdout", &c.data.image.holdout},
      {"data.image.classes", &c.data.image.classes},
      {"data.image.augment.crop_padding", &c.data.image.augment.crop_padding},
      {"data.image.augment.flip", &c.data.image.augment.flip},
      {"model.d_model", &c.model.d_model},
      {"model.num_heads", &c.model.num_heads},
      {"model.num_layers", &c.model.num_layers},
      {"model.d_ff", &c.model.d_ff},
      {"model.dropout", &c.model.dropout},
      {"model.attention_dropout", &c.model.attention_dropout},
      {"model.norm", &c.model.norm},
      {"model.activation", &c.model.activation},
      {"model.positions", &c.model.positions},
      {"model.pooling", &c.model.pooling},
      {"model.patch_size", &c.model.patch_size},
      {"model.ctc.upsample", &c.model.ctc.upsample},
      {"model.ctc.split_at", &c.model.ctc.split_at},
      {"train.batch_size", &c.train.batch_size},
      {"train.grad_accum_steps", &c.train.grad_accum_steps},
      {"train.bucket_batches", &c.train.bucket_batches},
      {"train.max_steps", &c.train.max_steps},
      {"train.max_epochs", &c.train.max_epochs},
      {"train.lr", &c.train.lr},
      {"train.beta1", &c.train.beta1},
      {"train.beta2", &c.train.beta2},
      {"train.eps", &c.train.eps},
      {"train.weight_decay", &c.train.weight_decay},
      {"train.schedule", &c.train.schedule},
      {"train.warmup_steps", &c.train.warmup_steps},
      {"train.min_lr_ratio", &c.train.min_lr_ratio},
      {"train.grad_clip", &c.train.grad_clip},
      {"train.label_smoothing", &c.train.label_smoothing},
      {"train.precision", &c.train.precision},
      {"train.eval_interval", &c.train.eval_interval},
      {"train.checkpoint_interval", &c.train.checkpoint_interval},
      {"train.keep_last", &c.train.keep_last},
      {"train.best_metric", &c.train.best_metric},
      {"train.early_stopping_patience", &c.train.early_stopping_patience},
      {"train.stop_at", &c.train.stop_at},
      {"train.max_nonfinite_steps", &c.train.max_nonfinite_steps},
      {"train.resume", &c.train.resume},
      {"log.interval", &c.log.interval},
      {"log.progress", &c.log.progress},
      {"log.attention.enabled", &c.log.attention.enabled},
      {"log.attention.num_examples", &c.log.attention.num_examples},
      {"log.attention.examples", &c.log.attention.examples},
      {"log.attention.every", &c.log.attention.every},
      {"log.attention.layers", &c.log.attention.layers},
      {"log.attention.heads", &c.log.attention.heads},
  };
}

std::string parent_of(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string last_part(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

Schema::Schema() {
  Config dummy;
  sections.insert("");
  for (const auto& field : fields_of(dummy)) {
    std::string path = field.path;
    leaves.insert(path);
    // Register the path under its parent, then each section under its own parent.
    for (std::string child = path; !child.empty(); child = parent_of(child)) {
      auto& list = children[parent_of(child)];
      if (std::find(list.begin(), list.end(), child) == list.end()) list.push_back(child);
      if (child != path) sections.insert(child);
    }
  }
}

const Schema& schema() {
  static const Schema instance;
  return instance;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

// The closest candidate within `max_distance` edits (1 for very short words), or "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates,
                    size_t max_distance) {
  const size_t limit = word.size() <= 3 ? 1 : max_distance;
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    const size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// The known path an unknown `path` most likely meant, or "": a near miss among its siblings,
// else the same key in another section ("model.lr" -> "train.lr"), else a near miss there.
std::string suggestion_for(const std::string& path) {
  const Schema& s = schema();
  const std::string section = parent_of(path);
  const std::string key = last_part(path);
  std::vector<std::string> siblings;
  for (const auto& child : s.children.at(section)) siblings.push_back(last_part(child));
  const std::string near = closest(key, siblings);
  if (!near.empty()) return join_path(section, near);
  for (const auto& leaf : s.leaves)
    if (last_part(leaf) == key) return leaf;
  for (const auto& leaf : s.leaves)
    if (parent_of(leaf) != section && !closest(key, {last_part(leaf)}).empty()) return leaf;
  return "";
}

// "unknown key; did you mean 'model.d_model'?" for an unknown `path`, or the list of known keys.
std::string unknown_key_message(const std::string& path) {
  const std::string section = parent_of(path);
  const std::string what = section.empty() ? "unknown section" : "unknown key";
  const std::string suggestion = suggestion_for(path);
  if (!suggestion.empty()) return what + "; did you mean '" + suggestion + "'?";
  std::vector<std::string> siblings;
  for (const auto& child : schema().children.at(section)) siblings.push_back(last_part(child));
  return what + " (" + (section.empty() ? "sections are" : "keys in " + section + " are") + " " +
         joined(siblings, ", ") + ")";
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace attnlab::config_detail
