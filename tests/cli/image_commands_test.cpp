// The commands on an image run, through the binary: train from a YAML file, eval (test split
// and the held-out valid split), predict by index and on PNG files, and the errors a user
// meets (a PNG of the wrong size, --index past the split, --image on a text checkpoint).

#include <gtest/gtest.h>

#include <string>

#include "attention_log/svg_png.h"
#include "io/png.h"
#include "support/common.h"
#include "support/image_task.h"

namespace attnlab {
namespace {

using test::CommandResult;
using test::ScratchDir;

CommandResult attnlab(const std::string& args) {
  return test::run_shell(std::string(ATTNLAB_BINARY) + " " + args + " 2>&1");
}

// One grey PNG (as RGB bytes, encode_png writes RGB) of width x height, all `value`.
void write_png_file(const std::string& path, int64_t width, int64_t height, uint8_t value) {
  test::write_text(
      path, encode_png(width, height,
                       std::vector<uint8_t>(static_cast<size_t>(width * height * 3), value)));
}

class ImageCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir();
    test::write_quadrant_split(dir_->path().string(), "train", 96, 1);
    test::write_quadrant_split(dir_->path().string(), "t10k", 32, 2);
    test::write_text(
        dir_->file("vit.yaml"),
        "run: {name: vit, out_dir: runs, threads: 1}\n"
        "data:\n"
        "  task: image_classification\n"
        "  format: idx\n"
        "  train: train-images-idx3-ubyte\n"
        "  test: t10k-images-idx3-ubyte\n"
        "  image: {holdout: 16, classes: [tl, tr, bl, br], augment: {crop_padding: 1}}\n"
        "model: {patch_size: 4, d_model: 16, num_heads: 2, num_layers: 1, d_ff: 32, dropout: 0.0}\n"
        "train: {batch_size: 16, max_steps: 100, warmup_steps: 10, lr: 3.0e-3, "
        "precision: fp32, eval_interval: 50}\n"
        "log: {interval: 50, progress: false, attention: {enabled: true, every: 50, num_examples: "
        "2}}\n");
    trained_ = new CommandResult(attnlab("train --config " + dir_->file("vit.yaml")));
  }
  static void TearDownTestSuite() {
    delete trained_;
    delete dir_;
  }
  static std::string checkpoint() { return dir_->file("runs/vit/best.pt"); }

  static ScratchDir* dir_;
  static CommandResult* trained_;
};
ScratchDir* ImageCommands::dir_ = nullptr;
CommandResult* ImageCommands::trained_ = nullptr;

TEST_F(ImageCommands, TrainLogsTheImagesAndEvalScoresTheTestSplit) {
  ASSERT_EQ(trained_->rc, 0) << trained_->out;
  test::expect_contains(trained_->out,
                        "images=1x8x8 (CxHxW) patches=2x2 of 4x4 (+<cls> = 5 positions)");
  test::expect_contains(trained_->out, "train=80 valid=16 classes=4");
  test::expect_contains(trained_->out, "img/s=");
  const auto eval = attnlab("eval --checkpoint " + checkpoint() + " --samples 2");
  ASSERT_EQ(eval.rc, 0) << eval.out;
  test::expect_contains(eval.out, "t10k-images-idx3-ubyte");
  test::expect_contains(eval.out, "t10k-images-idx3-ubyte#0");
  const auto valid = attnlab("eval --checkpoint " + checkpoint() + " --split valid --json -");
  ASSERT_EQ(valid.rc, 0) << valid.out;
  test::expect_contains(valid.out, "train-images-idx3-ubyte (last 16)");
  test::expect_contains(valid.out, "\"examples\": 16");
}

TEST_F(ImageCommands, PredictTakesIndicesAndPngFiles) {
  ASSERT_EQ(trained_->rc, 0) << trained_->out;
  const auto by_index = attnlab("predict --checkpoint " + checkpoint() + " --index 0,1");
  ASSERT_EQ(by_index.rc, 0) << by_index.out;
  test::expect_contains(by_index.out, "t10k-images-idx3-ubyte#0 (tl)\ttl");
  test::expect_contains(by_index.out, "t10k-images-idx3-ubyte#1 (tr)\ttr");
  // A PNG: the top-left quadrant bright, as class tl draws it.
  std::vector<uint8_t> rgb(8 * 8 * 3, 20);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) rgb[static_cast<size_t>((y * 8 + x) * 3 + c)] = 230;
  test::write_text(dir_->file("tl.png"), encode_png(8, 8, rgb));
  const auto png = attnlab("predict --checkpoint " + checkpoint() + " --image " +
                           dir_->file("tl.png") + " --logits");
  ASSERT_EQ(png.rc, 0) << png.out;
  test::expect_contains(png.out, "\"prediction\": \"tl\"");
  // The classes in label order (data.image.classes), not sorted.
  test::expect_contains(png.out, "\"outputs\": [\"tl\", \"tr\", \"bl\", \"br\"]");
}

