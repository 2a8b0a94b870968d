// Attention records from a model: logged weights equal a direct forward pass of the checkpoint
// saved at the same step; rows sum to 1 over real keys and are zero on padding.
#include "attention_log/probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "data/tsv.h"
#include "support/image_task.h"
#include "support/tiny_task.h"
#include "train/trained_model.h"
#include "train/trainer.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

TEST(AttentionProbe, LoggedWeightsEqualADirectForwardOfTheCheckpointAtThatStep) {
  const fs::path root = fs::temp_directory_path() / ("attnlab_probe_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  write_tsv((root / "train.tsv").string(), fixtures::tiny_reverse_examples(64, "abcdef", 2));
  const auto config = parse_config("{}", "test",
                                   {"run.name=probe",
                                    "run.out_dir=" + root.string(),
                                    "run.threads=1",
                                    "data.train=" + (root / "train.tsv").string(),
                                    "data.valid=" + (root / "train.tsv").string(),
                                    "data.tokenization=word",
                                    "data.max_len=16",
                                    "model.d_model=16",
                                    "model.num_heads=2",
                                    "model.num_layers=2",
                                    "model.d_ff=32",
                                    "model.dropout=0.1",
                                    "train.batch_size=8",
                                    "train.max_steps=20",
                                    "train.warmup_steps=2",
                                    "train.eval_interval=10",
                                    "train.checkpoint_interval=10",
                                    "train.keep_last=5",
                                    "log.progress=false",
                                    "log.attention.enabled=true",
                                    "log.attention.every=10",
                                    "log.attention.num_examples=3",
                                    "log.attention.heads=[1]"});
  Trainer trainer(config);
  AttentionLogger logger(config.log.attention, trainer.task_spec(), trainer.valid_data(),
                         trainer.run_dir(), config.run.seed);
  trainer.set_step_hook(
      [&](EncoderModel& m, int64_t step, bool last) { logger.on_step(m, step, last); });
  trainer.run();
  logger.flush();
  EXPECT_EQ(logger.records_written(), 3);  // steps 0, 10, 20

  const auto record = load_record((root / "probe" / "attention" / record_file_name(10)).string());
  ASSERT_EQ(record.step, 10);
  ASSERT_EQ(record.layer_ids, (std::vector<int64_t>{0, 1}));
  ASSERT_EQ(record.head_ids, (std::vector<int64_t>{1}));
  ASSERT_EQ(record.num_examples(), 3);

  // The reference: the step-10 checkpoint, run directly on the same token ids.
  auto trained = load_trained_model((root / "probe" / "step_00000010.pt").string());
  const auto N = record.num_examples();
  const auto T = record.layers[0].size(-1);
  auto ids = torch::zeros({N, T}, torch::kLong);
  for (int64_t n = 0; n < N; ++n)
    for (size_t t = 0; t < record.tokens[n].size(); ++t)
      ids[n][static_cast<int64_t>(t)] = trained.vocabs.source.id(record.tokens[n][t]);
  torch::NoGradGuard no_grad;
  const auto weights = trained.model->forward(ids, /*need_weights=*/true).weights;
  for (size_t l = 0; l < 2; ++l) {
    const auto logged = record.layers[l].select(1, 0);  // (N, T, T), head 1
    for (int64_t n = 0; n < N; ++n) {
      const auto len = record.lengths[n];
      const auto direct = weights[l][n][1].slice(0, 0, len).slice(1, 0, len);
      EXPECT_TRUE(torch::allclose(logged[n].slice(0, 0, len).slice(1, 0, len), direct, 1e-6, 1e-7))
          << "layer " << l << " example " << n;
      EXPECT_TRUE(
          torch::allclose(logged[n].slice(0, 0, len).sum(-1), torch::ones({len}), 1e-5, 1e-6));
      EXPECT_EQ(logged[n].slice(1, len).abs().sum().item<float>(), 0.0f);  // padded keys
      EXPECT_EQ(logged[n].slice(0, len).abs().sum().item<float>(), 0.0f);  // padded queries
    }
  }
  fs::remove_all(root);
}

// Images: the logged pictures are the validation images the names point to, and the weights
// are those of the checkpoint saved at that step run directly on those pixels.
TEST(AttentionProbe, ImageProbesAreValidationPicturesAndTheirWeightsTheCheckpoints) {
  const fs::path root =
      fs::temp_directory_path() / ("attnlab_image_probe_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  test::write_quadrant_split(root.string(), "train", 64, /*seed=*/1);
  test::write_quadrant_split(root.string(), "valid", 16, /*seed=*/2);
  const auto config = parse_config("{}", "test",
                                   {"run.name=probe",
                                    "run.out_dir=" + root.string(),
                                    "run.threads=1",
                                    "data.task=image_classification",
                                    "data.format=idx",
                                    "data.train=" + (root / "train-images-idx3-ubyte").string(),
                                    "data.valid=" + (root / "valid-images-idx3-ubyte").string(),
                                    "model.patch_size=4",
                                    "model.d_model=16",
                                    "model.num_heads=2",
                                    "model.num_layers=2",
                                    "model.d_ff=32",
                                    "model.dropout=0.1",
                                    "train.batch_size=8",
                                    "train.max_steps=20",
                                    "train.warmup_steps=2",
                                    "train.eval_interval=10",
                                    "train.checkpoint_interval=10",
                                    "train.keep_last=5",
                                    "train.precision=fp32",
                                    "log.progress=false",
                                    "log.attention.enabled=true",
                                    "log.attention.every=10",
                                    "log.attention.num_examples=3",
                                    "log.attention.layers=[1]"});
  Trainer trainer(config);
  AttentionLogger logger(config.log.attention, trainer.task_spec(), trainer.valid_data(),
                         trainer.run_dir(), config.run.seed);
  trainer.set_step_hook(
      [&](EncoderModel& m, int64_t step, bool last) { logger.on_step(m, step, last); });
  trainer.run();
  logger.flush();
  EXPECT_EQ(logger.records_written(), 3);  // steps 0, 10, 20

  const auto record = load_record((root / "probe" / "attention" / record_file_name(10)).string());
  ASSERT_EQ(record.num_examples(), 3);
  ASSERT_EQ(record.layer_ids, (std::vector<int64_t>{1}));
  ASSERT_EQ(record.head_ids, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(record.images.patch_size, 4);
  EXPECT_EQ(record.tokens[2], (std::vector<std::string>{"<cls>", "r0c0", "r0c1", "r1c0", "r1c1"}));
  // The reference pixels: the IDX file itself, image `index` of "valid-images-idx3-ubyte#index
  // (label)".
  const auto quadrants = test::quadrant_images(16, /*seed=*/2);
  const std::vector<std::string> labels = {"0", "1", "2", "3"};  // IDX label ids name the classes
  auto pixels = torch::zeros({3, 1, 8, 8}, torch::kByte);
  for (int64_t n = 0; n < 3; ++n) {
    const auto& name = record.images.names[static_cast<size_t>(n)];
    const auto hash = name.find('#');
    ASSERT_NE(hash, std::string::npos) << name;
    const int64_t index = std::stoll(name.substr(hash + 1));
    ASSERT_LT(index, 16) << name;
    EXPECT_NE(name.find("(" + labels[quadrants.labels[static_cast<size_t>(index)]] + ")"),
              std::string::npos)
        << name;
    for (int64_t i = 0; i < 64; ++i)
      pixels[n][0][i / 8][i % 8] = quadrants.pixels[static_cast<size_t>(index * 64 + i)];
  }
  EXPECT_TRUE(torch::equal(record.images.pixels, pixels));

  auto trained = load_trained_model((root / "probe" / "step_00000010.pt").string());
  torch::NoGradGuard no_grad;
  const auto direct =
      trained.model->forward(pixels, /*need_weights=*/true).weights[1];  // (3, 2, 5, 5)
  EXPECT_TRUE(torch::allclose(record.layers[0], direct, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(record.layers[0].sum(-1), torch::ones({3, 2, 5}), 1e-5, 1e-6));
  fs::remove_all(root);
}

TEST(AttentionProbe, OutOfRangeLayerOrHeadNamesWhatExists) {
  ModelOptions o;
  o.encoder.num_layers = 2;
  EncoderModel model(o);
  TaskSpec spec;
  spec.tokenizer = Tokenizer(Tokenization::kWord);
  spec.source = Vocab::build({{"a", "b"}});
  spec.target = spec.source;
  try {
    record_attention(model, spec, {"a b"}, 0, "predict", {5});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 5 out of range"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnlab
