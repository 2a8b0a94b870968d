// Checkpoints: round trip, Python's torch.load as an independent reader, damaged and foreign
// files, and atomic replacement under SIGKILL.
#include "train/checkpoint.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/train_helpers.h"

namespace attnlab {
namespace {

Checkpoint sample_checkpoint() {
  torch::manual_seed(11);
  Checkpoint c;
  c.config_yaml = "model:\n  d_model: 16\n# ünïcode and \"quotes\"\n";
  c.model["embedding.token.weight"] = torch::randn({5, 4});
  c.model["token_head.proj.bias"] = torch::randn({5});
  c.model["embedding.position_table"] = torch::randn({3, 4});
  c.exp_avg["embedding.token.weight"] = torch::randn({5, 4});
  c.exp_avg["token_head.proj.bias"] = torch::randn({5});
  c.exp_avg_sq["embedding.token.weight"] = torch::rand({5, 4});
  c.exp_avg_sq["token_head.proj.bias"] = torch::rand({5});
  c.optimizer_step = 41;
  c.state.step = 42;
  c.state.epoch = 3;
  c.state.batch_in_epoch = 7;
  c.state.rng_state = at::detail::getDefaultCPUGenerator().get_state();
  c.state.best_metric = 0.8125;
  c.state.best_step = 40;
  c.state.evals_without_improvement = 2;
  c.state.tokens_seen = 123456789012LL;
  c.state.elapsed_s = 12.25;
  c.src_vocab = {"<pad>", "<unk>", "<cls>", "a", "é", "hello world"};
  c.tgt_vocab = {"<pad>", "<unk>", "<cls>", "x"};
  c.labels = {};
  c.spm_model = std::string("spm\0bytes\xff", 10);  // arbitrary bytes, NUL and non-UTF-8 included
  return c;
}

void expect_tensor_maps_equal(const std::map<std::string, at::Tensor>& a,
                              const std::map<std::string, at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_EQ(t.scalar_type(), b.at(name).scalar_type()) << name;
    EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  }
}

// The message of the CheckpointError thrown by load_checkpoint(path); a failure otherwise.
std::string load_error(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const CheckpointError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected CheckpointError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected CheckpointError for " << path << ", it loaded";
  return "";
}

TEST(Checkpoint, RoundTripsEveryField) {
  test::ScratchDir dir;
  const auto c = sample_checkpoint();
  const auto path = dir.file("ckpt.pt");
  save_checkpoint(path, c);
  const auto r = load_checkpoint(path);
  EXPECT_EQ(r.config_yaml, c.config_yaml);
  expect_tensor_maps_equal(r.model, c.model);
  expect_tensor_maps_equal(r.exp_avg, c.exp_avg);
  expect_tensor_maps_equal(r.exp_avg_sq, c.exp_avg_sq);
  EXPECT_EQ(r.optimizer_step, 41);
  EXPECT_EQ(r.state.step, 42);
  EXPECT_EQ(r.state.epoch, 3);
  EXPECT_EQ(r.state.batch_in_epoch, 7);
  ASSERT_TRUE(r.state.rng_state.defined());
  EXPECT_EQ(r.state.rng_state.scalar_type(), at::kByte);
  EXPECT_TRUE(torch::equal(r.state.rng_state, c.state.rng_state));
  EXPECT_EQ(r.state.best_metric, 0.8125);
  EXPECT_EQ(r.state.best_step, 40);
  EXPECT_EQ(r.state.evals_without_improvement, 2);
  EXPECT_EQ(r.state.tokens_seen, 123456789012LL);
  EXPECT_EQ(r.state.elapsed_s, 12.25);
  EXPECT_EQ(r.src_vocab, c.src_vocab);
  EXPECT_EQ(r.spm_model, c.spm_model);
  EXPECT_EQ(r.tgt_vocab, c.tgt_vocab);
  EXPECT_TRUE(r.labels.empty());

  // The restored generator state reproduces the same random numbers.
  auto gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(c.state.rng_state);
  const auto expected = torch::rand({4});
  gen.set_state(r.state.rng_state);
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));

  // Saving over an existing file replaces it and leaves no temp file behind.
  auto c2 = c;
  c2.state.step = 43;
  c2.labels = {"neg", "pos"};
  c2.state.rng_state = at::Tensor();  // undefined: saved as an empty uint8 tensor
  save_checkpoint(path, c2);
  const auto r2 = load_checkpoint(path);
  EXPECT_EQ(r2.state.step, 43);
  EXPECT_EQ(r2.labels, c2.labels);
  EXPECT_EQ(r2.state.rng_state.numel(), 0);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename(), "ckpt.pt");
  }
  EXPECT_EQ(files, 1);
}

