#include "attention_log/heatmap.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace attnlab {
namespace {

constexpr const char* kShades[5] = {" ", "░", "▒", "▓", "█"};
constexpr int kColorLevels = 16;  // colour buckets in the terminal

int64_t digits(int64_t n) {
  int64_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

std::string repeat(const std::string& s, int64_t times) {
  std::string out;
  for (int64_t i = 0; i < times; ++i) out += s;
  return out;
}

std::string pad_right(const std::string& s, int64_t width) {
  return s + std::string(static_cast<size_t>(std::max<int64_t>(0, width - utf8_length(s))), ' ');
}

std::string pad_left(const std::string& s, int64_t width) {
  return std::string(static_cast<size_t>(std::max<int64_t>(0, width - utf8_length(s))), ' ') + s;
}

std::string rstrip(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

int shade_level(double weight) {
  if (std::isnan(weight)) return -1;
  if (weight < 0.05) return 0;
  if (weight < 0.25) return 1;
  if (weight < 0.50) return 2;
  if (weight < 0.75) return 3;
  return 4;
}

const std::vector<Rgb>& heat_color_stops() {
  static const std::vector<Rgb> stops = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
                                         {44, 114, 142}, {33, 145, 140}, {40, 174, 128},
                                         {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};
  return stops;
}

Rgb heat_color(double weight) {
  if (std::isnan(weight)) return {128, 128, 128};
  const auto& stops = heat_color_stops();
  const double x = std::clamp(weight, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
  const auto i = std::min(static_cast<size_t>(x), stops.size() - 2);
  const double f = x - static_cast<double>(i);
  auto mix = [f](uint8_t a, uint8_t b) {
    return static_cast<uint8_t>(std::lround(a + (static_cast<double>(b) - a) * f));
  };
  const Rgb& lo = stops[i];
  const Rgb& hi = stops[i + 1];
  return {mix(lo.r, hi.r), mix(lo.g, hi.g), mix(lo.b, hi.b)};
}

int xterm_color(Rgb colour) {
  static constexpr int kLevels[6] = {0, 95, 135, 175, 215, 255};
  auto nearest = [](int v) {
    int best = 0;
    for (int i = 1; i < 6; ++i)
      if (std::abs(kLevels[i] - v) < std::abs(kLevels[best] - v)) best = i;
    return best;
  };
  return 16 + 36 * nearest(colour.r) + 6 * nearest(colour.g) + nearest(colour.b);
}

int64_t utf8_length(const std::string& text) {
  int64_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string printable_token(const std::string& token) {
  if (token.empty()) return "∅";
  std::string out;
  for (size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x80) {
      if (c == ' ')
        out += "␣";
      else if (c == '\n')
        out += "⏎";
      else if (c == '\t')
        out += "⇥";
      else if (c < 0x20 || c == 0x7f)
        out += "·";
      else
        out += static_cast<char>(c);
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence is copied whole; a malformed one becomes U+FFFD.
    const size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && i + len <= token.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(token[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.append(token, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string truncate_label(const std::string& token, int64_t width) {
  const auto text = printable_token(token);
  if (width < 1 || utf8_length(text) <= width) return width < 1 ? std::string() : text;
  // Keep width-1 code points, then '…'.
  std::string out;
  int64_t kept = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80 && kept++ == width - 1) break;
    out += text[i];
  }
  return out + "…";
}

std::string render_heatmap(const at::Tensor& weights, const std::vector<std::string>& query_tokens,
                           const std::vector<std::string>& key_tokens, const HeatmapStyle& style) {
  TORCH_CHECK(weights.dim() == 2, "render_heatmap: weights must be (Tq, Tk), got ",
              weights.sizes());
  const int64_t Tq = weights.size(0), Tk = weights.size(1);
  TORCH_CHECK(Tq == static_cast<int64_t>(query_tokens.size()) &&
                  Tk == static_cast<int64_t>(key_tokens.size()),
              "render_heatmap: weights ", weights.sizes(), " but ", query_tokens.size(),
              " query and ", key_tokens.size(), " key tokens");
  TORCH_CHECK(style.full_scale > 0 && std::isfinite(style.full_scale),
              "render_heatmap: full_scale ", style.full_scale, " must be positive and finite");
  TORCH_CHECK(style.cell_width >= 1 && style.max_label_width >= 1,
              "render_heatmap: cell_width and max_label_width must be >= 1");
  const auto w = weights.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto acc = w.accessor<double, 2>();

  std::vector<std::string> q_labels, k_labels;
  int64_t label_width = 1;
  for (const auto& t : query_tokens) {
    q_labels.push_back(truncate_label(t, style.max_label_width));
    label_width = std::max(label_width, utf8_length(q_labels.back()));
  }
  for (const auto& t : key_tokens) k_labels.push_back(truncate_label(t, style.max_label_width));
  const int64_t index_width = digits(std::max<int64_t>(Tq - 1, 0));
  const int64_t prefix_width = index_width + 1 + label_width + 1;  // "12 token "

  std::string out;
  // Header: column indices written vertically, most significant digit first.
  const int64_t header_rows = digits(std::max<int64_t>(Tk - 1, 0));
  for (int64_t r = 0; r < header_rows; ++r) {
    std::string line(static_cast<size_t>(prefix_width + 1), ' ');
    for (int64_t j = 0; j < Tk; ++j) {
      const auto number = std::to_string(j);
      const int64_t pos = static_cast<int64_t>(number.size()) - (header_rows - r);
      const std::string digit = pos >= 0 ? number.substr(static_cast<size_t>(pos), 1) : " ";
      line += pad_right(digit, style.cell_width);
    }
    out += rstrip(line) + "\n";
  }
  for (int64_t i = 0; i < Tq; ++i) {
    std::string line = pad_left(std::to_string(i), index_width) + " " +
                       pad_right(q_labels[static_cast<size_t>(i)], label_width) + " │";
    int64_t best = -1;
    for (int64_t j = 0; j < Tk; ++j) {
      const double v = acc[i][j] / style.full_scale;
      if (!std::isnan(v) && (best < 0 || acc[i][j] > acc[i][best])) best = j;
      if (style.color) {
        const int bucket = std::isnan(v)
                               ? -1
                               : std::min(kColorLevels - 1,
                                          static_cast<int>(std::clamp(v, 0.0, 1.0) * kColorLevels));
        const int code = bucket < 0 ? 244 : xterm_color(heat_color((bucket + 0.5) / kColorLevels));
        line += "\x1b[48;5;" + std::to_string(code) + "m" +
                std::string(static_cast<size_t>(style.cell_width), ' ');
      } else {
        const int level = shade_level(v);
        line += repeat(level < 0 ? "?" : kShades[level], style.cell_width);
      }
    }
    if (style.color) line += "\x1b[0m";
    line += "│";
    if (style.show_argmax && best >= 0)
      line += " → " + std::to_string(best) + " " + k_labels[static_cast<size_t>(best)] + " " +
              format_weight(acc[i][best], 2);
    out += line + "\n";
  }
  if (key_tokens != query_tokens) {
    std::string legend = "keys:";
    for (int64_t j = 0; j < Tk; ++j)
      legend += " " + std::to_string(j) + " " + k_labels[static_cast<size_t>(j)];
    out += legend + "\n";
  }
  if (style.color) {
    std::string legend = "colour: 0 ";
    for (int b = 0; b < kColorLevels; ++b)
      legend +=
          "\x1b[48;5;" + std::to_string(xterm_color(heat_color((b + 0.5) / kColorLevels))) + "m ";
    out += legend + "\x1b[0m " +
           (style.full_scale == 1.0 ? "1" : format_weight(style.full_scale, 3)) + "\n";
  } else if (style.full_scale == 1.0) {
    out += "shade: ' ' <0.05  ░ <0.25  ▒ <0.50  ▓ <0.75  █ >=0.75\n";
  } else {
    const auto at = [&](double fraction) { return format_weight(fraction * style.full_scale, 3); };
    out += "shade: ' ' <" + at(0.05) + "  ░ <" + at(0.25) + "  ▒ <" + at(0.5) + "  ▓ <" + at(0.75) +
           "  █ >=" + at(0.75) + " (scaled to the largest cell, " + at(1.0) + ")\n";
  }
  return out;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_weight(double w, int decimals) {
  if (std::isnan(w)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, w);
  return buf;
}

}  // namespace attnlab
