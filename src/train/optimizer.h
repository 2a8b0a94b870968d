#pragma once
// AdamW over one flat parameter buffer: every parameter and its gradient are views into two
// contiguous tensors, so a step is a handful of vectorised ops instead of ~10 small ops per
// parameter tensor (LibTorch 1.13's torch::optim::AdamW), and clipping is one norm.

#include <torch/nn/module.h>

#include <map>
#include <string>
#include <vector>

namespace attnlab {

struct AdamWOptions {
  double lr = 1e-3;            // peak learning rate (the schedule scales it per step)
  double beta1 = 0.9;          // first-moment decay
  double beta2 = 0.98;         // second-moment decay
  double eps = 1e-8;           // denominator epsilon
  double weight_decay = 0.01;  // decoupled; applied to matrices (dim >= 2) only
};

class FlatAdamW {
 public:
  // Re-points every parameter of `module` (and its .grad) into flat buffers. Matrices (decayed)
  // come first, then vectors (biases, norms; not decayed), each group in named_parameters order.
  FlatAdamW(torch::nn::Module& module, const AdamWOptions& options);

  void zero_grad();
  // Global L2 norm of all gradients (one reduction over the flat buffer).
  double grad_norm() const;
  // Scales gradients so their global norm is at most max_norm; returns the norm before.
  double clip_grad_norm(double max_norm);
  // One AdamW step at learning rate `lr`.
  void step(double lr);

  // The flat buffers every parameter and gradient is a view of (P): data-parallel training sums
  // gradients across ranks in place, and makes every rank start from rank 0's parameters.
  torch::Tensor& flat_params() { return params_; }
  torch::Tensor& flat_grads() { return grads_; }

  int64_t step_count() const { return step_count_; }
  int64_t num_parameters() const { return params_.numel(); }

  // Optimizer state per parameter name, for checkpoints: exp_avg and exp_avg_sq views.
  std::map<std::string, torch::Tensor> exp_avg_by_name() const;
  std::map<std::string, torch::Tensor> exp_avg_sq_by_name() const;
  // Restores state; throws std::runtime_error naming a missing or mis-shaped entry.
  void load_state(const std::map<std::string, torch::Tensor>& exp_avg,
                  const std::map<std::string, torch::Tensor>& exp_avg_sq, int64_t step_count);

 private:
  struct Slot {
    std::string name;
    int64_t offset;
    std::vector<int64_t> shape;
  };
  std::map<std::string, torch::Tensor> views_of(const torch::Tensor& flat) const;

  AdamWOptions options_;
  std::vector<Slot> slots_;
  int64_t num_decayed_ = 0;   // elements [0, num_decayed_) get weight decay
  torch::Tensor params_;      // (P) fp32, every parameter's storage
  torch::Tensor grads_;       // (P) fp32, every parameter's .grad storage
  torch::Tensor exp_avg_;     // (P)
  torch::Tensor exp_avg_sq_;  // (P)
  torch::Tensor scratch_;     // (P) denominator workspace, reused every step
  int64_t step_count_ = 0;
};

}  // namespace attnlab
