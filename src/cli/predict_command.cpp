// attnlab predict: run a checkpoint on ad hoc inputs (arguments, or lines on stdin).
#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

#include "attention_log/alignment.h"
#include "attention_log/probe.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/image_input.h"
#include "cli/precision_option.h"
#include "data/tsv.h"
#include "data/vocab.h"
#include "io/json.h"
#include "tasks/registry.h"
#include "train/evaluator.h"
#include "train/trained_model.h"
#include "train/trainer.h"

namespace attnlab::cli {
namespace {

std::string json_matrix(const at::Tensor& m) {  // (R, C) float -> [[...], ...]
  std::ostringstream out;
  auto c = m.to(at::kFloat).contiguous();
  out << "[";
  for (int64_t r = 0; r < c.size(0); ++r) {
    out << (r ? ", " : "") << "[";
    for (int64_t k = 0; k < c.size(1); ++k)
      out << (k ? ", " : "") << json_number(c[r][k].item<double>());
    out << "]";
  }
  return out.str() + "]";
}

}  // namespace

int predict_command(const Args& args) {
  std::string checkpoint, attention_out, precision_name = "checkpoint", image_file, index_list,
                                         split = "test";
  std::vector<std::string> inputs;
  bool logits = false, alignment = false;
  int64_t threads = 0, beam = 1;
  ArgParser parser("predict",
                   "attnlab predict --checkpoint FILE [--logits] [--alignment] [TEXT...]",
                   "Prints one prediction per input: input<TAB>prediction. Inputs are the TEXT\n"
                   "arguments or, without any, the lines of stdin. Translation decodes greedily\n"
                   "(argmax per output position, repeats merged, blanks dropped).");
  parser.option("checkpoint", &checkpoint, "checkpoint file (e.g. runs/reverse/best.pt)");
  parser.flag("logits", &logits,
              "print one JSON object per input with the raw output scores (per token for "
              "transduction, per output position for translation with <blank> first, per class for "
              "classification)");
  parser.flag("alignment", &alignment,
              "translation: also print, for each output token, the source token that the position "
              "emitting it attends to most in the last layer, heads averaged "
              "(input<TAB>prediction<TAB>token<-source[index] ...)");
  parser.option("threads", &threads, "intra-op threads (default: all cores)");
  parser.option("beam", &beam,
                "translation: CTC prefix beam search of this width (default 1: greedy)");
  parser.option("precision", &precision_name, kCheckpointPrecisionHelp);
  parser.option("attention", &attention_out,
                "write an attention record of these inputs to this file (see attnlab attn)");
  parser.option("image", &image_file,
                "images: a PNG file to classify (more as TEXT arguments); grey and RGB convert "
                "to what the model takes, the size must be the model's");
  parser.option("index", &index_list,
                "images: classify these images of the checkpoint's --split instead (3,17,42)");
  parser.option("split", &split, "with --index: test (default), valid or train");
  parser.positionals("TEXT", &inputs,
                     "input texts (images: PNG files); stdin lines when none are given");
  if (!parser.parse(args)) return kExitOk;
  if (checkpoint.empty()) throw UsageError("--checkpoint FILE is required");

  check_checkpoint_precision_option(precision_name);
  auto trained = load_trained_model(checkpoint);
  const Precision precision =
      precision_for_checkpoint(precision_name, trained.config.train.precision);
  if (inputs.empty() && image_file.empty() && index_list.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) inputs.push_back(line);
    }
  }
  if (inputs.empty() && image_file.empty() && index_list.empty())
    throw UsageError("no input: give TEXT arguments or lines on stdin");
  configure_threads(threads);

  const auto& vocabs = trained.vocabs;
  const bool images = vocabs.task == TaskKind::kImageClassification;
  if (!images && (!image_file.empty() || !index_list.empty()))
    throw UsageError(std::string("--image and --index are for image checkpoints; this one is ") +
                     name_of(vocabs.task));
  if (!image_file.empty()) inputs.insert(inputs.begin(), image_file);
  if (split != "test" && index_list.empty()) throw UsageError("--split goes with --index");
  at::Tensor pixels;  // images: (B, C, H, W) uint8
  if (images) {
    std::vector<at::Tensor> rows;
    if (!index_list.empty()) {
      if (!inputs.empty()) throw UsageError("give PNG files or --index, not both");
      auto picked = split_images(trained, split, parse_indices(index_list, "--index"), "--index");
      rows = std::move(picked.images);
      inputs = std::move(picked.names);
    } else {
      for (const auto& file : inputs) rows.push_back(png_input(file, vocabs.image_shape));
    }
    if (rows.empty()) throw UsageError("no input: give PNG files (--image FILE) or --index N");
    pixels = at::stack(rows);  // (B, C, H, W)
  }
  if (beam < 1) throw UsageError("--beam must be >= 1, got " + std::to_string(beam));
  if (beam > 1 && alignment)
    throw UsageError("--alignment follows the greedy path; use it without --beam");
  if (alignment && vocabs.task != TaskKind::kTranslation)
    throw UsageError(std::string("--alignment is for translation checkpoints; this one is ") +
                     name_of(vocabs.task));
  const auto tokens = images ? pixels : encode_inputs(trained, inputs);  // (B, T) or (B, C, H, W)
  ModelOutput output;
  {
    torch::NoGradGuard no_grad;
    AutocastGuard autocast(precision);
    output = trained.model->forward(tokens);
  }
  output.logits = output.logits.to(at::kFloat);
  const auto objective = make_objective(vocabs);
  const auto predictions = objective->decode(output, tokens, beam);
  std::vector<std::string> names;
  for (const auto& n : objective->output_names()) names.push_back(json_string(n));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    const std::string& prediction = predictions[i].text;
    if (logits) {
      JsonWriter j;
      j.field("input", inputs[i]).field("prediction", prediction);
      j.raw("outputs", "[" + join(names, ", ") + "]");
      j.raw("logits", json_matrix(objective->row_logits(output, tokens, row)));
      std::printf("%s\n", j.str().c_str());
    } else if (alignment) {
      const auto a = align_translation(trained.model, vocabs, inputs[i]);
      std::string pairs;
      for (size_t j = 0; j < a.output_tokens.size(); ++j) {
        const int64_t s = a.source_of(j);
        pairs += (j ? " " : "") + a.output_tokens[j] + "<-" +
                 a.source_tokens[static_cast<size_t>(s)] + "[" + std::to_string(s) + "]";
      }
      std::printf("%s\t%s\t%s\n", inputs[i].c_str(), a.translation.c_str(), pairs.c_str());
    } else {
      std::printf("%s\t%s\n", inputs[i].c_str(), prediction.c_str());
    }
  }
  if (!attention_out.empty()) {
    save_record(attention_out,
                images
                    ? record_image_attention(trained.model, pixels, inputs, trained.step, "predict")
                    : record_attention(trained.model, vocabs, inputs, trained.step, "predict"));
    std::fprintf(stderr, "wrote attention record %s\n", attention_out.c_str());
  }
  return kExitOk;
}

}  // namespace attnlab::cli
