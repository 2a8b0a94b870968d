// Precompiled header for every target: LibTorch's headers are most of each TU's compile time.
#pragma once
#include <spdlog/spdlog.h>
#include <torch/torch.h>
