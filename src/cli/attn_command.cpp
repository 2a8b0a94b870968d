// attnlab attn: listing, terminal heatmaps, per-head statistics, HTML / SVG / PNG output.
#include "cli/attn_command.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "attention_log/alignment.h"
#include "attention_log/head_stats.h"
#include "attention_log/heatmap.h"
#include "attention_log/html_report.h"
#include "attention_log/probe.h"
#include "attention_log/svg_png.h"
#include "cli/attn_image.h"
#include "cli/commands.h"
#include "train/trained_model.h"

namespace attnlab::cli {
namespace {

constexpr size_t kHtmlMaxSteps = 40;  // records embedded in an HTML report, spread evenly
constexpr size_t kSummarySteps = 3;   // steps in --summary without --step: first, middle, last

int64_t parse_int(const std::string& flag, const std::string& value) {
  try {
    size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(flag + " expects an integer, got '" + value + "'");
}

int64_t index_of_id(const std::vector<int64_t>& ids, int64_t id) {
  const auto it = std::find(ids.begin(), ids.end(), id);
  return it == ids.end() ? -1 : static_cast<int64_t>(it - ids.begin());
}

// The selection resolved against the chosen record: indices, not ids.
struct Selection {
  size_t step_index = 0;
  int64_t layer_index = 0;
  int64_t head_index = 0;  // -1 with --average-heads
  int64_t example = 0;
};

Selection resolve(const AttentionRecord& record, size_t step_index, const AttnArgs& args) {
  Selection s;
  s.step_index = step_index;
  if (args.layer) {
    s.layer_index = index_of_id(record.layer_ids, *args.layer);
    if (s.layer_index < 0)
      throw UsageError("layer " + std::to_string(*args.layer) +
                       " out of range: the log has layers " + describe_ids(record.layer_ids));
  }
  if (args.head) {
    s.head_index = index_of_id(record.head_ids, *args.head);
    if (s.head_index < 0)
      throw UsageError("head " + std::to_string(*args.head) + " out of range: the log has heads " +
                       describe_ids(record.head_ids));
  }
  if (args.average_heads) s.head_index = -1;
  s.example = args.example.value_or(0);
  if (s.example < 0 || s.example >= record.num_examples())
    throw UsageError("example " + std::to_string(s.example) +
                     " out of range: the log has examples 0-" +
                     std::to_string(record.num_examples() - 1));
  return s;
}

std::string selection_title(const RecordSource& source, const AttentionRecord& r,
                            const Selection& s) {
  return source.name + ": step " + std::to_string(r.step) + ", layer " +
         std::to_string(r.layer_ids[static_cast<size_t>(s.layer_index)]) + ", " +
         (s.head_index < 0
              ? std::string("mean of heads ") + describe_ids(r.head_ids)
              : "head " + std::to_string(r.head_ids[static_cast<size_t>(s.head_index)])) +
         ", example " + std::to_string(s.example);
}

void print_listing(const RecordSource& source, const AttentionRecord& last, std::ostream& out) {
  out << "attention log: " << source.name << " (" << source.steps.size()
      << (source.steps.size() == 1 ? " record" : " records") << ")\n";
  out << "steps: " << describe_steps(source.steps) << "\n";
  int64_t T = last.layers.empty() ? 0 : last.layers.front().size(2);
  out << "step " << last.step << " (" << last.source << "): " << last.num_examples()
      << " examples, layers " << describe_ids(last.layer_ids) << ", heads "
      << describe_ids(last.head_ids) << ", T=" << T << "\n";
  out << "examples:\n";
  for (int64_t n = 0; n < last.num_examples(); ++n) {
    out << "  " << n << "  (" << last.lengths[static_cast<size_t>(n)] << " tokens)";
    for (const auto& t : last.tokens[static_cast<size_t>(n)]) out << " " << printable_token(t);
    out << "\n";
  }
  out << "show: --layer L --head H --example E (heatmap), --summary (per-head statistics), "
         "--html OUT.html (interactive report)\n";
}

}  // namespace

std::string describe_ids(const std::vector<int64_t>& ids) {
  if (ids.empty()) return "none";
  bool consecutive = true;
  for (size_t i = 1; i < ids.size(); ++i) consecutive = consecutive && ids[i] == ids[i - 1] + 1;
  if (ids.size() == 1) return std::to_string(ids[0]);
  if (consecutive && ids.size() > 2)
    return std::to_string(ids.front()) + "-" + std::to_string(ids.back());
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s;
}

std::string describe_steps(const std::vector<int64_t>& steps) {
  constexpr size_t kShown = 8;
  std::string s;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps.size() > 2 * kShown && i == kShown) {
      s += ", … (" + std::to_string(steps.size() - 2 * kShown) + " more)";
      i = steps.size() - kShown;
    }
    s += (s.empty() ? "" : ", ") + std::to_string(steps[i]);
  }
  return s;
}

