#include "attention_log/html_report.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <filesystem>
#include <string>

#include "attention_log/image_attention.h"
#include "io/json.h"
#include "support/attention_helpers.h"

namespace attnlab {
namespace {

using test::ScratchDir;

constexpr const char* kChromium = "/usr/bin/chromium";

// Three steps, 2 layers x 3 heads, two examples; tokens that would break naive escaping.
std::vector<AttentionRecord> report_records() {
  std::vector<AttentionRecord> records;
  for (int64_t step : {0, 500, 1000}) {
    auto r = test::make_record(step, /*num_layers=*/2, /*heads=*/3,
                               /*seed=*/static_cast<uint64_t>(step) + 1);
    r.tokens[0] = {"</script>", "<b>&amp;", "\"q\""};
    records.push_back(r);
  }
  return records;
}

std::string chromium_command(const ScratchDir& dir, const std::string& what,
                             const std::string& url) {
  return "timeout 60 " + std::string(kChromium) +
         " --headless --no-sandbox --disable-gpu --disable-background-networking"
         " --disable-component-update --disable-sync --no-first-run --hide-scrollbars"
         " --user-data-dir=" +
         dir.file("profile") + " --enable-logging=stderr --v=0 --window-size=1200,900 " + what +
         " '" + url + "' 2>" + dir.file("chromium.log");
}

TEST(HtmlReport, JsonStringEscapes) {
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("</script>&"), "\"\\u003c/script\\u003e\\u0026\"");
  EXPECT_EQ(json_string(std::string("\n\x01", 2)), "\"\\n\\u0001\"");
  EXPECT_EQ(json_string("é→"), "\"é→\"");
}

TEST(HtmlReport, SelfContainedWithRoundedWeights) {
  auto r = test::make_record(7, /*num_layers=*/1, /*heads=*/1);
  r.layers[0].zero_();
  r.layers[0][1][0] =
      torch::tensor({0.12345f, 0.87655f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}).view({3, 3});
  r.layers[0][0][0] = torch::eye(3);
  HtmlOptions options;
  options.title = "run <x>";
  const auto html = render_html({r}, options);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_NE(html.find("<title>run &lt;x&gt;</title>"), std::string::npos);
  // Example 1 has length 2: its 2x2 block, weights x 1000 rounded, row-major.
  EXPECT_NE(html.find("[[[1000,0,0,0,1000,0,0,0,1000],[123,877,1000,0]]]"), std::string::npos);
  options.decimals = 4;
  EXPECT_NE(render_html({r}, options).find("[1235,8766,10000,0]"), std::string::npos);
  // Thinning keeps the first and last step.
  std::vector<AttentionRecord> many;
  for (int64_t s = 0; s < 10; ++s) many.push_back(test::make_record(s * 10, 1, 1));
  options.max_steps = 3;
  const auto thin = render_html(many, options);
  EXPECT_NE(thin.find("{\"step\":0,"), std::string::npos);
  EXPECT_NE(thin.find("{\"step\":50,"), std::string::npos);
  EXPECT_NE(thin.find("{\"step\":90,"), std::string::npos);
  EXPECT_EQ(thin.find("{\"step\":10,"), std::string::npos);
  // Alignments: per example source, outputs, positions and the (J*S) weights x 1000.
  const auto aligned = render_html({test::make_translation_record(3)}, HtmlOptions{});
  EXPECT_NE(aligned.find(
                "\"align\":[{\"src\":[\"the\",\"cat\",\"sat\"],\"out\":[\"gato\",\"sidis\"],"
                "\"pos\":[1,4],\"w\":[200,700,100,0,250,750]},{\"src\":[\"a\",\"dog\"],\"out\":[],"
                "\"pos\":[],\"w\":[]}]"),
            std::string::npos);
}

TEST(HtmlReport, RendersInHeadlessChromiumWithoutErrors) {
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is not installed";
  ScratchDir dir;
  const auto page = dir.file("report.html");
  HtmlOptions options;
  options.title = "synthetic run";
  test::write_text(page, render_html(report_records(), options));

  // 1. The DOM after load, with the self-test walking every control (steps, layers, heads,
  //    examples, average toggle, grid clicks, hover).
  const auto dom =
      test::run_shell(chromium_command(dir, "--dump-dom", "file://" + page + "#selftest"));
  const auto log = test::read_text(dir.file("chromium.log"));
  ASSERT_EQ(dom.rc, 0) << log;
  // The page reports through attributes of <body> (the script's own text names them too).
  const auto body_at = dom.out.find("<body");
  ASSERT_NE(body_at, std::string::npos) << dom.out.substr(0, 2000) << log;
  const auto body = dom.out.substr(body_at, dom.out.find('>', body_at) - body_at + 1);
  EXPECT_NE(body.find("data-rendered=\"ok\""), std::string::npos) << body << log;
  EXPECT_NE(body.find("data-selftest=\"ok\""), std::string::npos) << body << log;
  EXPECT_EQ(body.find("data-error"), std::string::npos) << body;
  EXPECT_EQ(log.find("Uncaught"), std::string::npos) << log;
  EXPECT_EQ(log.find("CONSOLE"), std::string::npos) << log;
  // Tokens arrive intact (escaped in the JSON, unescaped by the browser into the picker).
  EXPECT_NE(dom.out.find("&lt;/script&gt; &lt;b&gt;&amp;amp;"), std::string::npos);
  EXPECT_EQ(body.find("data-alignment"), std::string::npos) << "no translation, no alignment panel";

  // A translation log: the alignment panel is drawn at every step (one with no output yet).
  const auto translation_page = dir.file("translation.html");
  test::write_text(
      translation_page,
      render_html({test::make_translation_record(10), test::make_translation_record(20)}, options));
  const auto tdom = test::run_shell(
      chromium_command(dir, "--dump-dom", "file://" + translation_page + "#selftest"));
  const auto tbody_at = tdom.out.find("<body");
  ASSERT_NE(tbody_at, std::string::npos) << tdom.out.substr(0, 2000);
  const auto tbody = tdom.out.substr(tbody_at, tdom.out.find('>', tbody_at) - tbody_at + 1);
  EXPECT_NE(tbody.find("data-selftest=\"ok\""), std::string::npos) << tbody;
  EXPECT_NE(tbody.find("data-alignment=\"ok\""), std::string::npos) << tbody;
  EXPECT_EQ(tbody.find("data-error"), std::string::npos) << tbody;

  // Image records: the picture with the attention over it, checked against attnlab's own
  // overlay (overlay_rgb, tested on a synthetic bright patch) at the centre of every patch.
  const auto image_page = dir.file("images.html");
  const auto image_records =
      std::vector<AttentionRecord>{test::make_image_record(10), test::make_image_record(20)};
  test::write_text(image_page, render_html(image_records, options));
  const auto idom =
      test::run_shell(chromium_command(dir, "--dump-dom", "file://" + image_page + "#selftest"));
  const auto ibody_at = idom.out.find("<body");
  ASSERT_NE(ibody_at, std::string::npos) << idom.out.substr(0, 2000);
  const auto ibody = idom.out.substr(ibody_at, idom.out.find('>', ibody_at) - ibody_at + 1);
  EXPECT_NE(ibody.find("data-selftest=\"ok\""), std::string::npos)
      << ibody << test::read_text(dir.file("chromium.log"));
  EXPECT_NE(ibody.find("data-image=\"ok\""), std::string::npos) << ibody;
  EXPECT_EQ(ibody.find("data-error"), std::string::npos) << ibody;
  const auto overlay_at = ibody.find("data-overlay=\"");
  ASSERT_NE(overlay_at, std::string::npos) << ibody;
  std::vector<int> drawn;  // [[r,g,b],...] of the 2x3 patch centres, row by row
  for (size_t i = overlay_at + 14; i < ibody.size() && ibody[i] != '"'; ++i)
    if (std::isdigit(static_cast<unsigned char>(ibody[i]))) {
      drawn.push_back(std::stoi(ibody.substr(i)));
      while (i + 1 < ibody.size() && std::isdigit(static_cast<unsigned char>(ibody[i + 1]))) ++i;
    }
  ASSERT_EQ(drawn.size(), 18u) << ibody;
  // The first view: the last step, layer 0, head 0, example 0, the <cls> row; 320 / 6 = 53x.
  const auto& shown = image_records.back();
  const auto grid = patch_grid(example_weights(shown, 0, 0, 0), 0, 2, 3);
  const int64_t scale = 53;
  const auto reference = overlay_rgb(shown.images.pixels[0], grid, scale);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 3; ++c) {
      const int64_t x = (2 * c + 1) * scale, y = (2 * r + 1) * scale;  // (c + 0.5) * patch * scale
      for (int64_t k = 0; k < 3; ++k)
        EXPECT_NEAR(drawn[static_cast<size_t>((r * 3 + c) * 3 + k)],
                    reference[static_cast<size_t>((y * 6 * scale + x) * 3 + k)], 8)
            << "patch r" << r << "c" << c << " channel " << k;
    }

