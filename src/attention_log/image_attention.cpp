#include "attention_log/image_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "attention_log/heatmap.h"
#include "attention_log/svg_png.h"
#include "io/png.h"

namespace attnlab {
namespace {

constexpr int64_t kSvgTitleBand = 28;  // px above the image for the title line

std::string shape_of(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + ")";
}

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

// RFC 4648 base64 with '=' padding (for data: URIs).
std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto byte = [&bytes](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(bytes[i]));
  };
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    const uint32_t v = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// T = 1 + grid_h * grid_w for a (.., T, T) weights tensor.
void check_tokens(const at::Tensor& weights, int64_t grid_h, int64_t grid_w, const char* who) {
  TORCH_CHECK(grid_h >= 1 && grid_w >= 1, who, ": grid ", grid_h, "x", grid_w,
              " must be at least 1x1");
  const int64_t T = weights.size(-1);
  TORCH_CHECK(weights.size(-2) == T && T == 1 + grid_h * grid_w, who, ": weights ",
              shape_of(weights), " do not fit a ", grid_h, "x", grid_w, " grid: expected T = 1 + ",
              grid_h, " * ", grid_w, " = ", 1 + grid_h * grid_w, " (<cls> and the patches)");
}

// Checks the overlay's inputs; returns the grid as a contiguous CPU double tensor.
at::Tensor checked_overlay_grid(const at::Tensor& image, const at::Tensor& grid, int64_t scale,
                                const char* who) {
  TORCH_CHECK(image.defined() && image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) &&
                  image.size(1) > 0 && image.size(2) > 0,
              who, ": image must be (C, H, W) with C = 1 or 3, got ", shape_of(image));
  TORCH_CHECK(image.scalar_type() == at::kByte, who, ": image must be uint8, got ",
              image.scalar_type());
  TORCH_CHECK(grid.defined() && grid.dim() == 2 && grid.size(0) > 0 && grid.size(1) > 0, who,
              ": grid must be a non-empty (grid_h, grid_w) matrix, got ", shape_of(grid));
  TORCH_CHECK(at::isFloatingType(grid.scalar_type()), who, ": grid must be floating point, got ",
              grid.scalar_type());
  const int64_t H = image.size(1), W = image.size(2);
  TORCH_CHECK(H % grid.size(0) == 0 && W % grid.size(1) == 0, who, ": a ", grid.size(0), "x",
              grid.size(1), " grid does not divide a ", H, "x", W, " image");
  TORCH_CHECK(scale >= 1 && H * scale <= kMaxPngSide && W * scale <= kMaxPngSide, who, ": scale ",
              scale, " must be >= 1 and keep the ", H, "x", W, " image within ", kMaxPngSide,
              " pixels a side");
  const auto g = grid.detach().to(at::kCPU, at::kDouble).contiguous();  // (grid_h, grid_w)
  TORCH_CHECK(at::isfinite(g).all().item<bool>(), who, ": grid has inf or NaN");
  TORCH_CHECK(g.min().item<double>() >= 0 && g.max().item<double>() > 0, who,
              ": grid must be non-negative with a positive maximum, got min ",
              g.min().item<double>(), " and max ", g.max().item<double>());
  return g;
}

// The image upsampled `scale` times (nearest) as RGB bytes, grey repeated in all three channels.
std::vector<uint8_t> scaled_rgb(const at::Tensor& image, int64_t scale) {
  const auto img = image.detach().to(at::kCPU).contiguous();  // (C, H, W)
  const auto acc = img.accessor<uint8_t, 3>();
  const int64_t C = img.size(0), H = img.size(1) * scale, W = img.size(2) * scale;
  std::vector<uint8_t> rgb(static_cast<size_t>(H * W * 3));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < 3; ++c)
        rgb[static_cast<size_t>((y * W + x) * 3 + c)] = acc[C == 1 ? 0 : c][y / scale][x / scale];
  return rgb;
}

}  // namespace

