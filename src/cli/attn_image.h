#pragma once
// attnlab attn over images: where a Vision Transformer looks. For a record that carries its
// pictures (logged during training, written by eval/predict --attention, or computed from a
// checkpoint for IMAGE.png or --index N): one query's row (<cls> by default, or --query R,C)
// of one layer (one head, or the heads averaged) or of the attention rollout over the logged
// layers, as the patch grid in the terminal and drawn over the picture (--png, --svg);
// --summary: each head's mean attention distance in pixels, over the steps of a log.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "attention_log/record.h"
#include "cli/attn_command.h"
#include "train/trained_model.h"

namespace attnlab::cli {

// The record of one image through an image checkpoint (args.checkpoint): IMAGE.png
// (args.input) or --index N of --split; source "predict", step = the checkpoint's. `heading`
// gets "NAME: predicted LABEL (p=0.912)". UsageError for --step, --example or --alignment
// (one image, no log) and for an image of the wrong size.
AttentionRecord image_record_from_checkpoint(TrainedModel& trained, const AttnArgs& args,
                                             std::string& heading);

// The query row --query names in an image record: 0 for <cls> (no --query, or "cls"), else
// 1 + R * grid_w + C for "R,C" or "rRcC". UsageError outside the patch grid.
int64_t image_query_row(const AttentionRecord& record, const AttnArgs& args);

// The terminal and file views of the image record at step_index (records of other steps are
// read through `cache` for --summary). Without a selection, a record log is listed; `heading`
// (a checkpoint's prediction) replaces the listing. Layer: --layer, default the last logged;
// heads: --head, default averaged. Returns what an HTML report opens on.
InitialView show_image_view(const RecordSource& source, RecordCache& cache, size_t step_index,
                            const AttnArgs& args, std::ostream& out, bool color,
                            const std::string& heading);

}  // namespace attnlab::cli
