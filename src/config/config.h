#pragma once
// A run's configuration: plain structs, filled once from a YAML file plus --set overrides.
// Only the reader (config/reader.cpp) includes yaml-cpp. Every field below is a YAML key under its
// section (run.seed, model.d_model, ...) and its default is the value written here.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/enums.h"

namespace attnlab {

// Thrown for any invalid config: the message names the key path and file:line.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunConfig {
  std::string name = "run";      // run directory name under out_dir
  std::string out_dir = "runs";  // parent of the run directory (relative to the config file)
  uint64_t seed = 1234;          // seeds model init, data order, dropout
  int64_t threads = 0;           // intra-op threads; 0 = all available cores (per rank: cores
                                 // / processes on the machine, under torchrun)
  int64_t dist_timeout_s = 300;  // torchrun only: seconds after which joining the group or a
                                 // collective fails
};

// data.tokenization=sentencepiece only: one SentencePiece model for source and target, trained
// on the training split when a run starts, or read from `model` (docs/data.md, "SentencePiece").
struct SpmConfig {
  int64_t vocab_size = 1000;                         // pieces, including <unk>
  SpmModelType model_type = SpmModelType::kUnigram;  // unigram | bpe
  double character_coverage = 1.0;  // in (0, 1]; below 1 the rarest characters become <unk>
  std::string model;                // a trained .model file (relative to the config file);
                                    // empty: train one on the training split
};

// data.image.augment: what training images go through (never in eval); deterministic from
// run.seed, the epoch and the image's index, so a resumed run sees the same pictures.
struct AugmentConfig {
  int64_t crop_padding = 0;  // random crop of the original size from the image zero-padded by
                             // this many pixels on each side; 0 = off
  bool flip = false;         // mirror left-right with probability 1/2
};

// data.task=image_classification only (docs/data.md, "Images").
struct ImageDataConfig {
  std::string train_labels;          // idx: labels file of data.train (default: its name with
  std::string valid_labels;          // images-idx3 -> labels-idx1); png: the folder's labels TSV
  std::string test_labels;           // (default: <folder>/labels.tsv)
  int64_t holdout = 0;               // without data.valid: the last N training images validate
  std::vector<std::string> classes;  // idx: class names of labels 0, 1, ...; empty = "0", "1", ...
  AugmentConfig augment;
};

struct DataConfig {
  TaskKind task = TaskKind::kTransduction;  // transduction (src<TAB>tgt, equal lengths) |
                                            // classification (text<TAB>label) |
                                            // translation (src<TAB>tgt, any lengths; CTC) |
                                            // image_classification (data.format idx or png)
  DataFormat format = DataFormat::kTsv;     // tsv (text tasks) | idx | png (images)
  std::string train;                        // TSV path, IDX images file or PNG folder (relative to
                                            // the config file); required
  std::string valid;                        // the same; required unless data.image.holdout > 0
  std::string test;                         // the same; optional
  Tokenization tokenization = Tokenization::kChar;  // char | word (split on whitespace) |
                                                    // sentencepiece (subword pieces; spm below)
  int64_t max_len = 64;     // longest tokenized sequence accepted (incl. <cls>)
  SpmConfig spm;            // sentencepiece only
  bool skip_unfit = false;  // drop pairs that do not fit (source over max_len, a
                            // translation target CTC cannot emit) instead of failing
  ImageDataConfig image;    // image_classification only
};

// Translation only: how the encoder's states are stretched for CTC (docs/model.md, "CTC").
struct CtcConfig {
  int64_t upsample = 2;                        // k: every position split into k output positions
  CtcSplitAt split_at = CtcSplitAt::kEncoder;  // encoder (after the layers) | embedding (before)
};

