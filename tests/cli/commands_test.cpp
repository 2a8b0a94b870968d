// The attnlab binary end to end: exit codes, train -> eval -> predict -> attn, SIGINT.
#include "cli/commands.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/tsv.h"
#include "data/vocab.h"
#include "support/common.h"
#include "support/tiny_task.h"
#include "train/checkpoint.h"

namespace {

namespace fs = std::filesystem;

struct Run {
  int exit_code;
  std::string output;  // stdout and stderr
};

// Runs attnlab with `args`; `env` ("NAME=value ") goes before it on the shell line.
Run run(const std::string& args, const std::string& env = "") {
  const std::string command = env + std::string(ATTNLAB_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("attnlab_cli_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto examples = attnlab::fixtures::tiny_reverse_examples(120, "abcdefgh");
    attnlab::write_tsv((root_ / "train.tsv").string(), {examples.begin(), examples.begin() + 100});
    attnlab::write_tsv((root_ / "valid.tsv").string(), {examples.begin() + 100, examples.end()});
    std::ofstream(root_ / "tiny.yaml")
        << "run: {name: tiny, out_dir: runs, threads: 1}\n"
           "data: {task: transduction, train: train.tsv, valid: valid.tsv,\n"
           "       test: valid.tsv, tokenization: word, max_len: 16}\n"
           "model: {d_model: 32, num_heads: 2, num_layers: 1, d_ff: 64, dropout: 0.0}\n"
           "train: {batch_size: 16, max_steps: 60, warmup_steps: 5, lr: 3.0e-3,\n"
           "        eval_interval: 20, checkpoint_interval: 20}\n"
           "log: {interval: 10, attention: {enabled: true, every: 20, num_examples: 2}}\n";
    const auto trained = run("train --config " + (root_ / "tiny.yaml").string());
    ASSERT_EQ(trained.exit_code, 0) << trained.output;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::string path(const std::string& p) { return (root_ / p).string(); }
  static fs::path root_;
};
fs::path CliTest::root_;

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").exit_code, 2);
  EXPECT_EQ(run("frobnicate").exit_code, 2);
  EXPECT_EQ(run("--help").exit_code, 0);
  for (const char* command : {"train", "eval", "predict", "attn", "data", "bench", "average"})
    EXPECT_EQ(run(std::string(command) + " --help").exit_code, 0) << command;
  const auto r = run("eval --bogus");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown option --bogus"), std::string::npos) << r.output;
}

TEST_F(CliTest, BadConfigExitsTwoNamingFileAndLine) {
  std::ofstream(path("bad.yaml")) << "model:\n  d_model: 128\n  num_heads: 6\n";
  const auto r = run("train --config " + path("bad.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.yaml:3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.num_heads"), std::string::npos) << r.output;
  const auto typo = run("train --config " + path("tiny.yaml") + " --set train.lrr=1");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.output.find("did you mean"), std::string::npos) << typo.output;
}

TEST_F(CliTest, RunDirectoryHoldsEveryDocumentedFile) {
  for (const char* f :
       {"config.yaml", "train.log", "metrics.jsonl", "last.pt", "best.pt", "step_00000060.pt",
        "attention/step_00000000.pt", "attention/step_00000060.pt"})
    EXPECT_TRUE(fs::exists(root_ / "runs" / "tiny" / f)) << f;
  // A second `train` into the same run refuses to clobber it.
  const auto again = run("train --config " + path("tiny.yaml"));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
}

// Hides a file for a scope (renamed beside itself), so a command cannot read it.
class HiddenFile {
 public:
  explicit HiddenFile(fs::path path) : path_(std::move(path)) {
    fs::rename(path_, path_.string() + ".hidden");
  }
  ~HiddenFile() { fs::rename(path_.string() + ".hidden", path_); }
  HiddenFile(const HiddenFile&) = delete;
  HiddenFile& operator=(const HiddenFile&) = delete;