const AttentionRecord& RecordCache::get(size_t i) {
  auto it = cache_.find(i);
  if (it == cache_.end()) it = cache_.emplace(i, source_.load(i)).first;
  return it->second;
}

size_t resolve_step(const RecordSource& source, const AttnArgs& args) {
  if (!args.step || *args.step == "last") return source.steps.size() - 1;
  const auto step = parse_int("--step", *args.step);
  const auto it = std::find(source.steps.begin(), source.steps.end(), step);
  if (it == source.steps.end()) {
    // Name the nearest steps so the user can pick one.
    const auto after = std::lower_bound(source.steps.begin(), source.steps.end(), step);
    std::string near;
    if (after != source.steps.begin()) near += std::to_string(*(after - 1));
    if (after != source.steps.end()) near += (near.empty() ? "" : " or ") + std::to_string(*after);
    throw UsageError("step " + std::to_string(step) + " not in the log: it has " +
                     std::to_string(source.steps.size()) + " steps (" +
                     describe_steps(source.steps) + "); nearest: " + near);
  }
  return static_cast<size_t>(it - source.steps.begin());
}

AttnArgs parse_attn_args(const std::vector<std::string>& args) {
  AttnArgs a;
  std::vector<std::string> positionals;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i], value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0) {
      const auto eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
    }
    auto take = [&]() -> std::string {
      if (!has_inline) {
        if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
        value = args[++i];
      }
      if (value.empty()) throw UsageError(arg + " needs a non-empty value");
      return value;
    };
    auto no_value = [&]() {
      if (has_inline) throw UsageError(arg + " takes no value");
    };
    if (arg == "--help" || arg == "-h") {
      no_value();
      a.help = true;
    } else if (arg == "--step")
      a.step = take();
    else if (arg == "--layer")
      a.layer = parse_int(arg, take());
    else if (arg == "--head")
      a.head = parse_int(arg, take());
    else if (arg == "--example")
      a.example = parse_int(arg, take());
    else if (arg == "--average-heads") {
      no_value();
      a.average_heads = true;
    } else if (arg == "--summary") {
      no_value();
      a.summary = true;
    } else if (arg == "--html")
      a.html = take();
    else if (arg == "--svg")
      a.svg = take();
    else if (arg == "--png")
      a.png = take();
    else if (arg == "--no-color") {
      no_value();
      a.no_color = true;
    } else if (arg == "--alignment") {
      no_value();
      a.alignment = true;
    } else if (arg == "--checkpoint")
      a.checkpoint = take();
    else if (arg == "--index")
      a.index = parse_int(arg, take());
    else if (arg == "--split")
      a.split = take();
    else if (arg == "--rollout") {
      no_value();
      a.rollout = true;
    } else if (arg == "--query")
      a.query = take();
    else if (arg.size() > 1 && arg[0] == '-')
      throw UsageError("unknown option " + arg);
    else
      positionals.push_back(arg);
  }
  if (a.help) return a;
  if (a.head && a.average_heads) throw UsageError("--head and --average-heads exclude each other");
  if (a.step && *a.step != "last") parse_int("--step", *a.step);
  if ((a.index || a.split != "test") && a.checkpoint.empty())
    throw UsageError("--index and --split go with --checkpoint F (an image checkpoint)");
  if (a.rollout && (a.layer || a.head || a.average_heads))
    throw UsageError(
        "--rollout combines all layers and heads; drop --layer/--head/--average-heads");
  if (a.index && *a.index < 0) throw UsageError("--index must be >= 0");
  if (!a.checkpoint.empty() && a.index) {
    if (!positionals.empty()) throw UsageError("give IMAGE.png or --index, not both");
  } else if (!a.checkpoint.empty()) {
    if (positionals.size() != 1)
      throw UsageError(
          "--checkpoint F takes exactly one input text, e.g. attnlab attn --checkpoint F \"a b "
          "c\"");
    a.input = positionals[0];
  } else {
    if (positionals.empty()) throw UsageError("missing RUN_DIR (a run directory or a record file)");
    if (positionals.size() > 1) throw UsageError("unexpected argument '" + positionals[1] + "'");
    a.location = positionals[0];
  }
  return a;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
  out << text;
  out.close();
  if (!out) throw std::runtime_error(path + ": write failed");
}