at::Tensor attention_rollout(const std::vector<at::Tensor>& layers) {
  TORCH_CHECK(!layers.empty(), "attention_rollout: no layers");
  const auto& first = layers.front();
  TORCH_CHECK(first.defined() && first.dim() == 3 && first.size(1) > 0,
              "attention_rollout: layer 0 ", "must be (H, T, T), got ", shape_of(first));
  const int64_t T = first.size(1);
  at::Tensor rollout;  // (T, T)
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& w = layers[l];
    TORCH_CHECK(w.defined() && w.dim() == 3 && w.size(0) > 0 && w.size(1) == T && w.size(2) == T,
                "attention_rollout: layer ", l, " must be (H, ", T, ", ", T, ") like layer 0, got ",
                shape_of(w));
    TORCH_CHECK(at::isFloatingType(w.scalar_type()), "attention_rollout: layer ", l,
                " must be floating point, got ", w.scalar_type());
    const auto wd = w.detach().to(at::kDouble);      // (H, T, T)
    auto a = wd.mean(0) + at::eye(T, wd.options());  // (T, T)
    a = a / a.sum(-1, /*keepdim=*/true);             // rows sum to 1
    rollout = l == 0 ? a : at::matmul(a, rollout);   // (T, T)
  }
  return rollout.to(at::kFloat);
}

at::Tensor patch_grid(const at::Tensor& weights, int64_t row, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(weights.defined() && weights.dim() == 2, "patch_grid: weights must be (T, T), got ",
              shape_of(weights));
  TORCH_CHECK(at::isFloatingType(weights.scalar_type()),
              "patch_grid: weights must be floating point, got ", weights.scalar_type());
  check_tokens(weights, grid_h, grid_w, "patch_grid");
  const int64_t T = weights.size(0);
  TORCH_CHECK(row >= 0 && row < T, "patch_grid: row ", row, " outside [0, ", T, ")");
  const auto patches = weights.detach()[row].slice(0, 1);  // (N): the <cls> key left out
  const double mass = patches.sum().item<double>();
  TORCH_CHECK(mass > 0, "patch_grid: row ", row, " puts no positive weight on the patches (sum ",
              mass, ")");
  return (patches / mass)
      .reshape({grid_h, grid_w});  // (grid_h, grid_w): patch n at [n / grid_w][n % grid_w]
}

at::Tensor mean_attention_distance(const at::Tensor& weights, int64_t grid_h, int64_t grid_w,
                                   int64_t patch_size) {
  TORCH_CHECK(weights.defined() && weights.dim() == 3 && weights.size(0) > 0,
              "mean_attention_distance: weights must be (H, T, T), got ", shape_of(weights));
  TORCH_CHECK(at::isFloatingType(weights.scalar_type()),
              "mean_attention_distance: weights must be floating point, got ",
              weights.scalar_type());
  check_tokens(weights, grid_h, grid_w, "mean_attention_distance");
  TORCH_CHECK(patch_size >= 1, "mean_attention_distance: patch_size ", patch_size, " must be >= 1");
  const int64_t N = grid_h * grid_w;
  auto w =
      weights.detach().to(at::kDouble).slice(1, 1).slice(2, 1);  // (H, N, N): patch queries, keys
  const auto mass = w.sum(-1, /*keepdim=*/true);                 // (H, N, 1)
  TORCH_CHECK((mass > 0).all().item<bool>(),
              "mean_attention_distance: a patch query puts no positive weight on the patches");
  w = w / mass;
  const auto n = at::arange(N, w.options().dtype(at::kLong));  // patch index
  const auto r = at::div(n, grid_w, "floor").to(at::kDouble);  // (N) grid row
  const auto c = at::remainder(n, grid_w).to(at::kDouble);     // (N) grid column
  const auto dr = r.unsqueeze(1) - r.unsqueeze(0);             // (N, N)
  const auto dc = c.unsqueeze(1) - c.unsqueeze(0);             // (N, N)
  const auto distance = at::sqrt(dr * dr + dc * dc) * static_cast<double>(patch_size);  // (N, N) px
  return (w * distance).sum(-1).mean(-1);  // (H, N) per query -> (H)
}

