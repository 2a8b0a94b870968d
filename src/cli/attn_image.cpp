#include "cli/attn_image.h"

#include <iomanip>
#include <ostream>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "attention_log/heatmap.h"
#include "attention_log/image_attention.h"
#include "cli/commands.h"
#include "cli/image_input.h"
#include "train/trained_model.h"

namespace attnlab::cli {
namespace {


std::vector<std::string> numbered(const char* prefix, int64_t n) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

}  // namespace

int show_image_attention(TrainedModel& trained, const AttnArgs& args, std::ostream& out, bool color) {
  if (args.step || args.example || !args.html.empty() || args.alignment)
    throw UsageError("--step, --example, --html and --alignment are for attention records; an "
                     "image checkpoint shows one image (IMAGE.png or --index N)");
  if (args.rollout && (args.layer || args.head || args.average_heads))
    throw UsageError("--rollout combines all layers and heads; drop --layer/--head/--average-heads");
  TORCH_CHECK(trained.vocabs.task == TaskKind::kImageClassification,
              "show_image_attention: not an image checkpoint");
  const auto& shape = trained.vocabs.image_shape;  // (C, H, W)
  at::Tensor image;                                // (C, H, W) uint8
  std::string name;
  if (args.index) {
    if (!args.input.empty()) throw UsageError("give IMAGE.png or --index, not both");
    auto picked = split_images(trained, args.split, {*args.index}, "--index");
    image = picked.images[0];
    name = picked.names[0];
  } else {
    image = png_input(args.input, shape);
    name = args.input;
  }
  const int64_t patch = trained.config.model.patch_size;
  const int64_t grid_h = shape[1] / patch, grid_w = shape[2] / patch;

  ModelOutput output;
  {
    torch::NoGradGuard no_grad;
    output = trained.model->forward(image.unsqueeze(0), /*need_weights=*/true);
  }
  std::vector<at::Tensor> layers;  // per layer (H, T, T)
  for (const auto& w : output.weights) layers.push_back(w[0].to(at::kFloat));
  const auto num_layers = static_cast<int64_t>(layers.size());
  const int64_t num_heads = layers.at(0).size(0);
  const int64_t layer = args.layer.value_or(num_layers - 1);
  if (layer < 0 || layer >= num_layers)
    throw UsageError("layer " + std::to_string(layer) + " out of range: the model has layers 0-" +
                     std::to_string(num_layers - 1));
  if (args.head && (*args.head < 0 || *args.head >= num_heads))
    throw UsageError("head " + std::to_string(*args.head) + " out of range: the model has heads 0-" +
                     std::to_string(num_heads - 1));
  at::Tensor weights;  // (T, T)
  std::string what;
  if (args.rollout) {
    weights = attention_rollout(layers);
    what = "attention rollout over " + std::to_string(num_layers) + (num_layers == 1 ? " layer" : " layers");
  } else if (args.head) {
    weights = layers[static_cast<size_t>(layer)][*args.head];
    what = "layer " + std::to_string(layer) + ", head " + std::to_string(*args.head);
  } else {
    weights = layers[static_cast<size_t>(layer)].mean(0);
    what = "layer " + std::to_string(layer) + ", heads averaged";
  }
  const auto grid = patch_grid(weights, /*row=*/0, grid_h, grid_w);  // (Gh, Gw)
  const auto probabilities = output.logits[0].to(at::kFloat).softmax(0);  // (K)
  const int64_t predicted = probabilities.argmax().item<int64_t>();
  std::ostringstream head;
  head << name << ": predicted " << trained.vocabs.labels.label(predicted) << " (p="
       << std::fixed << std::setprecision(3) << probabilities[predicted].item<double>() << ")";
  out << head.str() << "\n<cls> attention over the " << grid_h << "x" << grid_w << " patches of "
      << patch << "x" << patch << " pixels (rows r, columns c; sums to 1), " << what << ":\n";
  HeatmapStyle style;
  style.color = color;
  out << render_heatmap(grid, numbered("r", grid_h), numbered("c", grid_w), style);

  if (args.summary) {
    out << "\nmean attention distance in pixels (patch queries, <cls> left out; "
        << "Dosovitskiy et al. 2020, fig. 7):\n";
    for (int64_t l = 0; l < num_layers; ++l) {
      const auto distance = mean_attention_distance(layers[static_cast<size_t>(l)], grid_h, grid_w, patch);
      out << "  layer " << l << ":";
      for (int64_t h = 0; h < num_heads; ++h)
        out << " h" << h << "=" << std::fixed << std::setprecision(1) << distance[h].item<double>();
      out << "  mean " << distance.mean().item<double>() << "\n";
    }
  }
  // About 224 pixels a side for a picture one can see (28 x 8).
  const int64_t scale = std::max<int64_t>(1, 224 / std::max(shape[1], shape[2]));
  if (!args.png.empty()) {
    write_text_file(args.png, render_overlay_png(image, grid, scale));
    out << "wrote " << args.png << "\n";
  }
  if (!args.svg.empty()) {
    write_text_file(args.svg, render_overlay_svg(image, grid, scale, head.str() + "; " + what));
    out << "wrote " << args.svg << "\n";
  }
  return kExitOk;
}

}  // namespace attnlab::cli