std::string attn_help() {
  return R"(usage: attnlab attn RUN_DIR [options]
       attnlab attn --checkpoint FILE "input text" [options]
       attnlab attn --checkpoint FILE (IMAGE.png | --index N) [options]

Inspect the attention weights logged during training (RUN_DIR/attention/step_*.pt), or one
record file (as written by eval/predict --attention), or compute them with a checkpoint.
Without options: list the logged steps, probe examples, layers and heads.

options:
  --step S|last      step to show (default: last)
  --layer L          layer id (default: the first logged; images: the last)
  --head H           head id (default: the first logged; images: the heads averaged)
  --average-heads    mean over the logged heads instead of one head
  --example E        probe example index (default 0)
                     any of --layer/--head/--average-heads/--example (or --step alone)
                     prints a heatmap: rows = queries, columns = keys
  --summary          per-head statistics (entropy, max weight, distance, diagonal,
                     anti-diagonal, first token) at the first, middle and last step,
                     or at --step S; images: mean attention distance in pixels
  --html OUT.html    write an interactive, self-contained HTML report of all steps
  --svg OUT.svg      write the selected heatmap as SVG (images: drawn over the picture)
  --png OUT.png      write the selected heatmap as PNG (images: drawn over the picture)
  --no-color         no ANSI colour (also when NO_COLOR is set or stdout is not a terminal)
  --checkpoint FILE  compute the record of "input text" (or of an image) with a checkpoint
  --alignment        translation: output tokens (rows) against source tokens (columns), each
                     row the last layer's attention (heads averaged) of the position that
                     emitted that output token; of a logged step (--step, --example) or,
                     with --checkpoint, of "input text"

images (a Vision Transformer's records and checkpoints): the attention of one query over
the patches, as the patch grid and drawn over the picture
  --query cls|R,C    the query: <cls> (default) or the patch in row R, column C (or rRcC)
  --rollout          attention rollout over the layers (Abnar & Zuidema 2020) instead of
                     one layer
  --index N          with --checkpoint: image N of --split instead of an IMAGE.png argument
  --split S          test (default), valid or train, for --index
  -h, --help         this help
)";
}

RecordSource source_from_log(const AttentionLog& log) {
  RecordSource source;
  source.name = log.location;
  source.steps = log.steps;
  source.load = [log](size_t i) { return log.load(i); };
  return source;
}

RecordSource source_from_record(AttentionRecord record, std::string name) {
  RecordSource source;
  source.name = std::move(name);
  source.steps = {record.step};
  source.load = [record = std::move(record)](size_t) { return record; };
  return source;
}

