#include "cli/attn_image.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "attention_log/head_stats.h"
#include "attention_log/heatmap.h"
#include "attention_log/image_attention.h"
#include "attention_log/probe.h"
#include "cli/commands.h"
#include "cli/image_input.h"

namespace attnlab::cli {
namespace {

constexpr size_t kSummarySteps = 3;  // steps in --summary without --step: first, middle, last

std::vector<std::string> numbered(const char* prefix, int64_t n) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

// One example's weights of every logged layer: each (H', T, T).
std::vector<at::Tensor> example_layers(const AttentionRecord& record, int64_t example) {
  std::vector<at::Tensor> layers;
  for (const auto& w : record.layers) layers.push_back(w[example]);
  return layers;
}

// What the grid shows, resolved against one record.
struct ImageSelection {
  int64_t example = 0;
  int64_t layer_index = 0;  // into layer_ids; unused with rollout
  int64_t head_index = -1;  // into head_ids; -1 = the heads averaged
  int64_t query_row = 0;    // 0 = <cls>, 1 + patch
  bool rollout = false;
};

ImageSelection resolve_image(const AttentionRecord& record, const AttnArgs& args) {
  ImageSelection s;
  s.example = args.example.value_or(0);
  if (s.example < 0 || s.example >= record.num_examples())
    throw UsageError("example " + std::to_string(s.example) +
                     " out of range: the record has images 0-" +
                     std::to_string(record.num_examples() - 1));
  // The index of `id` in `ids`; UsageError naming what exists otherwise.
  const auto index_of = [&record](const std::vector<int64_t>& ids, int64_t id,
                                  const std::string& what) {
    const auto it = std::find(ids.begin(), ids.end(), id);
    if (it == ids.end())
      throw UsageError(what + " " + std::to_string(id) + " out of range: the " +
                       (record.source == "predict" ? "model has " : "log has ") + what + "s " +
                       describe_ids(ids));
    return static_cast<int64_t>(it - ids.begin());
  };
  s.layer_index =
      args.layer ? index_of(record.layer_ids, *args.layer, "layer") : record.num_layers() - 1;
  if (args.head) s.head_index = index_of(record.head_ids, *args.head, "head");
  s.rollout = args.rollout;
  if (s.rollout)
    for (int64_t l = 0; l < record.num_layers(); ++l)
      if (record.layer_ids[static_cast<size_t>(l)] != l)
        throw UsageError(
            "--rollout multiplies the layers from the first one up; the record has layers " +
            describe_ids(record.layer_ids) + " (log every layer from 0: log.attention.layers)");
  s.query_row = image_query_row(record, args);
  return s;
}

// (T, T) weights of the selection, and what they are ("layer 3, heads averaged").
std::pair<at::Tensor, std::string> selected_weights(const AttentionRecord& record,
                                                    const ImageSelection& s) {
  if (s.rollout) {
    const auto n = record.num_layers();
    return {attention_rollout(example_layers(record, s.example)),
            "attention rollout over " + std::to_string(n) + (n == 1 ? " layer" : " layers") +
                " (heads " + describe_ids(record.head_ids) + " averaged)"};
  }
  const auto w = record.layers[static_cast<size_t>(s.layer_index)][s.example];  // (H', T, T)
  const std::string layer =
      "layer " + std::to_string(record.layer_ids[static_cast<size_t>(s.layer_index)]);
  if (s.head_index < 0) return {w.mean(0), layer + ", heads averaged"};
  return {w[s.head_index],
          layer + ", head " + std::to_string(record.head_ids[static_cast<size_t>(s.head_index)])};
}

std::string query_name(const AttentionRecord& record, int64_t row) {
  return row == 0 ? "<cls>" : "patch " + record.tokens[0][static_cast<size_t>(row)];
}

void print_image_listing(const RecordSource& source, const AttentionRecord& r, std::ostream& out) {
  const auto& p = r.images.pixels;  // (N, C, H, W)
  out << "attention log: " << source.name << " (" << source.steps.size()
      << (source.steps.size() == 1 ? " record" : " records") << ")\n";
  out << "steps: " << describe_steps(source.steps) << "\n";
  out << "step " << r.step << " (" << r.source << "): " << r.num_examples()
      << (r.num_examples() == 1 ? " image of " : " images of ") << p.size(3) << "x" << p.size(2)
      << " pixels (" << (p.size(1) == 1 ? "grey" : "RGB") << "), " << r.images.patch_size << "x"
      << r.images.patch_size << " patches (" << r.images.grid_height() << "x"
      << r.images.grid_width() << " grid), layers " << describe_ids(r.layer_ids) << ", heads "
      << describe_ids(r.head_ids) << "\n";
  out << "images:\n";
  for (int64_t n = 0; n < r.num_examples(); ++n)
    out << "  " << n << "  " << r.images.names[static_cast<size_t>(n)] << "\n";
  out << "show: --example E --layer L [--head H] or --rollout, --query R,C (the patch grid), "
         "--summary "
         "(mean attention distance per head), --png/--svg OUT (over the picture), --html "
         "OUT.html\n";
}

// Per layer, the mean attention distance (pixels) of each logged head, averaged over the images.
std::vector<at::Tensor> record_distances(const AttentionRecord& r) {
  std::vector<at::Tensor> per_layer;
  for (const auto& layer : r.layers) {  // (N, H', T, T)
    at::Tensor sum;
    for (int64_t n = 0; n < r.num_examples(); ++n) {
      const auto d =
          mean_attention_distance(layer[n], r.images.grid_height(), r.images.grid_width(),
                                  r.images.patch_size);  // (H')
      sum = sum.defined() ? sum + d : d;
    }
    per_layer.push_back(sum / static_cast<double>(r.num_examples()));
  }
  return per_layer;
}

void print_distances(const AttentionRecord& r, std::ostream& out) {
  const auto distances = record_distances(r);
  for (size_t l = 0; l < distances.size(); ++l) {
    out << "  layer " << r.layer_ids[l] << ":";
    for (int64_t h = 0; h < r.num_heads(); ++h)
      out << " h" << r.head_ids[static_cast<size_t>(h)] << "=" << std::fixed << std::setprecision(1)
          << distances[l][h].item<double>();
    out << "  mean " << distances[l].mean().item<double>() << "\n";
  }
}

}  // namespace

AttentionRecord image_record_from_checkpoint(TrainedModel& trained, const AttnArgs& args,
                                             std::string& heading) {
  if (args.step || args.example || args.alignment)
    throw UsageError(
        "--step, --example and --alignment are for attention records; an image checkpoint "
        "shows one image (IMAGE.png or --index N)");
  TORCH_CHECK(trained.vocabs.task == TaskKind::kImageClassification,
              "image_record_from_checkpoint: not an image checkpoint");
  at::Tensor image;  // (C, H, W) uint8
  std::string name;
  if (args.index) {
    auto picked = split_images(trained, args.split, {*args.index}, "--index");
    image = picked.images[0];
    name = picked.names[0];
  } else {
    image = png_input(args.input, trained.vocabs.image_shape);
    name = args.input;
  }
  at::Tensor probabilities;  // (K)
  {
    torch::NoGradGuard no_grad;
    probabilities = trained.model->forward(image.unsqueeze(0)).logits[0].to(at::kFloat).softmax(0);
  }
  const int64_t predicted = probabilities.argmax().item<int64_t>();
  std::ostringstream text;
  text << name << ": predicted " << trained.vocabs.labels.label(predicted) << " (p=" << std::fixed
       << std::setprecision(3) << probabilities[predicted].item<double>() << ")";
  heading = text.str();
  return record_image_attention(trained.model, image.unsqueeze(0), {name}, trained.step, "predict");
}

int64_t image_query_row(const AttentionRecord& record, const AttnArgs& args) {
  if (!args.query || *args.query == "cls" || *args.query == "<cls>") return 0;
  const auto& q = *args.query;
  const auto gh = record.images.grid_height(), gw = record.images.grid_width();
  long long r = -1, c = -1;
  char tail = 0;
  const bool parsed = std::sscanf(q.c_str(), "%lld,%lld%c", &r, &c, &tail) == 2 ||
                      std::sscanf(q.c_str(), "r%lldc%lld%c", &r, &c, &tail) == 2;
  if (!parsed)
    throw UsageError("--query takes cls or a patch as ROW,COLUMN (e.g. 3,4 or r3c4), got '" + q +
                     "'");
  if (r < 0 || r >= gh || c < 0 || c >= gw)
    throw UsageError("--query " + q + " is outside the " + std::to_string(gh) + "x" +
                     std::to_string(gw) + " patch grid (rows 0-" + std::to_string(gh - 1) +
                     ", columns 0-" + std::to_string(gw - 1) + ")");
  return 1 + r * gw + c;
}

InitialView show_image_view(const RecordSource& source, RecordCache& cache, size_t step_index,
                            const AttnArgs& args, std::ostream& out, bool color,
                            const std::string& heading) {
  const auto& record = cache.get(step_index);
  const auto sel = resolve_image(record, args);
  const bool files = !args.html.empty() || !args.svg.empty() || !args.png.empty();
  const bool picked = args.layer || args.head || args.average_heads || args.example ||
                      args.rollout || args.query || (args.step && !args.summary);
  const bool grid_shown = !heading.empty() || (picked && !files);
  if (!grid_shown && !args.summary && !files) print_image_listing(source, record, out);

  const auto gh = record.images.grid_height(), gw = record.images.grid_width();
  const auto [weights, what] = selected_weights(record, sel);
  const auto grid = patch_grid(weights, sel.query_row, gh, gw);  // (gh, gw)
  const auto& name = record.images.names[static_cast<size_t>(sel.example)];
  const std::string title = heading.empty()
                                ? source.name + ": step " + std::to_string(record.step) +
                                      ", image " + std::to_string(sel.example) + " " + name
                                : heading;
  if (grid_shown) {
    out << title << "\n"
        << query_name(record, sel.query_row) << " attention over the " << gh << "x" << gw
        << " patches of " << record.images.patch_size << "x" << record.images.patch_size
        << " pixels (rows r, columns c; sums to 1), " << what << ":\n";
    HeatmapStyle style;
    style.color = color;
    style.full_scale = std::max(grid.max().item<double>(), 1e-12);  // a spread-out grid still shows
    out << render_heatmap(grid, numbered("r", gh), numbered("c", gw), style);
  }
  if (args.summary) {
    if (grid_shown) out << "\n";
    out << "mean attention distance in pixels (patch queries, <cls> left out; Dosovitskiy et al. "
           "2020, "
           "fig. 7)";
    if (source.steps.size() == 1) {
      out << ":\n";
      print_distances(record, out);
    } else {
      std::vector<size_t> indices;
      if (args.step)
        indices.push_back(step_index);
      else
        indices = spread_indices(source.steps.size(), kSummarySteps);
      out << ", means over " << record.num_examples() << " images:\n";
      for (auto i : indices) {
        out << "step " << source.steps[i] << ":\n";
        print_distances(cache.get(i), out);
      }
    }
  }
  const auto& pixels = record.images.pixels[sel.example];  // (C, H, W)
  // About 224 pixels a side for a picture one can see (28 x 8).
  const int64_t scale = std::max<int64_t>(1, 224 / std::max(pixels.size(1), pixels.size(2)));
  if (!args.png.empty()) {
    write_text_file(args.png, render_overlay_png(pixels, grid, scale));
    out << "wrote " << args.png << "\n";
  }
  if (!args.svg.empty()) {
    write_text_file(args.svg, render_overlay_svg(
                                  pixels, grid, scale,
                                  title + "; " + query_name(record, sel.query_row) + ", " + what));
    out << "wrote " << args.svg << "\n";
  }
  return {sel.example, sel.layer_index, sel.head_index};
}

}  // namespace attnlab::cli
