// attnlab eval: evaluate a checkpoint on a split of its config or on any TSV file.
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <optional>

#include "attention_log/probe.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/precision_option.h"
#include "data/tsv.h"
#include "tasks/registry.h"
#include "train/evaluator.h"
#include "train/trained_model.h"
#include "train/trainer.h"
#include "train/validator.h"

namespace attnlab::cli {
namespace {

void print_report(const EvalResult& r, const std::string& decoding) {
  std::fputs(r.metrics->report(r.loss, r.coverage(), decoding).c_str(), stdout);
  if (!r.samples.empty()) std::printf("\nsamples:\n");
  for (const auto& s : r.samples) {
    std::printf("  input:     %s\n  target:    %s\n  predicted: %s  [%s]\n\n", s.input.c_str(),
                s.target.c_str(), s.predicted.c_str(), s.correct ? "correct" : "WRONG");
  }
}

}  // namespace

int eval_command(const Args& args) {
  std::string checkpoint, split = "test", data_file, labels_file, json_out, attention_out,
                          precision_name = "checkpoint";
  int64_t samples = 5, batch_size = 0, threads = 0, beam = 1;
  bool score_skipped = false;
  ArgParser parser(
      "eval", "attnlab eval --checkpoint FILE [--split test|valid|train | --data FILE] [options]",
      "Rebuilds the model from the checkpoint alone and reports loss, token accuracy and\n"
      "exact match (transduction), exact match, BLEU and chrF (translation), or\n"
      "accuracy, per-class precision/recall/F1 and a confusion matrix\n"
      "(classification), plus a few sample predictions.");
  parser.option("checkpoint", &checkpoint, "checkpoint file (e.g. runs/reverse/best.pt)");
  parser.option("split", &split,
                "split of the checkpoint's config to evaluate: test (default), valid, train");
  parser.option(
      "data", &data_file,
      "evaluate this file instead of a split (TSV; images: an IDX images file or a PNG folder)");
  parser.option("labels", &labels_file,
                "images with --data: their labels (default: the IDX name with labels-idx1, or "
                "<folder>/labels.tsv)");
  parser.option("json", &json_out, "also write the metrics as JSON to this file ('-' for stdout)");
  parser.option("samples", &samples, "sample predictions to show (default 5)");
  parser.option("batch-size", &batch_size,
                "evaluation batch size (default: validation's, max(train.batch_size, 64) of the\n"
                "checkpoint's config, so that eval repeats what validation logged)");
  parser.flag("score-skipped", &score_skipped,
              "score the pairs data.skip_unfit dropped as empty outputs, so that the metric is\n"
              "over the whole split (the loss stays over the pairs the model can take)");
  parser.option("beam", &beam,
                "translation: CTC prefix beam search of this width (default 1: greedy)");
  parser.option("threads", &threads, "intra-op threads (default: all cores)");
  parser.option("precision", &precision_name, kCheckpointPrecisionHelp);
  parser.option("attention", &attention_out,
                "write an attention record of the shown samples to this file (see attnlab attn)");
  if (!parser.parse(args)) return kExitOk;
  if (checkpoint.empty()) throw UsageError("--checkpoint FILE is required");
  if (beam < 1) throw UsageError("--beam must be >= 1, got " + std::to_string(beam));
  if (samples < 0 || batch_size < 0 || threads < 0)
    throw UsageError("--samples, --batch-size and --threads must be non-negative");
  if (!attention_out.empty() && samples == 0)
    throw UsageError("--attention records the shown samples; it needs --samples > 0");

  check_checkpoint_precision_option(precision_name);
  auto trained = load_trained_model(checkpoint);
  const Precision precision =
      precision_for_checkpoint(precision_name, trained.config.train.precision);
  if (batch_size == 0) batch_size = validation_batch_size(trained.config.train.batch_size);
  const bool images = trained.vocabs.task == TaskKind::kImageClassification;
  if (!labels_file.empty() && (data_file.empty() || !images))
    throw UsageError("--labels goes with --data, for image checkpoints");
  if (split != "test" && split != "valid" && split != "train")
    throw UsageError("--split must be test, valid or train, got '" + split + "'");
  std::optional<Dataset> loaded;
  if (!data_file.empty()) {
    loaded.emplace(load_split(data_file, trained.vocabs, labels_file));
  } else {
    const auto& d = trained.config.data;
    const bool held_out =
        d.task == TaskKind::kImageClassification && d.image.holdout > 0 && split != "test";
    const std::string& configured = split == "test" ? d.test : split == "valid" ? d.valid : d.train;
    if (configured.empty() && !held_out)
      throw UsageError("the checkpoint's config has no data." + split + " file; pass --data FILE");
    loaded.emplace(load_config_split(trained.config, trained.vocabs, split));
  }
  const Dataset& data = *loaded;
  const std::string path = data.path();
  const int64_t used_threads = configure_threads(threads);
  if (score_skipped && data.skipped() == 0)
    spdlog::info("[eval] --score-skipped: data.skip_unfit dropped no pair of {}", path);
  const auto objective = make_objective(trained.vocabs);
  const auto result = evaluate(trained.model, data, *objective, batch_size, precision, samples,
                               beam, EvalShard{}, score_skipped);
  std::printf(
      "checkpoint %s (step %ld), data %s, threads %ld, precision %s%s, batch size %ld\n",
      checkpoint.c_str(), static_cast<long>(trained.step), path.c_str(),
      static_cast<long>(used_threads), name_of(precision),
      precision == trained.config.train.precision ? " (as trained)" : " (trained in another)",
      static_cast<long>(batch_size));
  if (data.skipped() > 0)
    std::printf(
        "skipped %ld of the %ld pairs of %s that do not fit (data.skip_unfit; first: %s); "
        "%s\n",
        static_cast<long>(data.skipped()), static_cast<long>(data.split_size()), path.c_str(),
        data.first_skipped().c_str(),
        score_skipped ? "scored as empty output (--score-skipped)"
                      : "the metrics are over the other pairs (--score-skipped scores them too)");
  print_report(result, objective->decoding_name(beam));
  if (!json_out.empty()) {
    const auto json = result.to_json();
    if (json_out == "-") {
      std::printf("%s\n", json.c_str());
    } else {
      std::ofstream out(json_out);
      if (!out) throw std::runtime_error("cannot write " + json_out);
      out << json << "\n";
    }
  }
  if (!attention_out.empty()) {
    std::vector<std::string> inputs;
    for (const auto& sample : result.samples)
      inputs.push_back(images ? sample.input + " (" + sample.target + "): predicted " +
                                    sample.predicted
                              : sample.input);
    if (inputs.empty()) throw std::runtime_error("--attention: " + path + " gave no samples");
    // The samples are the split's first examples (evaluate's order).
    const auto n = static_cast<int64_t>(inputs.size());
    save_record(
        attention_out,
        images ? record_image_attention(trained.model, data.images().slice(0, 0, n), inputs,
                                        trained.step, "eval")
               : record_attention(trained.model, trained.vocabs, inputs, trained.step, "eval"));
    std::printf("wrote attention record of %zu samples to %s\n", inputs.size(),
                attention_out.c_str());
  }
  return kExitOk;
}

}  // namespace attnlab::cli