std::vector<uint8_t> overlay_rgb(const at::Tensor& image, const at::Tensor& grid, int64_t scale) {
  const auto g = checked_overlay_grid(image, grid, scale, "overlay_rgb");  // (grid_h, grid_w)
  const int64_t grid_h = g.size(0), grid_w = g.size(1);
  const int64_t cell_h = image.size(1) / grid_h * scale, cell_w = image.size(2) / grid_w * scale;
  const double top = g.max().item<double>();
  const auto acc = g.accessor<double, 2>();
  std::vector<Rgb> colours;  // per cell, raster order
  for (int64_t r = 0; r < grid_h; ++r)
    for (int64_t c = 0; c < grid_w; ++c) colours.push_back(heat_color(acc[r][c] / top));

  auto rgb = scaled_rgb(image, scale);
  const int64_t H = image.size(1) * scale, W = image.size(2) * scale;
  const auto blend = [](uint8_t base, uint8_t heat) {
    return static_cast<uint8_t>(std::lround((1 - kOverlayAlpha) * base + kOverlayAlpha * heat));
  };
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const Rgb& heat = colours[static_cast<size_t>((y / cell_h) * grid_w + x / cell_w)];
      uint8_t* p = &rgb[static_cast<size_t>((y * W + x) * 3)];
      p[0] = blend(p[0], heat.r);
      p[1] = blend(p[1], heat.g);
      p[2] = blend(p[2], heat.b);
    }
  return rgb;
}

std::string render_overlay_png(const at::Tensor& image, const at::Tensor& grid, int64_t scale) {
  const auto rgb = overlay_rgb(image, grid, scale);
  return encode_png(image.size(2) * scale, image.size(1) * scale, rgb);
}

std::string render_overlay_svg(const at::Tensor& image, const at::Tensor& grid, int64_t scale,
                               const std::string& title) {
  const auto g =
      checked_overlay_grid(image, grid, scale, "render_overlay_svg");  // (grid_h, grid_w)
  const int64_t grid_h = g.size(0), grid_w = g.size(1);
  const int64_t image_h = image.size(1) * scale, image_w = image.size(2) * scale;
  const int64_t cell_h = image_h / grid_h, cell_w = image_w / grid_w;
  const int64_t width = std::max(image_w, 16 + utf8_length(title) * 9);  // title: 15px bold
  const int64_t height = kSvgTitleBand + image_h;
  const double top = g.max().item<double>();
  const auto acc = g.accessor<double, 2>();
  const auto n = [](int64_t v) { return std::to_string(v); };

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
       "width=\"" +
       n(width) + "\" height=\"" + n(height) + "\" viewBox=\"0 0 " + n(width) + " " + n(height) +
       "\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"13\">\n";
  s += "<title>" + xml_escape(title) + "</title>\n";
  s += "<text x=\"8\" y=\"20\" font-size=\"15\" font-weight=\"bold\">" + xml_escape(title) +
       "</text>\n";
  s += "<image x=\"0\" y=\"" + n(kSvgTitleBand) + "\" width=\"" + n(image_w) + "\" height=\"" +
       n(image_h) + "\" style=\"image-rendering:pixelated\" xlink:href=\"data:image/png;base64," +
       base64(encode_png(image_w, image_h, scaled_rgb(image, scale))) + "\"/>\n";
  s += "<g id=\"patches\">\n";
  for (int64_t r = 0; r < grid_h; ++r)
    for (int64_t c = 0; c < grid_w; ++c) {
      const double v = acc[r][c];
      s += "<rect x=\"" + n(c * cell_w) + "\" y=\"" + n(kSvgTitleBand + r * cell_h) +
           "\" width=\"" + n(cell_w) + "\" height=\"" + n(cell_h) + "\" fill=\"" +
           hex(heat_color(v / top)) + "\" fill-opacity=\"" + format_weight(kOverlayAlpha, 2) +
           "\"><title>row " + n(r) + ", column " + n(c) + ": " + format_weight(v, 3) +
           "</title></rect>\n";
    }
  s += "</g>\n</svg>\n";
  return s;
}

}  // namespace attnlab