 private:
  fs::path path_;
};

// eval, predict and attn print the same with the checkpoint copied alone into another folder
// and the config, the run's config.yaml and the training split out of reach (eval still reads
// the split it scores).
TEST_F(CliTest, EvalPredictAndAttnUseTheCheckpointAlone) {
  const auto ckpt = path("runs/tiny/best.pt");
  const auto commands = [](const std::string& checkpoint, const std::string& json) {
    std::vector<decltype(run(""))> out;
    out.push_back(run("eval --checkpoint " + checkpoint + " --json " + json));
    out.push_back(run("predict --checkpoint " + checkpoint + " 'a b c' 'd e f g'"));
    out.push_back(run("predict --logits --checkpoint " + checkpoint + " 'a b'"));
    out.push_back(run("attn --no-color --checkpoint " + checkpoint + " 'a b c d'"));
    for (const auto& r : out) EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
  };
  const auto with_run = commands(ckpt, path("m.json"));
  EXPECT_NE(with_run[0].output.find("exact match"), std::string::npos) << with_run[0].output;
  EXPECT_NE(with_run[1].output.find("a b c\t"), std::string::npos) << with_run[1].output;
  EXPECT_NE(with_run[1].output.find("d e f g\t"), std::string::npos) << with_run[1].output;
  EXPECT_NE(with_run[2].output.find("\"logits\": [["), std::string::npos) << with_run[2].output;
  std::ifstream json(path("m.json"));
  const std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"exact_match\""), std::string::npos) << text;

  fs::create_directories(root_ / "alone");
  fs::copy_file(ckpt, root_ / "alone" / "model.pt", fs::copy_options::overwrite_existing);
  {
    const HiddenFile config(root_ / "tiny.yaml"), resolved(root_ / "runs/tiny/config.yaml"),
        train(root_ / "train.tsv");
    const auto alone = commands(path("alone/model.pt"), path("alone.json"));
    for (size_t i = 1; i < alone.size(); ++i)  // attn names the file it read
      EXPECT_EQ(std::regex_replace(alone[i].output, std::regex(path("alone/model.pt")), ckpt),
                with_run[i].output)
          << "command " << i;
    // eval's text names the checkpoint; its metrics are the same.
    std::ifstream again(path("alone.json"));
    EXPECT_EQ(
        std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()),
        text);
  }
  fs::remove_all(root_ / "alone");
  const auto listing = run("attn --no-color " + path("runs/tiny"));
  EXPECT_EQ(listing.exit_code, 0) << listing.output;
}

TEST_F(CliTest, AverageWritesACheckpointThatEvalReads) {
  const auto avg = run("average --out " + path("avg.pt") + " --last 2 " + path("runs/tiny"));
  ASSERT_EQ(avg.exit_code, 0) << avg.output;
  EXPECT_NE(avg.output.find("averaged 2 checkpoints"), std::string::npos) << avg.output;
  EXPECT_NE(avg.output.find("step_00000060.pt"), std::string::npos) << avg.output;
  const auto eval = run("eval --checkpoint " + path("avg.pt"));
  EXPECT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_EQ(run("average --out " + path("x.pt")).exit_code, 2);
  EXPECT_EQ(run("average " + path("runs/tiny/last.pt")).exit_code, 2);  // no --out
  const auto too_many = run("average --out " + path("x.pt") + " --last 9 " + path("runs/tiny"));
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_NE(too_many.output.find("fewer than --last 9"), std::string::npos) << too_many.output;
  // --alignment is for translation checkpoints.
  EXPECT_EQ(
      run("predict --alignment --checkpoint " + path("runs/tiny/best.pt") + " 'a b'").exit_code, 2);
}