namespace {

// The terminal and file views of a text record; returns what the HTML report opens on.
InitialView show_text_view(const RecordSource& source, RecordCache& cache, size_t step_index,
                           const AttnArgs& args, std::ostream& out, bool color) {
  if (args.query || args.rollout)
    throw UsageError("--query and --rollout are for attention over images; " + source.name +
                     " holds text records");
  const auto& record = cache.get(step_index);
  const Selection sel = resolve(record, step_index, args);

  const bool files = !args.html.empty() || !args.svg.empty() || !args.png.empty();
  const bool picked = args.layer || args.head || args.average_heads || args.example;
  // The terminal heatmap appears when a selection is made and no file is asked for.
  const bool heatmap = !files && (picked || (args.step && !args.summary));
  const bool listing = !heatmap && !args.summary && !files;

  if (listing) print_listing(source, record, out);

  if (heatmap) {
    const auto w = example_weights(record, sel.layer_index, sel.head_index, sel.example);  // (L, L)
    const auto& tokens = record.tokens[static_cast<size_t>(sel.example)];
    HeatmapStyle style;
    style.color = color;
    out << selection_title(source, record, sel) << "\n";
    out << render_heatmap(w, tokens, tokens, style);
  }

  if (args.summary) {
    std::vector<size_t> indices;
    if (args.step)
      indices.push_back(step_index);
    else
      indices = spread_indices(source.steps.size(), kSummarySteps);
    std::vector<StepStats> stats;
    for (auto i : indices) stats.push_back({source.steps[i], compute_record_stats(cache.get(i))});
    if (heatmap) out << "\n";
    out << "per-head statistics of " << source.name << " (means over " << record.num_examples()
        << " examples and their queries; entropy in nats, dist in tokens):\n";
    out << render_stats_table(stats);
  }

  if (!args.svg.empty()) {
    const auto w = example_weights(record, sel.layer_index, sel.head_index, sel.example);
    const auto& tokens = record.tokens[static_cast<size_t>(sel.example)];
    write_text_file(args.svg, render_svg(w, tokens, tokens, selection_title(source, record, sel)));
    out << "wrote " << args.svg << "\n";
  }
  if (!args.png.empty()) {
    write_png(args.png, example_weights(record, sel.layer_index, sel.head_index, sel.example));
    out << "wrote " << args.png << "\n";
  }
  return {sel.example, sel.layer_index, sel.head_index};
}

}  // namespace

int show_attention(const RecordSource& source, const AttnArgs& args, std::ostream& out, bool color,
                   const std::string& heading) {
  TORCH_CHECK(!source.steps.empty() && source.load, "show_attention: empty record source");
  RecordCache cache(source);
  const size_t step_index = resolve_step(source, args);
  const bool images = !cache.get(step_index).images.empty();
  const InitialView view =
      images ? show_image_view(source, cache, step_index, args, out, color, heading)
             : show_text_view(source, cache, step_index, args, out, color);
  if (!args.html.empty()) {
    auto kept = spread_indices(source.steps.size(), kHtmlMaxSteps);
    if (std::find(kept.begin(), kept.end(), step_index) == kept.end()) {
      kept.push_back(step_index);
      std::sort(kept.begin(), kept.end());
    }
    std::vector<AttentionRecord> records;
    for (auto i : kept) records.push_back(cache.get(i));
    HtmlOptions options;
    options.title = "attention: " + source.name;
    options.initial_step = std::find(kept.begin(), kept.end(), step_index) - kept.begin();
    options.initial_layer = view.layer_index;
    options.initial_head = std::max<int64_t>(0, view.head_index);
    options.initial_example = view.example;
    options.average_heads = view.head_index < 0;
    if (images) {
      options.initial_query = image_query_row(cache.get(step_index), args);
      options.rollout = args.rollout;
    }
    write_text_file(args.html, render_html(records, options));
    out << "wrote " << args.html << " (" << records.size() << " of " << source.steps.size()
        << " steps)\n";
  }
  return kExitOk;
}

