#pragma once
// A self-contained interactive HTML report of attention records: one file with inline CSS and
// JS and the weights embedded as JSON; no network, no external scripts or fonts.
//
// The page has a step slider, layer / head / example pickers and an "average heads" toggle; a
// grid of small heatmaps of every layer x head (plus the head mean per layer), click one to
// select it; and a large labelled heatmap on a <canvas> whose hover shows query token, key token
// and weight. Image records (RecordImages) add the picture with one query's attention over it
// (<cls> or a clicked patch; one layer and head, their mean, or the rollout over the logged
// layers), and their layer x head grid shows those overlays. When its script has rendered, the page
// sets data-rendered="ok" on <body> (a script error sets data-error instead), which tests read back
// through a headless browser.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attention_log/record.h"

namespace attnlab {

struct HtmlOptions {
  std::string title = "attnlab attention";  // page title and heading
  int decimals = 3;             // weights are embedded rounded to this many decimals (1..6)
  size_t max_steps = 0;         // more records than this are thinned evenly; 0 keeps all
  int64_t initial_step = -1;    // index into the (kept) records shown first; -1 = the last
  int64_t initial_layer = 0;    // layer index (into layer_ids) shown first
  int64_t initial_head = 0;     // head index (into head_ids) shown first
  int64_t initial_example = 0;  // example shown first
  bool average_heads = false;   // start with the head mean
  // Image records: the query row shown over the picture first (0 = <cls>, 1 + patch), and
  // whether to start on the attention rollout.
  int64_t initial_query = 0;
  bool rollout = false;
};

// The whole HTML document. Records should be in step order; each may have its own examples,
// layers and heads (pickers follow the selected step).
std::string render_html(const std::vector<AttentionRecord>& records, const HtmlOptions& options);

}  // namespace attnlab
