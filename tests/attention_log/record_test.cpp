#include "attention_log/record.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "support/attention_helpers.h"

namespace attnlab {
namespace {

using test::make_record;
using test::ScratchDir;

void expect_same(const AttentionRecord& a, const AttentionRecord& b) {
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.lengths, b.lengths);
  EXPECT_EQ(a.layer_ids, b.layer_ids);
  EXPECT_EQ(a.head_ids, b.head_ids);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) EXPECT_TRUE(torch::equal(a.layers[l], b.layers[l]));
  ASSERT_EQ(a.alignments.size(), b.alignments.size());
  for (size_t n = 0; n < a.alignments.size(); ++n) {
    EXPECT_EQ(a.alignments[n].source, b.alignments[n].source);
    EXPECT_EQ(a.alignments[n].outputs, b.alignments[n].outputs);
    EXPECT_EQ(a.alignments[n].positions, b.alignments[n].positions);
    EXPECT_TRUE(torch::equal(a.alignments[n].weights, b.alignments[n].weights));
  }
}

// Expects load_record(path) to throw AttentionLogError whose message names the file and says
// `what`.
void expect_load_error(const std::string& path, const std::string& what) {
  try {
    load_record(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const AttentionLogError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

TEST(AttentionRecord, FileNames) {
  EXPECT_EQ(record_file_name(1200), "step_00001200.pt");
  EXPECT_EQ(record_file_name(0), "step_00000000.pt");
  EXPECT_EQ(record_file_name(123456789), "step_123456789.pt");
  EXPECT_EQ(step_from_file_name("step_00001200.pt"), 1200);
  EXPECT_EQ(step_from_file_name("step_123456789.pt"), 123456789);
  EXPECT_EQ(step_from_file_name("step_.pt"), -1);
  EXPECT_EQ(step_from_file_name("step_12a.pt"), -1);
  EXPECT_EQ(step_from_file_name("step_00001200.pt.tmp"), -1);
  EXPECT_EQ(step_from_file_name("metrics.jsonl"), -1);
}

TEST(AttentionRecord, SaveLoadRoundTrip) {
  ScratchDir dir;
  auto record = make_record(1200, /*num_layers=*/3, /*heads=*/2);
  record.tokens[0][1] = "ça va";  // UTF-8 and a space survive
  record.source = "eval";
  const auto path = dir.file("sub/step_00001200.pt");
  save_record(path, record);
  // Only the record is left in its directory: no temp file from the atomic write.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("sub")))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"step_00001200.pt"});
  expect_same(load_record(path), record);
  // Overwriting in place works (rename over an existing file).
  record.step = 7;
  save_record(path, record);
  EXPECT_EQ(load_record(path).step, 7);
}

TEST(AttentionRecord, TranslationAlignmentsRoundTripAndAreValidated) {
  ScratchDir dir;
  const auto record = test::make_translation_record(40);
  save_record(dir.file("a.pt"), record);
  expect_same(load_record(dir.file("a.pt")), record);
  auto bad = record;
  bad.alignments.pop_back();
  EXPECT_THROW(save_record(dir.file("b.pt"), bad), AttentionLogError);  // one per example
  bad = record;
  bad.alignments[0].positions = {1};
  try {
    save_record(dir.file("b.pt"), bad);
    ADD_FAILURE() << "no error";
  } catch (const AttentionLogError& e) {
    EXPECT_NE(std::string(e.what()).find("alignments[0] has 2 outputs but 1 positions"),
              std::string::npos)
        << e.what();
  }
  bad = record;
  bad.alignments[0].weights = torch::ones({2, 2});
  EXPECT_THROW(save_record(dir.file("b.pt"), bad), AttentionLogError);  // (J, S) = (2, 3)
  if (!test::python_has("torch")) return;
  const auto py =
      test::run_python(dir,
                       "import torch\n"
                       "d = torch.load('" +
                           dir.file("a.pt") +
                           "')\n"
                           "a = d['alignments'][0]\n"
                           "print(a['source'], a['outputs'], a['positions'], a['weights'].shape, "
                           "len(d['alignments'][1]['outputs']))\n");
  EXPECT_NE(py.out.find("['the', 'cat', 'sat'] ['gato', 'sidis'] [1, 4] torch.Size([2, 3]) 0"),
            std::string::npos)
      << py.out;
}

TEST(AttentionRecord, SaveConvertsToContiguousFloat32) {
  ScratchDir dir;
  auto record = make_record(5);
  const auto original = record.layers[0].clone();
  record.layers[0] = original.to(torch::kDouble).transpose(2, 3).contiguous().transpose(2, 3);
  save_record(dir.file("r.pt"), record);
  const auto loaded = load_record(dir.file("r.pt"));
  EXPECT_EQ(loaded.layers[0].scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(loaded.layers[0], original));
}

TEST(AttentionRecord, ListRecordsSortsBySteps) {
  ScratchDir dir;
  for (int64_t step : {1200, 5, 100000000, 40})
    save_record(dir.file(record_file_name(step)), make_record(step));
  test::write_text(dir.file("notes.txt"), "x");
  test::write_text(dir.file("step_00000003.pt.tmp"), "partial");
  const auto paths = list_records(dir.path());
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(std::filesystem::path(paths[0]).filename(), "step_00000005.pt");
  EXPECT_EQ(std::filesystem::path(paths[1]).filename(), "step_00000040.pt");
  EXPECT_EQ(std::filesystem::path(paths[2]).filename(), "step_00001200.pt");
  EXPECT_EQ(std::filesystem::path(paths[3]).filename(), "step_100000000.pt");
  EXPECT_THROW(list_records(dir.file("nope")), AttentionLogError);
}

TEST(AttentionRecord, LoadLogFromRunDirAttentionDirOrFile) {
  ScratchDir dir;
  const auto attention = dir.file("run/attention");
  for (int64_t step : {200, 0, 100})
    save_record(attention + "/" + record_file_name(step), make_record(step));
  for (const auto& location : {dir.file("run"), attention}) {
    const auto log = load_log(location);
    EXPECT_EQ(log.steps, (std::vector<int64_t>{0, 100, 200}));
    EXPECT_EQ(log.index_of(100), 1);
    EXPECT_EQ(log.index_of(150), -1);
    EXPECT_EQ(log.load(2).step, 200);
  }
  // A single record file with any name.
  save_record(dir.file("eval_attention.pt"), make_record(77));
  const auto single = load_log(dir.file("eval_attention.pt"));
  EXPECT_EQ(single.steps, (std::vector<int64_t>{77}));
  EXPECT_EQ(single.load(0).step, 77);
  // A file named for one step but holding another is reported.
  std::filesystem::copy_file(attention + "/" + record_file_name(100),
                             attention + "/" + record_file_name(300));
  const auto log = load_log(dir.file("run"));
  try {
    log.load(3);
    ADD_FAILURE() << "step mismatch not detected";
  } catch (const AttentionLogError& e) {
    EXPECT_NE(std::string(e.what()).find("holds step 100"), std::string::npos) << e.what();
  }
  // Nothing there.
  std::filesystem::create_directories(dir.file("empty/attention"));
  EXPECT_THROW(load_log(dir.file("empty")), AttentionLogError);
  EXPECT_THROW(load_log(dir.file("missing")), AttentionLogError);
}

TEST(AttentionRecord, MissingEmptyTruncatedAndForeignFilesThrow) {
  ScratchDir dir;
  expect_load_error(dir.file("missing.pt"), "no such file");
  test::write_text(dir.file("empty.pt"), "");
  expect_load_error(dir.file("empty.pt"), "empty file");
  test::write_text(dir.file("text.pt"), "step=100 loss=0.1\n");
  expect_load_error(dir.file("text.pt"), "not a torch pickle");
  expect_load_error(dir.path(), "is a directory");

  save_record(dir.file("good.pt"), make_record(3));
  const auto bytes = test::read_text(dir.file("good.pt"));
  for (size_t keep : {size_t{1}, size_t{30}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 30,
                      bytes.size() - 1}) {
    const auto path = dir.file("cut" + std::to_string(keep) + ".pt");
    test::write_text(path, bytes.substr(0, keep));
    EXPECT_THROW(load_record(path), AttentionLogError) << "kept " << keep << " of " << bytes.size();
  }

  // A torch pickle of something else: a tensor, and a dict without our format key.
  const auto tensor_bytes = torch::pickle_save(torch::ones({2}));
  test::write_text(dir.file("tensor.pt"), std::string(tensor_bytes.begin(), tensor_bytes.end()));
  expect_load_error(dir.file("tensor.pt"), "not an attnlab attention record");
  c10::impl::GenericDict other(c10::StringType::get(), c10::AnyType::get());
  other.insert(std::string("model"), std::string("x"));
  const auto dict_bytes = torch::pickle_save(other);
  test::write_text(dir.file("dict.pt"), std::string(dict_bytes.begin(), dict_bytes.end()));
  expect_load_error(dir.file("dict.pt"), "not an attnlab attention record");
}

// A flipped byte anywhere is refused with an error naming the file, or (in zip bookkeeping no
// reader depends on: timestamps, version fields, alignment padding) loads the very record that
// was saved: never a silently different one. (It found one: a flip that marked an entry as a
// directory made the zip reader return nothing for it, and LibTorch a storage it never filled.)
// Every flip inside the stored entries' bytes (the pickle and the tensor data) is caught by their
// CRC-32.
TEST(AttentionRecord, CorruptedBytesAreRefusedOrChangeNothing) {
  ScratchDir dir;
  const auto original = make_record(3);
  save_record(dir.file("good.pt"), original);
  const auto bytes = test::read_text(dir.file("good.pt"));
  // Where the stored tensor data lies: the largest run of the layer tensor's float bytes.
  const auto& layer = original.layers[0];
  const std::string data(static_cast<const char*>(layer.data_ptr()),
                         static_cast<size_t>(layer.nbytes()));
  const size_t data_at = bytes.find(data);
  ASSERT_NE(data_at, std::string::npos) << "the layer's bytes should be stored as they are";
  int errors = 0, harmless = 0, data_flips = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += 7) {
    auto bad = bytes;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    const auto path = dir.file("bad.pt");
    test::write_text(path, bad);
    const bool in_data = pos >= data_at && pos < data_at + data.size();
    data_flips += in_data;
    try {
      const auto loaded = load_record(path);
      SCOPED_TRACE("flipped byte " + std::to_string(pos) + " of " + std::to_string(bytes.size()));
      EXPECT_FALSE(in_data) << "a flip in the tensor data at byte " << pos << " loaded";
      expect_same(loaded, original);
      ++harmless;
    } catch (const AttentionLogError& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    }
  }
  EXPECT_GT(data_flips, 10);
  EXPECT_GT(errors, data_flips);
  std::printf("%d flips refused, %d harmless (zip bookkeeping)\n", errors, harmless);
}

TEST(AttentionRecord, ValidationNamesTheProblem) {
  auto expect_invalid = [](const AttentionRecord& r, const std::string& what) {
    try {
      validate_record(r, "rec");
      ADD_FAILURE() << "accepted a record with: " << what;
    } catch (const AttentionLogError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  EXPECT_NO_THROW(validate_record(make_record(1), "rec"));
  auto r = make_record(1);
  r.source = "test";
  expect_invalid(r, "unknown source 'test'");
  r = make_record(1);
  r.lengths[1] = 3;
  expect_invalid(r, "example 1 has length 3 but 2 tokens");
  r = make_record(1);
  r.layer_ids = {0, 0};
  expect_invalid(r, "'layer_ids' holds id 0 twice");
  r = make_record(1);
  r.head_ids = {0, 1, 2};
  expect_invalid(r, "expected (N=2, H'=3, T, T)");
  r = make_record(1);
  r.layers.pop_back();
  expect_invalid(r, "2 layer ids but 1 layer tensors");
  r = make_record(1);
  r.layers[0][1][0][0][2] = 0.1;  // example 1 has length 2: key 2 is padding
  expect_invalid(r, "non-zero weights beyond an example's length");
  r = make_record(1);
  r.layers[1][0][0][0][0] = 1.5;
  expect_invalid(r, "outside [0, 1]");
  r = make_record(1);
  r.layers[1] = r.layers[1].to(torch::kDouble);
  expect_invalid(r, "expected float32");
  // NaN (a diverged run) is kept, not rejected.
  r = make_record(1);
  r.layers[0][0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NO_THROW(validate_record(r, "rec"));
}

TEST(AttentionRecord, ImageRecordsRoundTripAndAreValidated) {
  ScratchDir dir;
  const auto record = test::make_image_record(30);
  EXPECT_EQ(record.tokens[0],
            (std::vector<std::string>{"<cls>", "r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2"}));
  const auto path = dir.file("step_00000030.pt");
  save_record(path, record);
  const auto back = load_record(path);
  expect_same(record, back);
  EXPECT_TRUE(torch::equal(back.images.pixels, record.images.pixels));
  EXPECT_EQ(back.images.patch_size, 2);
  EXPECT_EQ(back.images.names, record.images.names);
  EXPECT_EQ(back.images.grid_height(), 2);
  EXPECT_EQ(back.images.grid_width(), 3);
  // A text record has none.
  save_record(dir.file("text.pt"), make_record(1));
  EXPECT_TRUE(load_record(dir.file("text.pt")).images.empty());

  auto expect_invalid = [](const AttentionRecord& r, const std::string& what) {
    try {
      validate_record(r, "rec");
      ADD_FAILURE() << "accepted an image record with: " << what;
    } catch (const AttentionLogError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto r = test::make_image_record(1);
  r.images.patch_size = 4;  // 4 does not divide 6
  expect_invalid(r, "patch_size 4 does not divide the 4x6 images");
  r = test::make_image_record(1);
  r.images.pixels = r.images.pixels.to(torch::kFloat);
  expect_invalid(
      r,
      "images must be a uint8 CPU tensor of shape (N=2, C=1 or 3, H, W), got (2, 1, 4, 6) Float");
  r = test::make_image_record(1);
  r.images.pixels = torch::zeros({2, 2, 4, 6}, torch::kByte);
  expect_invalid(r, "C=1 or 3");
  r = test::make_image_record(1);
  r.images.names.pop_back();
  expect_invalid(r, "1 image names for 2 examples");
  r = test::make_image_record(1);
  r.images.patch_size = 1;  // 24 patches + <cls> = 25 tokens, but the examples hold 7
  expect_invalid(r, "example 0 has length 7 but its 4x6 image in 1x1 patches makes 25 tokens");
}

TEST(AttentionRecord, ExampleWeightsCropAndAverage) {
  const auto r = make_record(1, /*num_layers=*/2, /*heads=*/3);
  const auto w = example_weights(r, 1, 2, 1);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(torch::equal(w, r.layers[1][1][2].narrow(0, 0, 2).narrow(1, 0, 2)));
  const auto mean = example_weights(r, 0, -1, 0);
  const auto expected = (r.layers[0][0][0] + r.layers[0][0][1] + r.layers[0][0][2]) / 3;
  EXPECT_TRUE(torch::allclose(mean, expected));
  EXPECT_THROW(example_weights(r, 2, 0, 0), c10::Error);
}

TEST(AttentionRecord, PythonTorchLoadSeesAPlainDict) {
  if (!test::python_has("torch")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  ScratchDir dir;
  auto record = make_record(1200, /*num_layers=*/2, /*heads=*/3);
  record.layers[1][0][2][1][0] = 0.25;  // a value to look for
  record.layers[1][0][2][1][1] = 0.75;
  record.layers[1][0][2][1][2] = 0.0;
  const auto path = dir.file("step_00001200.pt");
  save_record(path, record);
  const auto result = test::run_python(dir, R"PY(
import torch
d = torch.load(")PY" + path + R"PY(")
print(type(d).__name__)
print(sorted(d.keys()))
print(d["format"], d["version"], d["step"], d["source"])
print(d["tokens"], d["lengths"], d["layer_ids"], d["head_ids"])
print(type(d["layers"]).__name__, len(d["layers"]), [tuple(t.shape) for t in d["layers"]], d["layers"][0].dtype)
print([round(float(x), 4) for x in d["layers"][1][0, 2, 1]])
print(round(float(d["layers"][0].sum()), 3))
)PY");
  ASSERT_EQ(result.rc, 0) << result.out;
  const auto total = record.layers[0].sum().item<double>();
  // 3 heads x (3 + 2) query rows that each sum to 1.
  EXPECT_NEAR(total, 15.0, 1e-4);
  const std::string expected =
      "dict\n"
      "['format', 'head_ids', 'layer_ids', 'layers', 'lengths', 'source', 'step', 'tokens', "
      "'version']\n"
      "attnlab.attention 1 1200 train\n"
      "[['the', 'cat', 'sat'], ['a', 'dog']] [3, 2] [0, 1] [0, 1, 2]\n"
      "list 2 [(2, 3, 3, 3), (2, 3, 3, 3)] torch.float32\n"
      "[0.25, 0.75, 0.0]\n"
      "15.0\n";
  EXPECT_EQ(result.out, expected);
}

TEST(AttentionRecord, PythonReadsTheImagesOfAnImageRecord) {
  if (!test::python_has("torch")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  ScratchDir dir;
  const auto path = dir.file("step_00000005.pt");
  save_record(path, test::make_image_record(5));
  const auto result = test::run_python(dir, R"PY(
import torch
d = torch.load(")PY" + path + R"PY(")
im = d["images"]
print(im.dtype, tuple(im.shape), d["patch_size"], d["image_names"])
print(int(im[1, 0, 2, 5]), int(im[0, 0, 3, 0]))
print(d["tokens"][0], d["lengths"])
)PY");
  ASSERT_EQ(result.rc, 0) << result.out;
  EXPECT_EQ(result.out,
            "torch.uint8 (2, 1, 4, 6) 2 ['pic#0 (label0)', 'pic#1 (label1)']\n"
            "65 30\n"  // 40 * 1 + 10 * 2 + 5, 10 * 3
            "['<cls>', 'r0c0', 'r0c1', 'r0c2', 'r1c0', 'r1c1', 'r1c2'] [7, 7]\n");
}

TEST(AttentionRecord, LoadsARecordWrittenByPython) {
  if (!test::python_has("torch")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  ScratchDir dir;
  const auto path = dir.file("py.pt"), foreign = dir.file("foreign.pt"),
             newer = dir.file("newer.pt"), single = dir.file("single.pt");
  // Lists of two or more: Python's pickler writes one-element lists with the APPEND opcode,
  // which LibTorch 1.13's unpickler does not know (see the last check).
  const auto result = test::run_python(dir, R"PY(
import torch
w = torch.zeros(2, 2, 2, 2)
w[0, 0] = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
w[0, 1] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
w[1, :, 0, 0] = 1.0
d = {"format": "attnlab.attention", "version": 1, "step": 42, "source": "predict",
     "tokens": [["x", "y"], ["z", "<pad>"]], "lengths": [2, 2], "layer_ids": [3, 1], "head_ids": [0, 5],
     "layers": [w, w.clone()]}
torch.save(d, ")PY" + path + R"PY(")
torch.save({"state_dict": {"w": w}}, ")PY" + foreign +
                                                R"PY(")
torch.save(dict(d, version=2), ")PY" + newer + R"PY(")
torch.save(dict(d, lengths=[2], tokens=[["x", "y"]], layers=[w[:1]], layer_ids=[0]), ")PY" +
                                                single + R"PY(")
print("ok")
)PY");
  ASSERT_EQ(result.rc, 0) << result.out;
  const auto r = load_record(path);
  EXPECT_EQ(r.step, 42);
  EXPECT_EQ(r.source, "predict");
  EXPECT_EQ(r.tokens, (std::vector<std::vector<std::string>>{{"x", "y"}, {"z", "<pad>"}}));
  EXPECT_EQ(r.layer_ids, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(r.head_ids, (std::vector<int64_t>{0, 5}));
  EXPECT_FLOAT_EQ(r.layers[0][0][0][1][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(r.layers[1][0][1][0][1].item<float>(), 1.0f);
  expect_load_error(foreign, "not an attnlab attention record");
  expect_load_error(newer, "format version 2 is newer");
  expect_load_error(single, "cannot unpickle");
}

}  // namespace
}  // namespace attnlab
