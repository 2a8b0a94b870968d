#include "attention_log/svg_png.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "attention_log/heatmap.h"
#include "io/crc32.h"

namespace attnlab {
namespace {

constexpr int64_t kSvgCell = 24;      // px per cell
constexpr int64_t kSvgCharWidth = 8;  // px per label character at font-size 13 monospace
constexpr int64_t kSvgMaxLabel = 16;  // label characters before '…'

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

void check_matrix(const at::Tensor& weights, const char* who) {
  TORCH_CHECK(weights.defined() && weights.dim() == 2 && weights.size(0) > 0 && weights.size(1) > 0,
              who, ": weights must be a non-empty (Tq, Tk) matrix");
}

void put_u32(std::string& out, uint32_t v) {
  out += static_cast<char>(v >> 24);
  out += static_cast<char>(v >> 16);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}

void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  put_u32(out, crc32(body.data(), body.size()));
}

}  // namespace

std::string render_svg(const at::Tensor& weights, const std::vector<std::string>& query_tokens,
                       const std::vector<std::string>& key_tokens, const std::string& title) {
  check_matrix(weights, "render_svg");
  const int64_t Tq = weights.size(0), Tk = weights.size(1);
  TORCH_CHECK(Tq == static_cast<int64_t>(query_tokens.size()) &&
                  Tk == static_cast<int64_t>(key_tokens.size()),
              "render_svg: weights ", weights.sizes(), " but ", query_tokens.size(), " query and ",
              key_tokens.size(), " key tokens");
  const auto w = weights.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto acc = w.accessor<double, 2>();

  std::vector<std::string> q_labels, k_labels;
  int64_t q_chars = 1, k_chars = 1;
  for (const auto& t : query_tokens) {
    q_labels.push_back(truncate_label(t, kSvgMaxLabel));
    q_chars = std::max(q_chars, utf8_length(q_labels.back()));
  }
  for (const auto& t : key_tokens) {
    k_labels.push_back(truncate_label(t, kSvgMaxLabel));
    k_chars = std::max(k_chars, utf8_length(k_labels.back()));
  }
  const int64_t left = 12 + q_chars * kSvgCharWidth;
  const int64_t top = 36 + k_chars * kSvgCharWidth;
  const int64_t bar_x = left + Tk * kSvgCell + 16;
  const int64_t width = std::max(bar_x + 56, 16 + utf8_length(title) * 9);  // title: 15px bold
  const int64_t height = std::max(top + Tq * kSvgCell + 12, top + 140);
  const auto n = [](int64_t v) { return std::to_string(v); };

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + n(width) + "\" height=\"" +
       n(height) + "\" viewBox=\"0 0 " + n(width) + " " + n(height) +
       "\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"13\">\n";
  s += "<title>" + xml_escape(title) + "</title>\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  s += "<text x=\"8\" y=\"20\" font-size=\"15\" font-weight=\"bold\">" + xml_escape(title) +
       "</text>\n";
  s += "<g id=\"keys\" text-anchor=\"start\">\n";
  for (int64_t j = 0; j < Tk; ++j) {
    const auto x = left + j * kSvgCell + kSvgCell / 2 + 4;
    const auto y = top - 6;
    s += "<text x=\"" + n(x) + "\" y=\"" + n(y) + "\" transform=\"rotate(-90 " + n(x) + " " + n(y) +
         ")\">" + xml_escape(k_labels[static_cast<size_t>(j)]) + "</text>\n";
  }
  s += "</g>\n<g id=\"queries\" text-anchor=\"end\">\n";
  for (int64_t i = 0; i < Tq; ++i)
    s += "<text x=\"" + n(left - 6) + "\" y=\"" + n(top + i * kSvgCell + kSvgCell / 2 + 4) + "\">" +
         xml_escape(q_labels[static_cast<size_t>(i)]) + "</text>\n";
  s += "</g>\n<g id=\"cells\">\n";
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = 0; j < Tk; ++j) {
      const double v = acc[i][j];
      s += "<rect x=\"" + n(left + j * kSvgCell) + "\" y=\"" + n(top + i * kSvgCell) +
           "\" width=\"" + n(kSvgCell) + "\" height=\"" + n(kSvgCell) + "\" fill=\"" +
           hex(heat_color(v)) + "\"><title>" + xml_escape(q_labels[static_cast<size_t>(i)]) + " (" +
           n(i) + ") → " + xml_escape(k_labels[static_cast<size_t>(j)]) + " (" + n(j) +
           "): " + format_weight(v, 3) + "</title></rect>\n";
    }
  s += "</g>\n";
  // Colour bar: 1 at the top, 0 at the bottom.
  s += "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  const auto& stops = heat_color_stops();
  for (size_t k = 0; k < stops.size(); ++k)
    s += "<stop offset=\"" +
         format_weight(static_cast<double>(k) / static_cast<double>(stops.size() - 1), 3) +
         "\" stop-color=\"" + hex(stops[k]) + "\"/>";
  s += "</linearGradient></defs>\n";
  s += "<rect x=\"" + n(bar_x) + "\" y=\"" + n(top) +
       "\" width=\"14\" height=\"120\" fill=\"url(#scale)\"/>\n";
  s += "<text x=\"" + n(bar_x + 18) + "\" y=\"" + n(top + 10) + "\">1</text>\n";
  s += "<text x=\"" + n(bar_x + 18) + "\" y=\"" + n(top + 120) + "\">0</text>\n";
  s += "</svg>\n";
  return s;
}

