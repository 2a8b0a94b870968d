#include "train/optimizer.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cmath>
#include <stdexcept>

namespace attnlab {

FlatAdamW::FlatAdamW(torch::nn::Module& module, const AdamWOptions& options) : options_(options) {
  auto named = module.named_parameters(/*recurse=*/true);
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  for (int pass = 0; pass < 2; ++pass) {  // matrices first, then vectors
    for (const auto& item : named) {
      const bool decayed = item.value().dim() >= 2;
      if ((pass == 0) == decayed && item.value().requires_grad())
        ordered.emplace_back(item.key(), item.value());
    }
    if (pass == 0) {
      for (const auto& p : ordered) num_decayed_ += p.second.numel();
    }
  }
  int64_t total = 0;
  for (const auto& [name, p] : ordered) {
    TORCH_CHECK(p.scalar_type() == at::kFloat, "FlatAdamW: parameter ", name,
                " must be float32, got ", p.scalar_type());
    slots_.push_back({name, total, p.sizes().vec()});
    total += p.numel();
  }
  params_ = torch::empty({total});
  grads_ = torch::zeros({total});
  exp_avg_ = torch::zeros({total});
  exp_avg_sq_ = torch::zeros({total});
  scratch_ = torch::empty({total});

  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < ordered.size(); ++i) {
    auto& p = ordered[i].second;
    const auto& slot = slots_[i];
    auto view = params_.narrow(0, slot.offset, p.numel()).view(slot.shape);
    view.copy_(p);
    p.set_data(view);  // the parameter now lives in the flat buffer
    // ... and shares its version counter, so that step()'s in-place updates of params_ count
    // as changes of the parameter (set_data keeps the parameter's own counter). Code that
    // caches something derived from a weight (kernels/linear_functions.h's bf16 inference copies)
    // and autograd's saved-tensor checks rely on it.
    p.unsafeGetTensorImpl()->set_version_counter(params_.unsafeGetTensorImpl()->version_counter());
    p.mutable_grad() = grads_.narrow(0, slot.offset, p.numel()).view(slot.shape);
  }
}

void FlatAdamW::zero_grad() { grads_.zero_(); }

double FlatAdamW::grad_norm() const { return grads_.norm().item<double>(); }

double FlatAdamW::clip_grad_norm(double max_norm) {
  const double norm = grad_norm();
  if (max_norm > 0.0 && std::isfinite(norm) && norm > max_norm)
    grads_.mul_(max_norm / (norm + 1e-6));
  return norm;
}

void FlatAdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_count_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(step_count_));
  const double bias2 = 1.0 - std::pow(b2, static_cast<double>(step_count_));
  if (options_.weight_decay > 0.0 && num_decayed_ > 0)
    params_.narrow(0, 0, num_decayed_).mul_(1.0 - lr * options_.weight_decay);
  exp_avg_.lerp_(grads_, 1.0 - b1);                         // m = b1 m + (1 - b1) g
  exp_avg_sq_.mul_(b2).addcmul_(grads_, grads_, 1.0 - b2);  // v = b2 v + (1 - b2) g^2
  // p -= lr / bias1 * m / (sqrt(v / bias2) + eps), as torch.optim.AdamW.
  at::sqrt_out(scratch_, exp_avg_sq_).div_(std::sqrt(bias2)).add_(options_.eps);
  params_.addcdiv_(exp_avg_, scratch_, -lr / bias1);
}

std::map<std::string, torch::Tensor> FlatAdamW::views_of(const torch::Tensor& flat) const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& slot : slots_) {
    int64_t n = 1;
    for (auto s : slot.shape) n *= s;
    out[slot.name] = flat.narrow(0, slot.offset, n).view(slot.shape);
  }
  return out;
}

std::map<std::string, torch::Tensor> FlatAdamW::exp_avg_by_name() const {
  return views_of(exp_avg_);
}
std::map<std::string, torch::Tensor> FlatAdamW::exp_avg_sq_by_name() const {
  return views_of(exp_avg_sq_);
}

void FlatAdamW::load_state(const std::map<std::string, torch::Tensor>& exp_avg,
                           const std::map<std::string, torch::Tensor>& exp_avg_sq,
                           int64_t step_count) {
  auto m = exp_avg_by_name(), v = exp_avg_sq_by_name();
  torch::NoGradGuard no_grad;
  for (auto& [name, view] : m) {
    auto a = exp_avg.find(name), b = exp_avg_sq.find(name);
    if (a == exp_avg.end() || b == exp_avg_sq.end())
      throw std::runtime_error("optimizer state has no entry for parameter '" + name + "'");
    if (!a->second.sizes().equals(view.sizes()) || !b->second.sizes().equals(view.sizes()))
      throw std::runtime_error("optimizer state for '" + name + "' has the wrong shape");
    view.copy_(a->second);
    v[name].copy_(b->second);
  }
  step_count_ = step_count;
}

}  // namespace attnlab