TEST_F(CliTest, TranslationRunEvalPredictAndAttn) {
  const auto examples = attnlab::fixtures::tiny_translation_examples(64);
  attnlab::write_tsv(path("tr_train.tsv"), examples);
  attnlab::write_tsv(path("tr_valid.tsv"), {examples.begin(), examples.begin() + 16});
  std::ofstream(root_ / "tr.yaml")
      << "run: {name: tr, out_dir: runs, threads: 1}\n"
         "data: {task: translation, train: tr_train.tsv, valid: tr_valid.tsv,\n"
         "       test: tr_valid.tsv, tokenization: word, max_len: 16}\n"
         "model: {d_model: 32, num_heads: 2, num_layers: 2, d_ff: 64, dropout: 0.0}\n"
         "train: {batch_size: 16, max_steps: 300, warmup_steps: 20, lr: 3.0e-3,\n"
         "        eval_interval: 100, checkpoint_interval: 100}\n"
         "log: {interval: 50, attention: {enabled: true, every: 100, num_examples: 2}}\n";
  const auto trained = run("train --config " + path("tr.yaml"));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find(" bleu="), std::string::npos) << trained.output;
  const auto ckpt = path("runs/tr/best.pt");
  const auto eval = run("eval --checkpoint " + ckpt);
  EXPECT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("BLEU: nrefs:1|case:mixed|tok:13a"), std::string::npos) << eval.output;
  const auto beam = run("eval --beam 4 --checkpoint " + ckpt);
  EXPECT_EQ(beam.exit_code, 0) << beam.output;
  EXPECT_NE(beam.output.find("CTC beam 4"), std::string::npos) << beam.output;
  EXPECT_EQ(run("eval --beam 0 --checkpoint " + ckpt).exit_code, 2);
  EXPECT_EQ(run("predict --beam 2 --alignment --checkpoint " + ckpt + " 'a b'").exit_code, 2);
  // input<TAB>prediction<TAB>one token<-source[i] per predicted token.
  const auto predict = run("predict --alignment --checkpoint " + ckpt + " 'a b c c'");
  EXPECT_EQ(predict.exit_code, 0) << predict.output;
  const auto line = predict.output.substr(predict.output.rfind("a b c c\t"));
  const auto tab1 = line.find('\t'), tab2 = line.find('\t', tab1 + 1);
  ASSERT_NE(tab2, std::string::npos) << predict.output;
  const std::string prediction = line.substr(tab1 + 1, tab2 - tab1 - 1);
  const std::string pairs = line.substr(tab2 + 1);
  size_t arrows = 0;
  for (size_t at = pairs.find("<-"); at != std::string::npos; at = pairs.find("<-", at + 2))
    ++arrows;
  EXPECT_EQ(arrows, attnlab::tokenize(prediction, attnlab::Tokenization::kWord).size()) << line;
  const auto logits = run("predict --logits --checkpoint " + ckpt + " 'a b'");
  EXPECT_EQ(logits.exit_code, 0) << logits.output;
  EXPECT_NE(logits.output.find("\"outputs\": [\"\\u003cblank\\u003e\""), std::string::npos)
      << logits.output;
  const auto attn = run("attn --no-color --checkpoint " + ckpt + " 'a b c d'");
  EXPECT_EQ(attn.exit_code, 0) << attn.output;
  EXPECT_EQ(run("attn --no-color " + path("runs/tr")).exit_code, 0);
  const auto alignment = run("attn --no-color --alignment --checkpoint " + ckpt + " 'a b c c'");
  EXPECT_EQ(alignment.exit_code, 0) << alignment.output;
  EXPECT_NE(alignment.output.find("keys: 0 a 1 b 2 c 3 c"), std::string::npos) << alignment.output;
  // The alignment logged with the training record of the last step, and its absence elsewhere.
  const auto logged = run("attn --no-color --alignment --example 1 " + path("runs/tr"));
  EXPECT_EQ(logged.exit_code, 0) << logged.output;
  EXPECT_NE(logged.output.find("step 300, example 1: alignment -> \""), std::string::npos)
      << logged.output;
  const auto other = run("attn --alignment " + path("runs/tiny"));
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("holds no alignments"), std::string::npos) << other.output;
  EXPECT_EQ(run("attn --alignment --checkpoint " + path("runs/tiny/best.pt") + " 'a b'").exit_code,
            2);
  const auto html = run("attn " + path("runs/tr") + " --html " + path("tr.html"));
  EXPECT_EQ(html.exit_code, 0) << html.output;
}