AttentionRecord attention_from_checkpoint(const std::string& checkpoint, const std::string& input) {
  auto trained = load_trained_model(checkpoint);
  return record_attention(trained.model, trained.vocabs, {input}, trained.step, "predict");
}

// attn --alignment RUN_DIR: the alignment a translation run logged with its attention.
int show_logged_alignment(const AttentionLog& log, const AttnArgs& args, std::ostream& out,
                          bool color) {
  const auto source = source_from_log(log);
  const size_t step_index = resolve_step(source, args);
  const auto record = source.load(step_index);
  if (record.alignments.empty())
    throw UsageError("--alignment: the record of step " + std::to_string(record.step) + " in " +
                     log.location + " holds no alignments (translation runs log them)");
  const Selection sel = resolve(record, step_index, args);
  const auto& a = record.alignments[static_cast<size_t>(sel.example)];
  out << log.location << ": step " << record.step << ", example " << sel.example
      << ": alignment -> \"";
  for (size_t j = 0; j < a.outputs.size(); ++j)
    out << (j ? " " : "") << printable_token(a.outputs[j]);
  out << "\" (rows: output tokens; columns: source tokens; last layer, heads averaged)\n";
  if (!a.positions.empty()) {
    out << "emitted at output positions (k x source length = CTC path):";
    for (auto p : a.positions) out << " " << p;
    out << "\n";
  }
  if (a.outputs.empty()) {
    out << "(the model emitted nothing at this step)\n";
    return kExitOk;
  }
  HeatmapStyle style;
  style.color = color;
  out << render_heatmap(a.weights, a.outputs, a.source, style);
  return kExitOk;
}

int run_attn_command(const std::vector<std::string>& args, std::ostream& out, bool color_allowed) {
  const auto parsed = parse_attn_args(args);
  if (parsed.help) {
    out << attn_help();
    return kExitOk;
  }
  const bool color = color_allowed && !parsed.no_color;
  if (parsed.alignment && !parsed.checkpoint.empty()) {
    auto trained = load_trained_model(parsed.checkpoint);
    if (trained.vocabs.task != TaskKind::kTranslation)
      throw UsageError("--alignment is for translation checkpoints; " + parsed.checkpoint + " is " +
                       name_of(trained.vocabs.task));
    const auto a = align_translation(trained.model, trained.vocabs, parsed.input);
    out << parsed.checkpoint << ": alignment of \"" << parsed.input << "\" -> \"" << a.translation
        << "\" (rows: output tokens; columns: source tokens; last layer, heads averaged)\n";
    HeatmapStyle style;
    style.color = color;
    out << render_heatmap(a.weights, a.output_tokens, a.source_tokens, style);
    return kExitOk;
  }
  if (parsed.alignment) return show_logged_alignment(load_log(parsed.location), parsed, out, color);
  if (!parsed.checkpoint.empty()) {
    auto trained = load_trained_model(parsed.checkpoint);
    if (trained.vocabs.task == TaskKind::kImageClassification) {
      std::string heading;
      auto record = image_record_from_checkpoint(trained, parsed, heading);
      return show_attention(source_from_record(std::move(record), parsed.checkpoint), parsed, out,
                            color, heading);
    }
    if (parsed.index || parsed.rollout || parsed.query || parsed.split != "test")
      throw UsageError("--index, --split, --query and --rollout are for image checkpoints; " +
                       parsed.checkpoint + " is " + name_of(trained.vocabs.task));
    auto record =
        record_attention(trained.model, trained.vocabs, {parsed.input}, trained.step, "predict");
    return show_attention(source_from_record(std::move(record), parsed.checkpoint), parsed, out,
                          color);
  }
  return show_attention(source_from_log(load_log(parsed.location)), parsed, out, color);
}

int attn_command(const std::vector<std::string>& args) {
  const char* no_color = std::getenv("NO_COLOR");
  const bool color = ::isatty(STDOUT_FILENO) && (no_color == nullptr || no_color[0] == '\0');
  return run_attn_command(args, std::cout, color);
}

}  // namespace attnlab::cli
