#pragma once
// Process-wide runtime settings for LibTorch on CPU: threads and the heap.
#include <cstdint>

namespace attnlab {

// Applies a thread count (0 = all available cores) to LibTorch's intra-op pool and returns
// the count used. LibTorch picks 1 thread by default on small machines: always call this.
int64_t configure_threads(int64_t requested);

// Keeps freed memory for reuse instead of faulting fresh pages in every step (page faults are
// slow on these VMs: docs/benchmark.md, "Page faults"). Installs CachingCpuAllocator
// (runtime/caching_allocator.h) for tensors of 1 MiB and more, and raises glibc's
// M_MMAP_THRESHOLD / M_TRIM_THRESHOLD to 1 GiB for the rest unless the user set
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (or GLIBC_TUNABLES) themselves.
// Call once, before the first tensor is allocated. Returns whether mallopt was applied.
bool configure_allocator();

}  // namespace attnlab