TEST(Checkpoint, PythonTorchLoadReadsADict) {
  if (!test::python_has("torch")) GTEST_SKIP() << "python3 with torch not available";
  test::ScratchDir dir;
  const auto c = sample_checkpoint();
  const auto path = dir.file("ckpt.pt");
  save_checkpoint(path, c);
  const auto script = dir.file("read.py");
  test::write_text(script, R"(import sys, torch
d = torch.load(sys.argv[1])
print("type=" + type(d).__name__)
print("keys=" + ",".join(sorted(d.keys())))
print("optimizer=" + ",".join(sorted(d["optimizer"].keys())))
print("format=" + d["format"])
print("version=" + str(d["version"]))
print("step=%d epoch=%d tokens=%d" % (d["step"], d["epoch"], d["tokens_seen"]))
print("best_metric=" + repr(d["best_metric"]))
w = d["model"]["embedding.token.weight"]
print("w_dtype=" + str(w.dtype))
print("w_shape=" + ",".join(str(s) for s in w.shape))
print("w=" + " ".join(repr(x) for x in w.flatten().tolist()))
print("m=" + " ".join(repr(x) for x in d["optimizer"]["exp_avg"]["token_head.proj.bias"].tolist()))
print("src_vocab=" + "|".join(d["src_vocab"]))
print("config_ok=" + str(d["config"] == open(sys.argv[2], encoding="utf-8").read()))
print("rng=" + str(d["rng_state"].dtype) + ":" + str(d["rng_state"].numel()))
print("spm=" + str(d["spm_model"].dtype) + ":" + d["spm_model"].numpy().tobytes().hex())
)");
  const auto expected_config = dir.file("config.yaml");
  test::write_text(expected_config, c.config_yaml);
  bool ok = false;
  const std::string out = test::run_python(script, path + " " + expected_config, ok);
  ASSERT_TRUE(ok) << out;

  std::vector<std::string> keys = {
      "format",      "version",     "config",     "model",
      "optimizer",   "step",        "epoch",      "batch_in_epoch",
      "rng_state",   "best_metric", "best_step",  "evals_without_improvement",
      "tokens_seen", "elapsed_s",   "src_vocab",  "tgt_vocab",
      "labels",      "spm_model",   "image_shape"};
  std::sort(keys.begin(), keys.end());
  std::string joined;
  for (const auto& k : keys) joined += (joined.empty() ? "" : ",") + k;
  EXPECT_EQ(test::line_value(out, "type"), "dict");
  EXPECT_EQ(test::line_value(out, "keys"), joined);
  EXPECT_EQ(test::line_value(out, "optimizer"), "exp_avg,exp_avg_sq,step");
  EXPECT_EQ(test::line_value(out, "format"), "attnlab.checkpoint");
  EXPECT_EQ(test::line_value(out, "version"), std::to_string(kCheckpointVersion));
  EXPECT_EQ(test::line_value(out, "step"), "42 epoch=3 tokens=123456789012");
  EXPECT_EQ(test::line_value(out, "best_metric"), "0.8125");
  EXPECT_EQ(test::line_value(out, "config_ok"), "True");
  EXPECT_EQ(test::line_value(out, "w_dtype"), "torch.float32");
  EXPECT_EQ(test::line_value(out, "w_shape"), "5,4");
  EXPECT_EQ(test::line_value(out, "src_vocab"), "<pad>|<unk>|<cls>|a|é|hello world");
  std::string spm_hex;
  for (unsigned char b : c.spm_model)
    spm_hex += "0123456789abcdef"[b >> 4], spm_hex += "0123456789abcdef"[b & 15];
  EXPECT_EQ(test::line_value(out, "spm"), "torch.uint8:" + spm_hex);  // the model's bytes
  EXPECT_EQ(test::line_value(out, "rng"),
            "torch.uint8:" + std::to_string(c.state.rng_state.numel()));

  auto parse = [](const std::string& s) {
    std::vector<double> v;
    std::istringstream in(s);
    std::string item;
    while (in >> item) v.push_back(std::strtod(item.c_str(), nullptr));
    return v;
  };
  const auto w = parse(test::line_value(out, "w"));
  const auto expected_w = c.model.at("embedding.token.weight").flatten().contiguous();
  ASSERT_EQ(static_cast<int64_t>(w.size()), expected_w.numel());
  for (int64_t i = 0; i < expected_w.numel(); ++i)
    EXPECT_EQ(w[i], static_cast<double>(expected_w[i].item<float>())) << i;
  const auto m = parse(test::line_value(out, "m"));
  const auto expected_m = c.exp_avg.at("token_head.proj.bias");
  ASSERT_EQ(static_cast<int64_t>(m.size()), expected_m.numel());
  for (int64_t i = 0; i < expected_m.numel(); ++i)
    EXPECT_EQ(m[i], static_cast<double>(expected_m[i].item<float>())) << i;
}

