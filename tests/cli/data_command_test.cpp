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
  std::ostringstream out;
  EXPECT_EQ(data_command({"--help"}, out), kExitOk);
  EXPECT_NE(out.str().find("usage: attnlab data --task NAME --out DIR"), std::string::npos);
  EXPECT_NE(out.str().find("classify, reverse, translate"), std::string::npos);
}

TEST(DataCommandTest, BadUsageThrowsUsageError) {
  EXPECT_EQ(usage_error({"--task", "reverse", "--out", "x", "--bogus", "1"}),
            "data: unknown option '--bogus'");
  EXPECT_EQ(usage_error({"--out", "x"}),
            "data: --task is required (one of: classify, reverse, translate)");
  EXPECT_EQ(usage_error({"--task", "reverse"}), "data: --out is required");
  EXPECT_EQ(usage_error({"--task", "sort", "--out", "x"}),
            "data: unknown task 'sort'; known tasks: classify, reverse, translate");
  EXPECT_EQ(usage_error({"--task", "reverse", "--out", "x", "--seed"}),
            "data: --seed needs a value");
  EXPECT_EQ(usage_error({"--task", "reverse", "--out", "x", "--train", "-5"}),
            "data: --train expects a whole number, got '-5'");
  EXPECT_EQ(usage_error({"--task", "reverse", "--out", "x", "--test", "0"}),
            "data: --test expects a whole number >= 1, got 0");
  EXPECT_EQ(usage_error({"--task", "reverse", "--task", "classify", "--out", "x"}),
            "data: --task given twice");
  EXPECT_EQ(usage_error({"--task", "reverse", "--out", "x", "--valid", "1e3"}),
            "data: --valid expects a whole number, got '1e3'");
}

TEST(DataCommandTest, WritesTheSplits) {
  const fs::path dir =
      fs::temp_directory_path() / ("attnlab_data_cmd_" + std::to_string(::getpid()));
  std::ostringstream out;
  ASSERT_EQ(data_command({"--task", "translate", "--out", dir.string(), "--seed=5", "--train", "12",
                          "--valid", "3", "--test", "4"},
                         out),
            kExitOk);
  EXPECT_EQ(read_tsv((dir / "train.tsv").string()).size(), 12u);
  EXPECT_EQ(read_tsv((dir / "valid.tsv").string()).size(), 3u);
  EXPECT_EQ(read_tsv((dir / "test.tsv").string()).size(), 4u);
  const std::string printed = out.str();
  EXPECT_NE(printed.find("[data] task=translate seed=5"), std::string::npos) << printed;
  EXPECT_NE(printed.find((dir / "train.tsv").string() + " (12 examples)"), std::string::npos)
      << printed;
  EXPECT_NE(printed.find("sources shared with train: valid=0 test=0"), std::string::npos)
      << printed;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attnlab::cli
