#pragma once
// attnlab attn --checkpoint F (IMAGE.png | --index N): where a Vision Transformer looks in one
// image: the <cls> row of one layer (one head, or the heads averaged) or of the attention
// rollout over all layers, as the image's patch grid in the terminal and drawn over the image
// (--png, --svg); --summary adds each head's mean attention distance in pixels.

#include <iosfwd>

#include "cli/attn_command.h"
#include "train/trained_model.h"

namespace attnlab::cli {

// `trained` holds an image checkpoint (args.checkpoint); UsageError for flags of records.
int show_image_attention(TrainedModel& trained, const AttnArgs& args, std::ostream& out, bool color);

}  // namespace attnlab::cli