  // 2. A screenshot that is not blank: many distinct colours, a good share of non-white pixels.
  const auto shot = dir.file("shot.png");
  const auto result =
      test::run_shell(chromium_command(dir, "--screenshot=" + shot, "file://" + page));
  ASSERT_EQ(result.rc, 0) << test::read_text(dir.file("chromium.log"));
  ASSERT_TRUE(std::filesystem::exists(shot));
  if (!test::python_has("zlib")) GTEST_SKIP() << "no /usr/bin/python3 to decode the screenshot";
  const auto stats = test::run_python(dir, R"PY(
import struct, zlib
data = open(")PY" + shot + R"PY(", "rb").read()
pos, idat = 8, b""
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4]); kind = data[pos + 4:pos + 8]
    if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", data[pos + 8:pos + 18])
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, rows, p = bytearray(stride), [], 0
for y in range(h):
    f, line = raw[p], bytearray(raw[p + 1:p + 1 + stride]); p += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
colours, nonwhite = set(), 0
for line in rows[::3]:
    for x in range(0, w, 3):
        px = tuple(line[x * bpp:x * bpp + 3]); colours.add(px); nonwhite += px != (255, 255, 255)
print(w, h, len(colours), round(nonwhite / ((h + 2) // 3 * ((w + 2) // 3)), 3))
)PY");
  ASSERT_EQ(stats.rc, 0) << stats.out;
  int width = 0, height = 0, colours = 0;
  double nonwhite = 0;
  ASSERT_EQ(std::sscanf(stats.out.c_str(), "%d %d %d %lf", &width, &height, &colours, &nonwhite), 4)
      << stats.out;
  EXPECT_EQ(width, 1200);
  EXPECT_EQ(height, 900);
  EXPECT_GT(colours, 30) << stats.out;
  EXPECT_GT(nonwhite, 0.2) << stats.out;
}

}  // namespace
}  // namespace attnlab
