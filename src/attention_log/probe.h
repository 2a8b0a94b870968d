#pragma once
// Turns a model's attention weights on a few inputs into AttentionRecords: for `eval` and
// `predict --attention`, `attn --checkpoint`, and (through AttentionLogger) during training.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attention_log/record.h"
#include "config/config.h"
#include "model/encoder_model.h"
#include "train/run_data.h"

namespace attnlab {

// Runs `texts` through the model in eval mode without gradients (restoring the mode after)
// and returns post-softmax weights of the chosen layers and heads (empty = all), float32,
// zero outside each example's real length (padded keys and padded queries).
AttentionRecord record_attention(EncoderModel& model, const TaskSpec& spec,
                                 const std::vector<std::string>& texts, int64_t step,
                                 const std::string& source, const std::vector<int64_t>& layers = {},
                                 const std::vector<int64_t>& heads = {});

// The same for a Vision Transformer: `images` (N, C, H, W) uint8 through the model; tokens
// "<cls>" and the patches (patch_tokens), and the record carries the pictures and `names` (N).
AttentionRecord record_image_attention(EncoderModel& model, const at::Tensor& images,
                                       const std::vector<std::string>& names, int64_t step,
                                       const std::string& source,
                                       const std::vector<int64_t>& layers = {},
                                       const std::vector<int64_t>& heads = {});

// Records attention of fixed probe examples during training, at step 0, every `every` steps
// and at the last step, into <run_dir>/attention/. Records are computed on the training thread
// (they need the weights of that step) and serialised and written by a background thread.
class AttentionLogger {
 public:
  // Probe inputs: config.examples if given, else num_examples drawn from `valid` by `seed`
  // (for images always drawn: the pictures and their names, "name (label)").
  AttentionLogger(const AttentionLogConfig& config, const TaskSpec& spec, const Dataset& valid,
                  const std::string& run_dir, uint64_t seed);
  ~AttentionLogger();  // waits for pending writes
  AttentionLogger(const AttentionLogger&) = delete;
  AttentionLogger& operator=(const AttentionLogger&) = delete;

  void on_step(EncoderModel& model, int64_t step, bool last);
  const std::vector<std::string>& probes() const { return probes_; }
  const std::string& directory() const { return directory_; }
  int64_t records_written() const;
  // Waits until every queued record is on disk; rethrows a writer error.
  void flush();

 private:
  void writer_loop();

  AttentionLogConfig config_;
  TaskSpec spec_;
  std::vector<std::string> probes_;  // texts, or the names of the probe images
  at::Tensor probe_images_;          // images: (N, C, H, W) uint8; else undefined
  std::string directory_;
  int64_t last_logged_step_ = -1;

  mutable std::mutex mutex_;
  std::condition_variable wake_, drained_;
  std::deque<std::pair<std::string, AttentionRecord>> queue_;
  bool stopping_ = false;
  bool busy_ = false;
  int64_t written_ = 0;
  std::string error_;
  std::thread writer_;
};

}  // namespace attnlab
