// Precompiled header for every target: LibTorch's headers are most of each TU's compile time.
#pragma once
#include <torch/torch.h>
#include <spdlog/spdlog.h>