// data.tokenization=sentencepiece end to end on the shipped toy pair: the model is trained at
// the start, stored in the checkpoint (Python reads it there and in spm.model), and eval and
// predict need nothing else; user errors exit 2 naming the key or file.
TEST_F(CliTest, SentencePieceTranslationKeepsItsModelInTheCheckpoint) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  const auto all = attnlab::read_tsv(std::string(ATTNLAB_SOURCE_DIR) + "/data/translate/train.tsv");
  attnlab::write_tsv(path("sp_train.tsv"), {all.begin(), all.begin() + 400});
  attnlab::write_tsv(path("sp_valid.tsv"), {all.begin() + 400, all.begin() + 440});
  std::ofstream(root_ / "sp.yaml")
      << "run: {name: sp, out_dir: runs, threads: 1}\n"
         "data: {task: translation, train: sp_train.tsv, valid: sp_valid.tsv,\n"
         "       test: sp_valid.tsv, tokenization: sentencepiece, max_len: 40,\n"
         "       spm: {vocab_size: 120, model_type: bpe}}\n"
         "model: {d_model: 32, num_heads: 2, num_layers: 1, d_ff: 64, dropout: 0.0,\n"
         "        ctc: {upsample: 3}}\n"
         "train: {batch_size: 16, max_steps: 40, warmup_steps: 5, lr: 3.0e-3,\n"
         "        eval_interval: 20, checkpoint_interval: 20}\n"
         "log: {interval: 10, attention: {enabled: true, every: 20, num_examples: 1}}\n";
  const auto trained = run("train --config " + path("sp.yaml"));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("tokenization=sentencepiece (120 pieces), trained on "),
            std::string::npos)
      << trained.output;
  const auto ckpt = path("runs/sp/last.pt");
  const auto stored = attnlab::load_checkpoint(ckpt);
  ASSERT_FALSE(stored.spm_model.empty());
  EXPECT_EQ(stored.spm_model, attnlab::test::read_text(path("runs/sp/spm.model")));
  EXPECT_NE(std::find(stored.src_vocab.begin(), stored.src_vocab.end(), "▁big"),
            stored.src_vocab.end())
      << "the vocabulary holds pieces";

  if (attnlab::test::python_has("sentencepiece") && attnlab::test::python_has("torch")) {
    attnlab::test::ScratchDir dir;
    const auto py = attnlab::test::run_python(
        dir,
        "import torch, sentencepiece as spm\n"
        "d = torch.load('" +
            ckpt +
            "')\n"
            "sp = spm.SentencePieceProcessor(model_proto=d['spm_model'].numpy().tobytes())\n"
            "same = open('" +
            path("runs/sp/spm.model") +
            "', 'rb').read() == d['spm_model'].numpy().tobytes()\n"
            "print('pieces', sp.get_piece_size(), 'same', same, '|'.join(sp.encode('the big "
            "stone', out_type=str)))\n");
    ASSERT_EQ(py.rc, 0) << py.out;
    EXPECT_NE(py.out.find("pieces 120 same True ▁the|▁big|"), std::string::npos) << py.out;
  }

  // The checkpoint alone: the training split (SentencePiece's input) is gone.
  fs::rename(path("sp_train.tsv"), path("sp_train.moved"));
  fs::rename(path("runs/sp/spm.model"), path("runs/sp/spm.moved"));
  const auto eval = run("eval --checkpoint " + ckpt);
  EXPECT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("the model's tokenization: sentencepiece (120 pieces)"),
            std::string::npos)
      << eval.output;
  const auto predict =
      run("predict --alignment --checkpoint " + ckpt + " 'the big stone finds the girl'");
  EXPECT_EQ(predict.exit_code, 0) << predict.output;
  const auto line = predict.output.substr(predict.output.rfind("the big stone finds the girl\t"));
  EXPECT_EQ(line.find("▁"), std::string::npos) << "predictions are decoded to text: " << line;
  const auto attn = run("attn --no-color --checkpoint " + ckpt + " 'the big stone'");
  EXPECT_EQ(attn.exit_code, 0) << attn.output;
  EXPECT_NE(attn.output.find("▁the ▁big"), std::string::npos) << attn.output;
  fs::rename(path("sp_train.moved"), path("sp_train.tsv"));
  fs::rename(path("runs/sp/spm.moved"), path("runs/sp/spm.model"));

  // A given model file: the same pieces, so the same vocabulary.
  const auto given =
      run("train --config " + path("sp.yaml") + " --set run.name=sp_given --set train.max_steps=5" +
          " --set train.warmup_steps=1" + " --set data.spm.model=runs/sp/spm.model");
  ASSERT_EQ(given.exit_code, 0) << given.output;
  EXPECT_NE(given.output.find("tokenization=sentencepiece (120 pieces), from "), std::string::npos)
      << given.output;
  EXPECT_EQ(attnlab::load_checkpoint(path("runs/sp_given/last.pt")).src_vocab, stored.src_vocab);

  const auto too_many = run("train --config " + path("sp.yaml") +
                            " --set run.name=sp_big --set data.spm.vocab_size=100000");
  EXPECT_EQ(too_many.exit_code, 2) << too_many.output;
  EXPECT_NE(too_many.output.find(
                "sp_train.tsv: SentencePiece training failed: Vocabulary size too high (100000)"),
            std::string::npos)
      << too_many.output;
  const auto missing = run("train --config " + path("sp.yaml") +
                           " --set run.name=sp_missing --set data.spm.model=nope.model");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("data.spm.model: cannot read " + path("nope.model")),
            std::string::npos)
      << missing.output;
  std::ofstream(path("bad.model")) << "not a model";
  const auto bad = run("train --config " + path("sp.yaml") +
                       " --set run.name=sp_bad --set data.spm.model=bad.model");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("bad.model: not a SentencePiece model"), std::string::npos)
      << bad.output;
}

