#pragma once
#include <cstdint>

namespace attnlab {

// Applies a thread count (0 = all available cores) to LibTorch's intra-op pool and returns
// the count used. LibTorch picks 1 thread by default on small machines: always call this.
int64_t configure_threads(int64_t requested);

}  // namespace attnlab
