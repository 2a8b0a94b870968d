#pragma once
// The activations a linear kernel can apply to its output (kernels/linear_functions.h). Its own
// header so that modules (model/linear.h) name them without including the kernel.

namespace attnlab {

enum class LinearActivation { kNone, kRelu, kGelu };  // GELU is the exact (erf) one

}  // namespace attnlab