TEST(Checkpoint, MissingFileOrDirectoryNamesThePath) {
  test::ScratchDir dir;
  const auto missing = dir.file("nope.pt");
  const auto msg = load_error(missing);
  test::expect_contains(msg, missing);
  const auto as_dir = load_error(dir.path().string());
  test::expect_contains(as_dir, dir.path().string());
}

TEST(Checkpoint, TruncatedFileIsAnErrorNamingThePath) {
  test::ScratchDir dir;
  const auto good = dir.file("good.pt");
  save_checkpoint(good, sample_checkpoint());
  const auto bytes = test::read_bytes(good);
  ASSERT_GT(bytes.size(), 100u);
  for (size_t n : {size_t{0}, size_t{1}, size_t{10}, bytes.size() / 4, bytes.size() / 2,
                   bytes.size() - 22, bytes.size() - 1}) {
    const auto path = dir.file("cut_" + std::to_string(n) + ".pt");
    test::write_bytes(path, bytes, n);
    test::expect_contains(load_error(path), path);
  }
}

TEST(Checkpoint, CorruptedBytesAreDetected) {
  test::ScratchDir dir;
  const auto good = dir.file("good.pt");
  save_checkpoint(good, sample_checkpoint());
  const auto bytes = test::read_bytes(good);
  const size_t n = bytes.size();
  // The middle of the file (raw tensor bytes): LibTorch's reader does not check CRCs itself.
  auto damaged = bytes;
  for (size_t i = n / 2 - 4; i < n / 2 + 4; ++i) damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
  const auto middle = dir.file("middle.pt");
  test::write_bytes(middle, damaged, n);
  test::expect_contains(load_error(middle), middle);
  test::expect_contains(load_error(middle), "corrupted");

  // Runs of flipped bytes at ~100 places: zip headers, the pickle, tensor data, the directory.
  // A flip in bytes nobody reads (zip header padding, a local copy of a name) may go unnoticed;
  // anything else must be a CheckpointError, never a crash or another exception.
  int rejected = 0, total = 0;
  for (size_t start = 0; start + 8 < n; start += std::max<size_t>(1, n / 97)) {
    damaged = bytes;
    for (size_t i = start; i < start + 8; ++i) damaged[i] = static_cast<char>(~damaged[i]);
    const auto path = dir.file("bad.pt");
    test::write_bytes(path, damaged, n);
    ++total;
    try {
      load_checkpoint(path);
    } catch (const CheckpointError& e) {
      ++rejected;
      test::expect_contains(e.what(), path);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "offset " << start << ": not a CheckpointError: " << e.what();
    }
  }
  EXPECT_GE(rejected, total * 9 / 10) << rejected << " of " << total << " damaged files rejected";
}

TEST(Checkpoint, ForeignFilesAreRejected) {
  test::ScratchDir dir;
  const auto text = dir.file("notes.txt");
  test::write_text(text, "this is not a checkpoint\n");
  test::expect_contains(load_error(text), text);
  test::expect_contains(load_error(text), "not an attnlab checkpoint");

  // A torch zip archive holding a plain tensor, and one holding a dict of something else.
  const auto tensor_file = dir.file("tensor.pt");
  auto tensor_bytes = torch::pickle_save(c10::IValue(torch::ones({3})));
  test::write_bytes(tensor_file, tensor_bytes, tensor_bytes.size());
  test::expect_contains(load_error(tensor_file), tensor_file);
  c10::impl::GenericDict other(c10::StringType::get(), c10::AnyType::get());
  other.insert("weights", torch::ones({2}));
  other.insert("version", int64_t{1});
  const auto dict_file = dir.file("other.pt");
  auto dict_bytes = torch::pickle_save(other);
  test::write_bytes(dict_file, dict_bytes, dict_bytes.size());
  test::expect_contains(load_error(dict_file), dict_file);
  test::expect_contains(load_error(dict_file), "format");

  if (!test::python_has("zipfile")) return;
  const auto zip_file = dir.file("archive.zip");
  const auto script = dir.file("make.py");
  test::write_text(script, R"(import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("readme.txt", "hello")
    z.writestr("data/0", b"\x00" * 64)
if len(sys.argv) > 2:
    import torch
    torch.save(torch.arange(5), sys.argv[2])
    torch.save({"format": "something.else", "version": 1}, sys.argv[3])
)");
  const bool with_torch = test::python_has("torch");
  const auto py_tensor = dir.file("py_tensor.pt");
  const auto py_dict = dir.file("py_dict.pt");
  bool ok = false;
  const auto out =
      test::run_python(script, zip_file + (with_torch ? " " + py_tensor + " " + py_dict : ""), ok);
  ASSERT_TRUE(ok) << out;
  test::expect_contains(load_error(zip_file), zip_file);
  if (with_torch) {
    test::expect_contains(load_error(py_tensor), py_tensor);
    test::expect_contains(load_error(py_tensor), "not an attnlab checkpoint");
    test::expect_contains(load_error(py_dict), py_dict);
    test::expect_contains(load_error(py_dict), "not an attnlab checkpoint");
  }
}

