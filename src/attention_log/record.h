#pragma once
// One attention record: post-softmax weights of a few probe examples at one training step,
// and the files that hold them (runs/<name>/attention/step_00001200.pt).
//
// A record file is a torch pickle (torch::pickle_save) of a plain dict, so Python reads it with
// `torch.load(path)`. Keys: "format" = "attnlab.attention", "version" = 1, "step", "source",
// "tokens" (list of list of str), "lengths", "layer_ids", "head_ids", "layers" (list of
// (N, H', T, T) float32 tensors), for translation "alignments" (list of dicts with "source",
// "outputs", "positions", "weights") and for images "images" ((N, C, H, W) uint8),
// "patch_size" and "image_names". See docs/attention.md.

#include <ATen/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab {

constexpr const char* kAttentionFormat = "attnlab.attention";  // the "format" key
constexpr int64_t kAttentionFormatVersion = 1;                 // the "version" key

// A record file that is missing, truncated, corrupted, foreign or inconsistent. The message
// names the file and what is wrong.
class AttentionLogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Translation records only, one per example: what the model emitted at that step and where
// each emitting position attended (attention_log/alignment.h has the rule). Stored under the
// optional "alignments" key; records without it (other tasks, older files) load as before.
struct RecordAlignment {
  std::vector<std::string> source;   // S source tokens: the columns
  std::vector<std::string> outputs;  // J output tokens of the greedy CTC decode: the rows
  std::vector<int64_t> positions;    // J emitting output positions (0 .. k*S-1)
  at::Tensor weights;                // (J, S) float32, rows summing to 1 (J may be 0)
};

// Image records only (a Vision Transformer): the probe pictures themselves, so that a viewer
// can draw the attention over them. Stored under the optional keys "images", "patch_size" and
// "image_names"; records without them (text tasks, older files) load as before. The tokens of
// an image record are "<cls>" and then the patches in raster order, "r0c0", "r0c1", ...
struct RecordImages {
  at::Tensor pixels;               // (N, C, H, W) uint8, C = 1 (grey) or 3 (RGB); undefined = none
  int64_t patch_size = 0;          // P: pixels per patch side, dividing H and W
  std::vector<std::string> names;  // N: what each picture is ("t10k-images...gz#3", a file)

  bool empty() const { return !pixels.defined(); }
  int64_t grid_height() const { return pixels.size(2) / patch_size; }
  int64_t grid_width() const { return pixels.size(3) / patch_size; }
};

struct AttentionRecord {
  int64_t step = 0;                              // training step the weights come from
  std::string source;                            // "train" | "eval" | "predict"
  std::vector<std::vector<std::string>> tokens;  // N examples, each padding-free
  std::vector<int64_t> lengths;                  // N; lengths[n] == tokens[n].size()
  std::vector<int64_t> layer_ids;                // model layer of each entry of `layers`
  std::vector<int64_t> head_ids;                 // model heads kept in every layer (H')
  // One per layer id: (N, H', T, T) float32, T = max length; query rows and key columns at or
  // beyond an example's length are zero. NaN is allowed (a diverged run still logs).
  std::vector<at::Tensor> layers;
  std::vector<RecordAlignment> alignments;  // translation: one per example; else empty
  RecordImages images;                      // image classification; else empty

  int64_t num_examples() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_layers() const { return static_cast<int64_t>(layer_ids.size()); }
  int64_t num_heads() const { return static_cast<int64_t>(head_ids.size()); }
};

// Throws AttentionLogError("<where>: ...") unless the record is consistent: known source,
// N >= 1 examples with 1 <= length == tokens, unique non-negative layer and head ids, one
// float32 CPU tensor (N, H', T, T) per layer with T >= max length, values in [0, 1] (or NaN)
// and zero outside each example's length; alignments, when present, one per example with J
// outputs, J positions and (J, S) float32 weights in [0, 1], S source tokens; images, when
// present, (N, C, H, W) uint8 CPU with C 1 or 3, a patch size dividing H and W, N names and
// every example 1 + (H/P)(W/P) tokens long.
void validate_record(const AttentionRecord& record, const std::string& where);

// Writes `record` (validated first) to `path` atomically: path.tmp, fsync, rename. Creates the
// parent directory. Tensors are stored contiguous, float32, on the CPU.
void save_record(const std::string& path, const AttentionRecord& record);

// Reads and validates a record file; throws AttentionLogError naming the file on any problem.
AttentionRecord load_record(const std::string& path);

// "step_00001200.pt": the file name of a step's record inside an attention directory.
std::string record_file_name(int64_t step);

// Parses a record file name ("step_00001200.pt" -> 1200); -1 when the name is not one.
int64_t step_from_file_name(const std::string& file_name);

// Paths of the record files in `attention_dir`, sorted by step. Throws AttentionLogError when
// the directory does not exist. Other files are ignored.
std::vector<std::string> list_records(const std::string& attention_dir);

// "<cls>", "r0c0", "r0c1", ..., "r{grid_h-1}c{grid_w-1}": the tokens of an image record.
std::vector<std::string> patch_tokens(int64_t grid_h, int64_t grid_w);

// The records of one run, loaded lazily: paths and steps known, records read on demand.
struct AttentionLog {
  std::string location;            // what was opened (run dir, attention dir or one file)
  std::vector<int64_t> steps;      // ascending
  std::vector<std::string> paths;  // paths[i] holds steps[i]

  size_t size() const { return steps.size(); }
  // Reads record i; checks that its step matches the file name.
  AttentionRecord load(size_t i) const;
  // Index of `step`, or -1.
  int64_t index_of(int64_t step) const;
};

// Opens `location`: a run directory (its attention/ subdirectory), an attention directory, or a
// single record file (as `eval --attention OUT` writes; read once to learn its step). Throws
// AttentionLogError when nothing is there.
AttentionLog load_log(const std::string& location);

// The (L, L) weights of one example, L = its length: head `head_index` (an index into
// head_ids, not a head id) of layer `layer_index`, or the mean over the logged heads when
// head_index is -1. Float32, CPU.
at::Tensor example_weights(const AttentionRecord& record, int64_t layer_index, int64_t head_index,
                           int64_t example);

}  // namespace attnlab