uint32_t adler32(const uint8_t* data, size_t size) {
  constexpr uint32_t kMod = 65521;
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < size; ++i) {
    a = (a + data[i]) % kMod;
    b = (b + a) % kMod;
  }
  return (b << 16) | a;
}

std::string encode_png(int64_t width, int64_t height, const std::vector<uint8_t>& rgb) {
  TORCH_CHECK(width > 0 && height > 0 && width < (1 << 24) && height < (1 << 24),
              "encode_png: bad size ", width, "x", height);
  const auto row_bytes = static_cast<size_t>(width) * 3;
  TORCH_CHECK(rgb.size() == row_bytes * static_cast<size_t>(height), "encode_png: ", rgb.size(),
              " bytes for a ", width, "x", height, " RGB image");
  // Raw scanlines: filter byte 0 (None), then the row.
  std::vector<uint8_t> raw;
  raw.reserve((row_bytes + 1) * static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(),
               rgb.begin() + static_cast<std::ptrdiff_t>(row_bytes * static_cast<size_t>(y)),
               rgb.begin() + static_cast<std::ptrdiff_t>(row_bytes * static_cast<size_t>(y + 1)));
  }
  // zlib stream: header (deflate, 32K window, no dictionary, fastest), stored blocks of at most
  // 65535 bytes (BTYPE=00: LEN, ~LEN, bytes), Adler-32 of the raw data, big-endian.
  std::string z;
  z += static_cast<char>(0x78);
  z += static_cast<char>(0x01);
  size_t pos = 0;
  do {
    const size_t len = std::min<size_t>(65535, raw.size() - pos);
    const bool final_block = pos + len == raw.size();
    z += static_cast<char>(final_block ? 1 : 0);
    z += static_cast<char>(len & 0xFF);
    z += static_cast<char>(len >> 8);
    z += static_cast<char>(~len & 0xFF);
    z += static_cast<char>((~len >> 8) & 0xFF);
    z.append(reinterpret_cast<const char*>(raw.data() + pos), len);
    pos += len;
  } while (pos < raw.size());
  put_u32(z, adler32(raw.data(), raw.size()));

  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put_u32(ihdr, static_cast<uint32_t>(width));
  put_u32(ihdr, static_cast<uint32_t>(height));
  ihdr += static_cast<char>(8);  // bit depth
  ihdr += static_cast<char>(2);  // colour type: RGB
  ihdr += std::string(3, '\0');  // compression, filter, interlace
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", "");
  return png;
}

void write_png(const std::string& path, const at::Tensor& weights, const PngOptions& options) {
  check_matrix(weights, "write_png");
  TORCH_CHECK(options.cell_size >= 1 && options.cell_size <= 256, "write_png: cell_size ",
              options.cell_size, " outside [1, 256]");
  const auto w = weights.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto acc = w.accessor<double, 2>();
  const int64_t cell = options.cell_size;
  const int64_t width = w.size(1) * cell, height = w.size(0) * cell;
  std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      const Rgb c = heat_color(acc[y / cell][x / cell]);
      const auto p = static_cast<size_t>((y * width + x) * 3);
      rgb[p] = c.r;
      rgb[p + 1] = c.g;
      rgb[p + 2] = c.b;
    }
  const auto bytes = encode_png(width, height, rgb);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write PNG: " + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
}

}  // namespace attnlab