TEST(Checkpoint, WrongVersionIsRejected) {
  test::ScratchDir dir;
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string(kCheckpointFormat));
  dict.insert("version", int64_t{99});
  const auto path = dir.file("future.pt");
  const auto bytes = torch::pickle_save(dict);
  test::write_bytes(path, bytes, bytes.size());
  const auto msg = load_error(path);
  test::expect_contains(msg, path);
  test::expect_contains(msg, "version 99");
}

TEST(Checkpoint, MissingKeyIsNamed) {
  test::ScratchDir dir;
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string(kCheckpointFormat));
  dict.insert("version", kCheckpointVersion);
  dict.insert("config", std::string("x: 1\n"));
  const auto path = dir.file("partial.pt");
  const auto bytes = torch::pickle_save(dict);
  test::write_bytes(path, bytes, bytes.size());
  const auto msg = load_error(path);
  test::expect_contains(msg, path);
  test::expect_contains(msg, "'model'");
}

// A checkpoint of ~8 MB whose every value encodes its step, so a mix of two writes shows.
Checkpoint big_checkpoint(int64_t step) {
  Checkpoint c;
  c.config_yaml = "step: " + std::to_string(step) + "\n";
  c.model["w"] = torch::full({2'000'000}, static_cast<float>(step));
  c.exp_avg["w"] = torch::full({16}, static_cast<float>(step));
  c.exp_avg_sq["w"] = torch::full({16}, static_cast<float>(step));
  c.state.step = step;
  return c;
}

TEST(Checkpoint, AtomicWriteSurvivesSigkill) {
  test::ScratchDir dir;
  const auto path = dir.file("ckpt.pt");
  save_checkpoint(path, big_checkpoint(0));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> delay_ms(2, 60);
  int64_t last_seen = 0;
  for (int round = 0; round < 8; ++round) {
    const int64_t base = 1000 * (round + 1);
    // Tensors are made in the parent; the child only pickles and writes them (no intra-op
    // parallelism after fork()).
    std::vector<Checkpoint> checkpoints = {big_checkpoint(base + 1), big_checkpoint(base + 2)};
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (int i = 0;; ++i) {
        try {
          save_checkpoint(path, checkpoints[i % 2]);
        } catch (...) {
          ::_exit(3);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng) * (round + 1)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << status;

    Checkpoint loaded;
    ASSERT_NO_THROW(loaded = load_checkpoint(path)) << "round " << round;
    const int64_t step = loaded.state.step;
    EXPECT_TRUE(step == last_seen || step == base + 1 || step == base + 2)
        << "round " << round << ": step " << step;
    EXPECT_EQ(loaded.config_yaml, "step: " + std::to_string(step) + "\n");
    const auto& w = loaded.model.at("w");
    EXPECT_EQ(w.numel(), 2'000'000);
    EXPECT_TRUE(w.eq(static_cast<float>(step)).all().item<bool>()) << "mixed contents";
    last_seen = step;
  }
  // A killed writer leaves its temp file behind, named .<name>.tmp.<pid> in the same directory;
  // nothing else appears there.
  const std::regex temp_name(R"(\.ckpt\.pt\.tmp\.[0-9]+)");
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const auto name = e.path().filename().string();
    if (name != "ckpt.pt") {
      EXPECT_TRUE(std::regex_match(name, temp_name)) << name;
    }
  }
}

}  // namespace
}  // namespace attnlab