// Starts `attnlab train ARGS...` as a child process whose output goes to `log`; returns its pid.
pid_t start_train(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv = {ATTNLAB_BINARY, "train"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    if (!::freopen(log.c_str(), "w", stdout)) ::_exit(126);
    ::dup2(::fileno(stdout), STDERR_FILENO);
    ::execv(ATTNLAB_BINARY, c_argv.data());
    ::_exit(127);
  }
  return child;
}

int exit_code_of(pid_t child) {
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A run holds a lock on its directory (io/directory_lock.h) from start to end: a second train
// into it, even with --overwrite, exits 2 naming the holder's pid and touches nothing.
TEST_F(CliTest, ASecondTrainIntoABusyRunDirectoryExitsTwoNamingTheHolder) {
  const fs::path run_dir = root_ / "runs" / "busy";
  const auto first =
      run("train --config " + path("tiny.yaml") +
          " --set run.name=busy --set train.max_steps=20 --set log.attention.enabled=false");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto last = (run_dir / "last.pt").string();
  // The holder: that run resumed for (nearly) ever.
  const auto holder_log = root_ / "busy_holder.log";
  const pid_t holder = start_train({"--resume", last, "--set", "train.max_steps=100000", "--set",
                                    "train.checkpoint_interval=100000"},
                                   holder_log);
  ASSERT_GT(holder, 0);
  for (int i = 0; i < 600; ++i) {
    if (attnlab::test::read_text(holder_log.string()).find("[train] steps=") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string in_use = run_dir.string() + " is in use by another attnlab process (pid " +
                             std::to_string(holder) + " on ";
  const auto second =
      run("train --config " + path("tiny.yaml") + " --set run.name=busy --overwrite");
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_NE(second.output.find(in_use), std::string::npos) << second.output;
  const auto resume = run("train --resume " + last);
  EXPECT_EQ(resume.exit_code, 2) << resume.output;
  EXPECT_NE(resume.output.find(in_use), std::string::npos) << resume.output;
  ::kill(holder, SIGINT);
  EXPECT_EQ(exit_code_of(holder), 0) << attnlab::test::read_text(holder_log.string());
  EXPECT_TRUE(
      fs::exists(run_dir / "step_00000020.pt"));  // --overwrite deleted nothing while refused
  EXPECT_GT(attnlab::load_checkpoint(last).state.step, 20);
}

// The race the lock closes: two trains started at the same moment into one new run directory.
// Exactly one runs; the other exits 2 (the directory is in use, or, when the first has already
// finished, already holds a run). Before the lock both could pass the existence check and
// write over each other.
TEST_F(CliTest, SimultaneousTrainsIntoOneRunDirectoryLeaveOneRun) {
  for (int round = 0; round < 4; ++round) {
    const std::string name = "race" + std::to_string(round);
    const std::vector<std::string> args = {"--config", path("tiny.yaml"),
                                           "--set",    "run.name=" + name,
                                           "--set",    "log.attention.enabled=false"};
    const pid_t a = start_train(args, root_ / (name + "_a.log"));
    const pid_t b = start_train(args, root_ / (name + "_b.log"));
    const int code_a = exit_code_of(a), code_b = exit_code_of(b);
    const auto logs = attnlab::test::read_text((root_ / (name + "_a.log")).string()) + "\n----\n" +
                      attnlab::test::read_text((root_ / (name + "_b.log")).string());
    EXPECT_EQ(std::min(code_a, code_b), 0) << logs;
    EXPECT_EQ(std::max(code_a, code_b), 2) << logs;
    EXPECT_EQ(attnlab::load_checkpoint((root_ / "runs" / name / "last.pt").string()).state.step,
              60);
  }
}

// A kill during a save leaves ".<name>.tmp.<pid>"; the next run in that directory removes the
// ones whose process is gone (here: a pid that exited) and says so, and keeps a live one's.
TEST_F(CliTest, TheNextRunRemovesTemporaryFilesOfKilledSaves) {
  const fs::path run_dir = root_ / "runs" / "stale";
  const auto first =
      run("train --config " + path("tiny.yaml") + " --set run.name=stale --set train.max_steps=20");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  exit_code_of(gone);
  const std::vector<fs::path> stale = {
      run_dir / (".last.pt.tmp." + std::to_string(gone)),
      run_dir / "attention" / (".step_00000020.pt.tmp." + std::to_string(gone))};
  const fs::path live = run_dir / (".best.pt.tmp." + std::to_string(::getpid()));
  for (const auto& f : stale) attnlab::test::write_text(f.string(), "torn");
  attnlab::test::write_text(live.string(), "a save of a process that still runs");
  const auto resumed =
      run("train --resume " + (run_dir / "last.pt").string() + " --set train.max_steps=25");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  for (const auto& f : stale) {
    EXPECT_FALSE(fs::exists(f)) << f;
    EXPECT_NE(
        resumed.output.find("removed " + f.string() + ", left by a save that was interrupted"),
        std::string::npos)
        << resumed.output;
  }
  EXPECT_TRUE(fs::exists(live));
}

TEST_F(CliTest, BrokenCheckpointsExitTwoNamingTheFile) {
  EXPECT_EQ(run("eval --checkpoint " + path("nope.pt")).exit_code, 2);
  std::ofstream(path("text.pt")) << "not a checkpoint";
  const auto r = run("eval --checkpoint " + path("text.pt"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("text.pt"), std::string::npos) << r.output;
  // Truncated copy of a real checkpoint.
  const auto size = fs::file_size(root_ / "runs" / "tiny" / "last.pt");
  fs::copy_file(root_ / "runs" / "tiny" / "last.pt", root_ / "cut.pt");
  fs::resize_file(root_ / "cut.pt", size / 2);
  const auto cut = run("predict --checkpoint " + path("cut.pt") + " 'a b'");
  EXPECT_EQ(cut.exit_code, 2) << cut.output;
  EXPECT_NE(cut.output.find("cut.pt"), std::string::npos) << cut.output;
}

TEST_F(CliTest, SigintFinishesTheStepSavesAndExitsZero) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::freopen("/dev/null", "w", stdout);
    ::freopen("/dev/null", "w", stderr);
    ::execl(ATTNLAB_BINARY, ATTNLAB_BINARY, "train", "--config", path("tiny.yaml").c_str(), "--set",
            "run.name=interrupted", "--set", "train.max_steps=100000", "--set",
            "train.eval_interval=100000", "--set", "train.checkpoint_interval=100000", "--set",
            "log.attention.enabled=false", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto metrics = root_ / "runs" / "interrupted" / "metrics.jsonl";
  for (int i = 0; i < 600 && (!fs::exists(metrics) || fs::file_size(metrics) == 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(metrics));
  ::kill(child, SIGINT);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const auto last = attnlab::load_checkpoint((root_ / "runs" / "interrupted" / "last.pt").string());
  EXPECT_GT(last.state.step, 0);
  EXPECT_LT(last.state.step, 100000);
  // And it resumes.
  const auto resumed =
      run("train --resume " + (root_ / "runs" / "interrupted" / "last.pt").string() +
          " --set train.max_steps=" + std::to_string(last.state.step + 5));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(
      attnlab::load_checkpoint((root_ / "runs" / "interrupted" / "last.pt").string()).state.step,
      last.state.step + 5);
}

}  // namespace

namespace {

// Issue 15's reproduction as a test: SIGTERM at spread-out moments of an fp32 run of the
// shipped reverse config without attention logging (the configuration that aborted 4 rounds
// in 10 with "corrupted size vs. prev_size"). Every round must exit 0 with a loadable last.pt
// and nothing from glibc's heap checks in its output.
TEST(SigtermRounds, TrainingStopsCleanlyWheneverTheSignalComes) {
  const fs::path root =
      fs::temp_directory_path() / ("attnlab_sigterm_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string config = std::string(ATTNLAB_SOURCE_DIR) + "/configs/reverse.yaml";
  constexpr int kRounds = 6;
  for (int round = 0; round < kRounds; ++round) {
    const auto log = root / ("round" + std::to_string(round) + ".log");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::freopen(log.c_str(), "w", stdout);
      ::dup2(::fileno(stdout), STDERR_FILENO);
      const std::string out_dir = "run.out_dir=" + root.string();
      ::execl(ATTNLAB_BINARY, ATTNLAB_BINARY, "train", "--config", config.c_str(), "--set",
              out_dir.c_str(), "--set", "train.max_steps=600", "--set", "train.warmup_steps=10",
              "--set", "train.precision=fp32", "--set", "log.attention.enabled=false", "--set",
              "log.progress=false", "--set", "run.threads=2", "--overwrite",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait until training has begun (the step count line), then 0.3 .. 2.8 s more.
    for (int i = 0; i < 600; ++i) {
      std::ifstream in(log);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      if (text.find("[train] steps=") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 500 * round));
    ::kill(child, SIGTERM);
    int status = 0;
    ::waitpid(child, &status, 0);
    std::ifstream in(log);
    const std::string output((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    ASSERT_TRUE(WIFEXITED(status)) << "round " << round << " died of signal "
                                   << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ":\n"
                                   << output;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "round " << round << ":\n" << output;
    for (const char* glibc : {"corrupted", "free()", "double free", "malloc"})
      EXPECT_EQ(output.find(glibc), std::string::npos) << "round " << round << ":\n" << output;
    const auto last = attnlab::load_checkpoint((root / "reverse" / "last.pt").string());
    EXPECT_GT(last.state.step, 0) << "round " << round;
  }
  fs::remove_all(root);
}

}  // namespace

namespace {

std::vector<double> numbers_after(const std::string& text, const std::string& key) {
  std::vector<double> values;
  const auto at = text.find(key);
  if (at == std::string::npos) return values;
  static const std::regex number(R"(-?\d+(\.\d+)?([eE][-+]?\d+)?)");
  const std::string tail = text.substr(at + key.size());
  for (std::sregex_iterator it(tail.begin(), tail.end(), number), end; it != end; ++it)
    values.push_back(std::stod(it->str()));
  return values;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

TEST_F(CliTest, PrecisionAutoFollowsTheCpuAndTheOneDnnCap) {
  if (std::getenv("ONEDNN_MAX_CPU_ISA")) GTEST_SKIP() << "ONEDNN_MAX_CPU_ISA is set for the tests";
  const std::string base = "train --config " + path("tiny.yaml") +
                           " --set train.max_steps=6 --set train.eval_interval=6 --overwrite" +
                           " --set log.attention.enabled=false --set train.precision=";
  // Uncapped: what /proc/cpuinfo says the CPU can do.
  const auto native = run(base + "auto --set run.name=auto_native");
  ASSERT_EQ(native.exit_code, 0) << native.output;
  const bool bf16 = attnlab::test::cpuinfo_has_native_bf16();
  attnlab::test::expect_contains(native.output,
                                 bf16 ? "precision=bf16 (auto: native bf16 matmuls on this CPU"
                                      : "precision=fp32 (auto: no native bf16 on this CPU");

  // Capped at AVX512_CORE (no bf16), as on an Intel Xeon before Cooper Lake: fp32, recorded in
  // the run's config.yaml and in the checkpoint.
  const std::string cap = "ONEDNN_MAX_CPU_ISA=AVX512_CORE ";
  const auto capped = run(base + "auto --set run.name=auto_capped", cap);
  ASSERT_EQ(capped.exit_code, 0) << capped.output;
  attnlab::test::expect_contains(
      capped.output, "precision=fp32 (auto: no native bf16 on this CPU (oneDNN ISA avx512_core))");
  attnlab::test::expect_contains(attnlab::test::read_text(path("runs/auto_capped/config.yaml")),
                                 "  precision: fp32\n");
  attnlab::test::expect_contains(
      attnlab::load_checkpoint(path("runs/auto_capped/last.pt")).config_yaml,
      "  precision: fp32\n");

  // An explicit bf16 on that CPU still runs, with a warning.
  const auto explicit_bf16 = run(base + "bf16 --set run.name=bf16_capped", cap);
  ASSERT_EQ(explicit_bf16.exit_code, 0) << explicit_bf16.output;
  attnlab::test::expect_contains(explicit_bf16.output, "precision=bf16 (set explicitly)");
  attnlab::test::expect_contains(explicit_bf16.output, "slower than fp32");

  // eval and predict run the precision the checkpoint was trained in, on any CPU; --precision
  // auto picks again for the CPU they run on.
  const auto eval_native = run("eval --checkpoint " + path("runs/auto_capped/last.pt"));
  ASSERT_EQ(eval_native.exit_code, 0) << eval_native.output;
  attnlab::test::expect_contains(eval_native.output, "precision fp32 (as trained)");
  const auto eval_auto =
      run("eval --precision auto --checkpoint " + path("runs/auto_capped/last.pt"));
  ASSERT_EQ(eval_auto.exit_code, 0) << eval_auto.output;
  attnlab::test::expect_contains(eval_auto.output, bf16 ? "precision bf16 (trained in another)"
                                                        : "precision fp32 (as trained)");
  const auto eval_capped = run("eval --checkpoint " + path("runs/auto_native/last.pt"), cap);
  ASSERT_EQ(eval_capped.exit_code, 0) << eval_capped.output;
  attnlab::test::expect_contains(
      eval_capped.output, bf16 ? "precision bf16 (as trained)" : "precision fp32 (as trained)");
  const auto eval_capped_auto =
      run("eval --precision auto --checkpoint " + path("runs/auto_native/last.pt"), cap);
  ASSERT_EQ(eval_capped_auto.exit_code, 0) << eval_capped_auto.output;
  attnlab::test::expect_contains(eval_capped_auto.output, "precision fp32");
  EXPECT_EQ(
      run("predict --precision fp16 --checkpoint " + path("runs/auto_native/last.pt") + " 'a b'")
          .exit_code,
      2);
}

}  // namespace

// Checkpoints written by attnlab before issue 11's restructuring (fp32, 2 layers, d_model 32;
// tests/fixtures/README.md says how they were made) load and predict what that build printed.
TEST(OldCheckpoints, LoadAndPredictWhatTheBuildThatWroteThemPrinted) {
  const fs::path fixtures = fs::path(ATTNLAB_SOURCE_DIR) / "tests" / "fixtures";
  for (const std::string name : {"reverse_before_issue11", "classify_before_issue11"}) {
    SCOPED_TRACE(name);
    const auto predicted = run("predict --threads 1 --precision fp32 --logits --checkpoint " +
                               (fixtures / (name + ".pt")).string() + " < " +
                               (fixtures / (name + ".inputs.txt")).string());
    ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
    const auto got = lines_of(predicted.output);
    const auto want =
        lines_of(attnlab::test::read_text((fixtures / (name + ".logits.jsonl")).string()));
    ASSERT_EQ(want.size(), 3u);
    ASSERT_EQ(got.size(), want.size()) << predicted.output;
    for (size_t i = 0; i < want.size(); ++i) {
      const auto prediction = [](const std::string& line) {
        return line.substr(line.find("\"prediction\""),
                           line.find("\"outputs\"") - line.find("\"prediction\""));
      };
      EXPECT_EQ(prediction(got[i]), prediction(want[i]));
      const auto got_logits = numbers_after(got[i], "\"logits\"");
      const auto want_logits = numbers_after(want[i], "\"logits\"");
      ASSERT_EQ(got_logits.size(), want_logits.size());
      ASSERT_GE(want_logits.size(), 3u);
      for (size_t k = 0; k < want_logits.size(); ++k)
        EXPECT_NEAR(got_logits[k], want_logits[k], 1e-4) << "line " << i << " logit " << k;
    }
    const auto evaluated =
        run("eval --threads 1 --checkpoint " + (fixtures / (name + ".pt")).string() + " --data " +
            (fs::path(ATTNLAB_SOURCE_DIR) / "data" / (name.substr(0, name.find('_'))) / "valid.tsv")
                .string());
    EXPECT_EQ(evaluated.exit_code, 0) << evaluated.output;
  }
}