// `attnlab ARGS` exits 2 and its output holds `reason`; returns the output.
std::string expect_exit_two(const std::string& args, const std::string& reason) {
  const auto result = attnlab(args);
  EXPECT_EQ(result.rc, 2) << args << "\n" << result.out;
  test::expect_contains(result.out, reason);
  return result.out;
}

TEST_F(ImageCommands, BadImageInputsExitTwoWithTheReason) {
  ASSERT_EQ(trained_->rc, 0) << trained_->out;
  const std::string predict = "predict --checkpoint " + checkpoint() + " ";
  write_png_file(dir_->file("big.png"), 12, 8, 100);
  expect_exit_two(predict + dir_->file("big.png"),
                  "big.png: the image is 12x8 pixels (width x height), the model takes 8x8");
  test::write_text(dir_->file("not.png"), "hello");
  expect_exit_two(predict + dir_->file("not.png"), "not.png: not a PNG file");
  expect_exit_two(predict + "--index 32", "--index 32 is past the 32 images of");
  expect_exit_two(predict + "--index 1,x", "--index takes image numbers separated by commas");
  expect_exit_two(predict + "--index 0 --split bogus", "--split must be test, valid or train");
  // attn shows one image: a missing file is bad input, record flags are bad usage.
  const std::string attn = "attn --checkpoint " + checkpoint() + " ";
  expect_exit_two(attn + dir_->file("none.png"), "none.png: cannot open file");
  expect_exit_two(attn + "--index 0 --step 3",
                  "--step, --example and --alignment are for attention records");
  expect_exit_two(attn + "--index 0 --query 2,0",
                  "--query 2,0 is outside the 2x2 patch grid (rows 0-1, columns 0-1)");
  // eval --attention records the shown samples: with none, refused before any work.
  const auto eval_attention = expect_exit_two(
      "eval --checkpoint " + checkpoint() + " --samples 0 --attention " + dir_->file("a.rec"),
      "--attention records the shown samples; it needs --samples > 0");
  EXPECT_EQ(eval_attention.find("accuracy"), std::string::npos)
      << "no evaluation before the refusal";
  expect_exit_two("eval --checkpoint " + checkpoint() + " --data " +
                      dir_->file("train-images-idx3-ubyte") + " --labels " +
                      dir_->file("missing-labels"),
                  "missing-labels");
}

// attn --checkpoint on an image: the <cls> row as the patch grid, the per-head distances, and
// the overlay as PNG (decoded here with libpng: 8x8 pixels scaled by 224 / 8 = 28) and SVG.
TEST_F(ImageCommands, AttnShowsTheClsAttentionOverTheImage) {
  ASSERT_EQ(trained_->rc, 0) << trained_->out;
  const auto shown =
      attnlab("attn --checkpoint " + checkpoint() + " --index 2 --summary --no-color --png " +
              dir_->file("a.png") + " --svg " + dir_->file("a.svg"));
  ASSERT_EQ(shown.rc, 0) << shown.out;
  test::expect_contains(shown.out, "t10k-images-idx3-ubyte#2 (bl): predicted ");
  test::expect_contains(shown.out, "<cls> attention over the 2x2 patches of 4x4 pixels");
  test::expect_contains(shown.out, "layer 0, heads averaged");
  test::expect_contains(shown.out, "mean attention distance in pixels");
  test::expect_contains(shown.out, "  layer 0: h0=");
  const auto png = decode_png(test::read_text(dir_->file("a.png")), "a.png");
  EXPECT_EQ(png.width, 224);
  EXPECT_EQ(png.height, 224);
  EXPECT_EQ(png.channels, 3);
  test::expect_contains(test::read_text(dir_->file("a.svg")), "data:image/png;base64,");
  const auto rollout =
      attnlab("attn --checkpoint " + checkpoint() + " --index 2 --rollout --no-color");
  ASSERT_EQ(rollout.rc, 0) << rollout.out;
  test::expect_contains(rollout.out, "attention rollout over 1 layer");
  const auto bad_layer = attnlab("attn --checkpoint " + checkpoint() + " --index 2 --layer 3");
  EXPECT_EQ(bad_layer.rc, 2) << bad_layer.out;
  test::expect_contains(bad_layer.out, "layer 3 out of range: the model has layers 0\n");
}

