// The tiny JSON writer: escaping and non-finite numbers, checked by hand and with Python's json.
#include "io/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/train_helpers.h"

namespace attnlab {
namespace {

TEST(Json, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(json_string("C:\\path\\"), "\"C:\\\\path\\\\\"");
  EXPECT_EQ(json_string("a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
  EXPECT_EQ(json_string(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(json_string(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(json_string("\b\f"), "\"\\u0008\\u000c\"");
  EXPECT_EQ(json_string("é→"), "\"é→\"");  // UTF-8 passes through unchanged
  EXPECT_EQ(json_string("\x7f"), "\"\\u007f\"");
  // HTML-safe, so the JSON can sit inside a <script> element.
  EXPECT_EQ(json_string("</script>&"), "\"\\u003c/script\\u003e\\u0026\"");
}

TEST(Json, NonFiniteNumbersBecomeNull) {
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(-std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(0.0), "0");
  EXPECT_EQ(json_number(0.5), "0.5");
  EXPECT_EQ(json_number(-3.0), "-3");
  EXPECT_EQ(json_number(1e-5), "1e-05");
  EXPECT_DOUBLE_EQ(std::stod(json_number(0.1234567891)), 0.1234567891);
}

TEST(Json, WriterBuildsAnObject) {
  const auto s = JsonWriter()
                     .field("name", std::string("x\"y"))
                     .field("c", "lit")
                     .field("loss", 0.25)
                     .field("nan", std::nan(""))
                     .field("steps", int64_t{1} << 40)
                     .field("n", 3)
                     .field("ok", true)
                     .field("bad", false)
                     .raw("list", "[1, 2]")
                     .str();
  EXPECT_EQ(s,
            "{\"name\": \"x\\\"y\", \"c\": \"lit\", \"loss\": 0.25, \"nan\": null, "
            "\"steps\": 1099511627776, \"n\": 3, \"ok\": true, \"bad\": false, "
            "\"list\": [1, 2]}");
  EXPECT_EQ(JsonWriter().str(), "{}");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join({}, ","), "");
}

TEST(Json, PythonParsesEveryEscapedByte) {
  if (!test::python_has("json")) GTEST_SKIP() << "python3 not available";
  test::ScratchDir dir;
  std::string all;  // every byte 1..127 plus some UTF-8
  for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
  all += "é中";
  test::write_text(dir.file("out.json"),
                   JsonWriter().field("s", all).field("x", std::nan("")).str());
  test::write_text(dir.file("expected.txt"), all);
  test::write_text(dir.file("check.py"), R"(import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
expected = open(sys.argv[2], encoding="utf-8", newline="").read()
print("same=" + str(d["s"] == expected))
print("x=" + str(d["x"]))
)");
  bool ok = false;
  const auto out = test::run_python(dir.file("check.py"),
                                    dir.file("out.json") + " " + dir.file("expected.txt"), ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_EQ(test::line_value(out, "same"), "True");
  EXPECT_EQ(test::line_value(out, "x"), "None");
}

}  // namespace
}  // namespace attnlab
