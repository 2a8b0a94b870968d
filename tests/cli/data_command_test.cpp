#include "cli/data_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "data/tsv.h"

namespace attnlab::cli {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

std::string usage_error(const Args& args) {
  std::ostringstream out;
  try {
    data_command(args, out);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(DataCommandTest, HelpPrintsUsage) {
  testing::internal::CaptureStdout();
  std::ostringstream out;
  EXPECT_EQ(data_command({"--help"}, out), kExitOk);
  const std::string help = testing::internal::GetCapturedStdout();
  EXPECT_NE(help.find("attnlab data --dataset NAME --out DIR"), std::string::npos) << help;
  EXPECT_NE(help.find("classify, reverse, translate"), std::string::npos) << help;
  EXPECT_EQ(help, data_usage());
}

TEST(DataCommandTest, BadUsageThrowsUsageError) {
  EXPECT_EQ(usage_error({"--dataset", "reverse", "--out", "x", "--bogus", "1"}),
            "unknown option --bogus");
  EXPECT_EQ(usage_error({"--out", "x"}),
            "--dataset is required (one of: classify, reverse, translate)");
  EXPECT_EQ(usage_error({"--dataset", "reverse"}), "--out is required");
  EXPECT_EQ(usage_error({"--dataset", "sort", "--out", "x"}),
            "unknown dataset 'sort'; known datasets: classify, reverse, translate");
  EXPECT_EQ(usage_error({"--dataset", "reverse", "--out", "x", "--seed"}), "--seed needs a value");
  EXPECT_EQ(usage_error({"--dataset", "reverse", "--out", "x", "--train", "-5"}),
            "--train expects a whole number, got '-5'");
  EXPECT_EQ(usage_error({"--dataset", "reverse", "--out", "x", "--test", "0"}),
            "--test expects a whole number >= 1, got 0");
  EXPECT_EQ(usage_error({"--dataset", "reverse", "--task", "classify", "--out", "x"}),
            "give --dataset, not also --task (its old name)");
  EXPECT_EQ(usage_error({"--dataset", "reverse", "--out", "x", "--valid", "1e3"}),
            "--valid expects a whole number, got '1e3'");
}

// --task, the old name of --dataset, still works and says so on stderr.
TEST(DataCommandTest, TheOldTaskSpellingWorksWithAWarning) {
  const fs::path dir =
      fs::temp_directory_path() / ("attnlab_data_old_" + std::to_string(::getpid()));
  std::ostringstream out;
  testing::internal::CaptureStderr();
  ASSERT_EQ(data_command({"--task", "reverse", "--out", dir.string(), "--train", "5", "--valid",
                          "2", "--test", "2"},
                         out),
            kExitOk);
  const std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("--task is the old name of --dataset"), std::string::npos) << warning;
  EXPECT_EQ(read_tsv((dir / "train.tsv").string()).size(), 5u);
  EXPECT_NE(out.str().find("[data] dataset=reverse seed=1"), std::string::npos) << out.str();
  fs::remove_all(dir);
}

TEST(DataCommandTest, WritesTheSplits) {
  const fs::path dir =
      fs::temp_directory_path() / ("attnlab_data_cmd_" + std::to_string(::getpid()));
  std::ostringstream out;
  ASSERT_EQ(data_command({"--dataset", "translate", "--out", dir.string(), "--seed=5", "--train",
                          "12", "--valid", "3", "--test", "4"},
                         out),
            kExitOk);
  EXPECT_EQ(read_tsv((dir / "train.tsv").string()).size(), 12u);
  EXPECT_EQ(read_tsv((dir / "valid.tsv").string()).size(), 3u);
  EXPECT_EQ(read_tsv((dir / "test.tsv").string()).size(), 4u);
  const std::string printed = out.str();
  EXPECT_NE(printed.find("[data] dataset=translate seed=5"), std::string::npos) << printed;
  EXPECT_NE(printed.find((dir / "train.tsv").string() + " (12 examples)"), std::string::npos)
      << printed;
  EXPECT_NE(printed.find("sources shared with train: valid=0 test=0"), std::string::npos)
      << printed;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attnlab::cli
