#pragma once
// attnlab attn: inspect attention records (a run's attention/ log or one record file) in the
// terminal (listing, heatmaps, per-head statistics over steps) or as HTML / SVG / PNG files.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "attention_log/record.h"

namespace attnlab::cli {

// The parsed command line of `attnlab attn`.
struct AttnArgs {
  std::string location;              // RUN_DIR, an attention directory, or one record file
  std::string checkpoint, input;     // --checkpoint F "input" (see attention_from_checkpoint)
  std::optional<std::string> step;   // --step S|last; default last
  std::optional<int64_t> layer;      // --layer: a layer id; default the first logged
  std::optional<int64_t> head;       // --head: a head id; default the first logged
  std::optional<int64_t> example;    // --example: index of the probe example; default 0
  bool average_heads = false;        // --average-heads: mean over the logged heads
  bool summary = false;              // --summary: per-head statistics over steps
  std::string html, svg, png;        // --html/--svg/--png OUT: write these files
  bool no_color = false;             // --no-color
  bool alignment = false;            // --alignment (translation: a logged step or --checkpoint)
  std::optional<int64_t> index;      // images: --index N, an image of --split (cli/attn_image.h)
  std::string split = "test";        // images: --split test|valid|train for --index
  bool rollout = false;              // images: --rollout, attention rollout over the layers
  std::optional<std::string> query;  // images: --query cls|R,C, the query row shown
  bool help = false;                 // --help / -h
};

// Parses the arguments after "attn"; throws UsageError on bad usage.
AttnArgs parse_attn_args(const std::vector<std::string>& args);

// The usage text printed by --help.
std::string attn_help();

// What `attn` shows: steps ascending, each record read on demand.
struct RecordSource {
  std::string name;                             // shown in headings and titles
  std::vector<int64_t> steps;                   // ascending
  std::function<AttentionRecord(size_t)> load;  // the record of steps[i]
};
RecordSource source_from_log(const AttentionLog& log);
RecordSource source_from_record(AttentionRecord record, std::string name);

// Loads each record of a source at most once per command.
class RecordCache {
 public:
  explicit RecordCache(const RecordSource& source) : source_(source) {}
  const AttentionRecord& get(size_t i);

 private:
  const RecordSource& source_;
  std::map<size_t, AttentionRecord> cache_;
};

// The index into source.steps of --step (default the last); UsageError naming the nearest
// logged steps when it is not there.
size_t resolve_step(const RecordSource& source, const AttnArgs& args);

// "0-2" for three or more consecutive ids, else "0, 2, 5"; "none" when empty.
std::string describe_ids(const std::vector<int64_t>& ids);

// Steps for a listing: all of them, or the first and last few when there are many.
std::string describe_steps(const std::vector<int64_t>& steps);

// What an HTML report opens on: indices into the record's examples, layer_ids and head_ids
// (head -1: the heads averaged).
struct InitialView {
  int64_t example = 0, layer_index = 0, head_index = 0;
};

// The rendering path, from records to terminal and files; the selection flags of `args` are
// checked against what exists (UsageError "layer 7 out of range: the log has layers 0-2").
// `color`: whether terminal output may use ANSI colour. Records with pictures go to the image
// view (cli/attn_image.h); `heading` is printed above it (a checkpoint's prediction).
int show_attention(const RecordSource& source, const AttnArgs& args, std::ostream& out, bool color,
                   const std::string& heading = "");

// The record of one input computed from a checkpoint, for `attnlab attn --checkpoint F "input"`
// (step = the checkpoint's step, source "predict"). Throws CheckpointError or DataError.
AttentionRecord attention_from_checkpoint(const std::string& checkpoint, const std::string& input);

// Writes `bytes` to `path` (replacing it); std::runtime_error naming the path on failure.
void write_text_file(const std::string& path, const std::string& bytes);

// parse_attn_args, open the log (or call attention_from_checkpoint), show_attention to `out`.
int run_attn_command(const std::vector<std::string>& args, std::ostream& out, bool color_allowed);

// The command: stdout, colour when stdout is a terminal and NO_COLOR is unset or empty.
int attn_command(const std::vector<std::string>& args);

}  // namespace attnlab::cli