// Attention during training: two probe images of the held-out split, every 50 steps. attn
// lists them, shows one patch's row and the rollout, the distances over steps and the overlay;
// eval and predict --attention write records of their images that attn reads the same way.
TEST_F(ImageCommands, AttentionRecordsOfImagesFromTrainingEvalAndPredict) {
  ASSERT_EQ(trained_->rc, 0) << trained_->out;
  test::expect_contains(trained_->out, "[attention] logging 2 probe examples every 50 steps");
  const auto run = dir_->file("runs/vit");
  const auto listing = attnlab("attn " + run);
  ASSERT_EQ(listing.rc, 0) << listing.out;
  test::expect_contains(listing.out, "steps: 0, 50, 100");
  test::expect_contains(listing.out,
                        "step 100 (train): 2 images of 8x8 pixels (grey), 4x4 patches (2x2 grid), "
                        "layers 0, heads 0, 1");
  test::expect_contains(listing.out, "  1  train-images-idx3-ubyte#");

  const auto patch =
      attnlab("attn " + run + " --example 1 --query 1,0 --layer 0 --head 1 --no-color --png " +
              dir_->file("p.png"));
  ASSERT_EQ(patch.rc, 0) << patch.out;
  test::expect_contains(patch.out, "wrote " + dir_->file("p.png"));
  EXPECT_EQ(decode_png(test::read_text(dir_->file("p.png")), "p.png").width, 224);
  const auto grid = attnlab("attn " + run + " --example 1 --query r1c0 --head 1 --no-color");
  ASSERT_EQ(grid.rc, 0) << grid.out;
  test::expect_contains(grid.out, "step 100, image 1 train-images-idx3-ubyte#");
  test::expect_contains(
      grid.out,
      "patch r1c0 attention over the 2x2 patches of 4x4 pixels (rows r, columns c; "
      "sums to 1), layer 0, head 1:");
  test::expect_contains(grid.out, "(scaled to the largest cell, ");
  const auto rollout = attnlab("attn " + run + " --rollout --step 50 --no-color");
  ASSERT_EQ(rollout.rc, 0) << rollout.out;
  test::expect_contains(
      rollout.out,
      "<cls> attention over the 2x2 patches of 4x4 pixels (rows r, columns c; sums "
      "to 1), attention rollout over 1 layer (heads 0, 1 averaged)");
  const auto summary = attnlab("attn " + run + " --summary");
  ASSERT_EQ(summary.rc, 0) << summary.out;
  test::expect_contains(summary.out, "means over 2 images:\nstep 0:\n  layer 0: h0=");
  test::expect_contains(summary.out, "\nstep 100:\n  layer 0: h0=");
  const auto html = attnlab("attn " + run + " --html " + dir_->file("r.html"));
  ASSERT_EQ(html.rc, 0) << html.out;
  test::expect_contains(html.out, "(3 of 3 steps)");
  test::expect_contains(test::read_text(dir_->file("r.html")),
                        "\"img\":{\"c\":1,\"h\":8,\"w\":8,\"p\":4,");
  const auto text_only = attnlab("attn " + run + " --alignment");
  EXPECT_EQ(text_only.rc, 2) << text_only.out;

  const auto eval = attnlab("eval --checkpoint " + checkpoint() + " --samples 3 --attention " +
                            dir_->file("e.pt"));
  ASSERT_EQ(eval.rc, 0) << eval.out;
  const auto evaluated = attnlab("attn " + dir_->file("e.pt"));
  ASSERT_EQ(evaluated.rc, 0) << evaluated.out;
  test::expect_contains(evaluated.out, "(eval): 3 images of 8x8 pixels");
  test::expect_contains(evaluated.out, "  2  t10k-images-idx3-ubyte#2 (bl): predicted ");
  const auto predict = attnlab("predict --checkpoint " + checkpoint() +
                               " --index 3,1 --attention " + dir_->file("q.pt"));
  ASSERT_EQ(predict.rc, 0) << predict.out;
  const auto predicted = attnlab("attn " + dir_->file("q.pt") + " --example 1 --no-color");
  ASSERT_EQ(predicted.rc, 0) << predicted.out;
  test::expect_contains(predicted.out, "image 1 t10k-images-idx3-ubyte#1 (tr)");
  test::expect_contains(predicted.out, "<cls> attention over the 2x2 patches");
}

}  // namespace
}  // namespace attnlab
