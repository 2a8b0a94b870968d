// Training on images end to end (data.task=image_classification, data.format=idx): a tiny task
// is learnt, a resumed run with augmentation and dropout repeats the uninterrupted one exactly,
// a checkpoint alone rebuilds the model with the training split's pixel statistics, and
// held-out validation takes the last training images.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "data/tsv.h"
#include "support/image_task.h"
#include "support/train_helpers.h"
#include "train/evaluator.h"
#include "train/trained_model.h"
#include "train/trainer.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

class ImageTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("attnlab_images_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    test::write_quadrant_split(root_.string(), "train", 96, /*seed=*/1);
    test::write_quadrant_split(root_.string(), "valid", 32, /*seed=*/2);
  }
  void TearDown() override { fs::remove_all(root_); }

  Config config(const std::string& name, std::vector<std::string> overrides = {}) {
    std::vector<std::string> base = {
        "run.name=" + name,
        "run.out_dir=" + root_.string(),
        "run.threads=1",
        "data.task=image_classification",
        "data.format=idx",
        "data.train=" + (root_ / "train-images-idx3-ubyte").string(),
        "data.valid=" + (root_ / "valid-images-idx3-ubyte").string(),
        "data.image.classes=[top-left, top-right, bottom-left, bottom-right]",
        "model.patch_size=4",
        "model.d_model=16",
        "model.num_heads=2",
        "model.num_layers=1",
        "model.d_ff=32",
        "model.dropout=0.0",
        "model.positions=learned",
        "train.batch_size=16",
        "train.max_steps=300",
        "train.warmup_steps=10",
        "train.lr=3e-3",
        "train.precision=fp32",
        "train.eval_interval=100",
        "train.checkpoint_interval=20",
        "train.keep_last=10",
        "log.interval=1",
        "log.progress=false"};
    base.insert(base.end(), overrides.begin(), overrides.end());
    return parse_config("{}", "test", base);
  }

  fs::path root_;
};

TEST_F(ImageTraining, ATinyImageTaskIsLearnt) {
  Trainer trainer(config("learn"));
  const auto result = trainer.run();
  EXPECT_EQ(result.steps, 300);
  EXPECT_GE(result.best_metric, 0.95) << "validation accuracy on the quadrant task";
}

TEST_F(ImageTraining, ResumeWithAugmentationAndDropoutRepeatsTheRunExactly) {
  const std::vector<std::string> noisy = {"data.image.augment.crop_padding=2",
                                          "data.image.augment.flip=true", "model.dropout=0.1",
                                          "model.attention_dropout=0.1", "train.max_steps=40"};
  Trainer(config("full", noisy)).run();
  const auto full = test::logged_losses(root_ / "full");
  ASSERT_EQ(full.size(), 40u);
  fs::create_directories(root_ / "resumed");
  fs::copy_file(root_ / "full" / "step_00000020.pt", root_ / "resumed" / "step_00000020.pt");
  auto checkpoint = load_checkpoint((root_ / "resumed" / "step_00000020.pt").string());
  Trainer(config("resumed", noisy), checkpoint).run();
  const auto tail = test::logged_losses(root_ / "resumed");
  ASSERT_EQ(tail.size(), 20u);
  for (const auto& [step, loss] : tail) EXPECT_EQ(loss, full.at(step)) << "step " << step;
  // Augmentation is on: without it the same run follows another curve.
  Trainer(
      config("plain", {"model.dropout=0.1", "model.attention_dropout=0.1", "train.max_steps=40"}))
      .run();
  EXPECT_NE(test::logged_losses(root_ / "plain").at(30), full.at(30));
}

TEST_F(ImageTraining, ACheckpointAloneRebuildsTheModelAndItsPixelStatistics) {
  Trainer trainer(config("rebuild", {"train.max_steps=40"}));
  trainer.run();
  auto trained = load_trained_model((root_ / "rebuild" / "last.pt").string());
  EXPECT_EQ(trained.vocabs.image_shape, (std::vector<int64_t>{1, 8, 8}));
  // The statistics of the 96 training images, from their bytes.
  const auto q = test::quadrant_images(96, 1);
  double sum = 0, squares = 0;
  for (const uint8_t p : q.pixels) sum += p / 255.0;
  const double mean = sum / static_cast<double>(q.pixels.size());
  for (const uint8_t p : q.pixels) squares += (p / 255.0 - mean) * (p / 255.0 - mean);
  const double std = std::sqrt(squares / static_cast<double>(q.pixels.size()));
  ASSERT_TRUE(trained.model->patch_embedding);
  EXPECT_NEAR(trained.model->patch_embedding->pixel_mean.item<double>(), mean, 1e-6);
  EXPECT_NEAR(trained.model->patch_embedding->pixel_std.item<double>(), std, 1e-6);
  // The rebuilt model scores the validation split as the trainer's model does.
  const auto valid = load_split((root_ / "valid-images-idx3-ubyte").string(), trained.vocabs);
  const auto rebuilt = evaluate(trained.model, valid, trained.vocabs, 64, Precision::kFp32, 4);
  const auto original = evaluate(trainer.model(), valid, trained.vocabs, 64, Precision::kFp32, 4);
  EXPECT_EQ(rebuilt.accuracy(), original.accuracy());
  EXPECT_NEAR(rebuilt.loss, original.loss, 1e-6);
  ASSERT_FALSE(rebuilt.samples.empty());
  EXPECT_EQ(rebuilt.samples[0].input, "valid-images-idx3-ubyte#0");
  EXPECT_EQ(rebuilt.samples[0].target, "top-left");
}

TEST_F(ImageTraining, HoldoutValidatesOnTheLastTrainingImages) {
  Trainer trainer(
      config("holdout", {"data.valid=\"\"", "data.image.holdout=16", "train.max_steps=20"}));
  EXPECT_EQ(trainer.valid_data().size(), 16);
  EXPECT_EQ(trainer.valid_data().example(0).source, "train-images-idx3-ubyte#80");
  // A holdout that leaves nothing to train on is a data error naming the file.
  try {
    Trainer(config("all", {"data.valid=\"\"", "data.image.holdout=96"}));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    test::expect_contains(e.what(), "train-images-idx3-ubyte: data.image.holdout=96 leaves none");
  }
}

TEST_F(ImageTraining, ACropPaddingAsLargeAsTheImageIsADataError) {
  try {
    Trainer(config("crop", {"data.image.augment.crop_padding=8"}));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    test::expect_contains(
        e.what(), "data.image.augment.crop_padding=8 shifts its 8x8 images entirely out of view");
  }
}

TEST_F(ImageTraining, ImagesOfAnotherSizeAreADataError) {
  test::write_idx((root_ / "big-images-idx3-ubyte").string(), {2, 12, 12},
                  std::vector<uint8_t>(2 * 144, 0));
  test::write_idx((root_ / "big-labels-idx1-ubyte").string(), {2}, {0, 1});
  try {
    Trainer(config("big", {"data.valid=" + (root_ / "big-images-idx3-ubyte").string()}));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    test::expect_contains(e.what(), "big-images-idx3-ubyte: images are 1x12x12");
    test::expect_contains(e.what(), "the model takes 1x8x8");
  }
}

}  // namespace
}  // namespace attnlab