struct ModelConfig {
  int64_t d_model = 128;                      // width of the residual stream
  int64_t num_heads = 4;                      // attention heads; must divide d_model
  int64_t num_layers = 3;                     // encoder layers
  int64_t d_ff = 512;                         // feed-forward hidden width
  double dropout = 0.1;                       // residual, feed-forward and embedding dropout
  double attention_dropout = 0.0;             // dropout on attention probabilities
  NormPlacement norm = NormPlacement::kPre;   // pre | post LayerNorm placement
  Activation activation = Activation::kGelu;  // gelu | relu
  PositionKind positions = PositionKind::kSinusoidal;  // sinusoidal | learned
  Pooling pooling = Pooling::kCls;                     // cls | mean (classification only)
  int64_t patch_size = 4;  // images: side of the square patches (must divide the
                           // image's height and width); positions are 2-D
  CtcConfig ctc;           // translation only
};

struct TrainConfig {
  int64_t batch_size = 64;       // sequences per micro-batch (all ranks together)
  int64_t grad_accum_steps = 1;  // micro-batches per optimizer step (gradients summed)
  int64_t bucket_batches = 0;    // >0: sort each run of N batches by length (less padding)
  int64_t max_steps = 0;         // stop after this many steps (0 = use max_epochs)
  int64_t max_epochs = 0;        // stop after this many epochs (0 = use max_steps)
  double lr = 1e-3;              // peak AdamW learning rate
  double beta1 = 0.9;            // AdamW beta1
  double beta2 = 0.98;           // AdamW beta2
  double eps = 1e-8;             // AdamW epsilon
  double weight_decay = 0.01;    // AdamW decoupled weight decay (matrices only)
  ScheduleKind schedule = ScheduleKind::kCosine;  // cosine | linear | inverse_sqrt | constant
  int64_t warmup_steps = 100;                     // linear warmup from 0 to lr
  double min_lr_ratio = 0.0;                      // cosine/linear decay floor, as a fraction of lr
  double grad_clip = 1.0;                         // max global gradient L2 norm; 0 disables
  double label_smoothing = 0.0;                   // cross-entropy label smoothing in [0, 1)
  Precision precision = Precision::kAuto;         // auto | fp32 | bf16 (bf16 matmuls, fp32 master
                                           // weights); auto: bf16 where the CPU does bf16 natively
                                           // (train/precision.h), resolved before training
  int64_t eval_interval = 200;        // validate every N steps (and at the end)
  int64_t checkpoint_interval = 500;  // write a periodic checkpoint every N steps
  int64_t keep_last = 3;              // periodic checkpoints kept (last.pt and best.pt always)
  BestMetric best_metric = BestMetric::kAuto;  // auto | loss | accuracy | exact_match | bleu | chrf
                                               // (on valid)
  int64_t early_stopping_patience = 0;         // stop after N evals without improvement; 0 = off
  double stop_at = 0.0;                        // stop once valid best_metric reaches this; 0 = off
  int64_t max_nonfinite_steps = 5;             // consecutive non-finite steps before the run fails
  ResumeMode resume = ResumeMode::kNever;  // auto: `train --config` continues the run in the run
                                           // directory from its newest checkpoint, if any
};

struct AttentionLogConfig {
  bool enabled = false;               // record attention weights during training
  int64_t num_examples = 4;           // probe examples drawn from valid (by run.seed)
  std::vector<std::string> examples;  // explicit probe inputs; overrides num_examples
  int64_t every = 100;                // log every N steps, plus the first and the last
  std::vector<int64_t> layers;        // layers to record; empty = all
  std::vector<int64_t> heads;         // heads to record; empty = all
};

struct LogConfig {
  int64_t interval = 50;         // console and metrics.jsonl every N steps
  bool progress = true;          // progress bar when stdout is a terminal
  AttentionLogConfig attention;  // docs/config.md, "log.attention"
};

struct Config {
  RunConfig run;
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
  LogConfig log;
  std::string source;  // file the config came from ("" for a string); paths above are resolved
};

// Loads `path`, applies `overrides` ("section.key=value", YAML scalar syntax), validates, and
// resolves data paths and run.out_dir against the config file's directory. Throws ConfigError.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Parses YAML text (e.g. the resolved config stored in a checkpoint). Paths stay as written.
Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides = {});

// Full resolved config as YAML (every key, defaults included); parse_config reads it back.
std::string to_yaml(const Config& config);

}  // namespace attnlab
